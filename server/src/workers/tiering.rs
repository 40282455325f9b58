//! The tiering worker: keeps the tiers in use in step with those registered (so `coffer admin
//! tier add` works while the server runs), carries out due moves of versions between the local
//! store and tiers, makes and later drops restored copies of archived versions, and removes
//! blobs no version references any more from the tiers. All of it is driven by rows of the
//! index, so a restart resumes whatever was under way.

use super::{Step, Waiting, Worker, WorkerError};
use crate::bucket_config::lifecycle::Clock;
use crate::keys::secrets::Secrets;
use crate::tier_set::TierSources;
use coffer_storage::tiers::TierSpec;
use coffer_storage::{Moved, Store, StorageError};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Versions moved or restored per step.
const BATCH: usize = 16;
/// Unreferenced tier blobs removed per step.
const GARBAGE_BATCH: usize = 100;

/// What the worker has done since the server started.
#[derive(Debug, Default)]
pub struct TieringCounters {
    pub moved: AtomicU64,
    pub restored: AtomicU64,
    pub restores_expired: AtomicU64,
    pub tier_blobs_removed: AtomicU64,
    pub failed: AtomicU64,
}

pub struct TieringWorker {
    store: Store,
    secrets: Secrets,
    configured: Vec<TierSpec>,
    sources: TierSources,
    clock: Clock,
    counters: Arc<TieringCounters>,
    /// Where this pass over due moves and restores stands (a failing one does not block those after it).
    moves_after: i64,
    restores_after: i64,
    /// Whether the last steps did work (the worker logs its totals when it catches up).
    busy: bool,
}

impl TieringWorker {
    /// A worker for the tiers `sources` built (already in use).
    pub fn new(store: Store, secrets: Secrets, configured: Vec<TierSpec>, sources: TierSources, clock: Clock) -> TieringWorker {
        TieringWorker { store, secrets, configured, sources, clock, counters: Arc::default(), moves_after: 0, restores_after: 0, busy: false }
    }

    pub fn counters(&self) -> Arc<TieringCounters> {
        self.counters.clone()
    }

    /// Rebuilds the tiers if what they are built from changed.
    async fn refresh(&mut self) -> Result<(), WorkerError> {
        let sources = match TierSources::read(&self.store, &self.configured).await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!("reading the registered tiers: {e}");
                return Ok(());
            }
        };
        if sources != self.sources {
            let (set, errors) = sources.build(&self.secrets);
            for e in errors {
                tracing::error!("{e}");
            }
            tracing::info!(tiers = ?set.iter().map(|t| t.spec.name.clone()).collect::<Vec<_>>(), "storage tiers changed");
            self.store.set_tiers(set);
            self.sources = sources;
        }
        Ok(())
    }

    fn failed(&self, what: &str, seq: i64, e: &StorageError) {
        self.counters.failed.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(seq, "{what} failed (retried on the next pass): {e}");
    }

    async fn moves(&mut self) -> Result<u64, WorkerError> {
        let mut done = 0;
        let due = self.store.due_moves(self.moves_after, BATCH).await?;
        self.moves_after = next_start(&due);
        for seq in due {
            match self.store.move_version(seq).await {
                Ok(Moved::To(to)) => {
                    done += 1;
                    self.counters.moved.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(seq, to = to.as_deref().unwrap_or("local store"), "moved a version");
                }
                Ok(Moved::Skipped) => {}
                Err(StorageError::Closed) => return Err(StorageError::Closed.into()),
                Err(e) => self.failed("moving a version", seq, &e),
            }
        }
        Ok(done)
    }

    async fn restores(&mut self) -> Result<u64, WorkerError> {
        let mut done = 0;
        let due = self.store.due_restores(self.restores_after, BATCH).await?;
        self.restores_after = next_start(&due);
        for seq in due {
            let clock = self.clock;
            match self.store.restore_version(seq, move |days, done_ms| clock.due(done_ms, days as i64)).await {
                Ok(true) => {
                    done += 1;
                    self.counters.restored.fetch_add(1, Ordering::Relaxed);
                }
                Ok(false) => {}
                Err(StorageError::Closed) => return Err(StorageError::Closed.into()),
                Err(e) => self.failed("restoring a version", seq, &e),
            }
        }
        let now = coffer_storage::now_ms();
        for seq in self.store.expired_restores(now, BATCH).await? {
            if self.store.drop_restore(seq, now).await? {
                done += 1;
                self.counters.restores_expired.fetch_add(1, Ordering::Relaxed);
            }
        }
        Ok(done)
    }
}

/// Where the next batch starts: after this one if it was full, else from the beginning.
fn next_start(batch: &[i64]) -> i64 {
    match batch.len() == BATCH {
        true => batch.last().copied().unwrap_or(0),
        false => 0,
    }
}


impl Worker for TieringWorker {
    fn name(&self) -> &'static str {
        "tiering"
    }

    fn failed_items(&self) -> u64 {
        self.counters.failed.load(Ordering::Relaxed)
    }

    /// Due moves, restores under way, and tier blobs nobody references.
    fn backlog(b: &coffer_storage::Backlogs) -> Option<Waiting> {
        Some(Waiting { items: b.tier_moves + b.restores + b.tier_gc_blobs, oldest_ms: None })
    }

    fn idle_interval(&self) -> Duration {
        match self.clock.is_compressed() {
            true => Duration::from_millis(500),
            false => Duration::from_secs(5),
        }
    }

    async fn step(&mut self) -> Result<Step, WorkerError> {
        self.refresh().await?;
        let mut done = self.moves().await? + self.restores().await?;
        match self.store.collect_tier_garbage(GARBAGE_BATCH).await {
            Ok(n) => {
                self.counters.tier_blobs_removed.fetch_add(n as u64, Ordering::Relaxed);
                done += n as u64;
            }
            Err(StorageError::Closed) => return Err(StorageError::Closed.into()),
            Err(e) => {
                self.counters.failed.fetch_add(1, Ordering::Relaxed);
                tracing::warn!("removing unreferenced blobs from tiers: {e}");
            }
        }
        if done > 0 {
            self.busy = true;
            return Ok(Step::More(done));
        }
        if std::mem::take(&mut self.busy) {
            let (moves, restores) = self.store.tiering_backlog().await?;
            let c = &self.counters;
            let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
            tracing::info!(
                moved = get(&c.moved),
                restored = get(&c.restored),
                restores_expired = get(&c.restores_expired),
                tier_blobs_removed = get(&c.tier_blobs_removed),
                failed = get(&c.failed),
                backlog_moves = moves,
                backlog_restores = restores,
                "tiering caught up (totals since start; a backlog left is work that failed and is retried)"
            );
        }
        Ok(Step::Idle(0))
    }
}
