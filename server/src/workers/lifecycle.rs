//! The lifecycle worker: carries out the expiration rules of every bucket that has some, a
//! bounded batch of keys per step, resuming from a cursor per bucket saved in the index.
//!
//! A pass visits each bucket with rules: the key ranges of its rules' prefixes, a batch of
//! keys at a time (all versions of each key), then its multipart uploads started long enough
//! ago. Each action re-checks, in the transaction that performs it, that the version is still
//! the one that was due, so a version written or changed meanwhile is left alone.

use super::{Step, Worker, WorkerError};
use crate::bucket_config::lifecycle::{Clock, Decision, Entry, Lifecycle, KIND};
use crate::bucket_config::parsed::Document;
use coffer_storage::{LifecycleAction, LifecycleVersion, Store, StorageError};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Keys per batch, and uploads per batch.
const BATCH: usize = 200;
/// Between passes when days are real days.
const PASS_INTERVAL: Duration = Duration::from_secs(60);
/// Between batches when days are real days: lifecycle yields to requests.
const BATCH_PAUSE: Duration = Duration::from_millis(50);
/// Between passes with `--lifecycle-day-secs`: at least every second.
const TEST_PASS_INTERVAL: Duration = Duration::from_millis(500);

/// What the worker has done since the server started (for logs and metrics).
#[derive(Debug, Default)]
pub struct LifecycleCounters {
    pub expired: AtomicU64,
    pub noncurrent_expired: AtomicU64,
    pub delete_markers_removed: AtomicU64,
    pub transitioned: AtomicU64,
    pub aborted: AtomicU64,
    pub failed: AtomicU64,
}

/// A copy of the counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LifecycleTotals {
    pub expired: u64,
    pub noncurrent_expired: u64,
    pub delete_markers_removed: u64,
    pub transitioned: u64,
    pub aborted: u64,
    pub failed: u64,
}

impl LifecycleCounters {
    pub fn totals(&self) -> LifecycleTotals {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        LifecycleTotals {
            expired: get(&self.expired),
            noncurrent_expired: get(&self.noncurrent_expired),
            delete_markers_removed: get(&self.delete_markers_removed),
            transitioned: get(&self.transitioned),
            aborted: get(&self.aborted),
            failed: get(&self.failed),
        }
    }

    fn count(&self, decision: &Decision) {
        let counter = match decision {
            Decision::ExpireCurrent => &self.expired,
            Decision::RemoveNoncurrent => &self.noncurrent_expired,
            Decision::RemoveDeleteMarker => &self.delete_markers_removed,
            Decision::Transition(_) => &self.transitioned,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// One bucket of the current pass and where its visit stands.
struct Visit {
    bucket_id: i64,
    rules: Arc<Lifecycle>,
    /// Objects first, then uploads (after this upload row).
    uploads_after: Option<i64>,
}

pub struct LifecycleWorker {
    store: Store,
    clock: Clock,
    counters: Arc<LifecycleCounters>,
    queue: VecDeque<Visit>,
    pass_start: LifecycleTotals,
}

impl LifecycleWorker {
    pub fn new(store: Store, day_secs: Option<u64>) -> LifecycleWorker {
        LifecycleWorker { store, clock: Clock::new(day_secs), counters: Arc::default(), queue: VecDeque::new(), pass_start: LifecycleTotals::default() }
    }

    pub fn counters(&self) -> Arc<LifecycleCounters> {
        self.counters.clone()
    }

    fn cursor_name(bucket_id: i64) -> String {
        format!("lifecycle:{bucket_id}")
    }

    /// Queues every bucket that has rules; false when none has.
    async fn start_pass(&mut self) -> Result<bool, WorkerError> {
        for (bucket_id, doc) in self.store.bucket_configs_of_kind(KIND).await? {
            match Entry::parse(&doc) {
                Ok(entry) => self.queue.push_back(Visit { bucket_id, rules: Arc::new(entry.rules), uploads_after: None }),
                Err(e) => tracing::warn!(bucket_id, "unreadable lifecycle configuration: {}", e.message),
            }
        }
        self.pass_start = self.counters.totals();
        Ok(!self.queue.is_empty())
    }

    fn end_pass(&mut self) {
        let (now, start) = (self.counters.totals(), self.pass_start);
        if now != start {
            tracing::info!(
                expired = now.expired - start.expired,
                noncurrent_expired = now.noncurrent_expired - start.noncurrent_expired,
                delete_markers_removed = now.delete_markers_removed - start.delete_markers_removed,
                transitioned = now.transitioned - start.transitioned,
                aborted = now.aborted - start.aborted,
                failed = now.failed - start.failed,
                "lifecycle pass done"
            );
        }
    }

    /// One batch of the bucket at the front of the queue; true when its visit is over.
    async fn visit(&mut self) -> Result<(u64, bool), WorkerError> {
        let visit = self.queue.front().expect("a bucket is queued");
        let (bucket_id, rules) = (visit.bucket_id, visit.rules.clone());
        match visit.uploads_after {
            None => {
                let cursor = Self::cursor_name(bucket_id);
                let after = self.store.worker_cursor(&cursor).await?;
                let Some(keys) = self.next_keys(bucket_id, &rules, after.as_deref()).await? else {
                    if after.is_some() {
                        self.store.set_worker_cursor(&cursor, None).await?;
                    }
                    self.queue[0].uploads_after = Some(0);
                    return Ok((0, false));
                };
                let mut done = 0;
                for versions in &keys {
                    done += self.apply_rules(bucket_id, &rules, versions).await?;
                }
                let last = keys.last().and_then(|k| k.first()).map(|v| v.record.key.clone());
                self.store.set_worker_cursor(&cursor, last).await?;
                Ok((done, false))
            }
            Some(after_seq) => {
                let (done, next) = self.abort_uploads(bucket_id, &rules, after_seq).await?;
                match next {
                    Some(seq) => self.queue[0].uploads_after = Some(seq),
                    None => {
                        self.queue.pop_front();
                    }
                }
                Ok((done, next.is_none()))
            }
        }
    }

    /// The next batch of keys after `after` within the rules' prefixes; None when the bucket's
    /// objects are all visited.
    async fn next_keys(&self, bucket_id: i64, rules: &Lifecycle, after: Option<&str>) -> Result<Option<Vec<Vec<LifecycleVersion>>>, StorageError> {
        for prefix in rules.scan_prefixes() {
            let batch = self.store.lifecycle_batch(bucket_id, &prefix, after, BATCH).await?;
            if !batch.is_empty() {
                return Ok(Some(batch));
            }
        }
        Ok(None)
    }

    /// Carries out whatever is due for the versions of one key.
    async fn apply_rules(&self, bucket_id: i64, rules: &Arc<Lifecycle>, versions: &[LifecycleVersion]) -> Result<u64, WorkerError> {
        let now = coffer_now_ms();
        let mut done = 0;
        for v in versions {
            let Some((decision, rule)) = rules.decide(&self.clock, now, v) else { continue };
            let action = match &decision {
                Decision::ExpireCurrent => LifecycleAction::ExpireCurrent,
                Decision::RemoveNoncurrent | Decision::RemoveDeleteMarker => LifecycleAction::RemoveVersion,
                Decision::Transition(class) => LifecycleAction::Transition(class.clone()),
            };
            let (recheck, clock, expected) = (rules.clone(), self.clock, decision.clone());
            let still_due = move |now_v: &LifecycleVersion| recheck.decide(&clock, now, now_v).map(|(d, _)| d) == Some(expected);
            match self.store.lifecycle_apply(bucket_id, &v.record.key, v.seq, action, still_due).await {
                Ok(Some(_)) => {
                    self.counters.count(&decision);
                    done += 1;
                    tracing::debug!(bucket_id, key = %v.record.key, version = %v.record.version_id, rule, ?decision, "lifecycle action");
                }
                Ok(None) => {}
                Err(StorageError::Closed) => return Err(StorageError::Closed.into()),
                Err(e) => {
                    self.counters.failed.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(bucket_id, key = %v.record.key, version = %v.record.version_id, rule, "lifecycle action failed: {e}");
                }
            }
        }
        Ok(done)
    }

    /// Aborts the due uploads of one batch after upload row `after_seq`; returns how many and
    /// where the next batch starts (None when the bucket has no more).
    async fn abort_uploads(&self, bucket_id: i64, rules: &Lifecycle, after_seq: i64) -> Result<(u64, Option<i64>), WorkerError> {
        let Some(days) = rules.abort_after_days() else { return Ok((0, None)) };
        let now = coffer_now_ms();
        let uploads = self.store.uploads_started_before(bucket_id, self.clock.started_by(now, days), after_seq, BATCH).await?;
        let next = (uploads.len() == BATCH).then(|| uploads.last().map(|(seq, _)| *seq)).flatten();
        let mut done = 0;
        for (_, upload) in uploads {
            let Some(rule) = rules.upload_due(&self.clock, now, &upload.key, upload.initiated_ms) else { continue };
            match self.store.abort_upload(bucket_id, &upload.key, &upload.upload_id).await {
                Ok(()) => {
                    self.counters.aborted.fetch_add(1, Ordering::Relaxed);
                    done += 1;
                    tracing::debug!(bucket_id, key = %upload.key, upload_id = %upload.upload_id, rule, "lifecycle aborted upload");
                }
                // Completed or aborted meanwhile.
                Err(StorageError::Multipart(coffer_storage::MultipartError::NoSuchUpload)) => {}
                Err(StorageError::Closed) => return Err(StorageError::Closed.into()),
                Err(e) => {
                    self.counters.failed.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(bucket_id, upload_id = %upload.upload_id, "lifecycle abort failed: {e}");
                }
            }
        }
        Ok((done, next))
    }
}

fn coffer_now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

impl Worker for LifecycleWorker {
    fn name(&self) -> &'static str {
        "lifecycle"
    }

    fn idle_interval(&self) -> Duration {
        if self.clock.is_compressed() {
            TEST_PASS_INTERVAL
        } else {
            PASS_INTERVAL
        }
    }

    async fn step(&mut self) -> Result<Step, WorkerError> {
        if self.queue.is_empty() && !self.start_pass().await? {
            return Ok(Step::Idle(0));
        }
        let (done, _) = self.visit().await?;
        if self.queue.is_empty() {
            self.end_pass();
            return Ok(Step::Idle(done));
        }
        if !self.clock.is_compressed() {
            tokio::time::sleep(BATCH_PAUSE).await;
        }
        Ok(Step::More(done))
    }
}
