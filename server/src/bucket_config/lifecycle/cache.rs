//! The lifecycle rules of buckets, compiled once and cached by bucket id, so the
//! x-amz-expiration header costs a bucket without rules one map lookup.

use super::{Lifecycle, LifecycleConfiguration, KIND};
use crate::bucket_config::parsed::{Document, Parsed};
use crate::http::error::{S3Error, S3Result};
use coffer_storage::Store;

/// The configuration as put, and its enabled rules compiled.
pub struct Entry {
    pub config: LifecycleConfiguration,
    pub rules: Lifecycle,
}

pub type Cache = Parsed<Entry>;

impl Document for Entry {
    const KIND: &'static str = KIND;
    fn parse(doc: &str) -> S3Result<Entry> {
        let config: LifecycleConfiguration = serde_json::from_str(doc).map_err(S3Error::internal)?;
        let rules = Lifecycle::compile(&config);
        Ok(Entry { config, rules })
    }
}

/// Replaces (Some) or removes (None) a bucket's configuration.
pub async fn save(cache: &Cache, store: &Store, bucket_id: i64, config: Option<&LifecycleConfiguration>) -> S3Result<()> {
    let doc = config.map(serde_json::to_string).transpose().map_err(S3Error::internal)?;
    cache.store(store, bucket_id, doc).await
}
