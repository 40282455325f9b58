//! The lifecycle rules of buckets, compiled once and cached by bucket id, so the
//! x-amz-expiration header costs a bucket without rules one map lookup.

use super::{Lifecycle, LifecycleConfiguration, KIND};
use crate::bucket_config::parsed::Parsed;
use crate::http::error::{S3Error, S3Result};
use coffer_storage::Store;
use std::sync::Arc;

/// The configuration as put, and its enabled rules compiled.
pub struct Entry {
    pub config: LifecycleConfiguration,
    pub rules: Lifecycle,
}

pub struct Cache(Parsed<Entry>);

impl Default for Cache {
    fn default() -> Cache {
        Cache(Parsed::new(KIND))
    }
}

impl Cache {
    pub fn forget(&self, bucket_id: i64) {
        self.0.forget(bucket_id)
    }

    pub async fn load(&self, store: &Store, bucket_id: i64) -> S3Result<Option<Arc<Entry>>> {
        self.0.load(store, bucket_id, |doc| Entry::parse(doc).map_err(S3Error::internal)).await
    }

    /// Replaces (Some) or removes (None) the bucket's configuration.
    pub async fn store(&self, store: &Store, bucket_id: i64, config: Option<&LifecycleConfiguration>) -> S3Result<()> {
        let doc = config.map(serde_json::to_string).transpose().map_err(S3Error::internal)?;
        self.0.store(store, bucket_id, doc).await
    }
}

impl Entry {
    /// A configuration as stored (JSON).
    pub fn parse(doc: &str) -> Result<Entry, serde_json::Error> {
        let config: LifecycleConfiguration = serde_json::from_str(doc)?;
        let rules = Lifecycle::compile(&config);
        Ok(Entry { config, rules })
    }
}
