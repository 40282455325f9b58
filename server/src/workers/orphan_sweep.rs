//! The start-up orphan sweep: removes blob files the index has no row for (a crash after a
//! blob was published but before its object was committed). It runs once per start.

use super::{Step, Worker, WorkerError};
use coffer_storage::Store;
use std::time::Duration;

pub struct OrphanSweep {
    store: Store,
}

impl OrphanSweep {
    pub fn new(store: Store) -> OrphanSweep {
        OrphanSweep { store }
    }
}

impl Worker for OrphanSweep {
    fn name(&self) -> &'static str {
        "orphan-sweep"
    }

    fn idle_interval(&self) -> Duration {
        Duration::ZERO
    }

    async fn step(&mut self) -> Result<Step, WorkerError> {
        let removed = self.store.sweep_orphans().await? as u64;
        if removed > 0 {
            tracing::info!("removed {removed} orphaned blob files");
        }
        Ok(Step::Done(removed))
    }
}
