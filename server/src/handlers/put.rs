//! PutObject: streams the body into the store while hashing it, checks every digest the client
//! sent (payload SHA-256, Content-MD5, flexible checksums), then commits the new version.

use crate::http::body::request_body;
use crate::http::checksums::ChecksumRequest;
use crate::http::error::{ErrorCode, S3Error, S3Result};
use crate::request::ctx::Ctx;
use crate::request::object_headers::{meta_from_request, quoted_etag};
use crate::request::object_lock::{self, LockParams};
use crate::request::replica::{self, ReplicaWrite};
use crate::request::upload::{check_ingested_sha256, checked_put_length, content_md5, ingest_options, write_conditions};
use actix_web::{web, HttpResponse};
use coffer_auth::Payload;
use coffer_storage::{EventName, NewObject, Origin, Permission, StoredChecksum, NULL_VERSION};

pub async fn put_object(ctx: &Ctx<'_>, bucket_name: &str, key: &str, payload: web::Payload) -> S3Result<HttpResponse> {
    let bucket = ctx.bucket_for(bucket_name, Permission::Write).await?;
    let length = checked_put_length(ctx.req.headers(), &ctx.payload)?;
    // A body needs a length, unless HTTP's chunked framing or aws-chunked says where it ends.
    let chunked_transfer = ctx.header("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    if length.is_none() && !chunked_transfer && !matches!(ctx.payload, Payload::Streaming(_)) {
        return Err(S3Error::new(ErrorCode::MissingContentLength));
    }
    let mut meta = meta_from_request(ctx.req.headers())?;
    let (acl, owner_id) = crate::access::ownership::new_object_acl(ctx.state, &bucket, ctx.req.headers(), ctx.writer_id()).await?;
    meta.acl = acl;
    let checksums = ChecksumRequest::from_headers(ctx.req.headers())?;
    let md5 = content_md5(ctx)?;
    let lock_params = LockParams::from_headers(ctx);
    // S3 asks for Content-MD5 or a checksum; a SigV4-signed payload hash verifies the bytes as
    // well, and is what clients built on older SDKs (restic's minio-go over HTTP) send.
    let integrity_checked = md5.is_some() || checksums.carries_value() || !matches!(ctx.payload, Payload::Unsigned);
    meta.lock = object_lock::for_new_version(ctx, &bucket, &lock_params, Some(integrity_checked), coffer_storage::now_ms()).await?;
    let conditions = write_conditions(ctx);
    let replica_of = replica::identity(ctx, &bucket, key, ReplicaWrite::Object).await?;
    if let (Some(size), None) = (length, &replica_of) {
        // Before the body: a PUT that cannot fit the quota is not worth receiving.
        ctx.state.store.check_quota(bucket.id, key, size).await?;
    }
    let sealing = crate::request::sse::for_write(ctx.state, bucket.id, ctx.req.headers()).await?;
    meta.encryption = sealing.as_ref().map(|s| s.encryption.clone());

    let body = request_body(payload, &ctx.payload);
    let opts = ingest_options(&ctx.payload, checksums.algorithms.clone(), sealing.as_ref());
    let mut ingested = ctx.state.store.ingest(body.stream, opts).await?;

    if let Some(expected) = length {
        if ingested.size != expected {
            return Err(S3Error::new(ErrorCode::IncompleteBody));
        }
    }
    check_ingested_sha256(&ctx.payload, &ingested)?;
    if md5.is_some_and(|m| m != ingested.md5) {
        return Err(S3Error::new(ErrorCode::BadDigest));
    }
    let trailers = body.trailers.map(|t| t.get()).unwrap_or_default();
    let checksum = checksums.verify(&ingested, &trailers)?;
    meta.checksum = checksum.as_ref().map(StoredChecksum::from);
    if let Some(s) = &sealing {
        ingested.md5 = s.etag_md5(ingested.md5);
    }

    let origin = Origin::new(EventName::ObjectCreatedPut, ctx.requester());
    let new = NewObject { key: key.to_string(), owner_id, meta, origin };
    let written = match replica_of {
        Some(of) => ctx.state.store.put_replica(&bucket, new, ingested, of).await,
        None => ctx.state.store.put_object(&bucket, new, ingested, conditions).await,
    };
    let record = written.map_err(|e| match e {
        coffer_storage::StorageError::NoSuchKey => S3Error::no_such_key(key),
        other => other.into(),
    })?;

    let mut resp = HttpResponse::Ok();
    resp.insert_header(("ETag", quoted_etag(&record.etag)));
    if record.version_id != NULL_VERSION {
        resp.insert_header(("x-amz-version-id", record.version_id.clone()));
    }
    if let Some(c) = checksum {
        resp.insert_header((c.algorithm.header_name(), c.to_base64()));
    }
    if let Some(s) = &sealing {
        s.headers(&mut resp);
    }
    crate::request::expiration::add(ctx.state, &record, &mut resp).await;
    Ok(resp.finish())
}
