//! Where a bucket's policy lives: a bucket configuration document ("policy", the JSON as sent),
//! parsed once and cached per bucket id until it is replaced or deleted.

use super::Policy;
use crate::bucket_config::parsed::Parsed;
use crate::http::error::{S3Error, S3Result};
use coffer_storage::Store;
use std::sync::Arc;

const POLICY: &str = "policy";

/// Parsed policies by bucket id.
pub struct Cache(Parsed<Policy>);

impl Default for Cache {
    fn default() -> Cache {
        Cache(Parsed::new(POLICY))
    }
}

impl Cache {
    pub fn forget(&self, bucket_id: i64) {
        self.0.forget(bucket_id)
    }

    /// The bucket's parsed policy: from the cache, else read once from the index.
    pub async fn load(&self, store: &Store, bucket_id: i64) -> S3Result<Option<Arc<Policy>>> {
        self.0.load(store, bucket_id, |doc| Policy::parse_stored(doc).map_err(|e| S3Error::internal(e.0))).await
    }

    /// Replaces (Some) or removes (None) the bucket's policy document.
    pub async fn store(&self, store: &Store, bucket_id: i64, doc: Option<String>) -> S3Result<()> {
        self.0.store(store, bucket_id, doc).await
    }
}

/// The policy document of a bucket, as stored.
pub async fn document(store: &Store, bucket_id: i64) -> S3Result<Option<String>> {
    Ok(store.bucket_config(bucket_id, POLICY).await?)
}
