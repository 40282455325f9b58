//! The operator's endpoints: /metrics (Prometheus text format), /health and /health/live (the
//! process serves), /health/ready (the index answers a query and the data dir takes writes).

use crate::access::authn::{authenticate, ROOT_USER};
use crate::http::head::Head;
use crate::http::router;
use crate::metrics::requests::{HEALTH, METRICS};
use crate::state::AppState;
use actix_web::http::{Method, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use std::time::Duration;

/// How long the index may take to answer the readiness query.
const READY_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Probe {
    Metrics,
    /// `/health` and `/health/live`.
    Live,
    Ready,
}

impl Probe {
    /// The `operation` the request metrics count it as.
    pub fn operation(self) -> &'static str {
        match self {
            Probe::Metrics => METRICS,
            Probe::Live | Probe::Ready => HEALTH,
        }
    }
}

/// The probe a request asks for: a GET of one of the paths, path-style (on the S3
/// port a virtual-hosted request for a key named `metrics` is a GetObject), with no query
/// for /metrics (`GET /metrics?...` stays a listing of a bucket named `metrics`).
pub fn probe(head: Head<'_>, domain: Option<&str>) -> Option<Probe> {
    if head.method != Method::GET || router::host_bucket(head, domain).is_some() {
        return None;
    }
    match head.uri.path() {
        "/metrics" if head.uri.query().is_none() => Some(Probe::Metrics),
        "/health" | "/health/live" => Some(Probe::Live),
        "/health/ready" => Some(Probe::Ready),
        _ => None,
    }
}

/// Answers a probe on the S3 port: /metrics for the root user's keys or the bearer token.
pub async fn answer(probe: Probe, req: &HttpRequest, state: &AppState) -> HttpResponse {
    if probe == Probe::Metrics && !bearer_matches(req, state) {
        let root = authenticate(req.into(), state).await.ok().and_then(|a| a.principal).is_some_and(|p| p.user.name == ROOT_USER);
        if !root {
            return HttpResponse::Forbidden()
                .content_type("text/plain")
                .body("/metrics needs the root user's keys or the metrics bearer token\n");
        }
    }
    respond(probe, state).await
}

/// The handler of the metrics listener: the probes, with the bearer token only when one is
/// configured.
pub async fn serve_listener(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    match probe((&req).into(), None) {
        Some(Probe::Metrics) if state.metrics_token().is_some() && !bearer_matches(&req, &state) => {
            HttpResponse::Unauthorized().insert_header(("www-authenticate", "Bearer")).finish()
        }
        Some(p) => respond(p, &state).await,
        None => HttpResponse::NotFound().content_type("text/plain").body("not found: this listener serves /metrics, /health/live and /health/ready\n"),
    }
}

async fn respond(probe: Probe, state: &AppState) -> HttpResponse {
    match probe {
        Probe::Metrics => HttpResponse::Ok().content_type(crate::metrics::CONTENT_TYPE).body(state.metrics.render().await),
        Probe::Live => HttpResponse::Ok().content_type("text/plain").body("ok\n"),
        Probe::Ready => match ready(state).await {
            Ok(()) => HttpResponse::Ok().content_type("text/plain").body("ready\n"),
            Err(why) => {
                tracing::warn!("not ready: {why}");
                HttpResponse::build(StatusCode::SERVICE_UNAVAILABLE).content_type("text/plain").body(format!("not ready: {why}\n"))
            }
        },
    }
}

/// Whether the index answers a query and a file can be written in the data dir.
async fn ready(state: &AppState) -> Result<(), String> {
    match tokio::time::timeout(READY_TIMEOUT, state.store.ping()).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(format!("the index does not answer: {e}")),
        Err(_) => return Err(format!("the index did not answer within {READY_TIMEOUT:?}")),
    }
    let store = state.store.clone();
    match tokio::task::spawn_blocking(move || store.check_writable()).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(format!("the data dir takes no writes: {e}")),
        Err(e) => Err(format!("the write check failed: {e}")),
    }
}

/// Whether the request carries `Authorization: Bearer <the configured token>`.
fn bearer_matches(req: &HttpRequest, state: &AppState) -> bool {
    let Some(token) = state.metrics_token() else { return false };
    let given = req.headers().get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    given.is_some_and(|g| constant_time_eq(g.as_bytes(), token.as_bytes()))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn probe_of(req: TestRequest) -> Option<Probe> {
        let req = req.to_http_request();
        probe((&req).into(), Some("coffer.test"))
    }

    #[test]
    fn probes_are_path_style_gets_of_their_paths() {
        assert_eq!(probe_of(TestRequest::get().uri("/metrics")), Some(Probe::Metrics));
        assert_eq!(probe_of(TestRequest::get().uri("/health")), Some(Probe::Live));
        assert_eq!(probe_of(TestRequest::get().uri("/health/live")), Some(Probe::Live));
        assert_eq!(probe_of(TestRequest::get().uri("/health/ready")), Some(Probe::Ready));
        // A listing of a bucket named `metrics`, a write, a key in a virtual-hosted bucket.
        assert_eq!(probe_of(TestRequest::get().uri("/metrics?list-type=2")), None);
        assert_eq!(probe_of(TestRequest::put().uri("/metrics")), None);
        assert_eq!(probe_of(TestRequest::get().uri("/metrics").insert_header(("host", "b.coffer.test:9000"))), None);
        assert_eq!(probe_of(TestRequest::get().uri("/metrics").insert_header(("host", "127.0.0.1:9000"))), Some(Probe::Metrics));
    }

    #[test]
    fn token_comparison() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret2"));
    }
}
