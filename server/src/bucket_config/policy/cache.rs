//! Where a bucket's policy lives: a bucket configuration document ("policy", the JSON as sent),
//! parsed once and cached per bucket id until it is replaced or deleted.

use super::Policy;
use crate::bucket_config::parsed::{Document, Parsed};
use crate::http::error::{S3Error, S3Result};
use coffer_storage::Store;

const POLICY: &str = "policy";

/// Parsed policies by bucket id.
pub type Cache = Parsed<Policy>;

impl Document for Policy {
    const KIND: &'static str = POLICY;
    fn parse(doc: &str) -> S3Result<Policy> {
        Policy::parse_stored(doc).map_err(|e| S3Error::internal(e.0))
    }
}

/// The policy document of a bucket, as stored.
pub async fn document(store: &Store, bucket_id: i64) -> S3Result<Option<String>> {
    Ok(store.bucket_config(bucket_id, POLICY).await?)
}
