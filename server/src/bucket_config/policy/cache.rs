//! Where a bucket's policy lives: a bucket configuration document ("policy", the JSON as sent),
//! parsed once and cached per bucket id until it is replaced or deleted.

use super::Policy;
use crate::http::error::{S3Error, S3Result};
use coffer_storage::Store;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

const POLICY: &str = "policy";

/// Parsed policies by bucket id; None records that a bucket has none.
#[derive(Default)]
pub struct Cache(RwLock<HashMap<i64, Option<Arc<Policy>>>>);

impl Cache {
    pub fn forget(&self, bucket_id: i64) {
        self.0.write().expect("policy cache poisoned").remove(&bucket_id);
    }

    /// The bucket's parsed policy: from the cache, else read once from the index.
    pub async fn load(&self, store: &Store, bucket_id: i64) -> S3Result<Option<Arc<Policy>>> {
        if let Some(cached) = self.0.read().expect("policy cache poisoned").get(&bucket_id) {
            return Ok(cached.clone());
        }
        let parsed = match document(store, bucket_id).await? {
            Some(doc) => Some(Arc::new(Policy::parse_stored(&doc).map_err(|e| S3Error::internal(e.0))?)),
            None => None,
        };
        self.0.write().expect("policy cache poisoned").insert(bucket_id, parsed.clone());
        Ok(parsed)
    }

    /// Replaces (Some) or removes (None) the bucket's policy document.
    pub async fn store(&self, store: &Store, bucket_id: i64, doc: Option<String>) -> S3Result<()> {
        let result = store.set_bucket_config(bucket_id, POLICY, doc).await;
        self.forget(bucket_id);
        Ok(result?)
    }
}

/// The policy document of a bucket, as stored.
pub async fn document(store: &Store, bucket_id: i64) -> S3Result<Option<String>> {
    Ok(store.bucket_config(bucket_id, POLICY).await?)
}
