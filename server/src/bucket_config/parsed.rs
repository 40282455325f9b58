//! A cache of parsed bucket configuration documents by bucket id, for documents read on hot
//! paths (bucket policies, lifecycle rules): parsed once, dropped when replaced or deleted.

use crate::http::error::S3Result;
use coffer_storage::Store;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Instant;

/// A kind of bucket configuration document that is kept parsed.
pub trait Document: Sized {
    /// The document's kind in the index (e.g. "policy").
    const KIND: &'static str;
    /// Parses the document as stored.
    fn parse(doc: &str) -> S3Result<Self>;
}

/// Parsed documents of one kind by bucket id, with when each was read and the bucket's
/// configuration generation then; None records that a bucket has none. An entry is trusted as
/// long as the store trusts its configuration cache: for good on a store of its own; when
/// other nodes share the index, while the bucket's generation stays (`Store::config_generation`)
/// and at most `Store::config_max_age`.
pub struct Parsed<T> {
    docs: RwLock<HashMap<i64, Entry<T>>>,
}

/// When a document was read, the bucket's configuration generation then, and the document.
type Entry<T> = (Instant, i64, Option<Arc<T>>);

impl<T> Default for Parsed<T> {
    fn default() -> Parsed<T> {
        Parsed { docs: RwLock::default() }
    }
}

impl<T: Document> Parsed<T> {
    pub fn forget(&self, bucket_id: i64) {
        self.docs.write().expect("config cache poisoned").remove(&bucket_id);
    }

    /// The bucket's parsed document: from the cache, else read once from the index and parsed.
    pub async fn load(&self, store: &Store, bucket_id: i64) -> S3Result<Option<Arc<T>>> {
        let config_gen = store.config_generation(bucket_id);
        if let Some((read_at, seen_gen, parsed)) = self.docs.read().expect("config cache poisoned").get(&bucket_id) {
            if *seen_gen == config_gen && store.config_max_age().is_none_or(|max| read_at.elapsed() < max) {
                return Ok(parsed.clone());
            }
        }
        let read_at = Instant::now();
        let parsed = match store.bucket_config(bucket_id, T::KIND).await? {
            Some(doc) => Some(Arc::new(T::parse(&doc)?)),
            None => None,
        };
        self.docs.write().expect("config cache poisoned").insert(bucket_id, (read_at, config_gen, parsed.clone()));
        Ok(parsed)
    }

    /// Replaces (Some) or removes (None) the bucket's document, as stored text.
    pub async fn store(&self, store: &Store, bucket_id: i64, doc: Option<String>) -> S3Result<()> {
        let result = store.set_bucket_config(bucket_id, T::KIND, doc).await;
        self.forget(bucket_id);
        Ok(result?)
    }
}
