//! Figures about what the store holds, for metrics and health checks: usage per bucket (a full
//! scan of the index, so callers cache it), the backlogs of background work (indexed, cheap).

use crate::error::Result;
use crate::Store;
use rusqlite::Connection;
use std::collections::HashMap;

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

impl Store {
    /// Usage per bucket and of the whole store. Reads every version row: cache the answer.
    pub async fn store_usage(&self) -> Result<StoreUsage> {
        self.readers().read(usage).await
    }

    /// The backlogs of background work.
    pub async fn backlogs(&self) -> Result<Backlogs> {
        self.readers().read(backlogs).await
    }

    /// Whether the index answers a query.
    pub async fn ping(&self) -> Result<()> {
        self.readers().read(|c| Ok(c.query_row("SELECT count(*) FROM buckets", [], |r| r.get::<_, i64>(0)).map(|_| ())?)).await
    }

    /// Whether the data dir takes writes: a small file is created, synced and removed in the
    /// staging directory, as every upload does.
    pub fn check_writable(&self) -> std::io::Result<()> {
        self.inner.blobs.probe_staging()
    }

    /// Bytes of the index on disk: the database file and its write-ahead log.
    pub fn index_bytes(&self) -> u64 {
        ["index.sqlite", "index.sqlite-wal"]
            .iter()
            .filter_map(|name| std::fs::metadata(self.root().join(name)).ok())
            .map(|m| m.len())
            .sum()
    }
}

fn usage(c: &Connection) -> Result<StoreUsage> {
    let mut by_id: HashMap<i64, BucketUsage> = HashMap::new();
    let mut names = c.prepare("SELECT id, name FROM buckets")?;
    for row in names.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))? {
        let (id, bucket) = row?;
        by_id.insert(id, BucketUsage { bucket, ..Default::default() });
    }
    let mut versions = c.prepare(
        "SELECT bucket_id, SUM(is_latest = 1 AND delete_marker = 0), SUM(delete_marker = 0), SUM(delete_marker),
                SUM(CASE WHEN delete_marker = 0 THEN size ELSE 0 END)
         FROM objects GROUP BY bucket_id",
    )?;
    for row in versions.query_map([], |r| Ok((r.get::<_, i64>(0)?, [r.get::<_, i64>(1)?, r.get(2)?, r.get(3)?, r.get(4)?])))? {
        let (id, [objects, versions, markers, bytes]) = row?;
        if let Some(b) = by_id.get_mut(&id) {
            (b.objects, b.versions, b.delete_markers, b.logical_bytes) = (objects as u64, versions as u64, markers as u64, bytes as u64);
        }
    }
    // Each distinct blob of a bucket once, then its inline bodies.
    let stored = [
        "SELECT bucket_id, SUM(len) FROM (
            SELECT DISTINCT o.bucket_id, json_extract(s.value, '$.hash') AS hash, json_extract(s.value, '$.len') AS len
            FROM objects o, json_each(o.manifest) s WHERE o.manifest IS NOT NULL)
         GROUP BY bucket_id",
        "SELECT o.bucket_id, SUM(length(i.data)) FROM inline_bodies i JOIN objects o ON o.seq = i.seq GROUP BY o.bucket_id",
    ];
    for sql in stored {
        let mut q = c.prepare(sql)?;
        for row in q.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)))? {
            let (id, bytes) = row?;
            if let Some(b) = by_id.get_mut(&id) {
                b.stored_bytes += bytes as u64;
            }
        }
    }
    let mut buckets: Vec<BucketUsage> = by_id.into_values().collect();
    buckets.sort_by(|a, b| a.bucket.cmp(&b.bucket));
    let pair = |sql: &str| c.query_row(sql, [], |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64)));
    let (blobs, blob_bytes) = pair("SELECT count(*), COALESCE(SUM(size), 0) FROM blobs WHERE refs > 0")?;
    let (tier_blobs, tier_blob_bytes) = pair("SELECT count(*), COALESCE(SUM(size), 0) FROM tier_blobs WHERE refs > 0")?;
    let inline_bytes = count(c, "SELECT COALESCE(SUM(length(data)), 0) FROM inline_bodies")?;
    Ok(StoreUsage { buckets, blobs, blob_bytes, inline_bytes, tier_blobs, tier_blob_bytes })
}

fn backlogs(c: &Connection) -> Result<Backlogs> {
    let oldest = |table: &str| -> Result<Option<i64>> {
        let sql = format!("SELECT created_ms FROM {table} ORDER BY seq LIMIT 1");
        match c.query_row(&sql, [], |r| r.get(0)) {
            Ok(ms) => Ok(Some(ms)),
            Err(rusqlite::Error::QueryReturnedNoRows) => Ok(None),
            Err(e) => Err(e.into()),
        }
    };
    let (gc_blobs, gc_bytes) = c.query_row("SELECT count(*), COALESCE(SUM(size), 0) FROM blobs WHERE refs <= 0", [], |r| {
        Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64))
    })?;
    Ok(Backlogs {
        gc_blobs,
        gc_bytes,
        tier_gc_blobs: count(c, "SELECT count(*) FROM tier_blobs WHERE refs <= 0")?,
        replication: count(c, "SELECT count(*) FROM outbox")?,
        replication_oldest_ms: oldest("outbox")?,
        notify: count(c, "SELECT count(*) FROM notify_queue")?,
        notify_oldest_ms: oldest("notify_queue")?,
        tier_moves: count(c, "SELECT count(*) FROM objects WHERE move_to IS NOT NULL")?,
        restores: count(c, "SELECT count(*) FROM objects WHERE restore_days IS NOT NULL AND restore_done_ms IS NULL")?,
        corrupt_blobs: count(c, "SELECT count(*) FROM corrupt_blobs")?,
    })
}

fn count(c: &Connection, sql: &str) -> Result<u64> {
    Ok(c.query_row(sql, [], |r| r.get::<_, i64>(0))? as u64)
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
