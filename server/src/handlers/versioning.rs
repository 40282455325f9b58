//! Bucket versioning: GetBucketVersioning and PutBucketVersioning (Enabled or Suspended, never
//! back to unversioned), with MfaDelete, whose changes need a valid x-amz-mfa header.

use crate::http::body::{read_all, request_body};
use crate::request::ctx::Ctx;
use crate::http::error::{ErrorCode, S3Error, S3Result};
use crate::access::mfa;
use crate::http::xml::{self, S3_NAMESPACE};
use actix_web::{web, HttpResponse};
use coffer_storage::Versioning;
use serde::{Deserialize, Serialize};

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct VersioningConfiguration {
    #[serde(rename = "@xmlns")]
    xmlns: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mfa_delete: Option<String>,
}

pub async fn get_bucket_versioning(ctx: &Ctx<'_>, name: &str) -> S3Result<HttpResponse> {
    let bucket = ctx.owned_bucket(name).await?;
    let status = match bucket.versioning {
        Versioning::Unversioned => None,
        other => Some(other.as_str()),
    };
    let mfa_delete = mfa::state(&ctx.state.store, &bucket).await?;
    xml::ok("VersioningConfiguration", &VersioningConfiguration { xmlns: S3_NAMESPACE, status, mfa_delete })
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct VersioningRequest {
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    mfa_delete: Option<String>,
}

/// Largest VersioningConfiguration body read.
const BODY_LIMIT: usize = 64 * 1024;

pub async fn put_bucket_versioning(ctx: &Ctx<'_>, name: &str, payload: web::Payload) -> S3Result<HttpResponse> {
    let bucket = ctx.owned_bucket(name).await?;
    let body = read_all(request_body(payload, &ctx.payload).stream, BODY_LIMIT, ErrorCode::MalformedXML).await?;
    crate::request::upload::check_payload_hash(&ctx.payload, &body)?;
    let request: VersioningRequest = xml::parse(&body)?;
    let state = match request.status.as_deref() {
        Some("Enabled") => Some(Versioning::Enabled),
        Some("Suspended") => Some(Versioning::Suspended),
        None => None,
        Some(_) => return Err(S3Error::new(ErrorCode::MalformedXML)),
    };
    let mfa_delete = match request.mfa_delete.as_deref() {
        Some("Enabled") => Some(true),
        Some("Disabled") => Some(false),
        None => None,
        Some(_) => return Err(S3Error::new(ErrorCode::MalformedXML)),
    };
    // Turning MfaDelete on, or changing anything while it is on, takes the owner's device;
    // saying "Disabled" of a bucket where it is off changes nothing and needs none.
    if mfa_delete == Some(true) || mfa::enabled(&ctx.state.store, &bucket).await? {
        mfa::verify_header(ctx.state, ctx.req.headers(), &bucket).await?;
    }
    if let Some(state) = state {
        ctx.state.store.set_versioning(bucket.id, state).await?;
    }
    if let Some(on) = mfa_delete {
        mfa::set_state(&ctx.state.store, &bucket, on).await?;
    }
    Ok(HttpResponse::Ok().finish())
}
