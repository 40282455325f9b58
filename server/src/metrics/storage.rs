//! The storage and background-work figures: usage per bucket (recomputed in the background,
//! at most once a minute), backlogs (re-read when a scrape finds them older than a few
//! seconds), the index's size, and each worker's progress with its backlog.

use coffer_storage::{Backlogs, Store, StoreUsage};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Backlogs older than this are read again at a scrape.
const BACKLOGS_MAX_AGE: Duration = Duration::from_secs(5);
/// Usage is recomputed at most once per interval (`metrics_usage_interval`), and never more
/// often than this many times its last computation's duration, so the scans take at most
/// ~2% of one core.
const USAGE_COST_FACTOR: u32 = 50;

/// One background worker's figures, as its source reports them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WorkerSample {
    pub name: &'static str,
    pub steps: u64,
    /// Items handled (blobs collected, versions moved, events delivered...).
    pub items: u64,
    /// Items that failed (retried later or given up), and steps that failed as a whole.
    pub failed_items: u64,
    pub step_errors: u64,
    /// When its last step ended (Unix ms), if one has.
    pub last_run_ms: Option<i64>,
    /// Whether it is still running (one-off jobs finish).
    pub running: bool,
    /// Items waiting, and when the oldest of them was queued, where the index knows them.
    pub backlog: Option<u64>,
    pub oldest_ms: Option<i64>,
}

/// Whatever keeps the workers' progress (`crate::workers`).
pub trait WorkerSource: Send + Sync + 'static {
    fn samples(&self, backlogs: Option<&Backlogs>) -> Vec<WorkerSample>;
}

#[derive(Debug, Clone)]
struct Timed<T> {
    at: Instant,
    took: Duration,
    value: Arc<T>,
}

pub struct StorageFigures {
    store: Store,
    workers: Arc<dyn WorkerSource>,
    usage: Mutex<Option<Timed<StoreUsage>>>,
    usage_interval: Duration,
    usage_updating: AtomicBool,
    backlogs: Mutex<Option<Timed<Backlogs>>>,
}

impl std::fmt::Debug for StorageFigures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StorageFigures")
    }
}

impl StorageFigures {
    pub fn new(store: Store, workers: Arc<dyn WorkerSource>, usage_interval: Duration) -> StorageFigures {
        StorageFigures { store, workers, usage: Mutex::default(), usage_interval, usage_updating: AtomicBool::new(false), backlogs: Mutex::default() }
    }

    /// Brings the cached figures up to date before a scrape: backlogs now if they are stale;
    /// usage now if there is none yet, else in the background once it is due.
    pub async fn refresh(self: &Arc<Self>) {
        let stale = |t: &Option<Timed<Backlogs>>| t.as_ref().is_none_or(|t| t.at.elapsed() > BACKLOGS_MAX_AGE);
        if stale(&self.backlogs.lock().expect("metrics cache poisoned")) {
            let started = Instant::now();
            match self.store.backlogs().await {
                Ok(b) => *self.backlogs.lock().expect("metrics cache poisoned") = Some(Timed { at: Instant::now(), took: started.elapsed(), value: Arc::new(b) }),
                Err(e) => tracing::warn!("metrics: reading backlogs: {e}"),
            }
        }
        let due = self.usage.lock().expect("metrics cache poisoned").as_ref().map(|t| t.at.elapsed() >= self.usage_interval.max(t.took * USAGE_COST_FACTOR));
        match due {
            None => self.update_usage().await,
            Some(true) if !self.usage_updating.swap(true, Ordering::AcqRel) => {
                let me = self.clone();
                actix_web::rt::spawn(async move { me.update_usage().await });
            }
            Some(_) => {}
        }
    }

    async fn update_usage(&self) {
        let started = Instant::now();
        match self.store.store_usage().await {
            Ok(u) => {
                let took = started.elapsed();
                tracing::debug!(?took, "metrics: usage computed");
                *self.usage.lock().expect("metrics cache poisoned") = Some(Timed { at: Instant::now(), took, value: Arc::new(u) });
            }
            Err(e) => tracing::warn!("metrics: computing usage: {e}"),
        }
        self.usage_updating.store(false, Ordering::Release);
    }
}

fn gauge(encoder: &mut DescriptorEncoder, name: &str, help: &str, value: impl prometheus_client::encoding::EncodeGaugeValue) -> std::fmt::Result {
    ConstGauge::new(value).encode(encoder.encode_descriptor(name, help, None, MetricType::Gauge)?)
}

/// One family with a value per item of `items`, labelled `label`.
fn labelled<T, V: prometheus_client::encoding::EncodeGaugeValue + prometheus_client::encoding::EncodeCounterValue>(
    encoder: &mut DescriptorEncoder,
    (name, help, kind): (&str, &str, MetricType),
    label: &str,
    items: &[T],
    value: impl Fn(&T) -> Option<(&str, V)>,
) -> std::fmt::Result {
    let mut family = encoder.encode_descriptor(name, help, None, kind)?;
    for (label_value, v) in items.iter().filter_map(value) {
        let labels = [(label, label_value)];
        let m = family.encode_family(&labels)?;
        match kind {
            MetricType::Counter => ConstCounter::new(v).encode(m)?,
            _ => ConstGauge::new(v).encode(m)?,
        }
    }
    Ok(())
}

fn secs(ms: i64) -> f64 {
    ms as f64 / 1000.0
}

impl Collector for StorageFigures {
    fn encode(&self, mut e: DescriptorEncoder) -> std::fmt::Result {
        let usage = self.usage.lock().expect("metrics cache poisoned").clone();
        let backlogs = self.backlogs.lock().expect("metrics cache poisoned").clone();
        const G: MetricType = MetricType::Gauge;
        const C: MetricType = MetricType::Counter;
        if let Some(Timed { value: u, took, .. }) = &usage {
            let b = &u.buckets;
            labelled(&mut e, ("bucket_objects", "Current objects (delete markers aside), per bucket", G), "bucket", b, |b| Some((&b.bucket, b.objects)))?;
            labelled(&mut e, ("bucket_versions", "Object versions (delete markers aside), per bucket", G), "bucket", b, |b| Some((&b.bucket, b.versions)))?;
            labelled(&mut e, ("bucket_delete_markers", "Delete markers, per bucket", G), "bucket", b, |b| Some((&b.bucket, b.delete_markers)))?;
            labelled(&mut e, ("bucket_logical_bytes", "Bytes of all versions as clients see them, per bucket", G), "bucket", b, |b| Some((&b.bucket, b.logical_bytes)))?;
            labelled(&mut e, ("bucket_stored_bytes", "Bytes the bucket's versions take stored: each distinct blob once, plus inline bodies", G), "bucket", b, |b| {
                Some((&b.bucket, b.stored_bytes))
            })?;
            gauge(&mut e, "store_blobs", "Referenced blob files on the local store", u.blobs)?;
            gauge(&mut e, "store_blob_bytes", "Bytes of referenced blob files on the local store", u.blob_bytes)?;
            gauge(&mut e, "store_inline_bytes", "Bytes of small objects kept inline in the index", u.inline_bytes)?;
            gauge(&mut e, "store_tier_blobs", "Referenced blobs on storage tiers", u.tier_blobs)?;
            gauge(&mut e, "store_tier_blob_bytes", "Bytes of referenced blobs on storage tiers", u.tier_blob_bytes)?;
            gauge(&mut e, "usage_scan_seconds", "How long the last computation of the usage figures took", took.as_secs_f64())?;
        }
        if let Some(Timed { value: b, .. }) = &backlogs {
            gauge(&mut e, "gc_backlog_blobs", "Unreferenced blobs waiting for the garbage collector", b.gc_blobs)?;
            gauge(&mut e, "gc_backlog_bytes", "Bytes of unreferenced blobs waiting for the garbage collector", b.gc_bytes)?;
            gauge(&mut e, "corrupt_blobs", "Blobs found corrupt by reads or the scrubber (see `coffer admin scrub status`)", b.corrupt_blobs)?;
        }
        gauge(&mut e, "index_size_bytes", "Size of the metadata index on disk (database and write-ahead log)", self.store.index_bytes())?;
        let samples = self.workers.samples(backlogs.as_ref().map(|b| &*b.value));
        let now = coffer_storage::now_ms();
        let per_worker = |e: &mut DescriptorEncoder, metric: (&str, &str, MetricType), pick: fn(&WorkerSample) -> Option<u64>| {
            labelled(e, metric, "worker", &samples, |s| pick(s).map(|v| (s.name, v)))
        };
        per_worker(&mut e, ("worker_steps", "Steps (batches) a background worker ran", C), |s| Some(s.steps))?;
        per_worker(&mut e, ("worker_items", "Items a background worker handled", C), |s| Some(s.items))?;
        per_worker(&mut e, ("worker_items_failed", "Items a background worker failed on (retried later or given up)", C), |s| Some(s.failed_items))?;
        per_worker(&mut e, ("worker_step_errors", "Steps of a background worker that failed as a whole (retried with backoff)", C), |s| Some(s.step_errors))?;
        per_worker(&mut e, ("worker_backlog", "Items waiting for a background worker", G), |s| s.backlog)?;
        per_worker(&mut e, ("worker_running", "Whether a background worker runs (1) or has finished (0)", G), |s| Some(s.running as u64))?;
        labelled(&mut e, ("worker_lag_seconds", "Age of the oldest item waiting for a background worker", G), "worker", &samples, |s| {
            s.backlog.map(|_| (s.name, s.oldest_ms.map_or(0.0, |ms| secs(now.saturating_sub(ms).max(0)))))
        })?;
        labelled(&mut e, ("worker_last_run_timestamp_seconds", "When a background worker last finished a step (Unix time)", G), "worker", &samples, |s| {
            s.last_run_ms.map(|ms| (s.name, secs(ms)))
        })
    }
}
