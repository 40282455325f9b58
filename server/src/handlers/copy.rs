//! CopyObject: a new version that shares the source's stored bytes (no data is copied), with
//! COPY or REPLACE metadata and the x-amz-copy-source-if-* conditions.

use crate::conditions::Preconditions;
use crate::ctx::Ctx;
use crate::error::{ErrorCode, S3Error, S3Result};
use crate::handlers::put::write_conditions;
use crate::object_headers::{meta_from_request, quoted_etag};
use crate::xml::{self, timestamp};
use actix_web::HttpResponse;
use coffer_storage::{NewObject, StorageError, Versioning, NULL_VERSION};
use percent_encoding::percent_decode_str;
use serde::Serialize;

/// The parts of an x-amz-copy-source header: `[/]bucket/key[?versionId=v]`, URL-encoded.
#[derive(Debug, PartialEq, Eq)]
pub struct CopySource {
    pub bucket: String,
    pub key: String,
    pub version_id: Option<String>,
}

pub fn parse_copy_source(raw: &str) -> S3Result<CopySource> {
    let invalid = || S3Error::invalid_argument("Invalid copy source object key").with("ArgumentName", "x-amz-copy-source");
    let (path, query) = match raw.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (raw, None),
    };
    let decoded = percent_decode_str(path).decode_utf8().map_err(|_| invalid())?;
    let decoded = decoded.strip_prefix('/').unwrap_or(&decoded);
    let (bucket, key) = decoded.split_once('/').ok_or_else(invalid)?;
    if bucket.is_empty() || key.is_empty() {
        return Err(invalid());
    }
    let version_id = match query {
        None => None,
        Some(q) => match q.strip_prefix("versionId=") {
            Some(v) => Some(percent_decode_str(v).decode_utf8_lossy().into_owned()),
            None => return Err(invalid()),
        },
    };
    Ok(CopySource { bucket: bucket.to_string(), key: key.to_string(), version_id })
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct CopyObjectResult {
    #[serde(rename = "@xmlns")]
    xmlns: &'static str,
    last_modified: String,
    #[serde(rename = "ETag")]
    etag: String,
}

pub async fn copy_object(ctx: &Ctx<'_>, bucket_name: &str, key: &str) -> S3Result<HttpResponse> {
    let dest = ctx.owned_bucket(bucket_name).await?;
    let source = parse_copy_source(ctx.header("x-amz-copy-source").unwrap_or_default())?;
    let src_bucket = ctx.owned_bucket(&source.bucket).await?;
    let (src, _) = ctx.state.store.object(src_bucket.id, &source.key, source.version_id.as_deref()).await.map_err(|e| match e {
        StorageError::NoSuchKey => S3Error::no_such_key(&source.key),
        StorageError::NoSuchVersion => S3Error::new(ErrorCode::NoSuchVersion),
        other => other.into(),
    })?;
    if src.delete_marker {
        return Err(if source.version_id.is_some() {
            S3Error::invalid_request("The source of a copy request may not specifically refer to a delete marker by version id.")
        } else {
            S3Error::no_such_key(&source.key)
        });
    }
    Preconditions::from_headers(ctx.req.headers(), "x-amz-copy-source-").check(&src.etag, src.modified_ms, ErrorCode::PreconditionFailed)?;

    let replace = match ctx.header("x-amz-metadata-directive").map(str::to_ascii_uppercase).as_deref() {
        None | Some("COPY") => false,
        Some("REPLACE") => true,
        Some(_) => return Err(S3Error::invalid_argument("Unknown metadata directive.").with("ArgumentName", "x-amz-metadata-directive")),
    };
    let same_object = dest.id == src_bucket.id && key == source.key;
    let changes_class = ctx.header("x-amz-storage-class").is_some();
    if same_object && !replace && !changes_class {
        return Err(S3Error::invalid_request(
            "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.",
        ));
    }
    let mut meta = if replace { meta_from_request(ctx.req.headers())? } else { src.meta.clone() };
    if !replace && changes_class {
        meta.storage_class = meta_from_request(ctx.req.headers())?.storage_class;
    }
    meta.checksum = src.meta.checksum.clone();

    let new = NewObject { key: key.to_string(), owner_id: ctx.user()?.id.clone(), meta };
    let record = ctx.state.store.copy_object(&src, dest.id, new, write_conditions(ctx)).await?;

    let mut resp = HttpResponse::Ok();
    if src.version_id != NULL_VERSION || src_bucket.versioning != Versioning::Unversioned {
        resp.insert_header(("x-amz-copy-source-version-id", src.version_id.clone()));
    }
    if dest.versioning != Versioning::Unversioned {
        resp.insert_header(("x-amz-version-id", record.version_id.clone()));
    }
    let body = xml::render(
        "CopyObjectResult",
        &CopyObjectResult { xmlns: xml::S3_NAMESPACE, last_modified: timestamp(record.modified_ms), etag: quoted_etag(&record.etag) },
    )?;
    Ok(resp.content_type("application/xml").body(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_source_forms() {
        let s = parse_copy_source("/b/dir/a%20b.txt").unwrap();
        assert_eq!((s.bucket.as_str(), s.key.as_str(), s.version_id), ("b", "dir/a b.txt", None));
        let s = parse_copy_source("b/k?versionId=null").unwrap();
        assert_eq!(s.version_id.as_deref(), Some("null"));
        assert!(parse_copy_source("nokey").is_err());
        assert!(parse_copy_source("/b/").is_err());
    }
}
