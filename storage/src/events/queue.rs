//! The notification queue: rows written in the commit of a change (at most the target's
//! backlog bound; past it the event is dropped and counted on the target), read by the notify
//! worker in commit order per target, and deleted once the target has them.

use super::EventFacts;
use crate::error::Result;
use crate::{now_ms, Store};
use rusqlite::{params, Connection, OptionalExtension};

/// One queued event: its row number (the record's sequencer) and what it says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueuedEvent {
    pub seq: i64,
    pub facts: EventFacts,
    /// Failed deliveries of it so far.
    pub attempts: u32,
}

/// How many drops between two warnings about the same target.
const WARN_EVERY: i64 = 1000;

/// Queues `facts` for `target` unless its backlog is full (then the drop is counted). An event
/// for a target that no longer exists is dropped quietly: its configuration is stale.
pub(super) fn push(c: &Connection, target: &str, facts: &EventFacts) -> Result<bool> {
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
    match dropped {
        Some((dropped, bound)) if dropped == 1 || dropped % WARN_EVERY == 0 => tracing::warn!(
            target_name = target,
            dropped,
            "notification backlog of target {target} is full ({bound} events): event {} of {} dropped ({dropped} dropped so far)",
            facts.name.as_str(),
            facts.key
        ),
        Some(_) => {}
        None => tracing::debug!(target_name = target, "event for unregistered notification target {target} dropped"),
    }
    Ok(false)
}

impl Store {
    /// The oldest events queued for `target`, in commit order, at most `limit`.
    pub async fn queued_events(&self, target: &str, limit: usize) -> Result<Vec<QueuedEvent>> {
        let target = target.to_string();
        self.readers()
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

    /// `target` has every event queued for it up to row `through_seq`: they leave the queue
    /// and count as delivered. Returns how many left.
    pub async fn events_delivered(&self, target: &str, through_seq: i64) -> Result<u64> {
        let target = target.to_string();
        self.writer()
            .write(move |c| {
                let n = c.prepare_cached("DELETE FROM notify_queue WHERE target = ?1 AND seq <= ?2")?.execute(params![target, through_seq])?;
                c.prepare_cached("UPDATE notify_targets SET queued = MAX(queued - ?2, 0), delivered = delivered + ?2 WHERE name = ?1")?
                    .execute(params![target, n as i64])?;
                Ok(n as u64)
            })
            .await
    }

    /// A delivery of event row `seq` failed: it stays first in its target's queue, with the
    /// attempt and the error kept for `coffer admin notify list`.
    pub async fn event_delivery_failed(&self, seq: i64, error: String) -> Result<()> {
        self.writer()
            .write(move |c| {
                c.prepare_cached("UPDATE notify_queue SET attempts = attempts + 1, last_error = ?2 WHERE seq = ?1")?.execute(params![seq, error])?;
                Ok(())
            })
            .await
    }
}
