//! Event notification targets and the outbox of events queued for them.
//! The contract a metadata store implements for them; `crate::sqlite::events` is SQLite's.
//!
//! Events themselves are queued inside the transaction of the change they announce (a version
//! written, removed, restored...), by that change's own operation: see `crate::events::Change`
//! and `crate::events::routes_taking`, which every backend applies the same way.

use crate::error::Result;
use crate::events::{NotifyTarget, QueuedEvent, TargetStatus};

#[async_trait::async_trait]
pub trait EventIndex {
    /// The oldest events queued for `target`, in commit order (by row number), at most `limit`.
    async fn queued_events(&self, target: &str, limit: usize) -> Result<Vec<QueuedEvent>>;

    /// `target` has every event queued for it up to row `through_seq`: in one transaction they
    /// leave the queue and move from the target's `queued` counter to its `delivered` one.
    /// Returns how many left.
    async fn events_delivered(&self, target: &str, through_seq: i64) -> Result<u64>;

    /// A delivery of event row `seq` failed: counts the attempt and keeps `error` on the row,
    /// which stays first in its queue. A row that is gone is no error.
    async fn event_delivery_failed(&self, seq: i64, error: String) -> Result<()>;

    /// Registers `target` (already validated), or changes the one of that name, keeping its
    /// queue and counters. Returns whether it existed.
    async fn put_notify_target(&self, target: NotifyTarget, sealed_secret: Option<Vec<u8>>) -> Result<bool>;

    /// Every registered target, by name, with its sealed secret.
    async fn notify_targets(&self) -> Result<Vec<(NotifyTarget, Option<Vec<u8>>)>>;

    /// Every target, by name, with its counters and the head of its queue, read together.
    async fn notify_status(&self) -> Result<Vec<TargetStatus>>;

    /// Unregisters target `name` and drops its queue, in one transaction that first checks no
    /// bucket's notification routes name it (`NotifyError::InUse`, listing those buckets).
    /// `NotifyError::Missing` when there is no such target.
    async fn remove_notify_target(&self, name: &str) -> Result<()>;
}
