//! PostgreSQL's LifecycleIndex: what the lifecycle, tiering and restore workers scan and apply
//! (age scans, key batches, one action per transaction, restores, tier moves and tier garbage).
//!
//! Nodes share the work. A bucket's lifecycle pass runs on one node at a time, the holder of
//! the bucket's lease (`leases`, named `lifecycle <bucket id>`): the pass's scans (`lifecycle_aged`,
//! `lifecycle_batch`, `uploads_started_before`) take or renew it and find nothing for another
//! node while it is held; a node that stops scanning loses it `LEASE` after its last scan.
//! Each action still locks its key and re-reads the versions first, so even passes that
//! overlap (a lease that ran out mid-batch) act on each version once.

use super::buckets::bucket_versioning;
use super::events::record_version;
use super::deletes::{delete_latest, delete_version};
use super::objects::{change_refs, lock_key};
use super::uploads::{upload_from_row, UPLOAD_COLUMNS};
use super::rows::{body_from_row, object_from_row, AFTER_OBJECT_COLUMNS, BODY_COLUMNS, OBJECT_COLUMNS};
use super::{transact, PgIndex};
use crate::blob::Hash;
use crate::error::{Result, StorageError, TierError};
use crate::events::{EventName, Remover, Requester};
use crate::lifecycle::{key_versions, lock_allows, transition, AgeCursor, AgeScan, AgedBatch, LifecycleAction, LifecycleVersion};
use crate::meta::{LifecycleIndex, RestoreExpiry, ServiceIndex, StillDue};
use crate::model::{Body, ObjectRecord, Segment, Upload};
use crate::objects::DeleteOutcome;
use crate::placement::Moved;
use crate::restore::RestoreStarted;
use crate::tiers::TierSet;
use crate::now_ms;
use std::collections::HashMap;
use std::sync::Arc;
use tokio_postgres::types::ToSql;
use super::GenericClient;
use tokio_postgres::Row;

/// How long a bucket's lifecycle pass stays with the node that last scanned it: longer than
/// the actions of one batch take, so a node still acting keeps it.
const LEASE: std::time::Duration = std::time::Duration::from_secs(120);

#[async_trait::async_trait]
impl LifecycleIndex for PgIndex {
    async fn bucket_configs_of_kind(&self, kind: &str) -> Result<Vec<(i64, String)>> {
        let rows = self.client().await?.query("SELECT bucket_id, document FROM bucket_configs WHERE kind = $1 ORDER BY bucket_id", &[&kind]).await?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    async fn lifecycle_batch(&self, bucket_id: i64, lower: Vec<u8>, upper: Option<Vec<u8>>, max_keys: usize) -> Result<Vec<Vec<LifecycleVersion>>> {
        if !self.bucket_turn(bucket_id).await? {
            return Ok(Vec::new());
        }
        let client = self.client().await?;
        // One statement: the keys and their versions are read together.
        let rows = client
            .query(
                &format!(
                    "SELECT {OBJECT_COLUMNS}, seq, noncurrent_ms FROM objects WHERE bucket_id = $1 AND key IN (
                        SELECT DISTINCT key FROM objects WHERE bucket_id = $1 AND key >= $2 AND ($3::bytea IS NULL OR key < $3) ORDER BY key LIMIT $4)
                     ORDER BY key, seq DESC"
                ),
                &[&bucket_id, &lower, &upper, &(max_keys as i64)],
            )
            .await?;
        Ok(by_key(&rows).into_iter().map(|(_, versions)| key_versions(versions)).collect())
    }

    async fn lifecycle_aged(&self, bucket_id: i64, scan: AgeScan, after: AgeCursor, bound_ms: i64, limit: usize) -> Result<AgedBatch> {
        if !self.bucket_turn(bucket_id).await? {
            return Ok(AgedBatch::of_rows(Vec::new(), limit));
        }
        let client = self.client().await?;
        let rows = client.query(age_sql(scan), &[&bucket_id, &after.0, &after.1, &bound_ms, &(limit as i64)]).await?;
        let rows = rows.iter().map(|r| (r.get(0), r.get(1), String::from_utf8_lossy(r.get(2)).into_owned())).collect();
        Ok(AgedBatch::of_rows(rows, limit))
    }

    async fn lifecycle_keys(&self, bucket_id: i64, keys: Vec<String>) -> Result<Vec<Vec<LifecycleVersion>>> {
        let wanted: Vec<&[u8]> = keys.iter().map(|k| k.as_bytes()).collect();
        let rows = self
            .client()
            .await?
            .query(
                &format!("SELECT {OBJECT_COLUMNS}, seq, noncurrent_ms FROM objects WHERE bucket_id = $1 AND key = ANY($2) ORDER BY key, seq DESC"),
                &[&bucket_id, &wanted],
            )
            .await?;
        let mut found: HashMap<Vec<u8>, _> = by_key(&rows).into_iter().collect();
        Ok(wanted.iter().map(|k| key_versions(found.remove(*k).unwrap_or_default())).collect())
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
        // The check runs once: a transaction retried after it ran gives up (the next pass
        // finds the version again if it is still due).
        let mut still_due = Some(still_due);
        transact!(self, |tx| {
            let check = still_due.take().ok_or(StorageError::Busy)?;
            apply(&*tx, bucket_id, key, seq, action.clone(), check, &tiers).await?
        })
    }

    async fn uploads_started_before(&self, bucket_id: i64, initiated_before_ms: i64, after_seq: i64, limit: usize) -> Result<Vec<(i64, Upload)>> {
        if !self.bucket_turn(bucket_id).await? {
            return Ok(Vec::new());
        }
        let client = self.client().await?;
        let rows = client
            .query(
                &format!("SELECT {UPLOAD_COLUMNS} FROM uploads WHERE bucket_id = $1 AND initiated_ms <= $2 AND seq > $3 ORDER BY seq LIMIT $4"),
                &[&bucket_id, &initiated_before_ms, &after_seq, &(limit as i64)],
            )
            .await?;
        Ok(rows.iter().map(upload_from_row).collect())
    }

    async fn version_at(&self, seq: i64) -> Result<Option<(ObjectRecord, Body)>> {
        version_by_seq(&*self.client().await?, seq, false).await
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
        transact!(self, |tx| {
            let Some((seq, rec, _)) = find_version(&*tx, bucket_id, key, version_id.as_deref(), true).await? else {
                return Err(StorageError::version_missing(version_id.as_deref()));
            };
            if rec.delete_marker || !tiers.is_archive(rec.placement.destination()) {
                return Err(TierError::NotArchived.into());
            }
            let started = match &rec.placement.restore {
                Some(r) if r.done_ms.is_none() => return Err(TierError::RestoreInProgress.into()),
                Some(_) => {
                    tx.execute("UPDATE objects SET restore_days = $2, restore_expiry_ms = $3 WHERE seq = $1", &[&seq, &(days as i64), &extended_expiry_ms])
                        .await?;
                    RestoreStarted::Extended
                }
                None => {
                    tx.execute("UPDATE objects SET restore_days = $2 WHERE seq = $1", &[&seq, &(days as i64)]).await?;
                    RestoreStarted::Started
                }
            };
            record_version(&*tx, EventName::ObjectRestorePost, &rec, &by).await?;
            (started, rec.version_id)
        })
    }

    async fn due_restores(&self, after: i64, limit: usize) -> Result<Vec<i64>> {
        self.seqs("SELECT seq FROM objects WHERE restore_days IS NOT NULL AND restore_done_ms IS NULL AND seq > $1 ORDER BY seq LIMIT $2", after, limit)
            .await
    }

    async fn complete_restore(&self, seq: i64, tier: Option<String>, segments: Vec<Segment>, expiry: RestoreExpiry) -> Result<bool> {
        let mut expiry = Some(expiry);
        transact!(self, |tx| {
            let Some((now, _)) = version_by_seq(&*tx, seq, true).await? else { return Ok(false) };
            let Some(restore) = now.placement.restore.clone().filter(|r| r.done_ms.is_none()) else { return Ok(false) };
            if now.placement.tier != tier {
                return Ok(false); // moved meanwhile: the next pass restores from where it is
            }
            let expiry = expiry.take().ok_or(StorageError::Busy)?;
            change_refs(&*tx, None, &segments, 1).await?;
            let done_ms = now_ms();
            tx.execute("UPDATE objects SET restore_done_ms = $2, restore_expiry_ms = $3 WHERE seq = $1", &[&seq, &done_ms, &expiry(restore.days, done_ms)])
                .await?;
            record_version(&*tx, EventName::ObjectRestoreCompleted, &now, &Requester::coffer()).await?;
            true
        })
    }

    async fn expired_restores(&self, now_ms: i64, limit: usize) -> Result<Vec<i64>> {
        self.seqs(
            "SELECT seq FROM objects WHERE restore_expiry_ms IS NOT NULL AND restore_expiry_ms <= $1 ORDER BY restore_expiry_ms LIMIT $2",
            now_ms,
            limit,
        )
        .await
    }

    async fn drop_restore(&self, seq: i64, now_ms: i64) -> Result<bool> {
        transact!(self, |tx| {
            let Some((rec, body)) = version_by_seq(&*tx, seq, true).await? else { return Ok(false) };
            let Some(restore) = rec.placement.restore.clone() else { return Ok(false) };
            if restore.expiry_ms.is_none_or(|e| e > now_ms) {
                return Ok(false);
            }
            if let (Some(_), Body::Blobs(segments)) = (restore.done_ms, &body) {
                change_refs(&*tx, None, segments, -1).await?;
            }
            tx.execute("UPDATE objects SET restore_days = NULL, restore_done_ms = NULL, restore_expiry_ms = NULL WHERE seq = $1", &[&seq]).await?;
            record_version(&*tx, EventName::ObjectRestoreDelete, &rec, &Requester::coffer()).await?;
            true
        })
    }

    async fn due_moves(&self, after: i64, limit: usize) -> Result<Vec<i64>> {
        self.seqs("SELECT seq FROM objects WHERE move_to IS NOT NULL AND seq > $1 ORDER BY seq LIMIT $2", after, limit).await
    }

    async fn tiering_backlog(&self) -> Result<(u64, u64)> {
        let row = self
            .client()
            .await?
            .query_one(
                "SELECT (SELECT count(*) FROM objects WHERE move_to IS NOT NULL),
                        (SELECT count(*) FROM objects WHERE restore_days IS NOT NULL AND restore_done_ms IS NULL)",
                &[],
            )
            .await?;
        Ok((row.get::<_, i64>(0) as u64, row.get::<_, i64>(1) as u64))
    }

    async fn note_tier_blobs(&self, tier: String, blobs: Vec<(Hash, u64)>) -> Result<()> {
        let (hashes, sizes): (Vec<Vec<u8>>, Vec<i64>) = blobs.into_iter().map(|(h, len)| (h.to_vec(), len as i64)).unzip();
        self.client()
            .await?
            .execute(
                "INSERT INTO tier_blobs (tier, hash, size, refs) SELECT $1, h, s, 0 FROM unnest($2::bytea[], $3::bigint[]) AS t(h, s)
                 ON CONFLICT (tier, hash) DO NOTHING",
                &[&tier, &hashes, &sizes],
            )
            .await?;
        Ok(())
    }

    async fn switch_placement(&self, seq: i64, from: Option<String>, expected_move: Option<Option<String>>, to: Option<String>, segments: Vec<Segment>) -> Result<Moved> {
        transact!(self, |tx| {
            let Some((now, _)) = version_by_seq(&*tx, seq, true).await? else { return Ok(Moved::Skipped) };
            if now.placement.tier != from || now.placement.moving_to != expected_move {
                return Ok(Moved::Skipped);
            }
            change_refs(&*tx, to.as_deref(), &segments, 1).await?;
            change_refs(&*tx, from.as_deref(), &segments, -1).await?;
            tx.execute("UPDATE objects SET tier = $2, move_to = NULL WHERE seq = $1", &[&seq, &to]).await?;
            Moved::To(to.clone())
        })
    }

    async fn tier_garbage(&self, limit: usize) -> Result<Vec<(String, Vec<u8>)>> {
        let rows = self
            .client()
            .await?
            .query(
                "SELECT tier, hash FROM tier_blobs WHERE refs <= 0
                   AND NOT EXISTS (SELECT 1 FROM worker_cursors WHERE worker = 'gc-hold' AND cursor::bigint > $2)
                 LIMIT $1",
                &[&(limit as i64), &now_ms()],
            )
            .await?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    async fn forget_tier_blob(&self, tier: String, hash: Vec<u8>) -> Result<()> {
        self.client().await?.execute("DELETE FROM tier_blobs WHERE tier = $1 AND hash = $2 AND refs <= 0", &[&tier, &hash]).await?;
        Ok(())
    }
}

/// The name of the lease a node holds while it runs bucket `bucket_id`'s lifecycle pass.
pub(crate) fn bucket_lease(bucket_id: i64) -> String {
    format!("lifecycle {bucket_id}")
}

impl PgIndex {
    /// Whether this node runs bucket `bucket_id`'s lifecycle pass now: it holds (takes or
    /// renews) the bucket's lease, or another node does.
    async fn bucket_turn(&self, bucket_id: i64) -> Result<bool> {
        self.hold_lease(&bucket_lease(bucket_id), LEASE).await
    }

    /// The row numbers `sql` selects with ($1 = `from`, $2 = `limit`).
    async fn seqs(&self, sql: &str, from: i64, limit: usize) -> Result<Vec<i64>> {
        let rows = self.client().await?.query(sql, &[&from, &(limit as i64)]).await?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }
}

/// The query of an age scan: (time, row, key) after ($2, $3), time at most $4, at most $5.
fn age_sql(scan: AgeScan) -> &'static str {
    match scan {
        AgeScan::Current => {
            "SELECT modified_ms, seq, key FROM objects WHERE bucket_id = $1 AND is_latest
             AND (modified_ms, seq) > ($2, $3) AND modified_ms <= $4 ORDER BY modified_ms, seq LIMIT $5"
        }
        AgeScan::Noncurrent => {
            "SELECT noncurrent_ms, seq, key FROM objects WHERE bucket_id = $1 AND NOT is_latest
             AND (noncurrent_ms, seq) > ($2, $3) AND noncurrent_ms <= $4 ORDER BY noncurrent_ms, seq LIMIT $5"
        }
        AgeScan::DeleteMarkers => {
            "SELECT modified_ms, seq, key FROM objects WHERE bucket_id = $1 AND is_latest AND delete_marker
             AND (modified_ms, seq) > ($2, $3) AND modified_ms <= $4 ORDER BY modified_ms, seq LIMIT $5"
        }
    }
}

/// Rows of `OBJECT_COLUMNS, seq, noncurrent_ms` ordered by key, grouped by key, each group as
/// `key_versions` takes it.
type VersionRows = Vec<(i64, Option<i64>, ObjectRecord)>;
fn by_key(rows: &[Row]) -> Vec<(Vec<u8>, VersionRows)> {
    let mut out: Vec<(Vec<u8>, VersionRows)> = Vec::new();
    for r in rows {
        let key: &[u8] = r.get(1);
        let version = (r.get(AFTER_OBJECT_COLUMNS), r.get(AFTER_OBJECT_COLUMNS + 1), object_from_row(r));
        match out.last_mut() {
            Some((k, versions)) if k.as_slice() == key => versions.push(version),
            _ => out.push((key.to_vec(), vec![version])),
        }
    }
    out
}

/// `lifecycle_apply` inside its transaction: the key locked, its versions read (and locked)
/// as they are now, then checked and acted on.
async fn apply(
    c: &impl GenericClient,
    bucket_id: i64,
    key: &str,
    seq: i64,
    action: LifecycleAction,
    still_due: StillDue,
    tiers: &TierSet,
) -> Result<Option<DeleteOutcome>> {
    lock_key(c, bucket_id, key).await?;
    let rows = c
        .query(
            &format!("SELECT {OBJECT_COLUMNS}, seq, noncurrent_ms FROM objects WHERE bucket_id = $1 AND key = $2 ORDER BY seq DESC FOR UPDATE"),
            &[&bucket_id, &key.as_bytes()],
        )
        .await?;
    let versions = key_versions(by_key(&rows).pop().map(|(_, v)| v).unwrap_or_default());
    let Some(v) = versions.into_iter().find(|v| v.seq == seq) else { return Ok(None) };
    if !still_due(&v) || !lock_allows(&action, &v, now_ms()) {
        return Ok(None);
    }
    let outcome = match action {
        LifecycleAction::ExpireCurrent if v.record.is_latest && !v.record.delete_marker => {
            delete_latest(c, bucket_id, bucket_versioning(c, bucket_id).await?, key, Remover::Lifecycle).await?
        }
        LifecycleAction::ExpireCurrent => return Ok(None),
        LifecycleAction::RemoveVersion => delete_version(c, bucket_id, key, &v.record.version_id, Remover::Lifecycle).await??,
        LifecycleAction::Transition(class) => {
            let (meta, move_to) = transition(&v.record, &class, tiers);
            c.execute("UPDATE objects SET meta = $2, move_to = $3 WHERE seq = $1", &[&v.seq, &serde_json::to_string(&meta)?, &move_to]).await?;
            record_version(c, EventName::LifecycleTransition, &v.record, &Requester::coffer()).await?;
            DeleteOutcome::default()
        }
    };
    Ok(Some(outcome))
}

/// Versions (with their row number and body) matching `condition` over `params`, locked for
/// update when `lock`.
async fn versions_where(c: &impl GenericClient, condition: &str, params: &[&(dyn ToSql + Sync)], lock: bool) -> Result<Vec<(i64, ObjectRecord, Body)>> {
    let sql = format!(
        "SELECT {OBJECT_COLUMNS}, {BODY_COLUMNS}, seq FROM objects WHERE {condition}{}",
        if lock { " FOR UPDATE" } else { "" }
    );
    let rows = c.query(&sql, params).await?;
    rows.iter().map(|r| Ok((r.get(AFTER_OBJECT_COLUMNS + 3), object_from_row(r), body_from_row(r, AFTER_OBJECT_COLUMNS)?))).collect()
}

/// A version of `key` (the latest when `version_id` is None) with its row number and body,
/// locked for update when `lock`.
/// (The smallest form of the ObjectIndex's version read, for replication and restores.)
pub(super) async fn find_version(
    c: &impl GenericClient,
    bucket_id: i64,
    key: &str,
    version_id: Option<&str>,
    lock: bool,
) -> Result<Option<(i64, ObjectRecord, Body)>> {
    let key = key.as_bytes();
    let found = match version_id {
        Some(v) => versions_where(c, "bucket_id = $1 AND key = $2 AND version_id = $3", &[&bucket_id, &key, &v], lock).await?,
        None => versions_where(c, "bucket_id = $1 AND key = $2 AND is_latest", &[&bucket_id, &key], lock).await?,
    };
    Ok(found.into_iter().next())
}

/// The version at row `seq` with its body, locked for update when `lock`.
async fn version_by_seq(c: &impl GenericClient, seq: i64, lock: bool) -> Result<Option<(ObjectRecord, Body)>> {
    Ok(versions_where(c, "seq = $1", &[&seq], lock).await?.into_iter().next().map(|(_, rec, body)| (rec, body)))
}
