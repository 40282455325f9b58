//! SQLite's ObjectIndex: object versions written in the index writer's transactions (with
//! conditions, versioning rules, the event and replication rows queued in the same commit),
//! read, copied, tagged, deleted and listed.

use super::listing::{list_all_versions, list_latest};
use super::refs;
use crate::columns::{decode_manifest, encode_manifest};
use super::rows::{body_from_row, object_from_row, AFTER_OBJECT_COLUMNS, BODY_COLUMNS, OBJECT_COLUMNS};
use super::SqliteIndex;
use crate::error::{Result, StorageError};
use crate::events::{Change, Origin, Remover, Requester};
use crate::sqlite::events;
use crate::meta::{MetaChange, NewBody, ObjectIndex, VersionRef};
use crate::model::*;
use crate::lock::check_lock_allowed;
use crate::LockChange;
use crate::objects::{check_conditions, new_delete_marker, new_version_record, single_blob_crc32c, DeleteOutcome, NewObject, Stored};
use crate::tiers::TierSet;
use crate::now_ms;
use rusqlite::{params, Connection, OptionalExtension};
use std::sync::Arc;

#[async_trait::async_trait]
impl ObjectIndex for SqliteIndex {
    async fn set_bucket_lock(&self, bucket_id: i64, document: String) -> Result<()> {
        self.writer
            .write(move |c| {
                let versioning: String = c.query_row("SELECT versioning FROM buckets WHERE id = ?1", [bucket_id], |r| r.get(0))?;
                check_lock_allowed(Versioning::parse(&versioning))?;
                c.prepare_cached(
                    "INSERT INTO bucket_configs (bucket_id, kind, document) VALUES (?1, ?2, ?3)
                     ON CONFLICT(bucket_id, kind) DO UPDATE SET document = excluded.document",
                )?
                .execute(params![bucket_id, LOCK_KIND, document])?;
                Ok(())
            })
            .await
    }

    async fn put_version(&self, bucket_id: i64, new: NewObject, body: NewBody, cond: WriteConditions, tiers: Arc<TierSet>) -> Result<ObjectRecord> {
        self.writer
            .write(move |c| {
                let stored = Stored { size: body.size, etag: &body.etag, body: &body.body, tier: None };
                let record = insert_version(c, bucket_id, &new, &stored, &cond, &tiers)?;
                note_crc32c(c, &body.body, body.crc32c)?;
                Ok(record)
            })
            .await
    }

    async fn copy_version(&self, source: VersionRef, dest_bucket_id: i64, new: NewObject, cond: WriteConditions, tiers: Arc<TierSet>) -> Result<ObjectRecord> {
        self.writer
            .write(move |c| {
                let (src, body) = version_row(c, source.bucket_id, &source.key, Some(&source.version_id))?;
                let stored = Stored { size: src.size, etag: &src.etag, body: &body, tier: src.placement.tier.as_deref() };
                insert_version(c, dest_bucket_id, &new, &stored, &cond, &tiers)
            })
            .await
    }

    async fn version(&self, bucket_id: i64, key: &str, version_id: Option<&str>) -> Result<(ObjectRecord, Body)> {
        let key = key.to_string();
        let version_id = version_id.map(str::to_string);
        self.readers.read(move |c| version_row(c, bucket_id, &key, version_id.as_deref())).await
    }

    async fn bucket_and_version(&self, bucket: &str, key: &str, version_id: Option<&str>) -> Result<(Bucket, Result<(ObjectRecord, Body)>)> {
        let (key, version_id) = (key.to_string(), version_id.map(str::to_string));
        self.bucket_and(bucket, move |c, bucket_id| version_row(c, bucket_id, &key, version_id.as_deref())).await
    }

    async fn bucket_and_record(&self, bucket: &str, key: &str, version_id: Option<&str>) -> Result<(Bucket, Result<ObjectRecord>)> {
        let (key, version_id) = (key.to_string(), version_id.map(str::to_string));
        self.bucket_and(bucket, move |c, bucket_id| record_row(c, bucket_id, &key, version_id.as_deref())).await
    }

    async fn change_version_meta(&self, bucket_id: i64, key: &str, version_id: Option<&str>, change: MetaChange, origin: Origin) -> Result<String> {
        let key = key.to_string();
        let version_id = version_id.map(str::to_string);
        self.writer
            .write(move |c| {
                let (mut rec, _) = version_row(c, bucket_id, &key, version_id.as_deref())?;
                if rec.delete_marker {
                    return Err(StorageError::version_missing(version_id.as_deref()));
                }
                change.apply(&mut rec.meta);
                c.prepare_cached("UPDATE objects SET meta = ?1 WHERE bucket_id = ?2 AND key = ?3 AND version_id = ?4")?
                    .execute(params![serde_json::to_string(&rec.meta)?, bucket_id, key.as_bytes(), rec.version_id])?;
                events::record_version(c, origin.event, &rec, &origin.requester)?;
                Ok(rec.version_id)
            })
            .await
    }

    /// The items go to the writer in jobs of `DELETE_JOB_ITEMS`, queued at once so that they
    /// still commit together, in order: small jobs keep SQLite's sub-journal short (see
    /// `delete_all`), and other writers' jobs take their turn between them instead of waiting
    /// behind a thousand deletes. DeleteObjects is not atomic in S3 either; if a job fails, the
    /// request fails, and the jobs before it stay done.
    async fn delete_versions(&self, bucket_id: i64, items: Vec<(String, Option<String>)>, by: Requester, options: DeleteOptions) -> Result<Vec<Result<DeleteOutcome>>> {
        let count = items.len();
        let mut items = items.into_iter().peekable();
        let mut jobs = Vec::new();
        while items.peek().is_some() {
            let (chunk, by): (Vec<_>, _) = (items.by_ref().take(DELETE_JOB_ITEMS).collect(), by.clone());
            jobs.push(self.writer.write(move |c| delete_all(c, bucket_id, &chunk, Remover::Request(&by, options))));
        }
        let mut outcomes = Vec::with_capacity(count);
        for done in futures::future::join_all(jobs).await {
            outcomes.extend(done?);
        }
        Ok(outcomes)
    }

    async fn list_objects(&self, bucket_id: i64, p: ListParams) -> Result<ListPage> {
        self.readers.read(move |c| list_latest(c, bucket_id, &p)).await
    }

    async fn list_versions(&self, bucket_id: i64, p: VersionListParams) -> Result<VersionPage> {
        self.readers.read(move |c| list_all_versions(c, bucket_id, &p)).await
    }

    fn blob_crc32c_blocking(&self, hash: &crate::blob::Hash) -> Result<Option<u32>> {
        self.readers.read_blocking(|c| {
            let crc: Option<Option<u32>> =
                c.prepare_cached("SELECT crc32c FROM blobs WHERE hash = ?1")?.query_row([&hash[..]], |r| r.get(0)).optional()?;
            Ok(crc.flatten())
        })
    }

    async fn change_version_lock(&self, bucket_id: i64, key: &str, version_id: Option<&str>, change: LockChange, options: DeleteOptions) -> Result<String> {
        let (key, version_id) = (key.to_string(), version_id.map(str::to_string));
        self.writer
            .write(move |c| {
                let (mut rec, _) = version_row(c, bucket_id, &key, version_id.as_deref())?;
                if rec.delete_marker {
                    return Err(StorageError::NoSuchVersion);
                }
                change.apply(&mut rec.meta.lock, now_ms(), options.bypass_governance)?;
                c.prepare_cached("UPDATE objects SET meta = ?1 WHERE bucket_id = ?2 AND key = ?3 AND version_id = ?4")?
                    .execute(params![serde_json::to_string(&rec.meta)?, bucket_id, key.as_bytes(), rec.version_id])?;
                Ok(rec.version_id)
            })
            .await
    }
}

/// Records the CRC32C of the blob a write just named (when it has none yet), for reads to
/// verify against: SHA-256 costs more CPU than serving the bytes does.
pub(crate) fn note_crc32c(c: &Connection, body: &Body, crc32c: Option<u32>) -> Result<()> {
    if let Some((hash, crc)) = single_blob_crc32c(body, crc32c)? {
        c.prepare_cached("UPDATE blobs SET crc32c = ?2 WHERE hash = ?1 AND crc32c IS NULL")?.execute(params![&hash[..], crc])?;
    }
    Ok(())
}

/// Savepoint-per-item runner for batch deletes: one item failing leaves the others standing.
/// Deletes of one DeleteObjects request handed to the writer in one job at most.
const DELETE_JOB_ITEMS: usize = 64;

/// Deletes each (key, version) of `items` for `by`, in order, each with its own outcome, in
/// one writer job and without savepoints. An item that is refused (`ObjectLocked`, a missing
/// bucket) is refused before it writes anything, so nothing needs undoing; any other error
/// fails the whole job, which the writer rolls back. (A savepoint per item made a batch of n
/// keys cost n²: releasing a nested savepoint cuts SQLite's in-memory sub-journal back by
/// walking it from its start, and that took a third of the server's time in a wave of
/// DeleteObjects.)
fn delete_all(c: &Connection, bucket_id: i64, items: &[(String, Option<String>)], by: Remover) -> Result<Vec<Result<DeleteOutcome>>> {
    let versioning = match bucket_versioning(c, bucket_id) {
        Err(StorageError::NoSuchBucket) => return Ok(items.iter().map(|_| Err(StorageError::NoSuchBucket)).collect()),
        other => other?,
    };
    items
        .iter()
        .map(|(key, version_id)| match version_id {
            Some(v) => delete_version(c, bucket_id, key, v, by),
            None => delete_latest(c, bucket_id, versioning, key, by).map(Ok),
        })
        .collect()
}

pub(crate) fn bucket_versioning(c: &Connection, bucket_id: i64) -> Result<Versioning> {
    let state: Option<String> =
        c.prepare_cached("SELECT versioning FROM buckets WHERE id = ?1")?.query_row([bucket_id], |r| r.get(0)).optional()?;
    state.map(|s| Versioning::parse(&s)).ok_or(StorageError::NoSuchBucket)
}

pub(crate) fn version_row(c: &Connection, bucket_id: i64, key: &str, version_id: Option<&str>) -> Result<(ObjectRecord, Body)> {
    let columns = format!("{OBJECT_COLUMNS}, {BODY_COLUMNS}");
    let (rec, body) = version_with(c, bucket_id, key, version_id, &columns, |r| Ok((object_from_row(r)?, body_from_row(r, AFTER_OBJECT_COLUMNS)?)))?;
    Ok((rec, body?))
}

/// The latest version of a key or a given one, without its body: what HEAD needs, and no
/// read of `inline_bodies`.
pub(crate) fn record_row(c: &Connection, bucket_id: i64, key: &str, version_id: Option<&str>) -> Result<ObjectRecord> {
    version_with(c, bucket_id, key, version_id, OBJECT_COLUMNS, object_from_row)
}

/// The version's `columns`, decoded by `decode`; `NoSuchVersion` / `NoSuchKey` when there is
/// none.
fn version_with<T>(
    c: &Connection,
    bucket_id: i64,
    key: &str,
    version_id: Option<&str>,
    columns: &str,
    decode: impl FnOnce(&rusqlite::Row) -> rusqlite::Result<T>,
) -> Result<T> {
    let found = match version_id {
        None => c
            .prepare_cached(&format!("SELECT {columns} FROM objects WHERE bucket_id = ?1 AND key = ?2 AND is_latest = 1"))?
            .query_row(params![bucket_id, key.as_bytes()], decode)
            .optional()?,
        Some(v) => c
            .prepare_cached(&format!("SELECT {columns} FROM objects WHERE bucket_id = ?1 AND key = ?2 AND version_id = ?3"))?
            .query_row(params![bucket_id, key.as_bytes(), v], decode)
            .optional()?,
    };
    match found {
        Some(found) => Ok(found),
        None => Err(StorageError::version_missing(version_id)),
    }
}

/// A version by its row number, with its body.
pub(crate) fn version_by_seq(c: &Connection, seq: i64) -> Result<Option<(ObjectRecord, Body)>> {
    let found = c
        .prepare_cached(&format!("SELECT {OBJECT_COLUMNS}, {BODY_COLUMNS} FROM objects WHERE seq = ?1"))?
        .query_row([seq], |r| Ok((object_from_row(r)?, body_from_row(r, AFTER_OBJECT_COLUMNS)?)))
        .optional()?;
    found.map(|(rec, body)| Ok((rec, body?))).transpose()
}

struct Latest {
    seq: i64,
    delete_marker: bool,
    etag: String,
}

impl Latest {
    /// The ETag of the latest version unless it is a delete marker: what conditions test.
    fn live_etag(&self) -> Option<&str> {
        (!self.delete_marker).then_some(self.etag.as_str())
    }
}

fn latest(c: &Connection, bucket_id: i64, key: &str) -> Result<Option<Latest>> {
    Ok(c.prepare_cached("SELECT seq, delete_marker, etag FROM objects WHERE bucket_id = ?1 AND key = ?2 AND is_latest = 1")?
        .query_row(params![bucket_id, key.as_bytes()], |r| Ok(Latest { seq: r.get(0)?, delete_marker: r.get(1)?, etag: r.get(2)? }))
        .optional()?)
}

/// Writes a new version row according to the bucket's versioning state; a version whose
/// storage class belongs on another tier than its bytes is on gets a move. Runs in the writer.
pub(crate) fn insert_version(
    c: &Connection,
    bucket_id: i64,
    new: &NewObject,
    stored: &Stored,
    cond: &WriteConditions,
    tiers: &TierSet,
) -> Result<ObjectRecord> {
    let versioning = bucket_versioning(c, bucket_id)?;
    let current = latest(c, bucket_id, &new.key)?;
    check_conditions(current.as_ref().and_then(Latest::live_etag), cond)?;
    let now = now_ms();
    let record = new_version_record(bucket_id, new, stored, versioning, tiers, now);
    crate::sqlite::buckets::within_quota(c, bucket_id, || {
        retire_latest(c, bucket_id, &new.key, current.as_ref(), versioning, now)?;
        insert_row(c, &record, Some(stored.body))
    })?;
    events::record_version(c, new.origin.event, &record, &new.origin.requester)?;
    let replication = crate::sqlite::replication::enqueue_new(c, &record)?;
    let record = ObjectRecord { replication, ..record };
    Ok(record)
}

/// Makes room for a new latest version: unversioned and suspended buckets replace the `null`
/// version; every other latest version just stops being latest at `now` (the new version's
/// creation time).
fn retire_latest(c: &Connection, bucket_id: i64, key: &str, current: Option<&Latest>, versioning: Versioning, now: i64) -> Result<()> {
    if versioning != Versioning::Enabled {
        let null_seq: Option<i64> = c
            .prepare_cached("SELECT seq FROM objects WHERE bucket_id = ?1 AND key = ?2 AND version_id = 'null'")?
            .query_row(params![bucket_id, key.as_bytes()], |r| r.get(0))
            .optional()?;
        if let Some(seq) = null_seq {
            remove_row(c, seq)?;
        }
    }
    if let Some(l) = current {
        mark_noncurrent(c, l.seq, now)?;
    }
    Ok(())
}

/// Version row `seq` stops being the latest at `since_ms` (when its successor was written).
pub(crate) fn mark_noncurrent(c: &Connection, seq: i64, since_ms: i64) -> Result<()> {
    c.prepare_cached("UPDATE objects SET is_latest = 0, noncurrent_ms = ?2 WHERE seq = ?1")?.execute(params![seq, since_ms])?;
    Ok(())
}

pub(crate) fn insert_row(c: &Connection, r: &ObjectRecord, body: Option<&Body>) -> Result<()> {
    let (inline, manifest): (Option<(&[u8], Option<&[u8]>)>, Option<String>) = match body {
        Some(Body::Inline { data, sha256 }) => (Some((data.as_ref(), sha256.as_ref().map(|h| &h[..]))), None),
        Some(Body::Blobs(segs)) => (None, Some(encode_manifest(segs))),
        None => (None, None),
    };
    c.prepare_cached(
        "INSERT INTO objects (bucket_id, key, version_id, is_latest, delete_marker, size, etag, modified_ms, owner_id, meta, manifest, tier, move_to, replication)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
    )?
    .execute(params![
        r.bucket_id,
        r.key.as_bytes(),
        r.version_id,
        r.is_latest,
        r.delete_marker,
        r.size as i64,
        r.etag,
        r.modified_ms,
        r.owner_id,
        serde_json::to_string(&r.meta)?,
        manifest,
        r.placement.tier,
        r.placement.moving_to.as_ref().map(|to| to.clone().unwrap_or_default()),
        r.replication,
    ])?;
    if let Some((data, sha256)) = inline {
        c.prepare_cached("INSERT INTO inline_bodies (seq, data, sha256) VALUES (?1, ?2, ?3)")?
            .execute(params![c.last_insert_rowid(), data, sha256])?;
    }
    if let Some(Body::Blobs(segs)) = body {
        refs::retain_all(c, r.placement.tier.as_deref(), segs)?;
    }
    Ok(())
}

/// Deletes a version row and releases its blobs, and those of its restored copy (GC removes
/// blobs nobody references).
fn remove_row(c: &Connection, seq: i64) -> Result<()> {
    let row: Option<(Option<String>, Option<String>, Option<i64>)> = c
        .prepare_cached("SELECT manifest, tier, restore_done_ms FROM objects WHERE seq = ?1")?
        .query_row([seq], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?;
    if let Some((Some(m), tier, restored)) = row {
        let segments = decode_manifest(&m)?;
        refs::release_all(c, tier.as_deref(), &segments)?;
        if restored.is_some() {
            refs::release_all(c, None, &segments)?;
        }
    }
    c.prepare_cached("DELETE FROM inline_bodies WHERE seq = ?1")?.execute([seq])?;
    c.prepare_cached(
        "DELETE FROM replication_outcomes WHERE (bucket_id, key, version_id) = (SELECT bucket_id, key, version_id FROM objects WHERE seq = ?1)",
    )?
    .execute([seq])?;
    c.prepare_cached("DELETE FROM objects WHERE seq = ?1")?.execute([seq])?;
    Ok(())
}

/// Deletes the latest version of an unversioned bucket's key, or places a delete marker; the
/// event (from `by` and what was done) is queued with it.
pub(crate) fn delete_latest(c: &Connection, bucket_id: i64, versioning: Versioning, key: &str, by: Remover) -> Result<DeleteOutcome> {
    let current = latest(c, bucket_id, key)?;
    if versioning == Versioning::Unversioned {
        if let Some(l) = current {
            remove_row(c, l.seq)?;
            let requester = by.requester();
            events::record(c, &Change { event: by.event(false), bucket_id, key, version_id: None, object: None, requester: &requester })?;
        }
        return Ok(DeleteOutcome::default());
    }
    let now = now_ms();
    retire_latest(c, bucket_id, key, current.as_ref(), versioning, now)?;
    let marker = new_delete_marker(bucket_id, key, versioning, now);
    insert_row(c, &marker, None)?;
    events::record_version(c, by.event(true), &marker, &by.requester())?;
    crate::sqlite::replication::enqueue_new(c, &marker)?;
    Ok(DeleteOutcome { version_id: Some(marker.version_id), delete_marker: true })
}

/// Removes one version (or delete marker) for good, unless Object Lock protects it: then the
/// inner result is `ObjectLocked` and nothing was written. The event (from `by`) is queued with
/// it.
pub(crate) fn delete_version(c: &Connection, bucket_id: i64, key: &str, version_id: &str, by: Remover) -> Result<Result<DeleteOutcome>> {
    let row: Option<(i64, bool, bool, String)> = c
        .prepare_cached("SELECT seq, is_latest, delete_marker, meta FROM objects WHERE bucket_id = ?1 AND key = ?2 AND version_id = ?3")?
        .query_row(params![bucket_id, key.as_bytes(), version_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .optional()?;
    let Some((seq, was_latest, delete_marker, meta)) = row else {
        return Ok(Ok(DeleteOutcome { version_id: Some(version_id.to_string()), delete_marker: false }));
    };
    let meta: ObjectMeta = serde_json::from_str(&meta)?;
    if let Some(why) = meta.lock.protects(now_ms(), by.bypass_governance()) {
        return Ok(Err(StorageError::ObjectLocked(why)));
    }
    remove_row(c, seq)?;
    let requester = by.requester();
    let version = Some(version_id).filter(|v| *v != NULL_VERSION);
    events::record(c, &Change { event: by.event(false), bucket_id, key, version_id: version, object: None, requester: &requester })?;
    if was_latest {
        c.prepare_cached(
            "UPDATE objects SET is_latest = 1, noncurrent_ms = NULL WHERE seq = (SELECT MAX(seq) FROM objects WHERE bucket_id = ?1 AND key = ?2)",
        )?
        .execute(params![bucket_id, key.as_bytes()])?;
    }
    Ok(Ok(DeleteOutcome { version_id: Some(version_id.to_string()), delete_marker }))
}

