//! The blob garbage collector: removes blobs whose reference count fell to zero, a batch per
//! step, and then waits a while. Due blobs are found by an index on the count, never a walk.

use super::{Step, Waiting, Worker, WorkerError};
use coffer_storage::Store;
use std::time::Duration;

pub struct GarbageCollector {
    store: Store,
    /// How often unreferenced blobs are looked for once none are left (`--gc-interval`).
    interval: Duration,
}

impl GarbageCollector {
    pub fn new(store: Store, interval: Duration) -> GarbageCollector {
        GarbageCollector { store, interval }
    }
}

impl Worker for GarbageCollector {
    fn name(&self) -> &'static str {
        "gc"
    }

    fn backlog(b: &coffer_storage::Backlogs) -> Option<Waiting> {
        Some(Waiting { items: b.gc_blobs, oldest_ms: None })
    }

    fn idle_interval(&self) -> Duration {
        self.interval
    }

    async fn step(&mut self) -> Result<Step, WorkerError> {
        let removed = self.store.collect_garbage().await? as u64;
        Ok(if removed > 0 { Step::More(removed) } else { Step::Idle(0) })
    }
}
