//! Each bucket's usage (objects, versions, bytes), kept current by the index's triggers, and
//! its quota, checked inside the commit of every new version so concurrent writes cannot pass it.

use crate::error::{Result, StorageError};
use crate::sqlite::rows::decode_manifest;
use crate::Store;
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use std::collections::HashSet;

/// How much of the store a bucket's versions use, as the triggers of migration 14 count it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Usage {
    /// Keys whose latest version is an object (not a delete marker).
    pub objects: u64,
    /// Versions that are objects, current or not.
    pub versions: u64,
    pub delete_markers: u64,
    /// The sizes of all those versions added up (what clients wrote, before dedup).
    pub logical_bytes: u64,
}

/// A bucket's limits; None is no limit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Quota {
    pub max_bytes: Option<u64>,
    pub max_objects: Option<u64>,
}

impl Quota {
    pub fn is_set(&self) -> bool {
        self.max_bytes.is_some() || self.max_objects.is_some()
    }

    /// Why `after` is refused when the bucket held `before`: a write may not grow past a
    /// limit (one that shrinks or keeps a count already past it is let through).
    fn refusal(&self, before: &Usage, after: &Usage) -> Option<String> {
        if let Some(max) = self.max_bytes {
            if after.logical_bytes > max && after.logical_bytes > before.logical_bytes {
                return Some(format!(
                    "The bucket's quota of {max} bytes would be exceeded: it holds {} bytes and this write adds {}.",
                    before.logical_bytes,
                    after.logical_bytes - before.logical_bytes
                ));
            }
        }
        if let Some(max) = self.max_objects {
            if after.objects > max && after.objects > before.objects {
                return Some(format!("The bucket's quota of {max} objects would be exceeded: it holds {} objects.", before.objects));
            }
        }
        None
    }
}

fn usage_row(c: &Connection, bucket_id: i64) -> Result<Option<(Usage, Quota)>> {
    let as_u64 = |v: i64| v.max(0) as u64;
    Ok(c
        .prepare_cached("SELECT objects, versions, markers, bytes, max_bytes, max_objects FROM bucket_usage WHERE bucket_id = ?1")?
        .query_row([bucket_id], |r| {
            let usage = Usage {
                objects: as_u64(r.get(0)?),
                versions: as_u64(r.get(1)?),
                delete_markers: as_u64(r.get(2)?),
                logical_bytes: as_u64(r.get(3)?),
            };
            let quota = Quota { max_bytes: r.get::<_, Option<i64>>(4)?.map(as_u64), max_objects: r.get::<_, Option<i64>>(5)?.map(as_u64) };
            Ok((usage, quota))
        })
        .optional()?)
}

/// Runs `write` (which adds a version to the bucket) and refuses it with `QuotaExceeded` when
/// it takes the bucket past its quota; the caller's savepoint then undoes it. Buckets without
/// a quota pay one indexed read.
pub(crate) fn within_quota<R>(c: &Connection, bucket_id: i64, write: impl FnOnce() -> Result<R>) -> Result<R> {
    let before = usage_row(c, bucket_id)?.filter(|(_, quota)| quota.is_set());
    let written = write()?;
    if let Some((before, quota)) = before {
        let (after, _) = usage_row(c, bucket_id)?.unwrap_or_default();
        if let Some(why) = quota.refusal(&before, &after) {
            return Err(StorageError::QuotaExceeded(why));
        }
    }
    Ok(written)
}

/// What `coffer admin bucket info` shows of a bucket's space.
#[derive(Clone, Debug, Serialize)]
pub struct BucketSpace {
    #[serde(flatten)]
    pub usage: Usage,
    /// Bytes on disk (or on tiers) the bucket's versions name, each blob counted once: less
    /// than the logical bytes where versions share bytes (copies, identical uploads), more
    /// where encryption adds its tags. Blobs shared with other buckets count in each.
    pub stored_bytes: u64,
    pub quota: Quota,
}

impl Store {
    /// The bucket's usage and quota (zeros and no quota for an unknown bucket id).
    pub async fn bucket_usage(&self, bucket_id: i64) -> Result<(Usage, Quota)> {
        self.readers().read(move |c| Ok(usage_row(c, bucket_id)?.unwrap_or_default())).await
    }

    /// Whether a new version of `key` of `size` bytes could fit the bucket's byte quota now
    /// (the commit checks again): lets a PUT be refused before its body is received. An
    /// overwrite in a bucket without versioning counts as replacing the `null` version.
    pub async fn check_quota(&self, bucket_id: i64, key: &str, size: u64) -> Result<()> {
        let key = key.to_string();
        self.readers()
            .read(move |c| {
                let Some((before, quota)) = usage_row(c, bucket_id)?.filter(|(_, q)| q.max_bytes.is_some()) else { return Ok(()) };
                let replaced: i64 = match crate::sqlite::objects::bucket_versioning(c, bucket_id)? {
                    crate::Versioning::Enabled => 0,
                    _ => c
                        .prepare_cached("SELECT size FROM objects WHERE bucket_id = ?1 AND key = ?2 AND version_id = 'null' AND delete_marker = 0")?
                        .query_row(params![bucket_id, key.as_bytes()], |r| r.get(0))
                        .optional()?
                        .unwrap_or(0),
                };
                let after = Usage { logical_bytes: (before.logical_bytes + size).saturating_sub(replaced.max(0) as u64), ..before };
                match quota.refusal(&before, &after) {
                    Some(why) => Err(StorageError::QuotaExceeded(why)),
                    None => Ok(()),
                }
            })
            .await
    }

    /// Every bucket's usage added up.
    pub async fn total_usage(&self) -> Result<Usage> {
        self.readers()
            .read(|c| {
                let n = |v: i64| v.max(0) as u64;
                Ok(c.query_row(
                    "SELECT COALESCE(SUM(objects), 0), COALESCE(SUM(versions), 0), COALESCE(SUM(markers), 0), COALESCE(SUM(bytes), 0) FROM bucket_usage",
                    [],
                    |r| Ok(Usage { objects: n(r.get(0)?), versions: n(r.get(1)?), delete_markers: n(r.get(2)?), logical_bytes: n(r.get(3)?) }),
                )?)
            })
            .await
    }

    /// The bucket's usage and quota, and the bytes it stores: this walks the bucket's
    /// versions, so it is for admin commands, not requests.
    pub async fn bucket_space(&self, bucket_id: i64) -> Result<BucketSpace> {
        self.readers()
            .read(move |c| {
                let (usage, quota) = usage_row(c, bucket_id)?.unwrap_or_default();
                let inline: i64 = c.query_row(
                    "SELECT COALESCE(SUM(length(i.data)), 0) FROM objects o JOIN inline_bodies i ON i.seq = o.seq WHERE o.bucket_id = ?1",
                    [bucket_id],
                    |r| r.get(0),
                )?;
                let mut blobs = HashSet::new();
                let mut stored = inline.max(0) as u64;
                let mut stmt = c.prepare("SELECT manifest FROM objects WHERE bucket_id = ?1 AND manifest IS NOT NULL")?;
                let mut rows = stmt.query([bucket_id])?;
                while let Some(row) = rows.next()? {
                    for segment in decode_manifest(&row.get::<_, String>(0)?)? {
                        if blobs.insert(segment.hash) {
                            stored += segment.len;
                        }
                    }
                }
                Ok(BucketSpace { usage, stored_bytes: stored, quota })
            })
            .await
    }

    /// Sets the bucket's quota (None in a field lifts that limit).
    pub async fn set_bucket_quota(&self, bucket_id: i64, quota: Quota) -> Result<()> {
        let to_sql = |v: Option<u64>| v.map(|n| n.min(i64::MAX as u64) as i64);
        self.writer()
            .write(move |c| {
                c.execute(
                    "INSERT INTO bucket_usage (bucket_id, max_bytes, max_objects) VALUES (?1, ?2, ?3)
                     ON CONFLICT(bucket_id) DO UPDATE SET max_bytes = excluded.max_bytes, max_objects = excluded.max_objects",
                    params![bucket_id, to_sql(quota.max_bytes), to_sql(quota.max_objects)],
                )?;
                Ok(())
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::*;
    use crate::{DeleteOptions, Versioning};

    #[tokio::test]
    async fn the_triggers_count_every_version_and_marker() {
        let t = store().await;
        let b = t.store.create_bucket(&t.owner, "b", "us-east-1").await.unwrap();
        put(&t, &b, "a", b"12345").await.unwrap();
        put(&t, &b, "a", b"123").await.unwrap();
        put(&t, &b, "big", &vec![1u8; 100_000]).await.unwrap();
        let (u, _) = t.store.bucket_usage(b.id).await.unwrap();
        assert_eq!(u, Usage { objects: 2, versions: 2, delete_markers: 0, logical_bytes: 100_003 });
        t.store.set_versioning(b.id, Versioning::Enabled).await.unwrap();
        put(&t, &b, "a", b"1234567").await.unwrap();
        t.store.delete_object(b.id, "big", None, Default::default(), DeleteOptions::default()).await.unwrap();
        let (u, _) = t.store.bucket_usage(b.id).await.unwrap();
        assert_eq!(u, Usage { objects: 1, versions: 3, delete_markers: 1, logical_bytes: 100_010 });
        put(&t, &b, "copy-of-big", &vec![1u8; 100_000]).await.unwrap();
        let space = t.store.bucket_space(b.id).await.unwrap();
        assert_eq!(space.usage.logical_bytes, 200_010);
        assert_eq!(space.stored_bytes, 100_010, "identical bytes are stored once");
    }

    #[tokio::test]
    async fn a_write_past_the_quota_is_refused_and_leaves_nothing() {
        let t = store().await;
        let b = t.store.create_bucket(&t.owner, "b", "us-east-1").await.unwrap();
        t.store.set_bucket_quota(b.id, Quota { max_bytes: Some(10), max_objects: Some(2) }).await.unwrap();
        put(&t, &b, "a", b"123456").await.unwrap();
        assert!(matches!(put(&t, &b, "b", b"123456").await, Err(StorageError::QuotaExceeded(_))));
        assert!(matches!(t.store.object(b.id, "b", None).await, Err(StorageError::NoSuchKey)));
        assert!(matches!(t.store.check_quota(b.id, "b", 6).await, Err(StorageError::QuotaExceeded(_))));
        t.store.check_quota(b.id, "a", 10).await.expect("an overwrite replaces the null version");
        put(&t, &b, "a", b"1234567890").await.expect("an overwrite within the quota");
        t.store.set_bucket_quota(b.id, Quota { max_bytes: Some(5), max_objects: Some(1) }).await.unwrap();
        put(&t, &b, "a", b"12345678").await.expect("a bucket already past its quota may shrink");
        assert!(matches!(put(&t, &b, "c", b"").await, Err(StorageError::QuotaExceeded(_))));
        t.store.set_bucket_quota(b.id, Quota::default()).await.unwrap();
        put(&t, &b, "c", &vec![0u8; 100_000]).await.unwrap();
        let (u, q) = t.store.bucket_usage(b.id).await.unwrap();
        assert_eq!((u.objects, u.logical_bytes, q), (2, 100_008, Quota::default()));
    }

    #[tokio::test]
    async fn an_index_from_before_the_counters_is_counted_when_it_is_upgraded() {
        let dir = tempfile::tempdir().unwrap();
        {
            let c = rusqlite::Connection::open(dir.path().join("index.sqlite")).unwrap();
            c.execute_batch("PRAGMA journal_mode = WAL").unwrap();
            crate::sqlite::schema::migrate_to(&c, 13).unwrap();
            c.execute_batch(
                "INSERT INTO users (id, name, created_ms) VALUES ('u1', 'root', 0);
                 INSERT INTO buckets (id, name, owner_id, region, created_ms) VALUES (1, 'full', 'u1', 'r', 0), (2, 'empty', 'u1', 'r', 0);
                 INSERT INTO objects (bucket_id, key, version_id, is_latest, delete_marker, size, etag, modified_ms, owner_id, meta) VALUES
                    (1, 'a', 'v1', 0, 0, 10, '', 0, 'u1', '{}'),
                    (1, 'a', 'v2', 1, 0, 20, '', 0, 'u1', '{}'),
                    (1, 'b', 'v3', 0, 0, 5, '', 0, 'u1', '{}'),
                    (1, 'b', 'v4', 1, 1, 0, '', 0, '', '{}');",
            )
            .unwrap();
        }
        let store = crate::Store::open(dir.path()).unwrap();
        let (full, quota) = store.bucket_usage(1).await.unwrap();
        assert_eq!(full, Usage { objects: 1, versions: 3, delete_markers: 1, logical_bytes: 35 });
        assert_eq!(quota, Quota::default());
        assert_eq!(store.bucket_usage(2).await.unwrap().0, Usage::default());
        assert!(store.access_key_blocking("none").unwrap().is_none());
    }

    /// What the counters cost: 20,000 small PUTs in flight together (so group commits share
    /// fsyncs and the index's CPU time shows), with the triggers, with a quota too, and with
    /// the triggers dropped. `cargo test --release -p coffer-storage usage_cost -- --ignored --nocapture`
    #[tokio::test(flavor = "multi_thread")]
    #[ignore]
    async fn usage_cost() {
        async fn rate(t: &TestStore, bucket: &crate::Bucket) -> f64 {
            let started = std::time::Instant::now();
            let puts = (0..20_000).map(|i| async move { put(t, bucket, &format!("k{i}"), b"0123456789abcdef").await.unwrap() });
            futures::future::join_all(puts).await;
            20_000.0 / started.elapsed().as_secs_f64()
        }
        let t = store().await;
        let counted = t.store.create_bucket(&t.owner, "counted", "us-east-1").await.unwrap();
        let quota = t.store.create_bucket(&t.owner, "quota", "us-east-1").await.unwrap();
        t.store.set_bucket_quota(quota.id, Quota { max_bytes: Some(u64::MAX >> 2), max_objects: Some(1 << 40) }).await.unwrap();
        let bare = t.store.create_bucket(&t.owner, "bare", "us-east-1").await.unwrap();
        let with_triggers = rate(&t, &counted).await;
        let with_quota = rate(&t, &quota).await;
        t.store
            .writer()
            .write(|c| Ok(c.execute_batch("DROP TRIGGER bucket_usage_insert; DROP TRIGGER bucket_usage_delete; DROP TRIGGER bucket_usage_update;")?))
            .await
            .unwrap();
        let without = rate(&t, &bare).await;
        println!("small PUTs/s: {without:.0} without counters, {with_triggers:.0} with them, {with_quota:.0} with a quota too");
    }
}
