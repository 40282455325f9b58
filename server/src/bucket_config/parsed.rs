//! A cache of parsed bucket configuration documents by bucket id, for documents read on hot
//! paths (bucket policies, lifecycle rules): parsed once, dropped when replaced or deleted.

use crate::http::error::S3Result;
use coffer_storage::Store;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// A kind of bucket configuration document that is kept parsed.
pub trait Document: Sized {
    /// The document's kind in the index (e.g. "policy").
    const KIND: &'static str;
    /// Parses the document as stored.
    fn parse(doc: &str) -> S3Result<Self>;
}

/// Parsed documents of one kind by bucket id, with the text each was parsed from; None
/// records that a bucket has none. The text is read through the store's configuration cache
/// every time (a memory read unless it expired), so a change another node made is parsed
/// once it arrives there.
pub struct Parsed<T> {
    docs: RwLock<HashMap<i64, (Option<String>, Option<Arc<T>>)>>,
}

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
        let text = store.bucket_config(bucket_id, T::KIND).await?;
        if let Some((parsed_from, parsed)) = self.docs.read().expect("config cache poisoned").get(&bucket_id) {
            if *parsed_from == text {
                return Ok(parsed.clone());
            }
        }
        let parsed = match &text {
            Some(doc) => Some(Arc::new(T::parse(doc)?)),
            None => None,
        };
        self.docs.write().expect("config cache poisoned").insert(bucket_id, (text, parsed.clone()));
        Ok(parsed)
    }

    /// Replaces (Some) or removes (None) the bucket's document, as stored text.
    pub async fn store(&self, store: &Store, bucket_id: i64, doc: Option<String>) -> S3Result<()> {
        let result = store.set_bucket_config(bucket_id, T::KIND, doc).await;
        self.forget(bucket_id);
        Ok(result?)
    }
}
