//! The replication worker: drains the outbox's replication rows (written in the commit of each
//! version a rule takes), oldest due first. A replica on this server is written by the storage
//! layer in one transaction with the source's COMPLETED status; a version for a remote is sent
//! there (`crate::outbound`) and then marked COMPLETED with the version id it got. A
//! destination that cannot take a version (missing, versioning off, access denied) fails the
//! row for good with its reason (FAILED); other errors retry with backoff, for as long as it
//! takes. Once a target fails transiently, its other rows in the batch wait their turn too
//! rather than each waiting for a down endpoint. When the outbox has nothing due, a running
//! resync walks its next page of the bucket; what it queues is checked at the target first.

use super::{Step, Waiting, Worker, WorkerError};
use crate::bucket_config::replication::Target;
use crate::keys::data_keys::Keys;
use crate::outbound::{find_replica, push, PushError, Remotes, Source, WriteOptions};
use coffer_storage::{EncryptionMode, OutboxItem, Replicated, Store, StorageError};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

const BATCH: usize = 64;
/// Versions a resync step walks.
const RESYNC_PAGE: usize = 500;
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
    remotes: Remotes,
    keys: Arc<Keys>,
    counters: Arc<ReplicationCounters>,
}

/// What became of one row.
enum Outcome {
    /// Replicated (the row is gone), or the source version was (nothing to do).
    Done,
    /// Never going to work: the source becomes FAILED.
    Failed(String),
    /// Try again later.
    Retry(String),
}

impl ReplicationWorker {
    pub fn new(store: Store, remotes: Remotes, keys: Arc<Keys>) -> ReplicationWorker {
        ReplicationWorker { store, remotes, keys, counters: Arc::default() }
    }

    pub fn counters(&self) -> Arc<ReplicationCounters> {
        self.counters.clone()
    }

    async fn replicate(&self, item: &OutboxItem) -> Result<Outcome, StorageError> {
        let target = match Target::parse(&item.target) {
            Ok(t) => t,
            Err(e) => return Ok(Outcome::Failed(e.message.clone())),
        };
        let replicated = match target {
            Target::Local { bucket } => match self.store.bucket(&bucket).await {
                Ok(dest) => self.store.replicate_here(item, dest.id).await,
                Err(e) => Err(e),
            },
            Target::Remote { remote, bucket } => return self.send_remote(item, &remote, &bucket).await,
        };
        match replicated {
            Ok(Replicated::Done) => {
                self.counters.replicated.fetch_add(1, Ordering::Relaxed);
                Ok(Outcome::Done)
            }
            Ok(Replicated::SourceGone) => Ok(Outcome::Done),
            Err(StorageError::Closed) => Err(StorageError::Closed),
            Err(e @ (StorageError::NoSuchBucket | StorageError::Replication(_))) => Ok(Outcome::Failed(e.to_string())),
            Err(e) => Ok(Outcome::Retry(e.to_string())),
        }
    }

    async fn send_remote(&self, item: &OutboxItem, remote: &str, bucket: &str) -> Result<Outcome, StorageError> {
        let (record, body) = match self.store.object(item.bucket_id, &item.key, Some(&item.version_id)).await {
            Ok(found) => found,
            Err(StorageError::NoSuchKey | StorageError::NoSuchVersion) => {
                self.store.forget_replication(item.seq).await?;
                return Ok(Outcome::Done);
            }
            Err(e) => return Err(e),
        };
        let endpoint = match self.remotes.endpoint(remote).await {
            Ok(e) => e,
            Err(e) => return Ok(e.into()),
        };
        if item.check_first {
            let mapped = self.store.replication_outcome(item.bucket_id, &item.key, &item.version_id, &item.target).await?;
            match find_replica(&endpoint, bucket, &record, mapped.and_then(|o| o.remote_version_id).as_deref()).await {
                Ok(Some(there)) => {
                    self.store.complete_replication(item, Some(there)).await?;
                    return Ok(Outcome::Done);
                }
                Ok(None) => {}
                Err(e) => return Ok(e.into()),
            }
        }
        let encryption = record.meta.encryption.as_ref().filter(|e| e.mode != EncryptionMode::Customer);
        let data_key = match self.keys.open(encryption, None, true) {
            Ok(k) => k,
            Err(e) => return Ok(Outcome::Failed(format!("the version's data key cannot be opened: {}", e.message))),
        };
        let parts = match record.delete_marker {
            true => None,
            false => self.store.object_parts(item.bucket_id, &item.key, &item.version_id).await?,
        };
        let route = self.store.replication_route(item.bucket_id, &item.target).await?;
        let opts = WriteOptions {
            storage_class: route.as_ref().and_then(|r| r.storage_class.clone()),
            kms_key_id: route.and_then(|r| r.replica_kms_key_id),
        };
        let source = Source { record: &record, body: &body, parts: parts.as_deref(), data_key: data_key.as_ref() };
        match push(&endpoint, bucket, &self.store, source, &opts).await {
            Ok(pushed) => {
                self.store.complete_replication(item, pushed.version_id).await?;
                self.counters.replicated.fetch_add(1, Ordering::Relaxed);
                Ok(Outcome::Done)
            }
            Err(e) => Ok(e.into()),
        }
    }

    async fn settle(&self, item: &OutboxItem, outcome: Outcome) -> Result<(), StorageError> {
        match outcome {
            Outcome::Done => Ok(()),
            Outcome::Failed(reason) => {
                self.counters.failed.fetch_add(1, Ordering::Relaxed);
                self.store.fail_replication(item, reason).await
            }
            Outcome::Retry(reason) => {
                self.counters.retried.fetch_add(1, Ordering::Relaxed);
                let wait = 1000i64.saturating_mul(1 << item.attempts.min(20)).min(MAX_RETRY_MS);
                self.store.retry_replication(item.seq, reason, coffer_storage::now_ms() + wait).await
            }
        }
    }
}

impl From<PushError> for Outcome {
    fn from(e: PushError) -> Outcome {
        match e {
            PushError::Permanent(m) => Outcome::Failed(m),
            PushError::Transient(m) => Outcome::Retry(m),
        }
    }
}

impl Worker for ReplicationWorker {
    fn name(&self) -> &'static str {
        "replication"
    }

    /// Rows given up on, and rows put back for a retry.
    fn failed_items(&self) -> u64 {
        self.counters.failed.load(Ordering::Relaxed) + self.counters.retried.load(Ordering::Relaxed)
    }

    fn backlog(b: &coffer_storage::Backlogs) -> Option<Waiting> {
        Some(Waiting { items: b.replication, oldest_ms: b.replication_oldest_ms })
    }

    fn idle_interval(&self) -> Duration {
        Duration::from_millis(200)
    }

    async fn step(&mut self) -> Result<Step, WorkerError> {
        let due = self.store.due_replications(coffer_storage::now_ms(), BATCH).await?;
        let n = due.len() as u64;
        // Targets that failed transiently in this batch, with why.
        let mut unreachable: HashMap<&str, String> = HashMap::new();
        for item in &due {
            let outcome = match unreachable.get(item.target.as_str()) {
                Some(reason) => Outcome::Retry(reason.clone()),
                None => self.replicate(item).await?,
            };
            if let (Outcome::Retry(reason), false) = (&outcome, unreachable.contains_key(item.target.as_str())) {
                tracing::debug!(destination = %item.target, key = %item.key, "replication will retry: {reason}");
                unreachable.insert(&item.target, reason.clone());
            }
            self.settle(item, outcome).await?;
        }
        if due.len() == BATCH {
            return Ok(Step::More(n));
        }
        // With the outbox drained, a running resync queues its next page.
        match self.store.resync_step(RESYNC_PAGE).await? {
            Some(step) => {
                if step.finished {
                    tracing::info!(bucket_id = step.bucket_id, "replication resync walked the whole bucket");
                }
                Ok(Step::More(n + step.walked as u64))
            }
            None => Ok(Step::Idle(n)),
        }
    }
}
