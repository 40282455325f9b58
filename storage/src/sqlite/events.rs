//! SQLite's EventIndex: event notification targets and the outbox of events queued for them,
//! and `record`, which queues an event inside the transaction of another domain's change.

use super::SqliteIndex;
use crate::error::{NotifyError, Result};
use crate::events::{buckets_naming, note_dropped, Change, EventFacts, EventName, NotifyTarget, QueuedEvent, Requester, TargetStatus, NOTIFY_ROUTES_KIND};
use crate::meta::EventIndex;
use crate::model::ObjectRecord;
use crate::now_ms;
use rusqlite::{params, Connection, OptionalExtension};

#[async_trait::async_trait]
impl EventIndex for SqliteIndex {
    async fn queued_events(&self, target: &str, limit: usize) -> Result<Vec<QueuedEvent>> {
        let target = target.to_string();
        self.readers
            .read(move |c| {
                let mut stmt = c.prepare_cached("SELECT seq, event, attempts FROM notify_queue WHERE target = ?1 ORDER BY seq LIMIT ?2")?;
                let rows = stmt.query_map(params![target, limit as i64], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, u32>(2)?)))?;
                let mut out = Vec::new();
                for row in rows {
                    let (seq, event, attempts) = row?;
                    out.push(QueuedEvent { seq, facts: serde_json::from_str(&event)?, attempts });
                }
                Ok(out)
            })
            .await
    }

    async fn events_delivered(&self, target: &str, through_seq: i64) -> Result<u64> {
        let target = target.to_string();
        self.writer
            .write(move |c| {
                let n = c.prepare_cached("DELETE FROM notify_queue WHERE target = ?1 AND seq <= ?2")?.execute(params![target, through_seq])?;
                c.prepare_cached("UPDATE notify_targets SET queued = MAX(queued - ?2, 0), delivered = delivered + ?2 WHERE name = ?1")?
                    .execute(params![target, n as i64])?;
                Ok(n as u64)
            })
            .await
    }

    async fn event_delivery_failed(&self, seq: i64, error: String) -> Result<()> {
        self.writer
            .write(move |c| {
                c.prepare_cached("UPDATE notify_queue SET attempts = attempts + 1, last_error = ?2 WHERE seq = ?1")?.execute(params![seq, error])?;
                Ok(())
            })
            .await
    }

    async fn put_notify_target(&self, target: NotifyTarget, sealed_secret: Option<Vec<u8>>) -> Result<bool> {
        self.writer
            .write(move |c| {
                let spec = serde_json::to_string(&target.kind)?;
                let changed = c
                    .prepare_cached("UPDATE notify_targets SET spec = ?2, secret = ?3, max_backlog = ?4 WHERE name = ?1")?
                    .execute(params![target.name, spec, sealed_secret, target.max_backlog as i64])?;
                if changed == 0 {
                    c.prepare_cached("INSERT INTO notify_targets (name, spec, secret, max_backlog, created_ms) VALUES (?1, ?2, ?3, ?4, ?5)")?
                        .execute(params![target.name, spec, sealed_secret, target.max_backlog as i64, now_ms()])?;
                }
                Ok(changed > 0)
            })
            .await
    }

    async fn notify_targets(&self) -> Result<Vec<(NotifyTarget, Option<Vec<u8>>)>> {
        self.readers.read(targets).await
    }

    async fn notify_status(&self) -> Result<Vec<TargetStatus>> {
        self.readers
            .read(|c| {
                let targets = targets(c)?;
                let mut out = Vec::with_capacity(targets.len());
                for (target, _) in targets {
                    let (queued, delivered, dropped): (i64, i64, i64) = c
                        .prepare_cached("SELECT queued, delivered, dropped FROM notify_targets WHERE name = ?1")?
                        .query_row([&target.name], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
                    let head: Option<(i64, u32, Option<String>)> = c
                        .prepare_cached("SELECT created_ms, attempts, last_error FROM notify_queue WHERE target = ?1 ORDER BY seq LIMIT 1")?
                        .query_row([&target.name], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                        .optional()?;
                    let (oldest_ms, attempts, last_error) = match head {
                        Some((ms, attempts, error)) => (Some(ms), attempts, error),
                        None => (None, 0, None),
                    };
                    out.push(TargetStatus {
                        target,
                        queued: queued as u64,
                        delivered: delivered as u64,
                        dropped: dropped as u64,
                        oldest_ms,
                        attempts,
                        last_error,
                    });
                }
                Ok(out)
            })
            .await
    }

    async fn remove_notify_target(&self, name: &str) -> Result<()> {
        let name = name.to_string();
        self.writer
            .write(move |c| {
                let mut stmt = c.prepare_cached(
                    "SELECT b.name, d.document FROM bucket_configs d JOIN buckets b ON b.id = d.bucket_id WHERE d.kind = ?1 ORDER BY b.name",
                )?;
                let docs = stmt.query_map([NOTIFY_ROUTES_KIND], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
                let users = buckets_naming(docs.collect::<rusqlite::Result<_>>()?, &name)?;
                if !users.is_empty() {
                    return Err(NotifyError::InUse { name, buckets: users.join(", ") }.into());
                }
                if c.prepare_cached("DELETE FROM notify_targets WHERE name = ?1")?.execute([&name])? == 0 {
                    return Err(NotifyError::Missing(name).into());
                }
                c.prepare_cached("DELETE FROM notify_queue WHERE target = ?1")?.execute([&name])?;
                Ok(())
            })
            .await
    }
}

/// Every registered target, by name, with its sealed secret.
fn targets(c: &Connection) -> Result<Vec<(NotifyTarget, Option<Vec<u8>>)>> {
    let mut stmt = c.prepare_cached("SELECT name, spec, max_backlog, secret FROM notify_targets ORDER BY name")?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, i64>(2)?, r.get(3)?)))?;
    let mut out = Vec::new();
    for row in rows {
        let (name, spec, max_backlog, secret) = row?;
        out.push((NotifyTarget { name, kind: serde_json::from_str(&spec)?, max_backlog: max_backlog as u64 }, secret));
    }
    Ok(out)
}

/// Queues `change` for every route of its bucket that takes it. Runs inside the transaction of
/// the change; a bucket without routes costs one indexed read.
pub(crate) fn record(c: &Connection, change: &Change) -> Result<()> {
    let doc: Option<String> = c
        .prepare_cached("SELECT document FROM bucket_configs WHERE bucket_id = ?1 AND kind = ?2")?
        .query_row(params![change.bucket_id, NOTIFY_ROUTES_KIND], |r| r.get(0))
        .optional()?;
    let Some(doc) = doc else { return Ok(()) };
    let taking = crate::events::routes_taking(&doc, change)?;
    if taking.is_empty() {
        return Ok(());
    }
    let bucket: Option<(String, String, String)> = c
        .prepare_cached("SELECT name, owner_id, region FROM buckets WHERE id = ?1")?
        .query_row([change.bucket_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?;
    let Some((bucket, bucket_owner, region)) = bucket else { return Ok(()) };
    let mut facts = EventFacts::of_change(change, bucket, bucket_owner, region);
    for route in taking {
        facts.config_id = route.config_id;
        push(c, &route.target, &facts)?;
    }
    Ok(())
}

/// Queues the event `event` about version `rec`, inside the transaction that changed it.
pub(crate) fn record_version(c: &Connection, event: EventName, rec: &ObjectRecord, requester: &Requester) -> Result<()> {
    record(c, &Change::of_version(event, rec, requester))
}

/// Queues `facts` for `target` unless its backlog is full (then the drop is counted). An event
/// for a target that no longer exists is dropped quietly: its configuration is stale.
fn push(c: &Connection, target: &str, facts: &EventFacts) -> Result<bool> {
    let room = c
        .prepare_cached("UPDATE notify_targets SET queued = queued + 1 WHERE name = ?1 AND queued < max_backlog")?
        .execute([target])?;
    if room == 1 {
        c.prepare_cached("INSERT INTO notify_queue (target, event, created_ms) VALUES (?1, ?2, ?3)")?
            .execute(params![target, serde_json::to_string(facts)?, now_ms()])?;
        return Ok(true);
    }
    let dropped: Option<(i64, i64)> = c
        .prepare_cached("UPDATE notify_targets SET dropped = dropped + 1 WHERE name = ?1 RETURNING dropped, max_backlog")?
        .query_row([target], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    note_dropped(target, dropped, facts);
    Ok(false)
}
