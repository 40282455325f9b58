//! An in-process cache of bucket configuration documents, which nearly every request reads
//! (ownership, default encryption, ACLs, CORS...) and which change rarely. A generation
//! counter keeps a read that raced a write from caching the value the write replaced. When
//! only this process writes the index, entries last until its own writes drop them; when
//! other nodes write it too, a bucket's entries go as soon as a lookup of the bucket shows
//! its configuration generation moved (`observe`: every request to a bucket looks it up
//! first), and any entry lasts at most `max_age` (for readers that look up no bucket, such as
//! the background workers).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::RwLock;
use std::time::{Duration, Instant};

type Key = (i64, String);

#[derive(Default)]
pub(crate) struct ConfigCache {
    docs: RwLock<HashMap<Key, (Instant, Option<String>)>>,
    generation: AtomicU64,
    /// How long an entry is trusted (None: until this process changes it).
    max_age: Option<Duration>,
    /// The configuration generation last seen of each bucket (`Bucket::config_gen`).
    seen: RwLock<HashMap<i64, i64>>,
}

impl ConfigCache {
    /// A cache whose entries last `max_age` (None: until this process's writes drop them).
    pub fn new(max_age: Option<Duration>) -> ConfigCache {
        ConfigCache { max_age, ..ConfigCache::default() }
    }

    /// How long an entry is trusted (None: until this process changes it).
    pub fn max_age(&self) -> Option<Duration> {
        self.max_age
    }

    /// The cached document (`Some(None)` records that there is none).
    pub fn get(&self, bucket_id: i64, kind: &str) -> Option<Option<String>> {
        let docs = self.docs.read().expect("config cache poisoned");
        let (at, doc) = docs.get(&(bucket_id, kind.to_string()))?;
        match self.max_age {
            Some(max) if at.elapsed() >= max => None,
            _ => Some(doc.clone()),
        }
    }

    /// Notes the configuration generation a lookup of bucket `bucket_id` found: when it moved
    /// (another node changed the bucket's configuration), what is cached of the bucket goes.
    /// Nothing to do when only this process writes the index.
    pub fn observe(&self, bucket_id: i64, config_gen: i64) {
        if self.max_age.is_none() || self.seen.read().expect("config cache poisoned").get(&bucket_id) == Some(&config_gen) {
            return;
        }
        let mut seen = self.seen.write().expect("config cache poisoned");
        if seen.insert(bucket_id, config_gen) != Some(config_gen) {
            self.invalidate(bucket_id, None);
        }
    }

    /// The configuration generation last seen of bucket `bucket_id` (0 before any).
    pub fn seen(&self, bucket_id: i64) -> i64 {
        self.seen.read().expect("config cache poisoned").get(&bucket_id).copied().unwrap_or(0)
    }

    /// Where the generation stood before a read of the index began.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Caches what a read found, unless a write came in since the read began.
    pub fn fill(&self, since: u64, bucket_id: i64, kind: &str, doc: Option<String>) {
        let mut docs = self.docs.write().expect("config cache poisoned");
        if self.generation() == since {
            docs.insert((bucket_id, kind.to_string()), (Instant::now(), doc));
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

    #[test]
    fn entries_expire_when_other_nodes_write_too() {
        let cache = ConfigCache::new(Some(Duration::from_millis(50)));
        cache.fill(cache.generation(), 1, "cors", Some("doc".into()));
        assert_eq!(cache.get(1, "cors"), Some(Some("doc".into())));
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(cache.get(1, "cors"), None, "read again from the index");
    }

    #[test]
    fn a_moved_configuration_generation_drops_the_bucket_s_entries() {
        let cache = ConfigCache::new(Some(Duration::from_secs(60)));
        cache.observe(1, 4);
        cache.fill(cache.generation(), 1, "cors", Some("old".into()));
        cache.fill(cache.generation(), 2, "cors", Some("other".into()));
        cache.observe(1, 4);
        assert_eq!(cache.get(1, "cors"), Some(Some("old".into())), "an unchanged generation keeps them");
        cache.observe(1, 5);
        assert_eq!((cache.get(1, "cors"), cache.seen(1)), (None, 5), "another node changed bucket 1");
        assert_eq!(cache.get(2, "cors"), Some(Some("other".into())));
    }
}
