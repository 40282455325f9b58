//! One request as it is served: who asked for what, and how it went. When its response's last
//! byte is sent (or the client goes away) it becomes an access-log line and request metrics.

use crate::http::limits::BodyGuard;
use crate::metrics::RequestMetrics;
use actix_web::HttpRequest;
use std::cell::Cell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The `tracing` target of access-log lines (filter them with `COFFER_LOG`, e.g.
/// `info,coffer::access=off`).
pub const TARGET: &str = "coffer::access";

pub struct Exchange {
    metrics: Arc<RequestMetrics>,
    started: Instant,
    pub request_id: String,
    method: String,
    remote: Option<String>,
    user_agent: Option<String>,
    /// The router's name of the operation (`metrics::requests::UNROUTED` until routed).
    pub operation: &'static str,
    pub bucket: Option<String>,
    pub key: Option<String>,
    pub access_key: Option<String>,
    /// The user the access key belongs to, by name and canonical id.
    pub principal: Option<String>,
    pub principal_id: Option<String>,
    /// Request body bytes read so far (counted by `body::with_stall_timeout`).
    pub received: Rc<Cell<u64>>,
    status: u16,
    error_code: Option<&'static str>,
    first_byte: Duration,
    sent: u64,
}

impl Exchange {
    pub fn new(req: &HttpRequest, metrics: &Arc<RequestMetrics>, request_id: String) -> Exchange {
        metrics.started();
        let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
        Exchange {
            metrics: metrics.clone(),
            started: Instant::now(),
            request_id,
            method: req.method().to_string(),
            remote: req.peer_addr().map(|a| a.to_string()),
            user_agent: header("user-agent"),
            operation: crate::metrics::requests::UNROUTED,
            bucket: None,
            key: None,
            access_key: None,
            principal: None,
            principal_id: None,
            received: Rc::default(),
            status: 0,
            error_code: None,
            first_byte: Duration::ZERO,
            sent: 0,
        }
    }

    /// How long ago the request arrived.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// The response is ready: its status, and S3's error code when it is an error.
    pub fn answered(mut self, status: u16, error_code: Option<&'static str>) -> Exchange {
        self.status = status;
        self.error_code = error_code;
        self.first_byte = self.started.elapsed();
        self
    }
}

impl BodyGuard for Exchange {
    fn sent(&mut self, bytes: usize) {
        self.sent += bytes as u64;
    }
}

fn millis(d: Duration) -> f64 {
    d.as_micros() as f64 / 1000.0
}

impl Drop for Exchange {
    fn drop(&mut self) {
        let took = self.started.elapsed();
        let received = self.received.get();
        self.metrics.finished(self.operation, self.status, received, self.sent, took);
        tracing::info!(
            target: TARGET,
            request_id = %self.request_id,
            remote = self.remote.as_deref(),
            method = %self.method,
            operation = self.operation,
            bucket = self.bucket.as_deref(),
            key = self.key.as_deref(),
            access_key = self.access_key.as_deref(),
            principal = self.principal.as_deref(),
            status = self.status,
            error_code = self.error_code,
            bytes_in = received,
            bytes_out = self.sent,
            duration_ms = millis(took),
            ttfb_ms = millis(self.first_byte),
            user_agent = self.user_agent.as_deref(),
            "request"
        );
    }
}
