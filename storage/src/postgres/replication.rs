//! PostgreSQL's ReplicationIndex: the replication outbox, its per-target outcomes, replicas
//! written here, and resync; and `enqueue_new`, which runs inside another domain's version commit.
//!
//! Nodes share the outbox. `due_replications` claims the rows it hands out: it takes them
//! `FOR UPDATE SKIP LOCKED` (two nodes asking at once get disjoint rows) and makes them due
//! again only `CLAIM_MS` later, so a row is with one node at a time until that node settles it
//! (retry, fail, complete, replicate, forget); a row whose node stopped is due again then, or
//! at once when that node starts sending again (`release_claims`: a node keeps its name across
//! restarts).
//! A resync step takes its cursor's row the same way, so two nodes never walk one resync at once.

use super::buckets::bucket_versioning;
use super::lifecycle::find_version;
use super::objects::{insert_row, lock_key, note_crc32c};
use super::rows::{object_from_row, OBJECT_COLUMNS};
use super::{transact, PgIndex};
use crate::error::{Result, StorageError};
use crate::events::{EventName, Requester};
use crate::meta::{NewBody, ReplicationIndex};
use crate::model::{Body, ObjectRecord, ReplicaOf, Versioning};
use crate::objects::{NewObject, Stored};
use crate::replication::{
    local_replica, marker_replica, newer_than_replica, remote_replica, resync_bucket, resync_wants, OutboxItem, ReplicatedVersion, Replicated,
    ReplicationOutcome, ReplicationRoute, ReplicationStatus, ResyncCursor, ResyncStep, REPLICATE_KIND, RESYNC_CURSOR_PREFIX,
};
use crate::tiers::TierSet;
use crate::{now_ms, ROUTES_KIND};
use std::sync::Arc;
use super::GenericClient;

/// The outbox kind of a row queued by a resync (its delivery asks the target first).
const RESYNC_KIND: &str = "resync";

/// How long a row handed out by `due_replications` stays with its node: longer than a batch of
/// deliveries may take, so a slow node does not see its rows sent by another meanwhile.
pub(crate) const CLAIM_MS: i64 = 300_000;

/// Makes the replication rows node `node` had claimed due at once: called when the node first
/// asks for due rows after it started, so what it was sending when it stopped (a crash,
/// `kill -9`) goes out now, not `CLAIM_MS` later. (A row it had put back for a later retry may
/// go out early once.)
async fn release_claims(c: &impl GenericClient, node: &str) -> Result<()> {
    c.execute(
        "UPDATE outbox SET due_ms = $2, claimed_by = NULL WHERE claimed_by = $1 AND due_ms > $2",
        &[&node, &now_ms()],
    )
    .await?;
    Ok(())
}

#[async_trait::async_trait]
impl ReplicationIndex for PgIndex {
    async fn put_replica(&self, bucket_id: i64, new: NewObject, body: NewBody, of: ReplicaOf, tiers: Arc<TierSet>) -> Result<ObjectRecord> {
        transact!(self, |tx| {
            require_versioning(&*tx, bucket_id).await?;
            lock_key(&*tx, bucket_id, &new.key).await?;
            let record = match find_version(&*tx, bucket_id, &new.key, Some(&of.version_id), false).await? {
                Some((_, rec, _)) => rec,
                None => {
                    let stored = Stored { size: body.size, etag: &of.etag, body: &body.body, tier: None };
                    insert_replica(&*tx, remote_replica(bucket_id, &new, &stored, &of, &tiers), Some(&body.body)).await?
                }
            };
            note_crc32c(&*tx, &body.body, body.crc32c).await?;
            record
        })
    }

    async fn replication_status(&self, bucket_id: i64) -> Result<ReplicationStatus> {
        transact!(self, |tx| {
            // One snapshot for the counts and the outbox.
            tx.batch_execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY").await?;
            let mut status = ReplicationStatus::default();
            let rows = tx
                .query(
                    "SELECT replication, count(*), COALESCE(SUM(size), 0)::bigint FROM objects
                     WHERE bucket_id = $1 AND replication IS NOT NULL GROUP BY replication",
                    &[&bucket_id],
                )
                .await?;
            for r in rows {
                let (n, bytes) = (r.get::<_, i64>(1) as u64, r.get::<_, i64>(2) as u64);
                match r.get::<_, &str>(0) {
                    "PENDING" => (status.pending, status.pending_bytes) = (n, bytes),
                    "FAILED" => (status.failed, status.failed_bytes) = (n, bytes),
                    "COMPLETED" => status.completed = n,
                    _ => {}
                }
            }
            let head = tx
                .query_one(
                    "SELECT MIN(created_ms), (SELECT last_error FROM outbox WHERE bucket_id = $1 AND last_error IS NOT NULL ORDER BY seq DESC LIMIT 1)
                     FROM outbox WHERE bucket_id = $1",
                    &[&bucket_id],
                )
                .await?;
            (status.oldest_pending_ms, status.last_error) = (head.get(0), head.get(1));
            status
        })
    }

    async fn due_replications(&self, now_ms: i64, limit: usize) -> Result<Vec<OutboxItem>> {
        let client = self.client().await?;
        if !self.claims_released.swap(true, std::sync::atomic::Ordering::AcqRel) {
            if let Err(e) = release_claims(&*client, &self.node).await {
                self.claims_released.store(false, std::sync::atomic::Ordering::Release);
                return Err(e);
            }
        }
        let rows = client
            .query(
                "WITH taken AS (
                    SELECT seq, due_ms FROM outbox WHERE kind IN ($1, $2) AND due_ms <= $3
                    ORDER BY due_ms, seq LIMIT $4 FOR UPDATE SKIP LOCKED)
                 UPDATE outbox o SET due_ms = $5, claimed_by = $6 FROM taken t WHERE o.seq = t.seq
                 RETURNING o.seq, o.bucket_id, o.key, o.version_id, o.target, o.attempts, o.kind, t.due_ms",
                &[&REPLICATE_KIND, &RESYNC_KIND, &now_ms, &(limit as i64), &(crate::now_ms() + CLAIM_MS), &self.node],
            )
            .await?;
        let mut items: Vec<(i64, OutboxItem)> = rows
            .iter()
            .map(|r| {
                let item = OutboxItem {
                    seq: r.get(0),
                    bucket_id: r.get(1),
                    key: String::from_utf8_lossy(r.get(2)).into_owned(),
                    version_id: r.get(3),
                    target: r.get(4),
                    attempts: r.get::<_, i64>(5) as u32,
                    check_first: r.get::<_, &str>(6) == RESYNC_KIND,
                };
                (r.get(7), item)
            })
            .collect();
        // RETURNING has no order: oldest due first, as taken.
        items.sort_by_key(|(due, item)| (*due, item.seq));
        Ok(items.into_iter().map(|(_, item)| item).collect())
    }

    async fn replication_backlog(&self) -> Result<u64> {
        Ok(self.client().await?.query_one("SELECT count(*) FROM outbox", &[]).await?.get::<_, i64>(0) as u64)
    }

    async fn retry_replication(&self, seq: i64, error: String, due_ms: i64) -> Result<()> {
        self.client()
            .await?
            .execute("UPDATE outbox SET attempts = attempts + 1, due_ms = $2, last_error = $3 WHERE seq = $1", &[&seq, &due_ms, &error])
            .await?;
        Ok(())
    }

    async fn fail_replication(&self, item: OutboxItem, error: String) -> Result<()> {
        transact!(self, |tx| {
            if let Some((_, rec, _)) = find_version(&*tx, item.bucket_id, &item.key, Some(&item.version_id), false).await? {
                super::events::record_version(&*tx, EventName::ReplicationOperationFailedReplication, &rec, &Requester::coffer()).await?;
            }
            finish(&*tx, &item, "FAILED", None, Some(&error)).await?;
        })
    }

    async fn complete_replication(&self, item: OutboxItem, remote_version_id: Option<String>) -> Result<()> {
        transact!(self, |tx| finish(&*tx, &item, "COMPLETED", remote_version_id.as_deref(), None).await?)
    }

    async fn replicated_versions(&self, bucket_id: i64, after: Option<(String, String)>, limit: usize) -> Result<Vec<ReplicatedVersion>> {
        let (key, version) = after.unwrap_or_default();
        // Version ids compare as bytes (COLLATE "C"), as SQLite compares them.
        let rows = self
            .client()
            .await?
            .query(
                "SELECT o.key, o.version_id, o.replication, r.target, r.remote_version_id, r.error
                 FROM objects o LEFT JOIN replication_outcomes r
                   ON r.bucket_id = o.bucket_id AND r.key = o.key AND r.version_id = o.version_id
                 WHERE o.bucket_id = $1 AND o.replication IS NOT NULL
                   AND (o.key > $2 OR (o.key = $2 AND o.version_id COLLATE \"C\" > $3))
                 ORDER BY o.key, o.version_id COLLATE \"C\" LIMIT $4",
                &[&bucket_id, &key.as_bytes(), &version, &(limit as i64)],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| {
                let target: Option<String> = r.get(3);
                ReplicatedVersion {
                    key: String::from_utf8_lossy(r.get(0)).into_owned(),
                    version_id: r.get(1),
                    status: r.get(2),
                    outcome: target.is_some().then(|| ReplicationOutcome { remote_version_id: r.get(4), error: r.get(5) }),
                    target,
                }
            })
            .collect())
    }

    async fn forget_replication(&self, seq: i64) -> Result<()> {
        forget_row(&*self.client().await?, seq).await
    }

    async fn replication_outcome(&self, bucket_id: i64, key: &str, version_id: &str, target: &str) -> Result<Option<ReplicationOutcome>> {
        let row = self
            .client()
            .await?
            .query_opt(
                "SELECT remote_version_id, error FROM replication_outcomes WHERE bucket_id = $1 AND key = $2 AND version_id = $3 AND target = $4",
                &[&bucket_id, &key.as_bytes(), &version_id, &target],
            )
            .await?;
        Ok(row.map(|r| ReplicationOutcome { remote_version_id: r.get(0), error: r.get(1) }))
    }

    async fn replicate_here(&self, item: OutboxItem, dest_bucket_id: i64) -> Result<Replicated> {
        transact!(self, |tx| replicate_here(&*tx, &item, dest_bucket_id).await?)
    }

    async fn put_marker_replica(&self, bucket_id: i64, key: &str, of: ReplicaOf) -> Result<ObjectRecord> {
        transact!(self, |tx| {
            require_versioning(&*tx, bucket_id).await?;
            lock_key(&*tx, bucket_id, key).await?;
            match find_version(&*tx, bucket_id, key, Some(&of.version_id), false).await? {
                Some((_, rec, _)) => rec,
                None => insert_replica(&*tx, marker_replica(bucket_id, key, &of), None).await?,
            }
        })
    }

    async fn resync_step(&self, limit: usize) -> Result<Option<ResyncStep>> {
        transact!(self, |tx| resync_step(&*tx, limit).await?)
    }
}

/// Queues `rec` (just written, not a replica) if a route of its bucket takes it, and marks it
/// PENDING, inside the transaction that wrote it. Returns its replication status.
pub(crate) async fn enqueue_new(c: &impl GenericClient, rec: &ObjectRecord) -> Result<Option<String>> {
    let Some(route) = routes_of(c, rec.bucket_id).await?.into_iter().find(|r| r.takes(rec)) else { return Ok(None) };
    queue(c, rec, &route.target, REPLICATE_KIND).await?;
    Ok(Some("PENDING".into()))
}

/// A bucket's routes, read in the caller's transaction.
async fn routes_of(c: &impl GenericClient, bucket_id: i64) -> Result<Vec<ReplicationRoute>> {
    let doc = c.query_opt("SELECT document FROM bucket_configs WHERE bucket_id = $1 AND kind = $2", &[&bucket_id, &ROUTES_KIND]).await?;
    Ok(match doc {
        Some(row) => serde_json::from_str(row.get(0))?,
        None => Vec::new(),
    })
}

/// An outbox row of `kind` for `rec` and the status PENDING.
async fn queue(c: &impl GenericClient, rec: &ObjectRecord, target: &str, kind: &str) -> Result<()> {
    c.execute(
        "INSERT INTO outbox (kind, bucket_id, key, version_id, target, created_ms, due_ms) VALUES ($1, $2, $3, $4, $5, $6, $6)",
        &[&kind, &rec.bucket_id, &rec.key.as_bytes(), &rec.version_id, &target, &now_ms()],
    )
    .await?;
    set_status(c, rec.bucket_id, &rec.key, &rec.version_id, "PENDING").await
}

async fn set_status(c: &impl GenericClient, bucket_id: i64, key: &str, version_id: &str, status: &str) -> Result<()> {
    c.execute(
        "UPDATE objects SET replication = $4 WHERE bucket_id = $1 AND key = $2 AND version_id = $3",
        &[&bucket_id, &key.as_bytes(), &version_id, &status],
    )
    .await?;
    Ok(())
}

async fn forget_row(c: &impl GenericClient, seq: i64) -> Result<()> {
    c.execute("DELETE FROM outbox WHERE seq = $1", &[&seq]).await?;
    Ok(())
}

/// Marks the source version `status`, keeps the outcome (if the version still exists) and
/// removes the outbox row.
async fn finish(c: &impl GenericClient, item: &OutboxItem, status: &str, remote_version_id: Option<&str>, error: Option<&str>) -> Result<()> {
    set_status(c, item.bucket_id, &item.key, &item.version_id, status).await?;
    c.execute(
        "INSERT INTO replication_outcomes (bucket_id, key, version_id, target, remote_version_id, error, done_ms)
         SELECT $1, $2, $3, $4, $5, $6, $7 WHERE EXISTS (SELECT 1 FROM objects WHERE bucket_id = $1 AND key = $2 AND version_id = $3)
         ON CONFLICT (bucket_id, key, version_id, target)
         DO UPDATE SET remote_version_id = excluded.remote_version_id, error = excluded.error, done_ms = excluded.done_ms",
        &[&item.bucket_id, &item.key.as_bytes(), &item.version_id, &item.target, &remote_version_id, &error, &now_ms()],
    )
    .await?;
    forget_row(c, item.seq).await
}

/// Writes the version of `item` into bucket `dest_bucket_id` here, sharing its bytes. Both keys
/// are locked (in (bucket, key) order), so the source cannot be removed, and its blobs
/// collected, while the replica takes references to them.
async fn replicate_here(c: &impl GenericClient, item: &OutboxItem, dest_bucket_id: i64) -> Result<Replicated> {
    let mut buckets = [item.bucket_id, dest_bucket_id];
    buckets.sort_unstable();
    for bucket_id in buckets {
        lock_key(c, bucket_id, &item.key).await?;
    }
    let Some((_, src, body)) = find_version(c, item.bucket_id, &item.key, Some(&item.version_id), false).await? else {
        forget_row(c, item.seq).await?;
        return Ok(Replicated::SourceGone);
    };
    require_versioning(c, dest_bucket_id).await?;
    if find_version(c, dest_bucket_id, &item.key, Some(&item.version_id), false).await?.is_none() {
        insert_replica(c, local_replica(&src, dest_bucket_id), (!src.delete_marker).then_some(&body)).await?;
        // A multipart source keeps its part list (partNumber reads, GetObjectAttributes).
        c.execute(
            "UPDATE objects SET parts = (SELECT parts FROM objects WHERE bucket_id = $1 AND key = $2 AND version_id = $3)
             WHERE bucket_id = $4 AND key = $2 AND version_id = $3",
            &[&src.bucket_id, &src.key.as_bytes(), &src.version_id, &dest_bucket_id],
        )
        .await?;
    }
    finish(c, item, "COMPLETED", None, None).await?;
    Ok(Replicated::Done)
}

/// Replicas keep their source's version ids, which only a versioned bucket has.
async fn require_versioning(c: &impl GenericClient, bucket_id: i64) -> Result<()> {
    match bucket_versioning(c, bucket_id).await? {
        Versioning::Enabled => Ok(()),
        _ => Err(StorageError::Replication("the destination bucket does not have versioning enabled".into())),
    }
}

/// Inserts `replica` (its own version id and time already set), under the lock of its key; it
/// becomes the latest version unless the bucket has a newer one. Returns it as inserted.
async fn insert_replica(c: &impl GenericClient, mut replica: ObjectRecord, body: Option<&Body>) -> Result<ObjectRecord> {
    let current = c
        .query_opt(
            "SELECT seq, version_id, modified_ms FROM objects WHERE bucket_id = $1 AND key = $2 AND is_latest",
            &[&replica.bucket_id, &replica.key.as_bytes()],
        )
        .await?
        .map(|r| (r.get::<_, i64>(0), r.get::<_, String>(1), r.get::<_, i64>(2)));
    let newer_there = current.as_ref().is_some_and(|(_, v, _)| newer_than_replica(v, &replica.version_id));
    if let (Some((seq, _, _)), false) = (&current, newer_there) {
        c.execute("UPDATE objects SET is_latest = false, noncurrent_ms = $2 WHERE seq = $1", &[seq, &replica.modified_ms]).await?;
    }
    replica.is_latest = !newer_there;
    insert_row(c, &replica, body).await?;
    if let (true, Some((_, _, newer_ms))) = (newer_there, current) {
        c.execute(
            "UPDATE objects SET noncurrent_ms = $4 WHERE bucket_id = $1 AND key = $2 AND version_id = $3",
            &[&replica.bucket_id, &replica.key.as_bytes(), &replica.version_id, &newer_ms],
        )
        .await?;
    }
    Ok(replica)
}

/// One step of the longest-idle resync no other node is stepping (its cursor row is locked for
/// the step; see `ReplicationIndex::resync_step`).
async fn resync_step(c: &impl GenericClient, limit: usize) -> Result<Option<ResyncStep>> {
    let running = c
        .query_opt(
            "SELECT worker, cursor FROM worker_cursors WHERE starts_with(worker, $1) ORDER BY updated_ms LIMIT 1 FOR UPDATE SKIP LOCKED",
            &[&RESYNC_CURSOR_PREFIX],
        )
        .await?;
    let Some(running) = running else { return Ok(None) };
    let name: &str = running.get(0);
    let Some(bucket_id) = resync_bucket(name) else {
        save_resync(c, name, None).await?;
        return Ok(None);
    };
    let mut cursor: ResyncCursor = serde_json::from_str(running.get(1)).unwrap_or_default();
    let routes = routes_of(c, bucket_id).await?;
    let (key, version) = cursor.after.clone().unwrap_or_default();
    let page = c
        .query(
            &format!(
                "SELECT {OBJECT_COLUMNS} FROM objects WHERE bucket_id = $1 AND (key > $2 OR (key = $2 AND version_id COLLATE \"C\" > $3))
                 ORDER BY key, version_id COLLATE \"C\" LIMIT $4"
            ),
            &[&bucket_id, &key.as_bytes(), &version, &(limit as i64)],
        )
        .await?;
    let page: Vec<ObjectRecord> = page.iter().map(object_from_row).collect();
    let mut queued = 0;
    for rec in &page {
        if let (true, Some(route)) = (resync_wants(rec, cursor.failed_only), routes.iter().find(|r| r.takes(rec))) {
            queue(c, rec, &route.target, RESYNC_KIND).await?;
            queued += 1;
        }
    }
    let finished = page.len() < limit || routes.is_empty();
    match (finished, page.last()) {
        (false, Some(last)) => {
            cursor.after = Some((last.key.clone(), last.version_id.clone()));
            save_resync(c, name, Some(&serde_json::to_string(&cursor)?)).await?;
        }
        _ => save_resync(c, name, None).await?,
    }
    Ok(Some(ResyncStep { bucket_id, walked: page.len(), queued, finished }))
}

/// Advances the locked resync cursor `name`, or forgets it (None) when its walk is over.
async fn save_resync(c: &impl GenericClient, name: &str, cursor: Option<&str>) -> Result<()> {
    match cursor {
        Some(cursor) => c.execute("UPDATE worker_cursors SET cursor = $2, updated_ms = $3 WHERE worker = $1", &[&name, &cursor, &now_ms()]).await?,
        None => c.execute("DELETE FROM worker_cursors WHERE worker = $1", &[&name]).await?,
    };
    Ok(())
}
