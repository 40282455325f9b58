//! SQLite's ServiceIndex: whole-store facts and worker bookkeeping (health, statistics, worker
//! cursors, the tier and remote catalogs, the access-log queue).

use super::SqliteIndex;
use crate::error::Result;
use crate::blob_store::BlobLocation;
use crate::error::TierError;
use crate::tiers::{RemoteSpec, TierKind, TierSpec};
use crate::{now_ms, IndexCounts, AccessLogBacklog, AccessLogBatch, Backlogs, BucketUsage, StoreUsage};
use std::collections::HashMap;
use crate::meta::ServiceIndex;
use rusqlite::{params, Connection, OptionalExtension};

#[async_trait::async_trait]
impl ServiceIndex for SqliteIndex {
    async fn worker_cursor(&self, worker: &str) -> Result<Option<String>> {
        let worker = worker.to_string();
        self.readers.read(move |c| read_cursor(c, &worker)).await
    }

    async fn forget_worker_cursors(&self, prefix: &str, keep: &str) -> Result<()> {
        let (prefix, keep) = (prefix.to_string(), keep.to_string());
        self.writer
            .write(move |c| {
                c.prepare_cached(
                    "DELETE FROM worker_cursors WHERE substr(worker, 1, length(?1)) = ?1 AND substr(worker, 1, length(?2)) != ?2",
                )?
                .execute(params![prefix, keep])?;
                Ok(())
            })
            .await
    }

    async fn set_worker_cursor(&self, worker: &str, cursor: Option<String>) -> Result<()> {
        let worker = worker.to_string();
        self.writer.write(move |c| write_cursor(c, &worker, cursor.as_deref())).await
    }

    async fn queue_access_records(&self, records: Vec<(String, String)>) -> Result<()> {
        self.writer
            .write(move |c| {
                let mut insert = c.prepare_cached("INSERT INTO access_log_queue (destination, line, created_ms) VALUES (?1, ?2, ?3)")?;
                let now = now_ms();
                for (destination, line) in &records {
                    insert.execute(params![destination, line, now])?;
                }
                Ok(())
            })
            .await
    }

    async fn access_log_backlog(&self) -> Result<Vec<AccessLogBacklog>> {
        self.readers
            .read(|c| {
                let mut stmt = c.prepare_cached(
                    "SELECT destination, COUNT(*), MIN(created_ms) FROM access_log_queue GROUP BY destination ORDER BY MIN(seq)",
                )?;
                let rows = stmt.query_map([], |r| Ok(AccessLogBacklog { destination: r.get(0)?, records: r.get::<_, i64>(1)? as u64, oldest_ms: r.get(2)? }))?;
                Ok(rows.collect::<rusqlite::Result<_>>()?)
            })
            .await
    }

    async fn queued_access_records(&self, destination: &str, limit: usize) -> Result<AccessLogBatch> {
        let destination = destination.to_string();
        self.readers
            .read(move |c| {
                let mut stmt = c.prepare_cached("SELECT seq, line FROM access_log_queue WHERE destination = ?1 ORDER BY seq LIMIT ?2")?;
                let mut batch = AccessLogBatch::default();
                for row in stmt.query_map(params![destination, limit as i64], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))? {
                    let (seq, line) = row?;
                    batch.through_seq = seq;
                    batch.lines.push(line);
                }
                Ok(batch)
            })
            .await
    }

    async fn forget_access_records(&self, destination: &str, through_seq: i64) -> Result<u64> {
        let destination = destination.to_string();
        self.writer
            .write(move |c| {
                let n = c.prepare_cached("DELETE FROM access_log_queue WHERE destination = ?1 AND seq <= ?2")?.execute(params![destination, through_seq])?;
                Ok(n as u64)
            })
            .await
    }

    fn index_bytes(&self) -> u64 {
        let mut wal = self.path.as_os_str().to_owned();
        wal.push("-wal");
        [self.path.as_ref(), std::path::Path::new(&wal)].iter().filter_map(|p| std::fs::metadata(p).ok()).map(|m| m.len()).sum()
    }

    async fn index_counts(&self) -> Result<IndexCounts> {
        self.readers.read(super::backup::count).await
    }

    async fn reclaim_space(&self, max_pages: u32) -> Result<u64> {
        let step = self.writer.write(move |c| super::space::reclaim(c, max_pages)).await?;
        if step.bytes > 0 && step.left == 0 {
            self.readers.read(super::space::checkpoint).await?;
        }
        Ok(step.bytes)
    }

    async fn store_usage(&self) -> Result<StoreUsage> {
        self.readers.read(usage).await
    }

    async fn backlogs(&self) -> Result<Backlogs> {
        self.readers.read(backlogs).await
    }

    async fn hold_lease(&self, _name: &str, _ttl: std::time::Duration) -> Result<bool> {
        // One server process owns a data dir's index: it is the whole fleet.
        Ok(true)
    }

    async fn ping(&self) -> Result<()> {
        self.readers.read(|c| Ok(c.query_row("SELECT count(*) FROM buckets", [], |r| r.get::<_, i64>(0)).map(|_| ())?)).await
    }

    async fn tier_specs(&self) -> Result<Vec<TierSpec>> {
        self.readers
            .read(|c| {
                let mut stmt = c.prepare_cached("SELECT spec FROM tiers ORDER BY name")?;
                let specs: Vec<String> = stmt.query_map([], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?;
                specs.iter().map(|s| Ok(serde_json::from_str(s)?)).collect()
            })
            .await
    }

    async fn add_tier(&self, spec: TierSpec) -> Result<()> {
        self.writer
            .write(move |c| {
                if let TierKind::Remote { remote, .. } = &spec.kind {
                    if remote_row(c, remote)?.is_none() {
                        return Err(TierError::Missing { kind: "remote", name: remote.clone() }.into());
                    }
                }
                let added = c
                    .prepare_cached("INSERT INTO tiers (name, spec, created_ms) VALUES (?1, ?2, ?3) ON CONFLICT(name) DO NOTHING")?
                    .execute(params![spec.name, serde_json::to_string(&spec)?, now_ms()])?;
                match added {
                    0 => Err(TierError::Exists { kind: "tier", name: spec.name.clone() }.into()),
                    _ => Ok(()),
                }
            })
            .await
    }

    async fn remove_tier(&self, name: &str) -> Result<()> {
        let name = name.to_string();
        self.writer
            .write(move |c| {
                let versions: i64 = c.query_row(
                    "SELECT (SELECT COUNT(*) FROM objects WHERE tier = ?1) + (SELECT COUNT(*) FROM objects WHERE move_to IS NOT NULL AND move_to = ?1)",
                    [&name],
                    |r| r.get(0),
                )?;
                if versions > 0 {
                    let what = format!("{versions} object version(s) (move them back by copying them to STANDARD)");
                    return Err(TierError::InUse { kind: "tier", name, what }.into());
                }
                if c.prepare_cached("DELETE FROM tiers WHERE name = ?1")?.execute([&name])? == 0 {
                    return Err(TierError::Missing { kind: "tier", name }.into());
                }
                c.prepare_cached("DELETE FROM tier_blobs WHERE tier = ?1")?.execute([&name])?;
                Ok(())
            })
            .await
    }

    async fn remotes(&self) -> Result<Vec<(RemoteSpec, Vec<u8>)>> {
        self.readers
            .read(|c| {
                let mut stmt = c.prepare_cached("SELECT spec, secret FROM remotes ORDER BY name")?;
                let rows: Vec<(String, Vec<u8>)> = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<rusqlite::Result<_>>()?;
                rows.into_iter().map(|(spec, secret)| Ok((serde_json::from_str(&spec)?, secret))).collect()
            })
            .await
    }

    async fn add_remote(&self, spec: RemoteSpec, sealed_secret: Vec<u8>) -> Result<()> {
        self.writer
            .write(move |c| {
                let added = c
                    .prepare_cached("INSERT INTO remotes (name, spec, secret, created_ms) VALUES (?1, ?2, ?3, ?4) ON CONFLICT(name) DO NOTHING")?
                    .execute(params![spec.name, serde_json::to_string(&spec)?, sealed_secret, now_ms()])?;
                match added {
                    0 => Err(TierError::Exists { kind: "remote", name: spec.name.clone() }.into()),
                    _ => Ok(()),
                }
            })
            .await
    }

    async fn remove_remote(&self, name: &str) -> Result<()> {
        let name = name.to_string();
        self.writer
            .write(move |c| {
                let mut stmt = c.prepare_cached("SELECT spec FROM tiers")?;
                let specs: Vec<String> = stmt.query_map([], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?;
                for spec in specs {
                    let spec: TierSpec = serde_json::from_str(&spec)?;
                    if matches!(&spec.kind, TierKind::Remote { remote, .. } if *remote == name) {
                        return Err(TierError::InUse { kind: "remote", name, what: format!("tier {}", spec.name) }.into());
                    }
                }
                if let Some(crate::blob_store::BlobLocation::S3 { remote, .. }) = read_location(c)? {
                    if remote == name {
                        return Err(TierError::InUse { kind: "remote", name, what: "the store's blobs (--blobs)".into() }.into());
                    }
                }
                if c.prepare_cached("DELETE FROM remotes WHERE name = ?1")?.execute([&name])? == 0 {
                    return Err(TierError::Missing { kind: "remote", name }.into());
                }
                Ok(())
            })
            .await
    }

    async fn recorded_blob_location(&self) -> Result<Option<BlobLocation>> {
        self.readers.read(read_location).await
    }

    async fn record_blob_location(&self, location: &BlobLocation) -> Result<std::result::Result<(), BlobLocation>> {
        let location = location.clone();
        self.writer
            .write(move |c| {
                let recorded = read_location(c)?.unwrap_or_default();
                let has_blobs: bool = c.query_row("SELECT EXISTS(SELECT 1 FROM blobs)", [], |r| r.get(0))?;
                if recorded != location && has_blobs {
                    return Ok(Err(recorded));
                }
                c.prepare_cached("INSERT INTO store_settings (name, value) VALUES (?1, ?2) ON CONFLICT(name) DO UPDATE SET value = excluded.value")?
                    .execute([SETTING, &serde_json::to_string(&location)?])?;
                Ok(Ok(()))
            })
            .await
    }
}

/// The cursor `worker` last saved, read on any connection (also one opened outside a `Store`).
pub(crate) fn read_cursor(c: &Connection, worker: &str) -> Result<Option<String>> {
    Ok(c.prepare_cached("SELECT cursor FROM worker_cursors WHERE worker = ?1")?
        .query_row([worker], |r| r.get(0))
        .optional()?)
}

/// Saves (or, with None, forgets) `worker`'s cursor on any connection.
pub(crate) fn write_cursor(c: &Connection, worker: &str, cursor: Option<&str>) -> Result<()> {
    match cursor {
        Some(cursor) => c
            .prepare_cached(
                "INSERT INTO worker_cursors (worker, cursor, updated_ms) VALUES (?1, ?2, ?3)
                 ON CONFLICT(worker) DO UPDATE SET cursor = excluded.cursor, updated_ms = excluded.updated_ms",
            )?
            .execute(params![worker, cursor, crate::now_ms()])?,
        None => c.prepare_cached("DELETE FROM worker_cursors WHERE worker = ?1")?.execute([worker])?,
    };
    Ok(())
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

fn remote_row(c: &Connection, name: &str) -> Result<Option<String>> {
    Ok(c.prepare_cached("SELECT spec FROM remotes WHERE name = ?1")?.query_row([name], |r| r.get(0)).optional()?)
}

const SETTING: &str = "blob_location";

/// The recorded place of the blobs, read on `c`.
pub(crate) fn read_location(c: &Connection) -> Result<Option<BlobLocation>> {
    let value: Option<String> = c.prepare_cached("SELECT value FROM store_settings WHERE name = ?1")?.query_row([SETTING], |r| r.get(0)).optional()?;
    Ok(value.map(|v| serde_json::from_str(&v)).transpose()?)
}
