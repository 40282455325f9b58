//! The lifecycle worker: carries out the rules of every bucket that has some, a bounded batch
//! per step, resuming from cursors saved in the index.
//!
//! A pass visits each bucket with rules. It finds due work through indexes by age, never by
//! walking every object: one scan per threshold the rules name (versions N days old, a Date
//! that passed, new delete markers or noncurrent versions for the rules that act on those at
//! once), each from its own cursor to the time that threshold reaches now, so a version is
//! looked at once when it crosses each threshold. For each version found it decides on all
//! versions of that key. Once a day a full sweep over the rules' key ranges catches what no
//! threshold marks (tags changed after a threshold passed, a delete marker a user's delete
//! left alone); then come the multipart uploads started long enough ago. Each action
//! re-checks, in the transaction that performs it, that the version is still the one that
//! was due, so a version written or changed meanwhile is left alone.

use super::{Step, Worker, WorkerError};
use crate::bucket_config::lifecycle::{Clock, Decision, Entry, Lifecycle, Scan, KIND};
use crate::bucket_config::parsed::Document;
use coffer_storage::{AgeCursor, LifecycleAction, LifecycleVersion, Store, StorageError};
use sha2::{Digest, Sha256};
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
/// How often a bucket's full sweep runs (real time, whatever the lifecycle clock).
const SWEEP_EVERY_MS: i64 = 24 * 3600 * 1000;
/// Rounds of decisions on one key: an action can make another due (removing the last
/// noncurrent version leaves a delete marker alone).
const ROUNDS_PER_KEY: usize = 3;
/// Keys of a batch acted on at once.
const KEYS_AT_ONCE: usize = 16;

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

/// What a bucket's visit is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// The age scan `scans[i]`.
    Aged(usize),
    /// The daily full sweep over the rules' key ranges.
    Sweep,
    /// Multipart uploads, after this upload row.
    Uploads(i64),
}

/// One bucket of the current pass and where its visit stands.
struct Visit {
    bucket_id: i64,
    rules: Arc<Lifecycle>,
    scans: Vec<Scan>,
    /// Names this bucket's cursors for this version of its rules: new rules start over.
    cursors: String,
    sweep_due: bool,
    phase: Phase,
}

pub struct LifecycleWorker {
    store: Store,
    clock: Clock,
    counters: Arc<LifecycleCounters>,
    queue: VecDeque<Visit>,
    pass_start: LifecycleTotals,
    /// Keys are acted on together; a change of a bucket's next sweep is read and written by
    /// one of them at a time.
    sweep_lock: tokio::sync::Mutex<()>,
}

impl LifecycleWorker {
    pub fn new(store: Store, day_secs: Option<u64>) -> LifecycleWorker {
        LifecycleWorker { store, clock: Clock::new(day_secs), counters: Arc::default(), queue: VecDeque::new(), pass_start: LifecycleTotals::default(), sweep_lock: Default::default() }
    }

    pub fn counters(&self) -> Arc<LifecycleCounters> {
        self.counters.clone()
    }

    /// Queues every bucket that has rules; false when none has.
    async fn start_pass(&mut self) -> Result<bool, WorkerError> {
        let now = coffer_storage::now_ms();
        for (bucket_id, doc) in self.store.bucket_configs_of_kind(KIND).await? {
            let entry = match Entry::parse(&doc) {
                Ok(entry) => entry,
                Err(e) => {
                    tracing::warn!(bucket_id, "unreadable lifecycle configuration: {}", e.message);
                    continue;
                }
            };
            let bucket_cursors = format!("lifecycle:{bucket_id}:");
            let cursors = format!("{bucket_cursors}{}:", &hex::encode(Sha256::digest(doc.as_bytes()))[..16]);
            self.store.forget_worker_cursors(&bucket_cursors, &cursors).await?;
            let last_sweep = self.store.worker_cursor(&sweep_name(bucket_id)).await?.and_then(|c| c.parse::<i64>().ok());
            if last_sweep.is_none() {
                // The age scans of a new configuration visit everything once: no sweep needed yet.
                self.store.set_worker_cursor(&sweep_name(bucket_id), Some(now.to_string())).await?;
            }
            let sweep_due = last_sweep.is_some_and(|t| now - t >= SWEEP_EVERY_MS);
            let scans = entry.rules.scans(&self.clock, now);
            self.queue.push_back(Visit { bucket_id, rules: Arc::new(entry.rules), scans, cursors, sweep_due, phase: Phase::Aged(0) });
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
        let (done, next) = match visit.phase {
            Phase::Aged(i) => match visit.scans.get(i).cloned() {
                Some(scan) => {
                    let name = format!("{}{}", visit.cursors, scan.id);
                    let (done, exhausted) = self.age_scan(bucket_id, &rules, &scan, &name).await?;
                    (done, if exhausted { Phase::Aged(i + 1) } else { Phase::Aged(i) })
                }
                None if visit.sweep_due => (0, Phase::Sweep),
                None => (0, Phase::Uploads(0)),
            },
            Phase::Sweep => {
                let (done, finished) = self.sweep(bucket_id, &rules).await?;
                (done, if finished { Phase::Uploads(0) } else { Phase::Sweep })
            }
            Phase::Uploads(after_seq) => {
                let (done, next) = self.abort_uploads(bucket_id, &rules, after_seq).await?;
                match next {
                    Some(seq) => (done, Phase::Uploads(seq)),
                    None => {
                        self.queue.pop_front();
                        return Ok((done, true));
                    }
                }
            }
        };
        self.queue[0].phase = next;
        Ok((done, false))
    }

    /// One batch of an age scan; true when it reached its bound.
    async fn age_scan(&self, bucket_id: i64, rules: &Arc<Lifecycle>, scan: &Scan, cursor: &str) -> Result<(u64, bool), WorkerError> {
        let after = self.store.worker_cursor(cursor).await?.and_then(|c| parse_age_cursor(&c)).unwrap_or((i64::MIN, 0));
        let batch = self.store.lifecycle_aged(bucket_id, scan.kind, after, scan.bound_ms, BATCH).await?;
        let done = self.apply_to_keys(bucket_id, rules, self.store.lifecycle_keys(bucket_id, batch.keys).await?).await?;
        if let Some((t, seq)) = batch.last {
            self.store.set_worker_cursor(cursor, Some(format!("{t}:{seq}"))).await?;
        }
        Ok((done, batch.exhausted))
    }

    /// One batch of the full sweep; true when it went through every key.
    async fn sweep(&self, bucket_id: i64, rules: &Arc<Lifecycle>) -> Result<(u64, bool), WorkerError> {
        let cursor = format!("lifecycle-sweep-key:{bucket_id}");
        let after = self.store.worker_cursor(&cursor).await?;
        let Some(keys) = self.next_keys(bucket_id, rules, after.as_deref()).await? else {
            self.store.set_worker_cursor(&cursor, None).await?;
            self.store.set_worker_cursor(&sweep_name(bucket_id), Some(coffer_storage::now_ms().to_string())).await?;
            return Ok((0, true));
        };
        let last = keys.last().and_then(|k| k.first()).map(|v| v.record.key.clone());
        let done = self.apply_to_keys(bucket_id, rules, keys).await?;
        self.store.set_worker_cursor(&cursor, last).await?;
        Ok((done, false))
    }

    /// Acts on a batch of keys, `KEYS_AT_ONCE` at a time: their changes reach the index writer
    /// together and share its commits, where one key after another cost a commit each.
    async fn apply_to_keys(&self, bucket_id: i64, rules: &Arc<Lifecycle>, keys: Vec<Vec<LifecycleVersion>>) -> Result<u64, WorkerError> {
        use futures::{StreamExt, TryStreamExt};
        futures::stream::iter(keys)
            .map(|versions| self.apply_to_key(bucket_id, rules, versions))
            .buffer_unordered(KEYS_AT_ONCE)
            .try_fold(0, |total, done| async move { Ok(total + done) })
            .await
    }

    /// Decides on the versions of one key and acts, again while actions make more due.
    async fn apply_to_key(&self, bucket_id: i64, rules: &Arc<Lifecycle>, mut versions: Vec<LifecycleVersion>) -> Result<u64, WorkerError> {
        let mut total = 0;
        for _ in 0..ROUNDS_PER_KEY {
            let Some(key) = versions.first().map(|v| v.record.key.clone()) else { break };
            let done = self.apply_rules(bucket_id, rules, &versions).await?;
            total += done;
            if done == 0 {
                break;
            }
            versions = self.store.lifecycle_keys(bucket_id, vec![key]).await?.pop().unwrap_or_default();
        }
        Ok(total)
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
        let now = coffer_storage::now_ms();
        let mut done = 0;
        for v in versions {
            let Some((decision, rule)) = rules.decide(&self.clock, now, v) else { continue };
            let action = action_kind(&decision);
            let (recheck, clock, expected) = (rules.clone(), self.clock, decision.clone());
            let still_due = move |now_v: &LifecycleVersion| recheck.decide(&clock, now, now_v).map(|(d, _)| d) == Some(expected);
            match self.store.lifecycle_apply(bucket_id, &v.record.key, v.seq, action, still_due).await {
                Ok(Some(_)) => {
                    self.counters.count(&decision);
                    done += 1;
                    tracing::debug!(bucket_id, key = %v.record.key, version = %v.record.version_id, rule, ?decision, "lifecycle action");
                }
                Ok(None) => {
                    // Skipped for its Object Lock: the age scan moves past it, so the bucket's
                    // next full sweep comes when the retention ends instead of within a day.
                    if let (LifecycleAction::RemoveVersion, Some((_, until))) = (&action_kind(&decision), v.record.meta.lock.retention) {
                        if until > now && !v.record.meta.lock.legal_hold {
                            self.sweep_at(bucket_id, until + 1).await?;
                        }
                    }
                }
                Err(StorageError::Closed) => return Err(StorageError::Closed.into()),
                Err(e) => {
                    self.counters.failed.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(bucket_id, key = %v.record.key, version = %v.record.version_id, rule, "lifecycle action failed: {e}");
                }
            }
        }
        Ok(done)
    }

    /// Brings the bucket's next full sweep forward to `at_ms` (never later than it was due).
    async fn sweep_at(&self, bucket_id: i64, at_ms: i64) -> Result<(), WorkerError> {
        let _one_at_a_time = self.sweep_lock.lock().await;
        let last = self.store.worker_cursor(&sweep_name(bucket_id)).await?.and_then(|c| c.parse::<i64>().ok());
        let wanted = at_ms - SWEEP_EVERY_MS;
        if last.is_none_or(|t| wanted < t) {
            self.store.set_worker_cursor(&sweep_name(bucket_id), Some(wanted.to_string())).await?;
        }
        Ok(())
    }

    /// Aborts the due uploads of one batch after upload row `after_seq`; returns how many and
    /// where the next batch starts (None when the bucket has no more).
    async fn abort_uploads(&self, bucket_id: i64, rules: &Lifecycle, after_seq: i64) -> Result<(u64, Option<i64>), WorkerError> {
        let Some(days) = rules.abort_after_days() else { return Ok((0, None)) };
        let now = coffer_storage::now_ms();
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

fn action_kind(decision: &Decision) -> LifecycleAction {
    match decision {
        Decision::ExpireCurrent => LifecycleAction::ExpireCurrent,
        Decision::RemoveNoncurrent | Decision::RemoveDeleteMarker => LifecycleAction::RemoveVersion,
        Decision::Transition(class) => LifecycleAction::Transition(class.clone()),
    }
}

/// Where the time of a bucket's last full sweep is kept.
fn sweep_name(bucket_id: i64) -> String {
    format!("lifecycle-sweep:{bucket_id}")
}

fn parse_age_cursor(text: &str) -> Option<AgeCursor> {
    let (t, seq) = text.split_once(':')?;
    Some((t.parse().ok()?, seq.parse().ok()?))
}


impl Worker for LifecycleWorker {
    fn name(&self) -> &'static str {
        "lifecycle"
    }

    fn failed_items(&self) -> u64 {
        self.counters.failed.load(Ordering::Relaxed)
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
