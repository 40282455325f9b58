//! GetObject and HeadObject: version lookup, conditional requests, ranges, response-*
//! overrides, and the body streamed from the store.

use crate::conditions::Preconditions;
use crate::ctx::Ctx;
use crate::error::{ErrorCode, S3Error, S3Result};
use crate::object_headers::{object_headers, version_headers};
use crate::range;
use actix_web::body::SizedStream;
use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use coffer_storage::{StorageError, Versioning};

pub async fn get_object(ctx: &Ctx<'_>, bucket_name: &str, key: &str, head: bool) -> S3Result<HttpResponse> {
    let version_id = ctx.query.get("versionId");
    let (bucket, found) = ctx.state.store.bucket_and_object(bucket_name, key, version_id).await.map_err(|e| match e {
        StorageError::NoSuchBucket => S3Error::no_such_bucket(bucket_name),
        other => other.into(),
    })?;
    ctx.authorize(&bucket)?;
    let versioned = bucket.versioning != Versioning::Unversioned;
    let (record, body) = found.map_err(|e| match e {
        StorageError::NoSuchKey => S3Error::no_such_key(key),
        StorageError::NoSuchVersion => {
            S3Error::new(ErrorCode::NoSuchVersion).with("Key", key).with("VersionId", version_id.unwrap_or_default())
        }
        other => other.into(),
    })?;
    if record.delete_marker {
        let err = if version_id.is_some() { S3Error::new(ErrorCode::MethodNotAllowed) } else { S3Error::no_such_key(key) };
        return Err(err.with("DeleteMarker", "true"));
    }
    if let Some(part) = ctx.query.get("partNumber") {
        if part != "1" {
            return Err(S3Error::new(ErrorCode::InvalidArgument).with_message("Part number must be 1 for an object uploaded in one part."));
        }
    }

    if let Err(e) = Preconditions::from_headers(ctx.req.headers(), "").check(&record.etag, record.modified_ms, ErrorCode::NotModified) {
        if e.status == StatusCode::NOT_MODIFIED {
            let mut resp = HttpResponse::NotModified();
            version_headers(&mut resp, &record, versioned);
            return Ok(resp.finish());
        }
        return Err(e);
    }

    let range = range::resolve(ctx.header("range"), record.size)?;
    let mut resp = HttpResponse::Ok();
    object_headers(&mut resp, &record, &ctx.query, ctx.checksum_mode() && range.is_none(), versioned);
    let (offset, len) = match range {
        Some(r) => {
            resp.status(StatusCode::PARTIAL_CONTENT);
            resp.insert_header(("Content-Range", r.content_range(record.size)));
            (r.start, r.len)
        }
        None => (0, record.size),
    };
    if head {
        return Ok(resp.body(SizedStream::new(len, futures::stream::empty::<Result<bytes::Bytes, std::io::Error>>())));
    }
    let stream = ctx.state.store.read_body(&body, offset, len);
    Ok(resp.body(SizedStream::new(len, stream)))
}
