//! The notification queue: rows written in the commit of a change (at most the target's
//! backlog bound; past it the event is dropped and counted on the target), read by the notify
//! worker in commit order per target, and deleted once the target has them.

use super::EventFacts;
use crate::error::Result;
use crate::Store;

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

/// Logs an event dropped for `target`: `dropped` is the target's drop count and backlog bound
/// after this drop, None when no such target is registered (its configuration is stale, so
/// the drop is quiet). Warns on the first drop and every `WARN_EVERY` after.
pub(crate) fn note_dropped(target: &str, dropped: Option<(i64, i64)>, facts: &EventFacts) {
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
}

impl Store {
    /// The oldest events queued for `target`, in commit order, at most `limit`.
    pub async fn queued_events(&self, target: &str, limit: usize) -> Result<Vec<QueuedEvent>> {
        self.index().queued_events(target, limit).await
    }

    /// `target` has every event queued for it up to row `through_seq`: they leave the queue
    /// and count as delivered. Returns how many left.
    pub async fn events_delivered(&self, target: &str, through_seq: i64) -> Result<u64> {
        self.index().events_delivered(target, through_seq).await
    }

    /// A delivery of event row `seq` failed: it stays first in its target's queue, with the
    /// attempt and the error kept for `coffer admin notify list`.
    pub async fn event_delivery_failed(&self, seq: i64, error: String) -> Result<()> {
        self.index().event_delivery_failed(seq, error).await
    }
}
