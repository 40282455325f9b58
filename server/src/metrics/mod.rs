//! Prometheus metrics: one registry of every family Coffer exports (requests, storage and
//! background work, the process), rendered in Prometheus's text format at each scrape.

mod process;
pub mod requests;
mod storage;

pub use requests::RequestMetrics;
pub use storage::{WorkerSample, WorkerSource};

use coffer_storage::Store;
use prometheus_client::registry::Registry;
use std::sync::Arc;

/// The `Content-Type` of a scrape's answer.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

pub struct Metrics {
    registry: Registry,
    pub requests: Arc<RequestMetrics>,
    storage: Arc<storage::StorageFigures>,
}

impl Metrics {
    /// Metrics of `store` and of the `workers`; usage per bucket is recomputed at most once
    /// per `usage_interval`.
    pub fn new(store: Store, workers: Arc<dyn WorkerSource>, usage_interval: std::time::Duration) -> Metrics {
        let mut registry = Registry::with_prefix("coffer");
        let requests = Arc::new(RequestMetrics::default());
        let storage = Arc::new(storage::StorageFigures::new(store, workers, usage_interval));
        registry.register_collector(Box::new(requests.clone()));
        registry.register_collector(Box::new(storage.clone()));
        registry.register_collector(Box::new(process::Process::new()));
        Metrics { registry, requests, storage }
    }

    /// Every family's current values, as a scrape answers them.
    pub async fn render(&self) -> String {
        self.storage.refresh().await;
        let mut text = String::with_capacity(16 * 1024);
        prometheus_client::encoding::prometheus_text::encode(&mut text, &self.registry).expect("writing to a String cannot fail");
        text
    }
}
