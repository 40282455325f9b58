//! Background work, one module per worker, all of one shape: a `Worker` does bounded steps,
//! and `Workers` starts each on the app's runtime, keeps its progress and stops it on shutdown.
//!
//! Several nodes sharing one index run each worker one node at a time: a node steps a worker
//! only while it holds the worker's lease in the index (`Store::hold_lease`), renewed with
//! every step.
//!
//! A worker keeps whatever it must resume from in the index (a cursor saved with
//! `Store::set_worker_cursor`, or rows it works through), never only in memory, so a crash or
//! a restart loses no work: the next start picks up from the saved state.

mod bucket_logs;
mod gc;
mod index_space;
mod lifecycle;
mod notify;
mod orphan_sweep;
mod replication;
mod scrub;
mod tiering;

pub use bucket_logs::AccessLogDelivery;
pub use gc::GarbageCollector;
pub use index_space::IndexSpace;
pub use lifecycle::LifecycleWorker;
pub use notify::NotifyWorker;
pub use orphan_sweep::OrphanSweep;
pub use replication::ReplicationWorker;
pub use scrub::Scrubber;
pub use tiering::TieringWorker;

use std::future::Future;
use crate::metrics::{WorkerSample, WorkerSource};
use coffer_storage::Backlogs;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Longest wait between retries of a failing worker.
const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// How long `Workers::stop` waits for a worker to finish its current step.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a node's turn at a worker lasts past its last step, when several nodes share one
/// index: the others wait until it lapses (a node that died hands its workers on this late).
const FLEET_LEASE: Duration = Duration::from_secs(60);

/// A background job: the app calls `step` again and again until it reports `Done`.
pub trait Worker: 'static {
    /// Short name for logs and progress reports.
    fn name(&self) -> &'static str;

    /// How long to wait after a step that found nothing due.
    fn idle_interval(&self) -> Duration;

    /// One bounded piece of work (a batch): short enough that shutdown never waits long.
    fn step(&mut self) -> impl Future<Output = Result<Step, WorkerError>>;

    /// Items that failed so far (to be retried later, or given up) while their steps went on.
    fn failed_items(&self) -> u64 {
        0
    }

    /// Its part of the store's backlogs, where the index knows it.
    fn backlog(_backlogs: &Backlogs) -> Option<Waiting>
    where
        Self: Sized,
    {
        None
    }
}

/// What one step did, and when the next is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Handled this many items and more are waiting: step again at once.
    More(u64),
    /// Handled this many items and nothing more is due: wait the idle interval.
    Idle(u64),
    /// Handled this many items and the job is over (a one-off job such as a start-up sweep).
    Done(u64),
}

/// The items waiting for a worker, and when the oldest was queued (Unix ms), if known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Waiting {
    pub items: u64,
    pub oldest_ms: Option<i64>,
}

/// Why a step failed; the worker is retried with backoff.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error(transparent)]
    Storage(#[from] coffer_storage::StorageError),
}

/// A worker's counters, updated as it runs and readable at any time (logs, metrics, admin).
#[derive(Debug, Default)]
pub struct Progress {
    steps: AtomicU64,
    items: AtomicU64,
    failures: AtomicU64,
    failed_items: AtomicU64,
    /// When the last step ended (Unix ms; 0: none has).
    last_run_ms: AtomicI64,
    done: AtomicU64,
    last_error: Mutex<Option<String>>,
}

/// A copy of one worker's progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub name: &'static str,
    pub steps: u64,
    pub items: u64,
    pub failures: u64,
    pub failed_items: u64,
    pub last_run_ms: Option<i64>,
    pub finished: bool,
    pub last_error: Option<String>,
}

impl Progress {
    fn record(&self, items: u64, failed_items: u64) {
        self.steps.fetch_add(1, Ordering::Relaxed);
        self.items.fetch_add(items, Ordering::Relaxed);
        self.failed_items.store(failed_items, Ordering::Relaxed);
        self.last_run_ms.store(coffer_storage::now_ms(), Ordering::Relaxed);
    }

    fn fail(&self, error: &WorkerError) {
        self.failures.fetch_add(1, Ordering::Relaxed);
        self.last_run_ms.store(coffer_storage::now_ms(), Ordering::Relaxed);
        *self.last_error.lock().expect("progress poisoned") = Some(error.to_string());
    }

    fn report(&self, name: &'static str) -> Report {
        Report {
            name,
            steps: self.steps.load(Ordering::Relaxed),
            items: self.items.load(Ordering::Relaxed),
            failures: self.failures.load(Ordering::Relaxed),
            failed_items: self.failed_items.load(Ordering::Relaxed),
            last_run_ms: Some(self.last_run_ms.load(Ordering::Relaxed)).filter(|ms| *ms > 0),
            finished: self.done.load(Ordering::Relaxed) > 0,
            last_error: self.last_error.lock().expect("progress poisoned").clone(),
        }
    }
}

/// The running workers of one server.
pub struct Workers {
    stop: watch::Sender<bool>,
    running: Vec<Running>,
    /// The store whose leases decide this node's turns (None: always this node's turn).
    fleet: Option<coffer_storage::Store>,
}

struct Running {
    gauge: Gauge,
    task: JoinHandle<()>,
}

/// What metrics read of one running worker.
#[derive(Clone)]
struct Gauge {
    name: &'static str,
    progress: Arc<Progress>,
    backlog: fn(&Backlogs) -> Option<Waiting>,
}

/// The workers' progress, as the metrics read it while they run.
pub struct Board(Vec<Gauge>);

impl WorkerSource for Board {
    fn samples(&self, backlogs: Option<&Backlogs>) -> Vec<WorkerSample> {
        self.0
            .iter()
            .map(|g| {
                let r = g.progress.report(g.name);
                let waiting = backlogs.and_then(g.backlog);
                WorkerSample {
                    name: r.name,
                    steps: r.steps,
                    items: r.items,
                    failed_items: r.failed_items,
                    step_errors: r.failures,
                    last_run_ms: r.last_run_ms,
                    running: !r.finished,
                    backlog: waiting.map(|w| w.items),
                    oldest_ms: waiting.and_then(|w| w.oldest_ms),
                }
            })
            .collect()
    }
}

impl Default for Workers {
    fn default() -> Workers {
        Workers { stop: watch::channel(false).0, running: Vec::new(), fleet: None }
    }
}

impl Workers {
    /// Workers that take turns with the other nodes sharing `store`'s index.
    pub fn sharing(store: coffer_storage::Store) -> Workers {
        Workers { fleet: Some(store), ..Workers::default() }
    }

    /// Starts `worker` on the current runtime (the app's actix system).
    pub fn start<W: Worker>(&mut self, worker: W) {
        let gauge = Gauge { name: worker.name(), progress: Arc::new(Progress::default()), backlog: W::backlog };
        let task = tokio::task::spawn_local(drive(worker, gauge.progress.clone(), self.stop.subscribe(), self.fleet.clone()));
        self.running.push(Running { gauge, task });
    }

    /// Every worker's progress so far.
    pub fn reports(&self) -> Vec<Report> {
        self.running.iter().map(|r| r.gauge.progress.report(r.gauge.name)).collect()
    }

    /// The progress of the workers started so far, for metrics.
    pub fn board(&self) -> Board {
        Board(self.running.iter().map(|r| r.gauge.clone()).collect())
    }

    /// Asks every worker to stop after its current step, waits for them (a while at most) and
    /// logs what each did while it ran.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for report in self.reports() {
            tracing::info!(worker = report.name, steps = report.steps, items = report.items, failures = report.failures, "worker stopping");
        }
        for r in self.running {
            if tokio::time::timeout(STOP_TIMEOUT, r.task).await.is_err() {
                tracing::warn!(worker = r.gauge.name, "worker did not stop in time");
            }
        }
    }
}

/// Runs one worker until it is done or asked to stop; failures are logged and retried with
/// exponential backoff (capped at `MAX_BACKOFF`).
async fn drive<W: Worker>(mut worker: W, progress: Arc<Progress>, mut stop: watch::Receiver<bool>, fleet: Option<coffer_storage::Store>) {
    let name = worker.name();
    let lease = format!("worker {name}");
    let mut failures_in_a_row = 0u32;
    while !*stop.borrow() {
        let turn = match &fleet {
            Some(store) => store.hold_lease(&lease, FLEET_LEASE).await.map_err(WorkerError::from),
            None => Ok(true),
        };
        let outcome = match turn {
            Ok(true) => worker.step().await.map(Some),
            Ok(false) => Ok(None),
            Err(e) => Err(e),
        };
        let wait = match outcome {
            // Another node's turn: look again before its lease could lapse.
            Ok(None) => worker.idle_interval().min(FLEET_LEASE / 2),
            Ok(Some(step)) => {
                failures_in_a_row = 0;
                let (Step::More(items) | Step::Idle(items) | Step::Done(items)) = step;
                progress.record(items, worker.failed_items());
                if items > 0 {
                    tracing::debug!(worker = name, items, "worker step");
                }
                match step {
                    Step::More(_) => Duration::ZERO,
                    Step::Idle(_) => worker.idle_interval(),
                    Step::Done(_) => {
                        progress.done.store(1, Ordering::Relaxed);
                        return;
                    }
                }
            }
            Err(e) => {
                failures_in_a_row += 1;
                progress.fail(&e);
                tracing::warn!(worker = name, failures_in_a_row, "worker step failed: {e}");
                backoff(failures_in_a_row)
            }
        };
        if wait.is_zero() {
            tokio::task::yield_now().await;
            continue;
        }
        tokio::select! {
            _ = stop.changed() => break,
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

/// 1 s after the first failure, doubling with each further one.
fn backoff(failures_in_a_row: u32) -> Duration {
    Duration::from_secs(1u64 << failures_in_a_row.saturating_sub(1).min(16)).min(MAX_BACKOFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Counts down from `left`, a batch of 1 per step, failing once on the way.
    struct Countdown {
        left: u64,
        failed: bool,
    }

    impl Worker for Countdown {
        fn name(&self) -> &'static str {
            "countdown"
        }
        fn idle_interval(&self) -> Duration {
            Duration::from_secs(3600)
        }
        async fn step(&mut self) -> Result<Step, WorkerError> {
            if self.left == 2 && !self.failed {
                self.failed = true;
                return Err(coffer_storage::StorageError::Closed.into());
            }
            self.left -= 1;
            Ok(if self.left == 0 { Step::Done(1) } else { Step::More(1) })
        }
    }

    /// Never has work: waits its idle interval until stopped.
    struct Sleeper;

    impl Worker for Sleeper {
        fn name(&self) -> &'static str {
            "sleeper"
        }
        fn idle_interval(&self) -> Duration {
            Duration::from_secs(3600)
        }
        async fn step(&mut self) -> Result<Step, WorkerError> {
            Ok(Step::Idle(0))
        }
    }

    #[tokio::test]
    async fn runs_to_done_retrying_failures_and_stops_idle_workers() {
        let local = tokio::task::LocalSet::new();
        local
            .run_until(async {
                let mut workers = Workers::default();
                workers.start(Countdown { left: 4, failed: false });
                workers.start(Sleeper);
                // The failure costs one backoff of 1 s.
                tokio::time::sleep(Duration::from_millis(1500)).await;
                let reports = workers.reports();
                let countdown = &reports[0];
                assert!(countdown.finished);
                assert_eq!((countdown.items, countdown.failures), (4, 1));
                assert!(countdown.last_error.is_some());
                assert!(countdown.last_run_ms.is_some_and(|ms| ms > 0));
                assert!(!reports[1].finished);
                // What metrics read: no backlog for workers that name none.
                let samples = workers.board().samples(Some(&Backlogs::default()));
                assert_eq!((samples[0].name, samples[0].items, samples[0].step_errors, samples[0].running), ("countdown", 4, 1, false));
                assert_eq!((samples[1].backlog, samples[1].running), (None, true));
                // An idle worker stops at once, not after its hour-long interval.
                let started = tokio::time::Instant::now();
                workers.stop().await;
                assert!(started.elapsed() < Duration::from_secs(1));
            })
            .await;
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        assert_eq!(backoff(1), Duration::from_secs(1));
        assert_eq!(backoff(3), Duration::from_secs(4));
        assert_eq!(backoff(30), MAX_BACKOFF);
    }
}
