//! Turning a request about to be answered into its access log record, for buckets with
//! logging on. The record is queued (durably) before the response leaves, so its sizes are
//! what the response carries and its times run to the moment the response is ready.

use super::record::{self, RequestFacts};
use crate::http::access_log::Exchange;
use crate::http::router::Query;
use crate::state::AppState;
use actix_web::body::{BodySize, MessageBody};
use actix_web::{HttpRequest, HttpResponse};

/// Queues the record of the request to `exchange.bucket`, if that bucket logs requests. A
/// record that cannot be queued is reported in the server's log; the answer goes out anyway.
pub async fn log_request(state: &AppState, req: &HttpRequest, exchange: &Exchange, resp: &HttpResponse, error_code: Option<&str>) {
    let Some(bucket) = exchange.bucket.as_deref() else { return };
    let destination = match state.logged_buckets.destination_of(&state.store, bucket).await {
        Ok(Some(destination)) => destination,
        Ok(None) => return,
        Err(e) => {
            tracing::error!(bucket, error = %e.message, "could not read the bucket's logging status");
            return;
        }
    };
    let facts = facts(req, exchange, resp, error_code, destination.source_owner.clone());
    if let Err(e) = super::queue(&state.store, &destination, &facts).await {
        tracing::error!(bucket, request_id = %exchange.request_id, error = %e.message, "could not queue the access log record");
    }
}

fn facts(req: &HttpRequest, exchange: &Exchange, resp: &HttpResponse, error_code: Option<&str>, bucket_owner: String) -> RequestFacts {
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
    let query = Query::parse(req.uri().query().unwrap_or(""));
    let took = exchange.elapsed();
    let (signature_version, auth_type) = signature(req, &query);
    RequestFacts {
        bucket_owner,
        bucket: exchange.bucket.clone().unwrap_or_default(),
        time_ms: coffer_storage::now_ms() - took.as_millis() as i64,
        remote_ip: req.peer_addr().map(|a| a.ip().to_string()).unwrap_or_default(),
        requester: exchange.principal_id.clone(),
        request_id: exchange.request_id.clone(),
        operation: record::operation(req.method().as_str(), exchange.key.is_some(), &query, req.headers().contains_key("x-amz-copy-source")),
        key: exchange.key.clone(),
        request_uri: format!("{} {} {:?}", req.method(), req.uri(), req.version()),
        status: resp.status().as_u16(),
        error_code: error_code.map(str::to_string),
        bytes_sent: match resp.body().size() {
            BodySize::Sized(n) => n,
            _ => 0,
        },
        object_size: object_size(req, resp),
        total_ms: took.as_millis() as u64,
        turnaround_ms: took.as_millis() as u64,
        referer: header("referer"),
        user_agent: header("user-agent"),
        version_id: resp.headers().get("x-amz-version-id").and_then(|v| v.to_str().ok()).map(str::to_string),
        signature_version,
        auth_type,
        host: header("host"),
        tls: req.connection_info().scheme() == "https",
    }
}

/// How the request was signed: (SigV4 or SigV2, AuthHeader or QueryString).
fn signature(req: &HttpRequest, query: &Query) -> (Option<&'static str>, Option<&'static str>) {
    let authorization = req.headers().get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("");
    if authorization.starts_with("AWS4-") {
        (Some("SigV4"), Some("AuthHeader"))
    } else if authorization.starts_with("AWS ") {
        (Some("SigV2"), Some("AuthHeader"))
    } else if query.has("X-Amz-Algorithm") {
        (Some("SigV4"), Some("QueryString"))
    } else if query.has("Signature") {
        (Some("SigV2"), Some("QueryString"))
    } else {
        (None, None)
    }
}

/// The size of the object the request read or wrote, when it is one.
fn object_size(req: &HttpRequest, resp: &HttpResponse) -> Option<u64> {
    let number = |v: &actix_web::http::header::HeaderValue| v.to_str().ok().and_then(|s| s.parse::<u64>().ok());
    match req.method().as_str() {
        "GET" | "HEAD" if resp.status().is_success() => match resp.headers().get("content-range") {
            Some(range) => range.to_str().ok().and_then(|r| r.rsplit('/').next()).and_then(|total| total.parse().ok()),
            None => resp.headers().get("content-length").and_then(number).or(match resp.body().size() {
                BodySize::Sized(n) => Some(n),
                _ => None,
            }),
        },
        "PUT" | "POST" => req.headers().get("x-amz-decoded-content-length").or_else(|| req.headers().get("content-length")).and_then(number),
        _ => None,
    }
}
