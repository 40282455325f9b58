//! The replication worker: drains the outbox's replication rows (written in the commit of each
//! version a rule takes), oldest due first. A replica on this server is written by the storage
//! layer in one transaction with the source's COMPLETED status; a destination that cannot take
//! it (missing, versioning off) fails the row for good with its reason (FAILED); other errors
//! retry with backoff, for as long as it takes. Remote destinations are not built yet: their
//! rows stay PENDING and are retried.

use super::{Step, Worker, WorkerError};
use crate::bucket_config::replication::Target;
use coffer_storage::{OutboxItem, Replicated, Store, StorageError};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

const BATCH: usize = 64;
/// Backoff of a retried row: doubling from 1 s, at most 10 minutes.
const MAX_RETRY_MS: i64 = 600_000;

/// What the worker has done since the server started.
#[derive(Debug, Default)]
pub struct ReplicationCounters {
    pub replicated: AtomicU64,
    pub failed: AtomicU64,
    pub retried: AtomicU64,
}

pub struct ReplicationWorker {
    store: Store,
    counters: Arc<ReplicationCounters>,
}

impl ReplicationWorker {
    pub fn new(store: Store) -> ReplicationWorker {
        ReplicationWorker { store, counters: Arc::default() }
    }

    pub fn counters(&self) -> Arc<ReplicationCounters> {
        self.counters.clone()
    }

    async fn replicate(&self, item: &OutboxItem) -> Result<(), StorageError> {
        let target = match Target::parse(&item.target) {
            Ok(t) => t,
            Err(e) => return self.store.fail_replication(item, e.message.clone()).await,
        };
        let outcome = match target {
            Target::Local { bucket } => match self.store.bucket(&bucket).await {
                Ok(dest) => self.store.replicate_here(item, dest.id).await,
                Err(e) => Err(e),
            },
            Target::Remote { remote, .. } => Err(StorageError::Io(std::io::Error::other(format!(
                "replication to remote {remote} is not built yet; the version stays PENDING"
            )))),
        };
        match outcome {
            Ok(Replicated::Done) => {
                self.counters.replicated.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Ok(Replicated::SourceGone) => Ok(()),
            Err(StorageError::Closed) => Err(StorageError::Closed),
            Err(e @ (StorageError::NoSuchBucket | StorageError::Replication(_))) => {
                self.counters.failed.fetch_add(1, Ordering::Relaxed);
                self.store.fail_replication(item, e.to_string()).await
            }
            Err(e) => {
                self.counters.retried.fetch_add(1, Ordering::Relaxed);
                let wait = 1000i64.saturating_mul(1 << item.attempts.min(20)).min(MAX_RETRY_MS);
                self.store.retry_replication(item.seq, e.to_string(), coffer_storage::now_ms() + wait).await
            }
        }
    }
}


impl Worker for ReplicationWorker {
    fn name(&self) -> &'static str {
        "replication"
    }

    fn idle_interval(&self) -> Duration {
        Duration::from_millis(200)
    }

    async fn step(&mut self) -> Result<Step, WorkerError> {
        let due = self.store.due_replications(coffer_storage::now_ms(), BATCH).await?;
        let n = due.len() as u64;
        for item in &due {
            self.replicate(item).await?;
        }
        Ok(if due.len() == BATCH { Step::More(n) } else { Step::Idle(n) })
    }
}
