//! Figures about what the store holds, for metrics and health checks: usage per bucket (a full
//! scan of the index, so callers cache it), the backlogs of background work (indexed, cheap).

use crate::error::Result;
use crate::Store;

/// What one bucket holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BucketUsage {
    pub bucket: String,
    /// Current versions that are not delete markers: what a listing shows.
    pub objects: u64,
    /// Every version that is not a delete marker, current or not.
    pub versions: u64,
    pub delete_markers: u64,
    /// The sizes of those versions added up, as clients see them.
    pub logical_bytes: u64,
    /// The bytes they take once stored: each distinct blob they name counted once (wherever
    /// it lives), plus their inline bodies. Below `logical_bytes` when versions share blobs.
    pub stored_bytes: u64,
}

/// What the whole store holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StoreUsage {
    pub buckets: Vec<BucketUsage>,
    /// Referenced blob files on the local store, and their bytes.
    pub blobs: u64,
    pub blob_bytes: u64,
    /// Bytes of small objects kept inline in the index.
    pub inline_bytes: u64,
    /// Referenced blobs on tiers, and their bytes.
    pub tier_blobs: u64,
    pub tier_blob_bytes: u64,
}

/// Work waiting for the background workers; every figure comes from an index.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Backlogs {
    /// Local blobs nobody references, waiting for the garbage collector.
    pub gc_blobs: u64,
    pub gc_bytes: u64,
    /// Tier blobs nobody references, waiting for the tiering worker.
    pub tier_gc_blobs: u64,
    /// Replication rows in the outbox, and when the oldest was written.
    pub replication: u64,
    pub replication_oldest_ms: Option<i64>,
    /// Events queued for notification targets, and when the oldest was written.
    pub notify: u64,
    pub notify_oldest_ms: Option<i64>,
    /// Versions due to move between tiers, and restores not done yet.
    pub tier_moves: u64,
    pub restores: u64,
    /// Blobs found corrupt (by reads and the scrubber).
    pub corrupt_blobs: u64,
}

/// What the index holds: the counts a backup and `coffer admin info` report.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct IndexCounts {
    pub users: u64,
    pub buckets: u64,
    /// Object versions, delete markers excluded.
    pub objects: u64,
    /// Of those, the ones kept inline in the index.
    pub inline_objects: u64,
    /// Referenced blob files, and their bytes: what a copy of `blobs/` must contain.
    pub blobs: u64,
    pub blob_bytes: u64,
}

impl Store {
    /// What the index holds now (the counts a backup reports).
    pub async fn index_counts(&self) -> Result<IndexCounts> {
        self.index().index_counts().await
    }

    /// Usage per bucket and of the whole store. Reads every version row: cache the answer.
    pub async fn store_usage(&self) -> Result<StoreUsage> {
        self.index().store_usage().await
    }

    /// The backlogs of background work.
    pub async fn backlogs(&self) -> Result<Backlogs> {
        self.index().backlogs().await
    }

    /// Whether the index answers a query.
    pub async fn ping(&self) -> Result<()> {
        self.index().ping().await
    }

    /// Whether the data dir takes writes: a small file is created, synced and removed in the
    /// staging directory, as every upload does.
    pub fn check_writable(&self) -> std::io::Result<()> {
        self.inner.blobs.probe_staging()
    }

    /// Returns up to `max_pages` pages of the index's freed space to the file system; the bytes.
    pub async fn reclaim_index_space(&self, max_pages: u32) -> Result<u64> {
        self.index().reclaim_space(max_pages).await
    }

    /// Bytes the index takes where it is kept.
    pub fn index_bytes(&self) -> u64 {
        self.index().index_bytes()
    }
}

#[cfg(test)]
mod tests {
    use crate::testutil::{put, store};
    use crate::INLINE_MAX;

    #[tokio::test]
    async fn usage_counts_versions_and_shared_blobs_once() {
        let t = store().await;
        let bucket = t.store.create_bucket(&t.owner, "b", "us-east-1").await.unwrap();
        t.store.create_bucket(&t.owner, "empty", "us-east-1").await.unwrap();
        let large = vec![7u8; INLINE_MAX + 1];
        put(&t, &bucket, "one", &large).await.unwrap();
        put(&t, &bucket, "two", &large).await.unwrap();
        put(&t, &bucket, "small", b"tiny").await.unwrap();
        let usage = t.store.store_usage().await.unwrap();
        let b = &usage.buckets[0];
        assert_eq!((b.bucket.as_str(), b.objects, b.versions, b.delete_markers), ("b", 3, 3, 0));
        assert_eq!(b.logical_bytes, 2 * large.len() as u64 + 4);
        assert_eq!(b.stored_bytes, large.len() as u64 + 4, "the shared blob is stored once");
        assert_eq!((usage.blobs, usage.blob_bytes, usage.inline_bytes), (1, large.len() as u64, 4));
        assert_eq!(usage.buckets[1].bucket, "empty");
        assert_eq!(usage.buckets[1].objects, 0);
        let backlogs = t.store.backlogs().await.unwrap();
        assert_eq!((backlogs.gc_blobs, backlogs.replication, backlogs.notify_oldest_ms), (0, 0, None));
        t.store.ping().await.unwrap();
        t.store.check_writable().unwrap();
        assert!(t.store.index_bytes() > 0);
    }
}
