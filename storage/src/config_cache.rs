//! An in-process cache of bucket configuration documents, which nearly every request reads
//! (ownership, default encryption, ACLs, CORS...) and which change rarely and only through
//! this process's `Store`. A generation counter keeps a read that raced a write from caching
//! the value the write replaced.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::RwLock;

type Key = (i64, String);

#[derive(Default)]
pub(crate) struct ConfigCache {
    docs: RwLock<HashMap<Key, Option<String>>>,
    generation: AtomicU64,
}

impl ConfigCache {
    /// The cached document (`Some(None)` records that there is none).
    pub fn get(&self, bucket_id: i64, kind: &str) -> Option<Option<String>> {
        self.docs.read().expect("config cache poisoned").get(&(bucket_id, kind.to_string())).cloned()
    }

    /// Where the generation stood before a read of the index began.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Caches what a read found, unless a write came in since the read began.
    pub fn fill(&self, since: u64, bucket_id: i64, kind: &str, doc: Option<String>) {
        let mut docs = self.docs.write().expect("config cache poisoned");
        if self.generation() == since {
            docs.insert((bucket_id, kind.to_string()), doc);
        }
    }

    /// After a committed write of one document (`Some(kind)`) or of all of a bucket's (None).
    pub fn invalidate(&self, bucket_id: i64, kind: Option<&str>) {
        let mut docs = self.docs.write().expect("config cache poisoned");
        self.generation.fetch_add(1, Ordering::AcqRel);
        match kind {
            Some(k) => {
                docs.remove(&(bucket_id, k.to_string()));
            }
            None => docs.retain(|(id, _), _| *id != bucket_id),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fill_that_raced_a_write_is_dropped() {
        let cache = ConfigCache::default();
        let before = cache.generation();
        cache.invalidate(1, Some("cors"));
        cache.fill(before, 1, "cors", Some("old".into()));
        assert_eq!(cache.get(1, "cors"), None);
        cache.fill(cache.generation(), 1, "cors", Some("new".into()));
        assert_eq!(cache.get(1, "cors"), Some(Some("new".into())));
        cache.fill(cache.generation(), 1, "acl", None);
        cache.fill(cache.generation(), 2, "cors", None);
        cache.invalidate(1, None);
        assert_eq!((cache.get(1, "cors"), cache.get(1, "acl")), (None, None));
        assert_eq!(cache.get(2, "cors"), Some(None));
    }
}
