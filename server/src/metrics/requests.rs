//! The request figures of the S3 listener: requests by operation and status class, latency,
//! bytes in and out, requests in flight and open connections, all in atomics (no locks).

use crate::http::router::Operation;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, NoLabelSet};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// What a request that never reached an operation (a bad address, a failed signature, a
/// gate that was full) is counted as.
pub const UNROUTED: &str = "Unrouted";
/// The operator's endpoints served on the S3 port.
pub const METRICS: &str = "Metrics";
pub const HEALTH: &str = "Health";
/// The root user's admin API (`/_admin/`).
pub const ADMIN: &str = "Admin";

/// Upper bounds of the latency buckets, in seconds.
const LATENCY_BOUNDS: [f64; 14] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];
const STATUS_CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// Every label value of `operation`: the router's operations and the four above.
fn operations() -> &'static (Vec<&'static str>, HashMap<&'static str, usize>) {
    static NAMES: OnceLock<(Vec<&'static str>, HashMap<&'static str, usize>)> = OnceLock::new();
    NAMES.get_or_init(|| {
        use strum::IntoEnumIterator;
        let mut names: Vec<&'static str> = Operation::iter().map(|op| <&'static str>::from(&op)).collect();
        names.extend([UNROUTED, METRICS, HEALTH, ADMIN]);
        let index = names.iter().enumerate().map(|(i, n)| (*n, i)).collect();
        (names, index)
    })
}

#[derive(Debug, Default)]
pub struct RequestMetrics {
    ops: OnceLock<Box<[OpStats]>>,
    in_flight: AtomicI64,
    waiting: Arc<AtomicI64>,
    connections: AtomicI64,
    connections_total: AtomicU64,
}

#[derive(Debug, Default)]
struct OpStats {
    by_status: [AtomicU64; 5],
    latency: Histogram,
    received: AtomicU64,
    sent: AtomicU64,
}

/// Counts an open connection until dropped (kept in the connection's extensions).
pub struct Connection(Arc<RequestMetrics>);

impl Drop for Connection {
    fn drop(&mut self) {
        self.0.connections.fetch_sub(1, Relaxed);
    }
}

impl RequestMetrics {
    fn ops(&self) -> &[OpStats] {
        self.ops.get_or_init(|| operations().0.iter().map(|_| OpStats::default()).collect())
    }

    /// A request arrived (it is in flight until `finished`).
    pub fn started(&self) {
        self.in_flight.fetch_add(1, Relaxed);
    }

    /// The count of requests waiting for a place in flight, kept by the request gate.
    pub fn waiting(&self) -> Arc<AtomicI64> {
        self.waiting.clone()
    }

    /// A connection opened on the S3 listener.
    pub fn connection(self: &Arc<Self>) -> Connection {
        self.connections.fetch_add(1, Relaxed);
        self.connections_total.fetch_add(1, Relaxed);
        Connection(self.clone())
    }

    /// A request is over: its response was sent (or the client went away).
    pub fn finished(&self, operation: &str, status: u16, received: u64, sent: u64, took: Duration) {
        self.in_flight.fetch_sub(1, Relaxed);
        let Some(&i) = operations().1.get(operation) else { return };
        let op = &self.ops()[i];
        let class = (status / 100).clamp(1, 5) as usize - 1;
        op.by_status[class].fetch_add(1, Relaxed);
        op.latency.observe(took);
        op.received.fetch_add(received, Relaxed);
        op.sent.fetch_add(sent, Relaxed);
    }
}

impl Collector for RequestMetrics {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let names = &operations().0;
        let used: Vec<(&str, &OpStats)> = names.iter().copied().zip(self.ops()).filter(|(_, s)| s.latency.count() > 0).collect();
        let mut family = encoder.encode_descriptor("s3_requests", "S3 requests answered, by operation and status class", None, MetricType::Counter)?;
        for (name, stats) in &used {
            for (class, n) in STATUS_CLASSES.iter().zip(&stats.by_status) {
                let n = n.load(Relaxed);
                if n > 0 {
                    ConstCounter::new(n).encode(family.encode_family(&[("operation", *name), ("status_class", *class)])?)?;
                }
            }
        }
        let mut family =
            encoder.encode_descriptor("s3_request_duration_seconds", "Time from a request's arrival to its response's last byte", None, MetricType::Histogram)?;
        for (name, stats) in &used {
            stats.latency.encode(family.encode_family(&[("operation", *name)])?)?;
        }
        for (metric, help, pick) in [
            ("s3_received_bytes", "Request body bytes received, by operation", (|s: &OpStats| &s.received) as fn(&OpStats) -> &AtomicU64),
            ("s3_sent_bytes", "Response body bytes sent, by operation", |s: &OpStats| &s.sent),
        ] {
            let mut family = encoder.encode_descriptor(metric, help, None, MetricType::Counter)?;
            for (name, stats) in &used {
                ConstCounter::new(pick(stats).load(Relaxed)).encode(family.encode_family(&[("operation", *name)])?)?;
            }
        }
        let gauges = [
            ("s3_requests_in_flight", "S3 requests being handled or having their response sent", self.in_flight.load(Relaxed)),
            ("s3_requests_waiting", "S3 requests waiting for a place past the in-flight limit", self.waiting.load(Relaxed)),
            ("s3_connections_open", "Client connections open on the S3 listener", self.connections.load(Relaxed)),
        ];
        for (metric, help, value) in gauges {
            ConstGauge::new(value).encode(encoder.encode_descriptor(metric, help, None, MetricType::Gauge)?)?;
        }
        let total = ConstCounter::new(self.connections_total.load(Relaxed));
        total.encode(encoder.encode_descriptor("s3_connections", "Client connections accepted on the S3 listener", None, MetricType::Counter)?)
    }
}

/// A latency histogram of fixed buckets kept in atomics; the sum is kept in microseconds.
#[derive(Debug, Default)]
struct Histogram {
    buckets: [AtomicU64; LATENCY_BOUNDS.len() + 1],
    sum_micros: AtomicU64,
}

impl Histogram {
    fn observe(&self, took: Duration) {
        let secs = took.as_secs_f64();
        let i = LATENCY_BOUNDS.iter().position(|b| secs <= *b).unwrap_or(LATENCY_BOUNDS.len());
        self.buckets[i].fetch_add(1, Relaxed);
        self.sum_micros.fetch_add(took.as_micros() as u64, Relaxed);
    }

    fn count(&self) -> u64 {
        self.buckets.iter().map(|b| b.load(Relaxed)).sum()
    }

    fn encode(&self, mut encoder: prometheus_client::encoding::MetricEncoder) -> Result<(), std::fmt::Error> {
        let bounds = LATENCY_BOUNDS.iter().copied().chain([f64::INFINITY]);
        let buckets: Vec<(f64, u64)> = bounds.zip(&self.buckets).map(|(b, n)| (b, n.load(Relaxed))).collect();
        let count = buckets.iter().map(|(_, n)| n).sum();
        encoder.encode_histogram::<NoLabelSet>(self.sum_micros.load(Relaxed) as f64 / 1e6, count, &buckets, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_operation_and_class_and_encodes_only_what_was_seen() {
        let m = Arc::new(RequestMetrics::default());
        for _ in 0..4 {
            m.started();
        }
        m.finished("PutObject", 200, 4096, 0, Duration::from_millis(3));
        m.finished("PutObject", 503, 0, 300, Duration::from_secs(100));
        m.finished("NoSuchOperation", 200, 0, 0, Duration::ZERO);
        let mut registry = prometheus_client::registry::Registry::with_prefix("coffer");
        registry.register_collector(Box::new(m));
        let mut text = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut text, &registry).unwrap();
        assert!(text.contains("coffer_s3_requests_total{operation=\"PutObject\",status_class=\"2xx\"} 1\n"), "{text}");
        assert!(text.contains("coffer_s3_requests_total{operation=\"PutObject\",status_class=\"5xx\"} 1\n"));
        assert!(!text.contains("GetObject"));
        assert!(text.contains("coffer_s3_request_duration_seconds_bucket{operation=\"PutObject\",le=\"0.005\"} 1\n"), "{text}");
        assert!(text.contains("coffer_s3_request_duration_seconds_bucket{operation=\"PutObject\",le=\"+Inf\"} 2\n"));
        assert!(text.contains("coffer_s3_request_duration_seconds_sum{operation=\"PutObject\"} 100.003\n"));
        assert!(text.contains("coffer_s3_received_bytes_total{operation=\"PutObject\"} 4096\n"));
        assert!(text.contains("coffer_s3_requests_in_flight 1\n"));
    }
}
