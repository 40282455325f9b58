//! GetObject and HeadObject: version lookup, conditional requests, ranges, response-*
//! overrides, and the body streamed from the store.

use crate::http::conditions::Preconditions;
use crate::request::ctx::Ctx;
use crate::http::error::{ErrorCode, S3Error, S3Result};
use crate::request::object_headers::{object_headers, version_headers};
use crate::http::range::{self, ByteRange};
use actix_web::body::SizedStream;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, HttpResponseBuilder};
use futures::StreamExt;
use coffer_storage::{ObjectRecord, Permission, StorageError, Versioning};

/// What ?partNumber selects: one part of an object completed from parts, or a whole object
/// uploaded in one piece as its only part.
struct PartRead {
    /// The part's bytes; `None` for a whole single-part object.
    range: Option<ByteRange>,
    /// How many parts the object has, if it was uploaded in parts.
    count: Option<usize>,
    /// The part's own checksum, in the object's algorithm.
    checksum: Option<String>,
}

async fn select_part(ctx: &Ctx<'_>, bucket_id: i64, record: &ObjectRecord, raw: &str) -> S3Result<PartRead> {
    let number = raw.trim().parse::<u32>().ok().filter(|n| (1..=10_000).contains(n)).ok_or_else(|| {
        S3Error::invalid_argument("Part number must be an integer between 1 and 10000, inclusive").with("ArgumentName", "partNumber")
    })?;
    let Some(parts) = ctx.state.store.object_parts(bucket_id, &record.key, &record.version_id).await? else {
        return match number {
            1 => Ok(PartRead { range: None, count: None, checksum: None }),
            _ => Err(ErrorCode::InvalidPart.into()),
        };
    };
    let index = parts.iter().position(|p| p.number == number).ok_or(ErrorCode::InvalidPart)?;
    let start = parts[..index].iter().map(|p| p.size).sum();
    let part = &parts[index];
    let range = (part.size > 0).then_some(ByteRange { start, len: part.size });
    Ok(PartRead { range, count: Some(parts.len()), checksum: part.checksum.clone() })
}

/// The parts count and, in checksum mode, the part's checksum (never the object's, which does
/// not cover these bytes alone).
fn part_headers(resp: &mut HttpResponseBuilder, record: &ObjectRecord, part: &PartRead, checksum_mode: bool) {
    if let Some(n) = part.count {
        resp.insert_header(("x-amz-mp-parts-count", n.to_string()));
    }
    if let (true, Some(value), Some(object)) = (checksum_mode, &part.checksum, &record.meta.checksum) {
        resp.insert_header((format!("x-amz-checksum-{}", object.algorithm.to_ascii_lowercase()), value.clone()));
        resp.insert_header(("x-amz-checksum-type", object.kind.as_str()));
    }
}

pub async fn get_object(ctx: &Ctx<'_>, bucket_name: &str, key: &str, head: bool) -> S3Result<HttpResponse> {
    let version_id = ctx.query.get("versionId");
    // HEAD reads the record alone: no inline bytes are read for an answer that has none.
    let store = &ctx.state.store;
    let looked_up = match head {
        true => store.bucket_and_record(bucket_name, key, version_id).await.map(|(b, found)| (b, found.map(|r| (r, None)))),
        false => store.bucket_and_object(bucket_name, key, version_id).await.map(|(b, found)| (b, found.map(|(r, body)| (r, Some(body))))),
    };
    let (bucket, found) = looked_up.map_err(|e| S3Error::bucket_lookup(bucket_name, e))?;
    let versioned = bucket.versioning != Versioning::Unversioned;
    let found = match found {
        // Whoever may not list the bucket learns nothing about which keys exist.
        Err(StorageError::NoSuchKey | StorageError::NoSuchVersion) if ctx.check_bucket(&bucket, Permission::Read).await.is_err() => {
            return Err(S3Error::new(ErrorCode::AccessDenied))
        }
        other => other,
    };
    let (record, body) = found.map_err(|e| match e {
        StorageError::NoSuchKey => S3Error::no_such_key(key).with_header("x-amz-delete-marker", "false"),
        StorageError::NoSuchVersion => {
            S3Error::new(ErrorCode::NoSuchVersion).with("Key", key).with("VersionId", version_id.unwrap_or_default())
        }
        other => other.into(),
    })?;
    if !record.delete_marker {
        ctx.check_object_in(&bucket, &record, Permission::Read, ctx.target.action).await?;
    }
    if record.delete_marker {
        let err = if version_id.is_some() { S3Error::new(ErrorCode::MethodNotAllowed) } else { S3Error::no_such_key(key) };
        return Err(err
            .with_header("x-amz-delete-marker", "true")
            .with_header("x-amz-version-id", record.version_id.clone())
            .with_header("Last-Modified", crate::request::object_headers::http_date(record.modified_ms)));
    }
    if !head {
        crate::request::archive::refuse_archived(ctx.state, &record)?;
    }
    let part = match ctx.query.get("partNumber") {
        Some(raw) => Some(select_part(ctx, bucket.id, &record, raw).await?),
        None => None,
    };
    crate::request::sse::refuse_on_read(ctx.req.headers())?;
    let encryption = record.meta.encryption.as_ref();
    let unsealing = match head {
        true => crate::request::sse::for_head(ctx.state, encryption, ctx.req.headers())?,
        false => crate::request::sse::for_read(ctx.state, encryption, ctx.req.headers(), &crate::request::sse::CUSTOMER)?,
    };

    if let Err(e) = Preconditions::from_headers(ctx.req.headers(), "").check(&record.etag, record.modified_ms, ErrorCode::NotModified) {
        if e.status == StatusCode::NOT_MODIFIED {
            let mut resp = HttpResponse::NotModified();
            version_headers(&mut resp, &record, versioned);
            return Ok(resp.finish());
        }
        return Err(e);
    }

    let range = match &part {
        Some(_) if ctx.header("range").is_some() => {
            return Err(S3Error::invalid_request("Cannot specify both Range header and partNumber query parameter"))
        }
        Some(p) => p.range,
        None => range::resolve(ctx.header("range"), record.size)?,
    };
    let mut resp = HttpResponse::Ok();
    object_headers(&mut resp, &record, &ctx.query, ctx.checksum_mode() && range.is_none(), versioned);
    if let Some(p) = &part {
        part_headers(&mut resp, &record, p, ctx.checksum_mode());
    }
    crate::request::sse::response_headers(&mut resp, record.meta.encryption.as_ref(), unsealing.customer_md5.as_deref());
    crate::request::expiration::add(ctx.state, &record, &mut resp).await;
    crate::request::archive::restore_header(&mut resp, &record);
    let (offset, len) = match range {
        Some(r) => {
            resp.status(StatusCode::PARTIAL_CONTENT);
            resp.insert_header(("Content-Range", r.content_range(record.size)));
            (r.start, r.len)
        }
        None => (0, record.size),
    };
    let Some(body) = body else {
        return Ok(resp.body(SizedStream::new(len, futures::stream::empty::<Result<bytes::Bytes, std::io::Error>>())));
    };
    let mut stream = ctx.state.store.read_body(&record, &body, offset, len, unsealing.key.as_ref());
    // The first chunk is read before the status goes out, so a body that cannot be read at
    // all (a missing blob, a package failing authentication) is an error response, not a 200
    // cut short.
    let first = match stream.next().await {
        Some(Err(e)) => return Err(S3Error::internal(format!("reading {key}: {e}"))),
        first => first,
    };
    Ok(resp.body(SizedStream::new(len, futures::stream::iter(first).chain(stream))))
}
