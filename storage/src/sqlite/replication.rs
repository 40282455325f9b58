//! SQLite's ReplicationIndex: the replication outbox, its per-target outcomes, replicas written
//! here, and resync; and `enqueue_new` and `write_replica`, which run inside another domain's
//! version commit.

use super::service::{read_cursor, write_cursor};
use super::SqliteIndex;
use crate::error::{Result, StorageError};
use crate::meta::{NewBody, ReplicationIndex};
use std::sync::Arc;
use crate::model::{Body, ObjectRecord, ReplicaOf, Versioning};
use crate::objects::{NewObject, Stored};
use crate::sqlite::objects::{insert_row, mark_noncurrent, note_crc32c, version_row};
use crate::replication::{
    local_replica, marker_replica, newer_than_replica, remote_replica, resync_bucket, resync_wants, OutboxItem, ReplicatedVersion, Replicated,
    ReplicationOutcome, ReplicationRoute, ReplicationStatus, ResyncCursor, ResyncStep, RESYNC_CURSOR_PREFIX, ROUTES_KIND,
};
use crate::sqlite::rows::{object_from_row, OBJECT_COLUMNS};
use crate::tiers::TierSet;
use crate::now_ms;
use rusqlite::{params, Connection, OptionalExtension};

/// The outbox row kinds: a version's first replication, and one queued by a resync.
use crate::replication::REPLICATE_KIND;
const RESYNC_KIND: &str = "resync";

#[async_trait::async_trait]
impl ReplicationIndex for SqliteIndex {
    async fn put_replica(&self, bucket_id: i64, new: NewObject, body: NewBody, of: ReplicaOf, tiers: Arc<TierSet>) -> Result<ObjectRecord> {
        self.writer
            .write(move |c| {
                let stored = Stored { size: body.size, etag: &of.etag, body: &body.body, tier: None };
                let record = write_replica(c, bucket_id, &new, &stored, &of, &tiers)?;
                note_crc32c(c, &body.body, body.crc32c)?;
                Ok(record)
            })
            .await
    }

    async fn replication_status(&self, bucket_id: i64) -> Result<ReplicationStatus> {
        self.readers
            .read(move |c| {
                let mut status = ReplicationStatus::default();
                let mut stmt = c.prepare_cached(
                    "SELECT replication, COUNT(*), COALESCE(SUM(size), 0) FROM objects WHERE bucket_id = ?1 AND replication IS NOT NULL GROUP BY replication",
                )?;
                let rows = stmt.query_map([bucket_id], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64, r.get::<_, i64>(2)? as u64)))?;
                for row in rows {
                    match row? {
                        (s, n, bytes) if s == "PENDING" => (status.pending, status.pending_bytes) = (n, bytes),
                        (s, n, bytes) if s == "FAILED" => (status.failed, status.failed_bytes) = (n, bytes),
                        (s, n, _) if s == "COMPLETED" => status.completed = n,
                        _ => {}
                    }
                }
                (status.oldest_pending_ms, status.last_error) = c.query_row(
                    "SELECT MIN(created_ms), (SELECT last_error FROM outbox WHERE bucket_id = ?1 AND last_error IS NOT NULL ORDER BY seq DESC LIMIT 1)
                     FROM outbox WHERE bucket_id = ?1",
                    [bucket_id],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )?;
                Ok(status)
            })
            .await
    }

    async fn due_replications(&self, now_ms: i64, limit: usize) -> Result<Vec<OutboxItem>> {
        self.readers
            .read(move |c| {
                let mut stmt = c.prepare_cached(
                    "SELECT seq, bucket_id, key, version_id, target, attempts, kind FROM outbox
                     WHERE kind IN ('replicate', 'resync') AND due_ms <= ?1 ORDER BY due_ms, seq LIMIT ?2",
                )?;
                let rows = stmt.query_map(params![now_ms, limit as i64], |r| {
                    let key: Vec<u8> = r.get(2)?;
                    Ok(OutboxItem {
                        seq: r.get(0)?,
                        bucket_id: r.get(1)?,
                        key: String::from_utf8_lossy(&key).into_owned(),
                        version_id: r.get(3)?,
                        target: r.get(4)?,
                        attempts: r.get(5)?,
                        check_first: r.get::<_, String>(6)? == RESYNC_KIND,
                    })
                })?;
                Ok(rows.collect::<rusqlite::Result<_>>()?)
            })
            .await
    }

    async fn replication_backlog(&self) -> Result<u64> {
        self.readers.read(|c| Ok(c.query_row("SELECT COUNT(*) FROM outbox", [], |r| r.get::<_, i64>(0))? as u64)).await
    }

    async fn retry_replication(&self, seq: i64, error: String, due_ms: i64) -> Result<()> {
        self.writer
            .write(move |c| {
                c.prepare_cached("UPDATE outbox SET attempts = attempts + 1, due_ms = ?2, last_error = ?3 WHERE seq = ?1")?
                    .execute(params![seq, due_ms, error])?;
                Ok(())
            })
            .await
    }

    async fn fail_replication(&self, item: OutboxItem, error: String) -> Result<()> {
        self.writer
            .write(move |c| {
                if let Ok((rec, _)) = version_row(c, item.bucket_id, &item.key, Some(&item.version_id)) {
                    let event = crate::events::EventName::ReplicationOperationFailedReplication;
                    super::events::record_version(c, event, &rec, &crate::events::Requester::coffer())?;
                }
                finish(c, &item, "FAILED", None, Some(&error))
            })
            .await
    }

    async fn complete_replication(&self, item: OutboxItem, remote_version_id: Option<String>) -> Result<()> {
        self.writer.write(move |c| finish(c, &item, "COMPLETED", remote_version_id.as_deref(), None)).await
    }

    async fn replicated_versions(&self, bucket_id: i64, after: Option<(String, String)>, limit: usize) -> Result<Vec<ReplicatedVersion>> {
        self.readers
            .read(move |c| {
                let (key, version) = after.unwrap_or_default();
                let mut stmt = c.prepare_cached(
                    "SELECT o.key, o.version_id, o.replication, r.target, r.remote_version_id, r.error
                     FROM objects o LEFT JOIN replication_outcomes r
                       ON r.bucket_id = o.bucket_id AND r.key = o.key AND r.version_id = o.version_id
                     WHERE o.bucket_id = ?1 AND o.replication IS NOT NULL AND (o.key, o.version_id) > (?2, ?3)
                     ORDER BY o.key, o.version_id LIMIT ?4",
                )?;
                let rows = stmt.query_map(params![bucket_id, key.as_bytes(), version, limit as i64], |r| {
                    let key: Vec<u8> = r.get(0)?;
                    let target: Option<String> = r.get(3)?;
                    let outcome = target.is_some().then(|| -> rusqlite::Result<_> { Ok(ReplicationOutcome { remote_version_id: r.get(4)?, error: r.get(5)? }) });
                    Ok(ReplicatedVersion {
                        key: String::from_utf8_lossy(&key).into_owned(),
                        version_id: r.get(1)?,
                        status: r.get(2)?,
                        target,
                        outcome: outcome.transpose()?,
                    })
                })?;
                Ok(rows.collect::<rusqlite::Result<_>>()?)
            })
            .await
    }

    async fn forget_replication(&self, seq: i64) -> Result<()> {
        self.writer.write(move |c| forget_row(c, seq)).await
    }

    async fn replication_outcome(&self, bucket_id: i64, key: &str, version_id: &str, target: &str) -> Result<Option<ReplicationOutcome>> {
        let (key, version_id, target) = (key.to_string(), version_id.to_string(), target.to_string());
        self.readers
            .read(move |c| {
                Ok(c.prepare_cached(
                    "SELECT remote_version_id, error FROM replication_outcomes WHERE bucket_id = ?1 AND key = ?2 AND version_id = ?3 AND target = ?4",
                )?
                .query_row(params![bucket_id, key.as_bytes(), version_id, target], |r| {
                    Ok(ReplicationOutcome { remote_version_id: r.get(0)?, error: r.get(1)? })
                })
                .optional()?)
            })
            .await
    }

    async fn replicate_here(&self, item: OutboxItem, dest_bucket_id: i64) -> Result<Replicated> {
        self.writer.write(move |c| replicate_here(c, &item, dest_bucket_id)).await
    }

    async fn put_marker_replica(&self, bucket_id: i64, key: &str, of: ReplicaOf) -> Result<ObjectRecord> {
        let key = key.to_string();
        self.writer
            .write(move |c| {
                require_versioning(c, bucket_id)?;
                if let Some(rec) = existing_version(c, bucket_id, &key, &of.version_id)? {
                    return Ok(rec);
                }
                insert_replica(c, marker_replica(bucket_id, &key, &of), None)
            })
            .await
    }

    async fn resync_step(&self, limit: usize) -> Result<Option<ResyncStep>> {
        self.writer.write(move |c| resync_step(c, limit)).await
    }
}

/// Queues `rec` (just written, not a replica) if a route of its bucket takes it, and marks it
/// PENDING, inside the transaction that wrote it. Returns its replication status.
pub(crate) fn enqueue_new(c: &Connection, rec: &ObjectRecord) -> Result<Option<String>> {
    let Some(route) = routes_of(c, rec.bucket_id)?.into_iter().find(|r| r.takes(rec)) else { return Ok(None) };
    queue(c, rec, &route.target, REPLICATE_KIND)?;
    Ok(Some("PENDING".into()))
}

/// Writes a version replicated from another server into `bucket_id` under the identity it had
/// there; a replica already written (a retried delivery) is returned as it is. Runs inside
/// the transaction that commits its bytes.
pub(crate) fn write_replica(c: &Connection, bucket_id: i64, new: &NewObject, stored: &Stored, of: &ReplicaOf, tiers: &TierSet) -> Result<ObjectRecord> {
    require_versioning(c, bucket_id)?;
    if let Some(rec) = existing_version(c, bucket_id, &new.key, &of.version_id)? {
        return Ok(rec);
    }
    insert_replica(c, remote_replica(bucket_id, new, stored, of, tiers), Some(stored.body))
}

/// A bucket's routes, read in the caller's transaction.
fn routes_of(c: &Connection, bucket_id: i64) -> Result<Vec<ReplicationRoute>> {
    let doc: Option<String> = c
        .prepare_cached("SELECT document FROM bucket_configs WHERE bucket_id = ?1 AND kind = ?2")?
        .query_row(params![bucket_id, ROUTES_KIND], |r| r.get(0))
        .optional()?;
    Ok(match doc {
        Some(doc) => serde_json::from_str(&doc)?,
        None => Vec::new(),
    })
}

/// An outbox row for `rec` and the status PENDING.
fn queue(c: &Connection, rec: &ObjectRecord, target: &str, kind: &str) -> Result<()> {
    c.prepare_cached("INSERT INTO outbox (kind, bucket_id, key, version_id, target, created_ms, due_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)")?
        .execute(params![kind, rec.bucket_id, rec.key.as_bytes(), rec.version_id, target, now_ms()])?;
    set_status(c, rec.bucket_id, &rec.key, &rec.version_id, "PENDING")
}

fn set_status(c: &Connection, bucket_id: i64, key: &str, version_id: &str, status: &str) -> Result<()> {
    c.prepare_cached("UPDATE objects SET replication = ?4 WHERE bucket_id = ?1 AND key = ?2 AND version_id = ?3")?
        .execute(params![bucket_id, key.as_bytes(), version_id, status])?;
    Ok(())
}

/// Removes outbox row `seq`.
fn forget_row(c: &Connection, seq: i64) -> Result<()> {
    c.prepare_cached("DELETE FROM outbox WHERE seq = ?1")?.execute([seq])?;
    Ok(())
}

/// Marks the source version `status`, keeps the outcome and removes the outbox row.
fn finish(c: &Connection, item: &OutboxItem, status: &str, remote_version_id: Option<&str>, error: Option<&str>) -> Result<()> {
    set_status(c, item.bucket_id, &item.key, &item.version_id, status)?;
    c.prepare_cached(
        "INSERT OR REPLACE INTO replication_outcomes (bucket_id, key, version_id, target, remote_version_id, error, done_ms)
         SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7 WHERE EXISTS (SELECT 1 FROM objects WHERE bucket_id = ?1 AND key = ?2 AND version_id = ?3)",
    )?
    .execute(params![item.bucket_id, item.key.as_bytes(), item.version_id, item.target, remote_version_id, error, now_ms()])?;
    forget_row(c, item.seq)
}

/// Writes the version of `item` into bucket `dest_bucket_id` here, sharing its bytes.
fn replicate_here(c: &Connection, item: &OutboxItem, dest_bucket_id: i64) -> Result<Replicated> {
    let (src, body) = match version_row(c, item.bucket_id, &item.key, Some(&item.version_id)) {
        Ok(found) => found,
        Err(StorageError::NoSuchVersion | StorageError::NoSuchKey) => {
            forget_row(c, item.seq)?;
            return Ok(Replicated::SourceGone);
        }
        Err(e) => return Err(e),
    };
    require_versioning(c, dest_bucket_id)?;
    if existing_version(c, dest_bucket_id, &item.key, &item.version_id)?.is_none() {
        insert_replica(c, local_replica(&src, dest_bucket_id), (!src.delete_marker).then_some(&body))?;
        // A multipart source keeps its part list (partNumber reads, GetObjectAttributes).
        c.prepare_cached(
            "UPDATE objects SET parts = (SELECT parts FROM objects WHERE bucket_id = ?1 AND key = ?2 AND version_id = ?3)
             WHERE bucket_id = ?4 AND key = ?2 AND version_id = ?3",
        )?
        .execute(params![src.bucket_id, src.key.as_bytes(), src.version_id, dest_bucket_id])?;
    }
    finish(c, item, "COMPLETED", None, None)?;
    Ok(Replicated::Done)
}

/// Replicas keep their source's version ids, which only a versioned bucket has.
fn require_versioning(c: &Connection, bucket_id: i64) -> Result<()> {
    let versioning: Option<String> =
        c.prepare_cached("SELECT versioning FROM buckets WHERE id = ?1")?.query_row([bucket_id], |r| r.get(0)).optional()?;
    match versioning.map(|v| Versioning::parse(&v)) {
        None => Err(StorageError::NoSuchBucket),
        Some(Versioning::Enabled) => Ok(()),
        Some(_) => Err(StorageError::Replication("the destination bucket does not have versioning enabled".into())),
    }
}

fn existing_version(c: &Connection, bucket_id: i64, key: &str, version_id: &str) -> Result<Option<ObjectRecord>> {
    match version_row(c, bucket_id, key, Some(version_id)) {
        Ok((rec, _)) => Ok(Some(rec)),
        Err(StorageError::NoSuchVersion | StorageError::NoSuchKey) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Inserts `replica` (its own version id and time already set); it becomes the latest version
/// unless the bucket has a newer one. Returns it as inserted.
fn insert_replica(c: &Connection, mut replica: ObjectRecord, body: Option<&Body>) -> Result<ObjectRecord> {
    let (bucket_id, key) = (replica.bucket_id, replica.key.clone());
    let current: Option<(i64, String, i64)> = c
        .prepare_cached("SELECT seq, version_id, modified_ms FROM objects WHERE bucket_id = ?1 AND key = ?2 AND is_latest = 1")?
        .query_row(params![bucket_id, key.as_bytes()], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?;
    let newer_there = current.as_ref().is_some_and(|(_, v, _)| newer_than_replica(v, &replica.version_id));
    if let (Some((seq, _, _)), false) = (&current, newer_there) {
        mark_noncurrent(c, *seq, replica.modified_ms)?;
    }
    replica.is_latest = !newer_there;
    insert_row(c, &replica, body)?;
    if newer_there {
        let newer_ms = current.map(|(_, _, ms)| ms).unwrap_or(replica.modified_ms);
        c.prepare_cached("UPDATE objects SET noncurrent_ms = ?4 WHERE bucket_id = ?1 AND key = ?2 AND version_id = ?3")?
            .execute(params![bucket_id, key.as_bytes(), replica.version_id, newer_ms])?;
    }
    Ok(replica)
}

fn resync_step(c: &Connection, limit: usize) -> Result<Option<ResyncStep>> {
    let running: Option<String> = c
        .prepare_cached("SELECT worker FROM worker_cursors WHERE substr(worker, 1, length(?1)) = ?1 ORDER BY updated_ms LIMIT 1")?
        .query_row([RESYNC_CURSOR_PREFIX], |r| r.get(0))
        .optional()?;
    let Some(name) = running else { return Ok(None) };
    let Some(bucket_id) = resync_bucket(&name) else {
        write_cursor(c, &name, None)?;
        return Ok(None);
    };
    let mut cursor: ResyncCursor = match read_cursor(c, &name)?.map(|t| serde_json::from_str(&t)) {
        Some(Ok(cursor)) => cursor,
        _ => ResyncCursor::default(),
    };
    let routes = routes_of(c, bucket_id)?;
    let (key, version) = cursor.after.clone().unwrap_or_default();
    let mut stmt = c.prepare_cached(&format!(
        "SELECT {OBJECT_COLUMNS} FROM objects WHERE bucket_id = ?1 AND (key, version_id) > (?2, ?3) ORDER BY key, version_id LIMIT ?4"
    ))?;
    let page = stmt.query_map(params![bucket_id, key.as_bytes(), version, limit as i64], object_from_row)?.collect::<rusqlite::Result<Vec<_>>>()?;
    let mut queued = 0;
    for rec in &page {
        if let (true, Some(route)) = (resync_wants(rec, cursor.failed_only), routes.iter().find(|r| r.takes(rec))) {
            queue(c, rec, &route.target, RESYNC_KIND)?;
            queued += 1;
        }
    }
    let finished = page.len() < limit || routes.is_empty();
    match (finished, page.last()) {
        (false, Some(last)) => {
            cursor.after = Some((last.key.clone(), last.version_id.clone()));
            write_cursor(c, &name, Some(&serde_json::to_string(&cursor)?))?;
        }
        _ => write_cursor(c, &name, None)?,
    }
    Ok(Some(ResyncStep { bucket_id, walked: page.len(), queued, finished }))
}
