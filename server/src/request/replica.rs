//! Writes that are replicas: a Coffer replicating to another Coffer sends the identity the
//! version has on the source (its version id, creation time and ETag) in `x-coffer-replica-*`
//! headers, and the destination keeps it, so both sides list the same versions. Only a caller
//! allowed `s3:ReplicateObject` (or `s3:ReplicateDelete` for delete markers) on the key may
//! choose an identity, as in S3, where these are the actions replication needs at the
//! destination.

use crate::http::error::{S3Error, S3Result};
use crate::request::ctx::Ctx;
use coffer_storage::{Bucket, Permission, ReplicaOf};

pub const VERSION_ID: &str = "x-coffer-replica-version-id";
pub const MODIFIED_MS: &str = "x-coffer-replica-modified-ms";
pub const ETAG: &str = "x-coffer-replica-etag";

/// What a replica write may ask for.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum ReplicaWrite {
    Object,
    DeleteMarker,
}

impl ReplicaWrite {
    fn action(self) -> &'static str {
        match self {
            ReplicaWrite::Object => "s3:ReplicateObject",
            ReplicaWrite::DeleteMarker => "s3:ReplicateDelete",
        }
    }
}

/// The identity a request asks its version to have, after checking the caller may ask for
/// one; None for an ordinary write.
pub async fn identity(ctx: &Ctx<'_>, bucket: &Bucket, key: &str, write: ReplicaWrite) -> S3Result<Option<ReplicaOf>> {
    let Some(version_id) = ctx.header(VERSION_ID) else { return Ok(None) };
    let bad = |name: &str| S3Error::invalid_argument(format!("Invalid {name}")).with("ArgumentName", name.to_string());
    let valid_id = !version_id.is_empty() && version_id.len() <= 64 && version_id.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    if !valid_id || version_id == coffer_storage::NULL_VERSION {
        return Err(bad(VERSION_ID));
    }
    let modified_ms = ctx.header(MODIFIED_MS).and_then(|v| v.trim().parse::<i64>().ok()).filter(|ms| *ms > 0).ok_or_else(|| bad(MODIFIED_MS))?;
    let etag = match write {
        ReplicaWrite::DeleteMarker => String::new(),
        ReplicaWrite::Object => {
            let etag = ctx.header(ETAG).map(|v| v.trim().trim_matches('"')).ok_or_else(|| bad(ETAG))?;
            if etag.is_empty() || etag.len() > 64 || !etag.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-') {
                return Err(bad(ETAG));
            }
            etag.to_string()
        }
    };
    ctx.check_key(bucket, key, write.action(), Permission::Write).await?;
    if bucket.versioning != coffer_storage::Versioning::Enabled {
        return Err(S3Error::invalid_request("A replica needs a destination bucket with versioning enabled"));
    }
    Ok(Some(ReplicaOf { version_id: version_id.to_string(), modified_ms, etag }))
}
