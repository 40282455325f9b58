//! Returns the index's freed space to the file system: a step cuts a few megabytes of free
//! pages off the index file (in the writer's ordinary transactions), until none are left, then
//! waits. Deleting many objects makes the file shrink within minutes instead of never.

use super::{Step, Worker, WorkerError};
use coffer_storage::Store;
use std::time::Duration;

/// How often freed space is looked for once none is left.
const INTERVAL: Duration = Duration::from_secs(30);
/// Pages returned per step (4 KiB each): small, so writers queued behind a step wait little.
const PAGES_PER_STEP: u32 = 1024;

pub struct IndexSpace {
    store: Store,
}

impl IndexSpace {
    pub fn new(store: Store) -> IndexSpace {
        IndexSpace { store }
    }
}

impl Worker for IndexSpace {
    fn name(&self) -> &'static str {
        "index-space"
    }

    fn idle_interval(&self) -> Duration {
        INTERVAL
    }

    async fn step(&mut self) -> Result<Step, WorkerError> {
        let returned = self.store.reclaim_index_space(PAGES_PER_STEP).await?;
        Ok(if returned > 0 { Step::More(returned) } else { Step::Idle(0) })
    }
}
