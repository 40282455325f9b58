//! PostgreSQL's EventIndex: event notification targets and the outbox of events queued for them,
//! and `record`, which queues an event inside the transaction of another domain's change.
//!
//! Nodes share the queues. A target's queue is read by one node at a time, the holder of the
//! target's lease (`notify_leases`): `queued_events` takes or renews it and hands another node
//! nothing while it is held, so no event goes out twice at once; a node that stops delivering
//! loses the lease `LEASE_MS` after its last read and another node goes on from the queue's head.

use super::{transact, PgIndex};
use crate::error::{NotifyError, Result};
use crate::events::{buckets_naming, note_dropped, Change, EventFacts, EventName, NotifyTarget, QueuedEvent, Requester, TargetStatus, NOTIFY_ROUTES_KIND};
use crate::meta::EventIndex;
use crate::model::ObjectRecord;
use crate::now_ms;
use super::GenericClient;

/// How long a target's queue stays with the node that last read it. Longer than a send may
/// take (two 10 s timeouts), so a node still delivering a batch keeps it.
const LEASE_MS: i64 = 60_000;

#[async_trait::async_trait]
impl EventIndex for PgIndex {
    async fn queued_events(&self, target: &str, limit: usize) -> Result<Vec<QueuedEvent>> {
        let client = self.client().await?;
        if !take_lease(&*client, target, &self.node).await? {
            return Ok(Vec::new());
        }
        let rows = client
            .query("SELECT seq, event, attempts FROM notify_queue WHERE target = $1 ORDER BY seq LIMIT $2", &[&target, &(limit as i64)])
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            out.push(QueuedEvent { seq: r.get(0), facts: serde_json::from_str(r.get(1))?, attempts: r.get::<_, i64>(2) as u32 });
        }
        Ok(out)
    }

    async fn events_delivered(&self, target: &str, through_seq: i64) -> Result<u64> {
        transact!(self, |tx| {
            let n = tx.execute("DELETE FROM notify_queue WHERE target = $1 AND seq <= $2", &[&target, &through_seq]).await? as i64;
            tx.execute("UPDATE notify_targets SET queued = GREATEST(queued - $2, 0), delivered = delivered + $2 WHERE name = $1", &[&target, &n])
                .await?;
            n as u64
        })
    }

    async fn event_delivery_failed(&self, seq: i64, error: String) -> Result<()> {
        self.client().await?.execute("UPDATE notify_queue SET attempts = attempts + 1, last_error = $2 WHERE seq = $1", &[&seq, &error]).await?;
        Ok(())
    }

    async fn put_notify_target(&self, target: NotifyTarget, sealed_secret: Option<Vec<u8>>) -> Result<bool> {
        let spec = serde_json::to_string(&target.kind)?;
        // A row the upsert updated has the upserting transaction's id in xmax; a new one has 0.
        let row = self
            .client()
            .await?
            .query_one(
                "INSERT INTO notify_targets (name, spec, secret, max_backlog, created_ms) VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (name) DO UPDATE SET spec = excluded.spec, secret = excluded.secret, max_backlog = excluded.max_backlog
                 RETURNING xmax <> '0'::xid",
                &[&target.name, &spec, &sealed_secret, &(target.max_backlog as i64), &now_ms()],
            )
            .await?;
        Ok(row.get(0))
    }

    async fn notify_targets(&self) -> Result<Vec<(NotifyTarget, Option<Vec<u8>>)>> {
        let rows = self.client().await?.query("SELECT name, spec, max_backlog, secret FROM notify_targets ORDER BY name COLLATE \"C\"", &[]).await?;
        rows.iter().map(|r| Ok((target_from_row(r)?, r.get(3)))).collect()
    }

    async fn notify_status(&self) -> Result<Vec<TargetStatus>> {
        // One statement: the counters and the queues' heads are read together.
        let rows = self
            .client()
            .await?
            .query(
                "SELECT t.name, t.spec, t.max_backlog, t.queued, t.delivered, t.dropped, h.created_ms, h.attempts, h.last_error
                 FROM notify_targets t LEFT JOIN LATERAL (
                    SELECT created_ms, attempts, last_error FROM notify_queue q WHERE q.target = t.name ORDER BY seq LIMIT 1
                 ) h ON TRUE
                 ORDER BY t.name COLLATE \"C\"",
                &[],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(TargetStatus {
                    target: target_from_row(r)?,
                    queued: r.get::<_, i64>(3) as u64,
                    delivered: r.get::<_, i64>(4) as u64,
                    dropped: r.get::<_, i64>(5) as u64,
                    oldest_ms: r.get(6),
                    attempts: r.get::<_, Option<i64>>(7).unwrap_or(0) as u32,
                    last_error: r.get(8),
                })
            })
            .collect()
    }

    async fn remove_notify_target(&self, name: &str) -> Result<()> {
        transact!(self, |tx| {
            // SHARE waits for, then holds off, every change of bucket configurations, so no
            // bucket starts naming the target between the check and the delete.
            tx.batch_execute("LOCK TABLE bucket_configs IN SHARE MODE").await?;
            let docs = tx
                .query(
                    "SELECT b.name, d.document FROM bucket_configs d JOIN buckets b ON b.id = d.bucket_id WHERE d.kind = $1 ORDER BY b.name COLLATE \"C\"",
                    &[&NOTIFY_ROUTES_KIND],
                )
                .await?;
            let users = buckets_naming(docs.iter().map(|r| (r.get(0), r.get(1))).collect(), name)?;
            if !users.is_empty() {
                return Err(NotifyError::InUse { name: name.to_string(), buckets: users.join(", ") }.into());
            }
            if tx.execute("DELETE FROM notify_targets WHERE name = $1", &[&name]).await? == 0 {
                return Err(NotifyError::Missing(name.to_string()).into());
            }
            tx.execute("DELETE FROM notify_queue WHERE target = $1", &[&name]).await?;
            tx.execute("DELETE FROM notify_leases WHERE target = $1", &[&name]).await?;
        })
    }
}

/// Whether node `node` holds the lease of `target`'s queue now: it takes a lease that is free
/// or has run out, and renews its own once half of it has passed (so an idle poll rarely writes).
/// A target that is not registered has no lease (and no queue).
async fn take_lease(c: &impl GenericClient, target: &str, node: &str) -> Result<bool> {
    let now = now_ms();
    let held = c.query_opt("SELECT node, until_ms FROM notify_leases WHERE target = $1", &[&target]).await?;
    match held.map(|r| (r.get::<_, String>(0), r.get::<_, i64>(1))) {
        Some((holder, until)) if holder == node && until - now > LEASE_MS / 2 => return Ok(true),
        Some((holder, until)) if holder != node && until >= now => return Ok(false),
        _ => {}
    }
    // Two nodes taking a free lease at once: the upsert lets exactly one of them have it.
    let taken = c
        .query_opt(
            "INSERT INTO notify_leases (target, node, until_ms)
                SELECT $1, $2, $3 WHERE EXISTS (SELECT 1 FROM notify_targets WHERE name = $1)
             ON CONFLICT (target) DO UPDATE SET node = excluded.node, until_ms = excluded.until_ms
             WHERE notify_leases.node = excluded.node OR notify_leases.until_ms < $4
             RETURNING 1",
            &[&target, &node, &(now + LEASE_MS), &now],
        )
        .await?;
    Ok(taken.is_some())
}

/// A target from a row starting (name, spec, max_backlog).
fn target_from_row(r: &tokio_postgres::Row) -> Result<NotifyTarget> {
    Ok(NotifyTarget { name: r.get(0), kind: serde_json::from_str(r.get(1))?, max_backlog: r.get::<_, i64>(2) as u64 })
}

/// Queues `change` for every route of its bucket that takes it. Runs inside the transaction of
/// the change; a bucket without routes costs one indexed read.
pub(crate) async fn record(c: &impl GenericClient, change: &Change<'_>) -> Result<()> {
    let doc = c
        .query_opt("SELECT document FROM bucket_configs WHERE bucket_id = $1 AND kind = $2", &[&change.bucket_id, &NOTIFY_ROUTES_KIND])
        .await?;
    let Some(doc) = doc else { return Ok(()) };
    let mut taking = crate::events::routes_taking(doc.get(0), change)?;
    if taking.is_empty() {
        return Ok(());
    }
    let bucket = c.query_opt("SELECT name, owner_id, region FROM buckets WHERE id = $1", &[&change.bucket_id]).await?;
    let Some(bucket) = bucket else { return Ok(()) };
    let mut facts = EventFacts::of_change(change, bucket.get(0), bucket.get(1), bucket.get(2));
    // Target rows are locked in name order, so two changes never wait for each other in a cycle.
    taking.sort_by(|a, b| a.target.cmp(&b.target));
    for route in taking {
        facts.config_id = route.config_id;
        push(c, &route.target, &facts).await?;
    }
    Ok(())
}

/// Queues the event `event` about version `rec`, inside the transaction that changed it.
pub(crate) async fn record_version(c: &impl GenericClient, event: EventName, rec: &ObjectRecord, requester: &Requester) -> Result<()> {
    record(c, &Change::of_version(event, rec, requester)).await
}

/// Queues `facts` for `target` unless its backlog is full (then the drop is counted). An event
/// for a target that no longer exists is dropped quietly: its configuration is stale.
///
/// The counter update locks the target's row until the change commits, and the row number is
/// drawn after it: a target's queue is in commit order, so a reader never sees a later row
/// while an earlier one is still uncommitted (which `events_delivered` would then remove unsent).
async fn push(c: &impl GenericClient, target: &str, facts: &EventFacts) -> Result<bool> {
    let room = c.execute("UPDATE notify_targets SET queued = queued + 1 WHERE name = $1 AND queued < max_backlog", &[&target]).await?;
    if room == 1 {
        c.execute(
            "INSERT INTO notify_queue (target, event, created_ms) VALUES ($1, $2, $3)",
            &[&target, &serde_json::to_string(facts)?, &now_ms()],
        )
        .await?;
        return Ok(true);
    }
    let dropped = c.query_opt("UPDATE notify_targets SET dropped = dropped + 1 WHERE name = $1 RETURNING dropped, max_backlog", &[&target]).await?;
    note_dropped(target, dropped.map(|r| (r.get(0), r.get(1))), facts);
    Ok(false)
}
