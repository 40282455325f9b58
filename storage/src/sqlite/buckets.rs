//! SQLite's BucketIndex: buckets and their configuration documents, versioning state, usage counters and quotas.

use super::SqliteIndex;
use crate::error::{Result, StorageError};
use crate::meta::BucketIndex;
use crate::model::{Bucket, User, Versioning, LOCK_KIND};
use crate::now_ms;
use crate::columns::decode_manifest;
use crate::usage::{BucketSpace, Quota, Usage};
use rusqlite::{params, Connection, OptionalExtension};
use std::collections::HashSet;

#[async_trait::async_trait]
impl BucketIndex for SqliteIndex {
    async fn create_bucket(&self, owner: User, name: &str, region: &str) -> Result<Bucket> {
        let (name, region) = (name.to_string(), region.to_string());
        self.writer
            .write(move |c| {
                if let Some(existing) = bucket_by_name(c, &name)? {
                    return Err(if existing.owner.id == owner.id {
                        StorageError::BucketAlreadyOwnedByYou
                    } else {
                        StorageError::BucketAlreadyExists
                    });
                }
                let created_ms = now_ms();
                c.execute(
                    "INSERT INTO buckets (name, owner_id, region, created_ms) VALUES (?1, ?2, ?3, ?4)",
                    params![name, owner.id, region, created_ms],
                )?;
                Ok(Bucket { id: c.last_insert_rowid(), name, owner, region, created_ms, versioning: Versioning::Unversioned, config_gen: 0 })
            })
            .await
    }

    async fn bucket_by_name(&self, name: &str) -> Result<Option<Bucket>> {
        let name = name.to_string();
        self.readers.read(move |c| bucket_by_name(c, &name)).await
    }

    async fn list_buckets(&self, owner_id: &str) -> Result<Vec<Bucket>> {
        let owner_id = owner_id.to_string();
        self.readers
            .read(move |c| {
                let mut stmt = c.prepare_cached(&format!(
                    "SELECT {BUCKET_COLUMNS} FROM buckets b JOIN users u ON u.id = b.owner_id
                     WHERE b.owner_id = ?1 ORDER BY b.name"
                ))?;
                let rows = stmt.query_map([owner_id], bucket_from_row)?;
                Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
            })
            .await
    }

    async fn all_buckets(&self) -> Result<Vec<Bucket>> {
        self.readers
            .read(|c| {
                let mut stmt = c.prepare(&format!("SELECT {BUCKET_COLUMNS} FROM buckets b JOIN users u ON u.id = b.owner_id ORDER BY b.name"))?;
                let rows = stmt.query_map([], bucket_from_row)?;
                Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
            })
            .await
    }

    async fn delete_bucket(&self, name: &str) -> Result<i64> {
        let name = name.to_string();
        self.writer
            .write(move |c| {
                let bucket = bucket_by_name(c, &name)?.ok_or(StorageError::NoSuchBucket)?;
                let used: bool =
                    c.query_row("SELECT EXISTS(SELECT 1 FROM objects WHERE bucket_id = ?1)", [bucket.id], |r| r.get(0))?;
                if used {
                    return Err(StorageError::BucketNotEmpty);
                }
                c.execute("DELETE FROM bucket_configs WHERE bucket_id = ?1", [bucket.id])?;
                super::uploads::drop_bucket_uploads(c, bucket.id)?;
                c.execute("DELETE FROM buckets WHERE id = ?1", [bucket.id])?;
                Ok(bucket.id)
            })
            .await
    }

    async fn bucket_config_kinds(&self, bucket_id: i64) -> Result<Vec<String>> {
        self.readers
            .read(move |c| {
                let mut stmt = c.prepare("SELECT kind FROM bucket_configs WHERE bucket_id = ?1 ORDER BY kind")?;
                let rows = stmt.query_map([bucket_id], |r| r.get(0))?;
                Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
            })
            .await
    }

    async fn bucket_config(&self, bucket_id: i64, kind: &str) -> Result<Option<String>> {
        let kind = kind.to_string();
        self.readers
            .read(move |c| {
                Ok(c.prepare_cached("SELECT document FROM bucket_configs WHERE bucket_id = ?1 AND kind = ?2")?
                    .query_row(params![bucket_id, kind], |r| r.get(0))
                    .optional()?)
            })
            .await
    }

    async fn buckets_with_config(&self, kind: &str) -> Result<Vec<(i64, String)>> {
        let kind = kind.to_string();
        self.readers
            .read(move |c| {
                let mut stmt = c.prepare_cached(
                    "SELECT b.id, b.name FROM bucket_configs c JOIN buckets b ON b.id = c.bucket_id WHERE c.kind = ?1 ORDER BY b.id",
                )?;
                let rows = stmt.query_map([kind], |r| Ok((r.get(0)?, r.get(1)?)))?;
                Ok(rows.collect::<rusqlite::Result<_>>()?)
            })
            .await
    }

    async fn set_bucket_config(&self, bucket_id: i64, kind: &str, document: Option<String>) -> Result<()> {
        let kind = kind.to_string();
        self.writer
            .write(move |c| {
                match document {
                    Some(doc) => c
                        .prepare_cached(
                            "INSERT INTO bucket_configs (bucket_id, kind, document) VALUES (?1, ?2, ?3)
                             ON CONFLICT(bucket_id, kind) DO UPDATE SET document = excluded.document",
                        )?
                        .execute(params![bucket_id, kind, doc])?,
                    None => c.prepare_cached("DELETE FROM bucket_configs WHERE bucket_id = ?1 AND kind = ?2")?.execute(params![bucket_id, kind])?,
                };
                Ok(())
            })
            .await
    }

    async fn set_versioning(&self, bucket_id: i64, state: Versioning) -> Result<()> {
        self.writer
            .write(move |c| {
                crate::buckets::check_versioning_change(state, || lock_enabled(c, bucket_id))?;
                c.execute("UPDATE buckets SET versioning = ?2 WHERE id = ?1", params![bucket_id, state.as_str()])?;
                Ok(())
            })
            .await
    }

    async fn bucket_usage(&self, bucket_id: i64) -> Result<(Usage, Quota)> {
        self.readers.read(move |c| Ok(usage_row(c, bucket_id)?.unwrap_or_default())).await
    }

    async fn byte_quota_for_put(&self, bucket_id: i64, key: &str) -> Result<Option<(Usage, Quota, u64)>> {
        let key = key.to_string();
        self.readers
            .read(move |c| {
                let Some((usage, quota)) = usage_row(c, bucket_id)?.filter(|(_, q)| q.max_bytes.is_some()) else { return Ok(None) };
                let replaced: i64 = match crate::sqlite::objects::bucket_versioning(c, bucket_id)? {
                    Versioning::Enabled => 0,
                    _ => c
                        .prepare_cached("SELECT size FROM objects WHERE bucket_id = ?1 AND key = ?2 AND version_id = 'null' AND delete_marker = 0")?
                        .query_row(params![bucket_id, key.as_bytes()], |r| r.get(0))
                        .optional()?
                        .unwrap_or(0),
                };
                Ok(Some((usage, quota, replaced.max(0) as u64)))
            })
            .await
    }

    async fn total_usage(&self) -> Result<Usage> {
        self.readers
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

    async fn bucket_space(&self, bucket_id: i64) -> Result<BucketSpace> {
        self.readers
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

    async fn set_bucket_quota(&self, bucket_id: i64, quota: Quota) -> Result<()> {
        let to_sql = |v: Option<u64>| v.map(|n| n.min(i64::MAX as u64) as i64);
        self.writer
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

const BUCKET_COLUMNS: &str = "b.id, b.name, b.region, b.created_ms, b.versioning, u.id, u.name";

fn bucket_from_row(r: &rusqlite::Row) -> rusqlite::Result<Bucket> {
    Ok(Bucket {
        id: r.get(0)?,
        name: r.get(1)?,
        region: r.get(2)?,
        created_ms: r.get(3)?,
        versioning: Versioning::parse(&r.get::<_, String>(4)?),
        owner: User { id: r.get(5)?, name: r.get(6)? },
        config_gen: 0,
    })
}

/// The bucket called `name`, if any, read on any connection.
impl SqliteIndex {
    /// The bucket named `bucket` (`NoSuchBucket`) and what `find` reads in it, in one read.
    pub(crate) async fn bucket_and<T: Send + 'static>(
        &self,
        bucket: &str,
        find: impl FnOnce(&Connection, i64) -> Result<T> + Send + 'static,
    ) -> Result<(Bucket, Result<T>)> {
        let bucket = bucket.to_string();
        self.readers
            .read(move |c| {
                let b = bucket_by_name(c, &bucket)?.ok_or(StorageError::NoSuchBucket)?;
                let found = find(c, b.id);
                Ok((b, found))
            })
            .await
    }
}

/// The statement of `bucket_by_name`.
fn by_name_sql() -> String {
    format!("SELECT {BUCKET_COLUMNS} FROM buckets b JOIN users u ON u.id = b.owner_id WHERE b.name = ?1")
}

pub(crate) fn bucket_by_name(c: &Connection, name: &str) -> Result<Option<Bucket>> {
    Ok(c.prepare_cached(&by_name_sql())?
        .query_row([name], bucket_from_row)
        .optional()?)
}

/// Whether Object Lock is on for the bucket.
fn lock_enabled(c: &Connection, bucket_id: i64) -> Result<bool> {
    Ok(c.prepare_cached("SELECT EXISTS(SELECT 1 FROM bucket_configs WHERE bucket_id = ?1 AND kind = ?2)")?
        .query_row(params![bucket_id, LOCK_KIND], |r| r.get(0))?)
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
        quota.check(&before, &after)?;
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use crate::testutil::*;
    use crate::usage::{Quota, Usage};

    /// The lookup of a bucket by name, which every request makes, reuses its plan: it is not
    /// parsed and planned again on each call as its parameter changes.
    #[test]
    fn the_bucket_lookup_is_planned_once() {
        let dir = tempfile::tempdir().unwrap();
        let index = crate::sqlite::SqliteIndex::open(&dir.path().join("index.sqlite"), 1).unwrap();
        index.readers.read_blocking(|c| {
            for name in ["a-bucket", "another", "a-bucket"] {
                assert!(super::bucket_by_name(c, name)?.is_none());
            }
            let statement = c.prepare_cached(&super::by_name_sql())?;
            assert_eq!(statement.get_status(rusqlite::StatementStatus::RePrepare), 0);
            Ok(())
        })
        .unwrap();
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
        assert!(store.access_key("none").await.unwrap().is_none());
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
        let db = rusqlite::Connection::open(t.store.root().join("index.sqlite")).unwrap();
        db.execute_batch("DROP TRIGGER bucket_usage_insert; DROP TRIGGER bucket_usage_delete; DROP TRIGGER bucket_usage_update;").unwrap();
        let without = rate(&t, &bare).await;
        println!("small PUTs/s: {without:.0} without counters, {with_triggers:.0} with them, {with_quota:.0} with a quota too");
    }
}
