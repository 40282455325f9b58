//! PutObject: streams the body into the store while hashing it, checks every digest the client
//! sent (payload SHA-256, Content-MD5, flexible checksums), then commits the new version.

use crate::body::request_body;
use crate::checksums::ChecksumRequest;
use crate::ctx::Ctx;
use crate::error::{ErrorCode, S3Error, S3Result};
use crate::object_headers::{meta_from_request, quoted_etag};
use actix_web::http::header::HeaderMap;
use actix_web::{web, HttpResponse};
use base64::Engine;
use coffer_auth::Payload;
use crate::sse::Sealing;
use coffer_crypto::checksum::ChecksumAlgorithm;
use coffer_storage::{IngestOptions, Ingested, NewObject, Permission, StoredChecksum, WriteConditions, NULL_VERSION};
use sha2::{Digest, Sha256};

/// Largest single PUT S3 accepts: 5 GiB.
pub const MAX_PUT_SIZE: u64 = 5 * 1024 * 1024 * 1024;

/// The Content-MD5 header, decoded; InvalidDigest if it is not 16 bytes of base64.
pub fn content_md5(ctx: &Ctx<'_>) -> S3Result<Option<[u8; 16]>> {
    let Some(v) = ctx.header("content-md5") else { return Ok(None) };
    base64::engine::general_purpose::STANDARD
        .decode(v.trim())
        .ok()
        .and_then(|b| <[u8; 16]>::try_from(b.as_slice()).ok())
        .map(Some)
        .ok_or_else(|| S3Error::new(ErrorCode::InvalidDigest))
}

/// For a signed payload, the body must hash to the signed value.
pub fn check_sha256(payload: &Payload, actual: &[u8; 32]) -> S3Result<()> {
    match payload {
        Payload::Sha256(expected) if expected != actual => Err(S3Error::new(ErrorCode::XAmzContentSHA256Mismatch)
            .with("ClientComputedContentSHA256", hex::encode(expected))
            .with("S3ComputedContentSHA256", hex::encode(actual))),
        _ => Ok(()),
    }
}

/// `check_sha256` for an ingested body: its plaintext hash (a sealed body hashes otherwise).
pub fn check_ingested_sha256(payload: &Payload, ingested: &Ingested) -> S3Result<()> {
    match (payload, &ingested.plain_sha256) {
        (Payload::Sha256(_), Some(actual)) => check_sha256(payload, actual),
        (Payload::Sha256(_), None) => Err(S3Error::internal("a signed payload was ingested without its plaintext hash")),
        _ => Ok(()),
    }
}

/// Ingest options for an object or part body: the checksums to compute, the size limit, and
/// the data key to seal it under (hashing the plaintext too when a signed hash must match).
pub fn ingest_options(payload: &Payload, checksums: Vec<ChecksumAlgorithm>, seal: Option<&Sealing>) -> IngestOptions {
    IngestOptions {
        checksums,
        max_size: MAX_PUT_SIZE,
        seal: seal.map(|s| s.key.clone()),
        hash_plaintext: matches!(payload, Payload::Sha256(_)),
    }
}

/// `check_sha256` for a body read whole.
pub fn check_payload_hash(payload: &Payload, body: &[u8]) -> S3Result<()> {
    if let Payload::Sha256(_) = payload {
        check_sha256(payload, &Sha256::digest(body).into())?;
    }
    Ok(())
}

/// Conditional-write headers of a PUT: If-None-Match and If-Match, checked at commit.
pub fn write_conditions(ctx: &Ctx<'_>) -> WriteConditions {
    WriteConditions {
        if_none_match: ctx.header("if-none-match").map(str::to_string),
        if_match: ctx.header("if-match").map(str::to_string),
    }
}

pub fn declared_length(headers: &HeaderMap, payload: &Payload) -> S3Result<Option<u64>> {
    // An aws-chunked body's own length includes the framing; the object's is declared apart.
    let name = match payload {
        Payload::Streaming(_) => "x-amz-decoded-content-length",
        _ => "content-length",
    };
    headers
        .get(name)
        .map(|v| v.to_str().ok().and_then(|v| v.trim().parse::<u64>().ok()).ok_or_else(|| S3Error::invalid_argument("Invalid Content-Length")))
        .transpose()
}

/// The declared length of a single PUT's body, refused with EntityTooLarge past 5 GiB.
pub fn checked_put_length(headers: &HeaderMap, payload: &Payload) -> S3Result<Option<u64>> {
    let length = declared_length(headers, payload)?;
    match length {
        Some(l) if l > MAX_PUT_SIZE => Err(S3Error::new(ErrorCode::EntityTooLarge)
            .with("ProposedSize", l.to_string())
            .with("MaxSizeAllowed", MAX_PUT_SIZE.to_string())),
        _ => Ok(length),
    }
}

pub async fn put_object(ctx: &Ctx<'_>, bucket_name: &str, key: &str, payload: web::Payload) -> S3Result<HttpResponse> {
    let bucket = ctx.bucket_for(bucket_name, Permission::Write).await?;
    let length = checked_put_length(ctx.req.headers(), &ctx.payload)?;
    // A body needs a length, unless HTTP's chunked framing or aws-chunked says where it ends.
    let chunked_transfer = ctx.header("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    if length.is_none() && !chunked_transfer && !matches!(ctx.payload, Payload::Streaming(_)) {
        return Err(S3Error::new(ErrorCode::MissingContentLength));
    }
    let mut meta = meta_from_request(ctx.req.headers())?;
    let (acl, owner_id) = crate::ownership::new_object_acl(ctx.state, &bucket, ctx.req.headers(), ctx.writer_id()).await?;
    meta.acl = acl;
    let checksums = ChecksumRequest::from_headers(ctx.req.headers())?;
    let md5 = content_md5(ctx)?;
    let conditions = write_conditions(ctx);
    let sealing = crate::sse::for_write(ctx.state, bucket.id, ctx.req.headers()).await?;
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

    let new = NewObject { key: key.to_string(), owner_id, meta };
    let record = ctx.state.store.put_object(&bucket, new, ingested, conditions).await.map_err(|e| match e {
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
    Ok(resp.finish())
}
