//! The source of a copy (CopyObject, UploadPartCopy): the x-amz-copy-source header, the
//! source version it names with its x-amz-copy-source-if-* conditions, and a source range.

use crate::http::conditions::Preconditions;
use crate::request::ctx::Ctx;
use crate::http::error::{ErrorCode, S3Error, S3Result};
use coffer_storage::{Body, Bucket, ObjectRecord, StorageError};
use percent_encoding::percent_decode_str;

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

/// The version a copy reads from, after its conditions held.
pub struct SourceObject {
    pub source: CopySource,
    pub bucket: Bucket,
    pub record: ObjectRecord,
    pub body: Body,
}

/// Loads the version x-amz-copy-source names (the caller must be allowed to read it) and
/// checks the x-amz-copy-source-if-* conditions against it.
pub async fn load_source(ctx: &Ctx<'_>) -> S3Result<SourceObject> {
    let source = parse_copy_source(ctx.header("x-amz-copy-source").unwrap_or_default())?;
    let bucket = ctx.state.store.bucket(&source.bucket).await.map_err(|e| S3Error::bucket_lookup(&source.bucket, e))?;
    let (record, body) = ctx.state.store.object(bucket.id, &source.key, source.version_id.as_deref()).await.map_err(|e| match e {
        StorageError::NoSuchKey => S3Error::no_such_key(&source.key),
        StorageError::NoSuchVersion => S3Error::new(ErrorCode::NoSuchVersion),
        other => other.into(),
    })?;
    if record.delete_marker {
        return Err(if source.version_id.is_some() {
            S3Error::invalid_request("The source of a copy request may not specifically refer to a delete marker by version id.")
        } else {
            S3Error::no_such_key(&source.key)
        });
    }
    let action = if source.version_id.is_some() { "s3:GetObjectVersion" } else { "s3:GetObject" };
    ctx.check_object_in(&bucket, &record, coffer_storage::Permission::Read, action).await?;
    crate::request::archive::refuse_archived(ctx.state, &record)?;
    Preconditions::from_headers(ctx.req.headers(), "x-amz-copy-source-").check(
        &record.etag,
        record.modified_ms,
        ErrorCode::PreconditionFailed,
    )?;
    Ok(SourceObject { source, bucket, record, body })
}

/// x-amz-copy-source-range (`bytes=first-last`, both required) against a source of `size`
/// bytes, as (offset, length); the whole source when absent.
pub fn copy_range(header: Option<&str>, size: u64) -> S3Result<(u64, u64)> {
    let Some(raw) = header else { return Ok((0, size)) };
    let invalid = || {
        S3Error::invalid_argument("The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy")
        .with("ArgumentName", "x-amz-copy-source-range")
        .with("ArgumentValue", raw)
    };
    let (first, last) = raw.trim().strip_prefix("bytes=").and_then(|r| r.split_once('-')).ok_or_else(invalid)?;
    let (first, last) = (first.trim().parse::<u64>().map_err(|_| invalid())?, last.trim().parse::<u64>().map_err(|_| invalid())?);
    if first > last {
        return Err(invalid());
    }
    if last >= size {
        return Err(S3Error::new(ErrorCode::InvalidRange).with("RangeRequested", raw).with("ActualObjectSize", size.to_string()));
    }
    Ok((first, last - first + 1))
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

    #[test]
    fn copy_ranges() {
        assert_eq!(copy_range(None, 10).unwrap(), (0, 10));
        assert_eq!(copy_range(Some("bytes=2-5"), 10).unwrap(), (2, 4));
        assert_eq!(copy_range(Some("bytes=0-10"), 10).unwrap_err().code, "InvalidRange");
        assert_eq!(copy_range(Some("bytes=5-"), 10).unwrap_err().code, "InvalidArgument");
        assert_eq!(copy_range(Some("bytes=5-2"), 10).unwrap_err().code, "InvalidArgument");
    }
}
