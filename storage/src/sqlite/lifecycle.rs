//! SQLite's LifecycleIndex: what the lifecycle, tiering and restore workers scan and apply
//! (age scans, key batches, one action per transaction, restores, tier moves and tier garbage).

use super::SqliteIndex;
use crate::blob::Hash;
use crate::error::{Result, TierError};
use crate::events::{EventName, Remover, Requester};
use crate::lifecycle::{key_versions, lock_allows, transition, AgeCursor, AgeScan, AgedBatch, LifecycleAction, LifecycleVersion};
use crate::meta::{LifecycleIndex, RestoreExpiry, StillDue};
use crate::model::{Body, ObjectRecord, Segment, Upload};
use crate::sqlite::uploads::{upload_from_row, UPLOAD_COLUMNS};
use crate::objects::DeleteOutcome;
use crate::sqlite::objects::{bucket_versioning, delete_latest, delete_version, version_by_seq, version_row};
use crate::placement::Moved;
use crate::sqlite::refs;
use crate::restore::RestoreStarted;
use crate::sqlite::rows::{object_from_row, AFTER_OBJECT_COLUMNS, OBJECT_COLUMNS};
use crate::tiers::TierSet;
use crate::now_ms;
use super::events::record_version;
use rusqlite::{params, Connection};
use std::sync::Arc;

#[async_trait::async_trait]
impl LifecycleIndex for SqliteIndex {
    async fn bucket_configs_of_kind(&self, kind: &str) -> Result<Vec<(i64, String)>> {
        let kind = kind.to_string();
        self.readers
            .read(move |c| {
                let mut stmt = c.prepare_cached("SELECT bucket_id, document FROM bucket_configs WHERE kind = ?1 ORDER BY bucket_id")?;
                let rows = stmt.query_map([kind], |r| Ok((r.get(0)?, r.get(1)?)))?;
                Ok(rows.collect::<rusqlite::Result<_>>()?)
            })
            .await
    }

    async fn lifecycle_batch(&self, bucket_id: i64, lower: Vec<u8>, upper: Option<Vec<u8>>, max_keys: usize) -> Result<Vec<Vec<LifecycleVersion>>> {
        self.readers
            .read(move |c| {
                let mut keys = c.prepare_cached(
                    "SELECT DISTINCT key FROM objects WHERE bucket_id = ?1 AND key >= ?2 AND (?3 IS NULL OR key < ?3) ORDER BY key LIMIT ?4",
                )?;
                let keys: Vec<Vec<u8>> =
                    keys.query_map(params![bucket_id, lower, upper, max_keys as i64], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?;
                keys.iter().map(|k| versions_of(c, bucket_id, k)).collect()
            })
            .await
    }

    async fn lifecycle_aged(&self, bucket_id: i64, scan: AgeScan, after: AgeCursor, bound_ms: i64, limit: usize) -> Result<AgedBatch> {
        self.readers
            .read(move |c| {
                let mut stmt = c.prepare_cached(age_sql(scan))?;
                let rows: Vec<(i64, i64, String)> = stmt
                    .query_map(params![bucket_id, after.0, after.1, bound_ms, limit as i64], |r| {
                        Ok((r.get(0)?, r.get(1)?, String::from_utf8_lossy(&r.get::<_, Vec<u8>>(2)?).into_owned()))
                    })?
                    .collect::<rusqlite::Result<_>>()?;
                Ok(AgedBatch::of_rows(rows, limit))
            })
            .await
    }

    async fn lifecycle_keys(&self, bucket_id: i64, keys: Vec<String>) -> Result<Vec<Vec<LifecycleVersion>>> {
        self.readers.read(move |c| keys.iter().map(|k| versions_of(c, bucket_id, k.as_bytes())).collect()).await
    }

    async fn lifecycle_apply(
        &self,
        bucket_id: i64,
        key: &str,
        seq: i64,
        action: LifecycleAction,
        still_due: StillDue,
        tiers: Arc<TierSet>,
    ) -> Result<Option<DeleteOutcome>> {
        let key = key.to_string();
        self.writer
            .write(move |c| {
                let versions = versions_of(c, bucket_id, key.as_bytes())?;
                let Some(v) = versions.into_iter().find(|v| v.seq == seq) else { return Ok(None) };
                if !still_due(&v) || !lock_allows(&action, &v, now_ms()) {
                    return Ok(None);
                }
                let outcome = match action {
                    LifecycleAction::ExpireCurrent if v.record.is_latest && !v.record.delete_marker => {
                        delete_latest(c, bucket_id, bucket_versioning(c, bucket_id)?, &key, Remover::Lifecycle)?
                    }
                    LifecycleAction::ExpireCurrent => return Ok(None),
                    LifecycleAction::RemoveVersion => delete_version(c, bucket_id, &key, &v.record.version_id, Remover::Lifecycle)??,
                    LifecycleAction::Transition(class) => {
                        let (meta, move_to) = transition(&v.record, &class, &tiers);
                        c.prepare_cached("UPDATE objects SET meta = ?2, move_to = ?3 WHERE seq = ?1")?
                            .execute(params![v.seq, serde_json::to_string(&meta)?, move_to])?;
                        record_version(c, EventName::LifecycleTransition, &v.record, &Requester::coffer())?;
                        DeleteOutcome::default()
                    }
                };
                Ok(Some(outcome))
            })
            .await
    }

    async fn uploads_started_before(&self, bucket_id: i64, initiated_before_ms: i64, after_seq: i64, limit: usize) -> Result<Vec<(i64, Upload)>> {
        self.readers
            .read(move |c| {
                let mut stmt = c.prepare_cached(&format!(
                    "SELECT {UPLOAD_COLUMNS} FROM uploads WHERE bucket_id = ?1 AND initiated_ms <= ?2 AND seq > ?3 ORDER BY seq LIMIT ?4"
                ))?;
                let rows = stmt.query_map(params![bucket_id, initiated_before_ms, after_seq, limit as i64], upload_from_row)?;
                Ok(rows.collect::<rusqlite::Result<_>>()?)
            })
            .await
    }

    async fn version_at(&self, seq: i64) -> Result<Option<(ObjectRecord, Body)>> {
        self.readers.read(move |c| version_by_seq(c, seq)).await
    }

    async fn request_restore(
        &self,
        bucket_id: i64,
        key: &str,
        version_id: Option<String>,
        days: u32,
        extended_expiry_ms: i64,
        by: Requester,
        tiers: Arc<TierSet>,
    ) -> Result<(RestoreStarted, String)> {
        let key = key.to_string();
        self.writer
            .write(move |c| {
                let (rec, _) = version_row(c, bucket_id, &key, version_id.as_deref())?;
                if rec.delete_marker || !tiers.is_archive(rec.placement.destination()) {
                    return Err(TierError::NotArchived.into());
                }
                let seq: i64 = c.query_row(
                    "SELECT seq FROM objects WHERE bucket_id = ?1 AND key = ?2 AND version_id = ?3",
                    params![bucket_id, key.as_bytes(), rec.version_id],
                    |r| r.get(0),
                )?;
                let started = match &rec.placement.restore {
                    Some(r) if r.done_ms.is_none() => return Err(TierError::RestoreInProgress.into()),
                    Some(_) => {
                        c.prepare_cached("UPDATE objects SET restore_days = ?2, restore_expiry_ms = ?3 WHERE seq = ?1")?
                            .execute(params![seq, days, extended_expiry_ms])?;
                        RestoreStarted::Extended
                    }
                    None => {
                        c.prepare_cached("UPDATE objects SET restore_days = ?2 WHERE seq = ?1")?.execute(params![seq, days])?;
                        RestoreStarted::Started
                    }
                };
                record_version(c, EventName::ObjectRestorePost, &rec, &by)?;
                Ok((started, rec.version_id))
            })
            .await
    }

    async fn due_restores(&self, after: i64, limit: usize) -> Result<Vec<i64>> {
        self.readers
            .read(move |c| {
                seqs(c, "SELECT seq FROM objects WHERE restore_days IS NOT NULL AND restore_done_ms IS NULL AND seq > ?1 ORDER BY seq LIMIT ?2", after, limit)
            })
            .await
    }

    async fn complete_restore(&self, seq: i64, tier: Option<String>, segments: Vec<Segment>, expiry: RestoreExpiry) -> Result<bool> {
        self.writer
            .write(move |c| {
                let Some((now, _)) = version_by_seq(c, seq)? else { return Ok(false) };
                let Some(restore) = now.placement.restore.clone().filter(|r| r.done_ms.is_none()) else { return Ok(false) };
                if now.placement.tier != tier {
                    return Ok(false); // moved meanwhile: the next pass restores from where it is
                }
                refs::retain_all(c, None, &segments)?;
                let done_ms = now_ms();
                c.prepare_cached("UPDATE objects SET restore_done_ms = ?2, restore_expiry_ms = ?3 WHERE seq = ?1")?
                    .execute(params![seq, done_ms, expiry(restore.days, done_ms)])?;
                record_version(c, EventName::ObjectRestoreCompleted, &now, &Requester::coffer())?;
                Ok(true)
            })
            .await
    }

    async fn expired_restores(&self, now_ms: i64, limit: usize) -> Result<Vec<i64>> {
        self.readers
            .read(move |c| {
                seqs(c, "SELECT seq FROM objects WHERE restore_expiry_ms IS NOT NULL AND restore_expiry_ms <= ?1 ORDER BY restore_expiry_ms LIMIT ?2", now_ms, limit)
            })
            .await
    }

    async fn drop_restore(&self, seq: i64, now_ms: i64) -> Result<bool> {
        self.writer
            .write(move |c| {
                let Some((rec, body)) = version_by_seq(c, seq)? else { return Ok(false) };
                let Some(restore) = rec.placement.restore.clone() else { return Ok(false) };
                if restore.expiry_ms.is_none_or(|e| e > now_ms) {
                    return Ok(false);
                }
                if let (Some(_), Body::Blobs(segments)) = (restore.done_ms, &body) {
                    refs::release_all(c, None, segments)?;
                }
                c.prepare_cached("UPDATE objects SET restore_days = NULL, restore_done_ms = NULL, restore_expiry_ms = NULL WHERE seq = ?1")?
                    .execute([seq])?;
                record_version(c, EventName::ObjectRestoreDelete, &rec, &Requester::coffer())?;
                Ok(true)
            })
            .await
    }

    async fn due_moves(&self, after: i64, limit: usize) -> Result<Vec<i64>> {
        self.readers.read(move |c| seqs(c, "SELECT seq FROM objects WHERE move_to IS NOT NULL AND seq > ?1 ORDER BY seq LIMIT ?2", after, limit)).await
    }

    async fn tiering_backlog(&self) -> Result<(u64, u64)> {
        self.readers
            .read(|c| {
                let moves: i64 = c.query_row("SELECT COUNT(*) FROM objects WHERE move_to IS NOT NULL", [], |r| r.get(0))?;
                let restores: i64 =
                    c.query_row("SELECT COUNT(*) FROM objects WHERE restore_days IS NOT NULL AND restore_done_ms IS NULL", [], |r| r.get(0))?;
                Ok((moves as u64, restores as u64))
            })
            .await
    }

    async fn note_tier_blobs(&self, tier: String, blobs: Vec<(Hash, u64)>) -> Result<()> {
        self.writer
            .write(move |c| {
                let mut add = c.prepare_cached("INSERT INTO tier_blobs (tier, hash, size, refs) VALUES (?1, ?2, ?3, 0) ON CONFLICT(tier, hash) DO NOTHING")?;
                for (hash, len) in blobs {
                    add.execute(params![tier, &hash[..], len as i64])?;
                }
                Ok(())
            })
            .await
    }

    async fn switch_placement(&self, seq: i64, from: Option<String>, expected_move: Option<Option<String>>, to: Option<String>, segments: Vec<Segment>) -> Result<Moved> {
        self.writer
            .write(move |c| {
                let Some((now, _)) = version_by_seq(c, seq)? else { return Ok(Moved::Skipped) };
                if now.placement.tier != from || now.placement.moving_to != expected_move {
                    return Ok(Moved::Skipped);
                }
                refs::retain_all(c, to.as_deref(), &segments)?;
                refs::release_all(c, from.as_deref(), &segments)?;
                c.prepare_cached("UPDATE objects SET tier = ?2, move_to = NULL WHERE seq = ?1")?.execute(params![seq, to])?;
                Ok(Moved::To(to))
            })
            .await
    }

    async fn tier_garbage(&self, limit: usize) -> Result<Vec<(String, Vec<u8>)>> {
        self.readers
            .read(move |c| {
                if crate::sqlite::backup::gc_held(c)? {
                    return Ok(Vec::new());
                }
                let mut stmt = c.prepare_cached("SELECT tier, hash FROM tier_blobs WHERE refs <= 0 LIMIT ?1")?;
                let rows = stmt.query_map([limit as i64], |r| Ok((r.get(0)?, r.get(1)?)))?;
                Ok(rows.collect::<rusqlite::Result<_>>()?)
            })
            .await
    }

    async fn forget_tier_blob(&self, tier: String, hash: Vec<u8>) -> Result<()> {
        self.writer
            .write(move |c| {
                c.prepare_cached("DELETE FROM tier_blobs WHERE tier = ?1 AND hash = ?2 AND refs <= 0")?.execute(params![tier, hash])?;
                Ok(())
            })
            .await
    }
}

/// The row numbers `sql` selects with (?1 = `from`, ?2 = `limit`).
fn seqs(c: &Connection, sql: &str, from: i64, limit: usize) -> Result<Vec<i64>> {
    let mut stmt = c.prepare_cached(sql)?;
    let rows = stmt.query_map(params![from, limit as i64], |r| r.get(0))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// The query of an age scan: (time, row, key) after (?2, ?3), time at most ?4, at most ?5.
fn age_sql(scan: AgeScan) -> &'static str {
    match scan {
        AgeScan::Current => {
            "SELECT modified_ms, seq, key FROM objects WHERE bucket_id = ?1 AND is_latest = 1
             AND (modified_ms > ?2 OR (modified_ms = ?2 AND seq > ?3)) AND modified_ms <= ?4 ORDER BY modified_ms, seq LIMIT ?5"
        }
        AgeScan::Noncurrent => {
            "SELECT noncurrent_ms, seq, key FROM objects WHERE bucket_id = ?1 AND is_latest = 0
             AND (noncurrent_ms > ?2 OR (noncurrent_ms = ?2 AND seq > ?3)) AND noncurrent_ms <= ?4 ORDER BY noncurrent_ms, seq LIMIT ?5"
        }
        AgeScan::DeleteMarkers => {
            "SELECT modified_ms, seq, key FROM objects WHERE bucket_id = ?1 AND is_latest = 1 AND delete_marker = 1
             AND (modified_ms > ?2 OR (modified_ms = ?2 AND seq > ?3)) AND modified_ms <= ?4 ORDER BY modified_ms, seq LIMIT ?5"
        }
    }
}

/// Every version of one key, newest first, with their lifecycle facts.
fn versions_of(c: &Connection, bucket_id: i64, key: &[u8]) -> Result<Vec<LifecycleVersion>> {
    let mut stmt = c.prepare_cached(&format!(
        "SELECT {OBJECT_COLUMNS}, seq, noncurrent_ms FROM objects WHERE bucket_id = ?1 AND key = ?2 ORDER BY seq DESC"
    ))?;
    let rows: Vec<(i64, Option<i64>, ObjectRecord)> = stmt
        .query_map(params![bucket_id, key], |r| Ok((r.get(AFTER_OBJECT_COLUMNS)?, r.get(AFTER_OBJECT_COLUMNS + 1)?, object_from_row(r)?)))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(key_versions(rows))
}
