//! CORS: Put/Get/DeleteBucketCors, the preflight OPTIONS request (no credentials needed), and
//! the Access-Control-* headers added to real requests that come with an Origin.

use crate::http::body::{read_all, request_body};
use crate::bucket_config::cors::{forbidden, requested_headers, CorsConfiguration};
use crate::request::ctx::Ctx;
use crate::http::error::{ErrorCode, S3Error, S3Result};
use crate::state::AppState;
use crate::http::xml;
use actix_web::http::header::HeaderMap;
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};

/// The bucket configuration document holding the CORS rules (as JSON).
const CORS: &str = "cors";
const BODY_LIMIT: usize = 256 * 1024;

async fn load(state: &AppState, bucket_id: i64) -> S3Result<Option<CorsConfiguration>> {
    crate::bucket_config::load(&state.store, bucket_id, CORS).await
}

pub async fn put_bucket_cors(ctx: &Ctx<'_>, bucket_name: &str, payload: web::Payload) -> S3Result<HttpResponse> {
    let bucket = ctx.owned_bucket(bucket_name).await?;
    let body = read_all(request_body(payload, &ctx.payload).stream, BODY_LIMIT, ErrorCode::MalformedXML).await?;
    crate::request::upload::check_payload_hash(&ctx.payload, &body)?;
    let config: CorsConfiguration = xml::parse(&body)?;
    config.validate()?;
    crate::bucket_config::save(&ctx.state.store, bucket.id, CORS, Some(&config)).await?;
    Ok(HttpResponse::Ok().finish())
}

pub async fn get_bucket_cors(ctx: &Ctx<'_>, bucket_name: &str) -> S3Result<HttpResponse> {
    let bucket = ctx.owned_bucket(bucket_name).await?;
    let mut config = load(ctx.state, bucket.id).await?.ok_or_else(|| {
        S3Error::custom("NoSuchCORSConfiguration", StatusCode::NOT_FOUND, "The CORS configuration does not exist")
            .with("BucketName", bucket_name)
    })?;
    config.xmlns = xml::S3_NAMESPACE;
    xml::ok("CORSConfiguration", &config)
}

pub async fn delete_bucket_cors(ctx: &Ctx<'_>, bucket_name: &str) -> S3Result<HttpResponse> {
    let bucket = ctx.owned_bucket(bucket_name).await?;
    ctx.state.store.set_bucket_config(bucket.id, CORS, None).await?;
    Ok(HttpResponse::NoContent().finish())
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// A preflight request: answered from the bucket's rules, whoever asks.
pub async fn preflight(ctx: &Ctx<'_>, bucket_name: &str) -> S3Result<HttpResponse> {
    let headers = ctx.req.headers();
    let (Some(origin), Some(method)) = (header(headers, "origin"), header(headers, "access-control-request-method")) else {
        return Err(S3Error::custom("BadRequest", StatusCode::BAD_REQUEST, "Insufficient information. Origin request header needed."));
    };
    let bucket = ctx.state.store.bucket(bucket_name).await.map_err(|_| S3Error::no_such_bucket(bucket_name))?;
    let denied = || forbidden("CORSResponse: This CORS request is not allowed. This is usually because the evalution of Origin, request method / Access-Control-Request-Method or Access-Control-Request-Headers are not whitelisted by the resource's CORS spec.");
    let config = load(ctx.state, bucket.id).await?.ok_or_else(denied)?;
    let wanted = requested_headers(header(headers, "access-control-request-headers"));
    let rule = config.find(origin, method, &wanted).ok_or_else(denied)?;
    let mut resp = HttpResponse::Ok();
    for (name, value) in rule.response_headers(origin, &wanted) {
        resp.insert_header((name, value));
    }
    Ok(resp.finish())
}

/// Adds Access-Control-* headers to the response of a real (non-preflight) request that came
/// with an Origin the bucket's rules allow.
pub async fn decorate(state: &AppState, bucket: Option<&str>, headers: &HeaderMap, method: &str, resp: &mut HttpResponse) {
    let (Some(bucket), Some(origin)) = (bucket, header(headers, "origin")) else { return };
    let Ok(b) = state.store.bucket(bucket).await else { return };
    let Ok(Some(config)) = load(state, b.id).await else { return };
    let method = header(headers, "access-control-request-method").unwrap_or(method);
    if let Some(rule) = config.find(origin, method, &[]) {
        for (name, value) in rule.response_headers(origin, &[]) {
            if let (Ok(n), Ok(v)) = (actix_web::http::header::HeaderName::from_bytes(name.as_bytes()), value.parse()) {
                resp.headers_mut().insert(n, v);
            }
        }
    }
}
