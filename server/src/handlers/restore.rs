//! RestoreObject (`POST /key?restore`): asks for a temporary copy of an archived version on
//! the local store. 202 when the restore starts, 200 when a restored copy exists (its expiry
//! moves to `Days` from now), 409 RestoreAlreadyInProgress while one runs, 403
//! InvalidObjectState for a version that is not archived. The tiering worker does the copy.

use crate::http::body::{read_all, request_body};
use crate::http::error::{ErrorCode, S3Error, S3Result};
use crate::http::xml;
use crate::request::ctx::Ctx;
use actix_web::{web, HttpResponse};
use coffer_storage::{Permission, RestoreStarted, StorageError, Versioning};
use serde::de::IgnoredAny;
use serde::Deserialize;

const BODY_LIMIT: usize = 64 * 1024;
const RETRIEVAL_TIERS: &[&str] = &["Standard", "Bulk", "Expedited"];

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct RestoreRequest {
    days: Option<i64>,
    glacier_job_parameters: Option<GlacierJobParameters>,
    #[serde(rename = "Type")]
    kind: Option<String>,
    tier: Option<String>,
    #[allow(dead_code)]
    description: Option<IgnoredAny>,
    output_location: Option<IgnoredAny>,
    #[allow(dead_code)]
    select_parameters: Option<IgnoredAny>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GlacierJobParameters {
    tier: String,
}

impl RestoreRequest {
    /// The days the restored copy is kept, after S3's checks of the request.
    fn days(&self) -> S3Result<u32> {
        if self.kind.is_some() || self.output_location.is_some() {
            return Err(S3Error::new(ErrorCode::NotImplemented).with_message("SELECT restores are not implemented by Coffer."));
        }
        let tiers = self.glacier_job_parameters.iter().map(|p| p.tier.as_str()).chain(self.tier.as_deref());
        if let Some(bad) = tiers.into_iter().find(|t| !RETRIEVAL_TIERS.contains(t)) {
            return Err(S3Error::new(ErrorCode::MalformedXML).with_message(format!("Unknown retrieval tier {bad:?}.")));
        }
        match self.days {
            Some(d) if (1..=i64::from(u32::MAX)).contains(&d) => Ok(d as u32),
            Some(_) => Err(S3Error::invalid_argument("'Days' must be a positive number").with("ArgumentName", "Days")),
            None => Err(S3Error::new(ErrorCode::MalformedXML).with_message("A restore of an archived object needs 'Days'.")),
        }
    }
}

pub async fn restore_object(ctx: &Ctx<'_>, bucket_name: &str, key: &str, payload: web::Payload) -> S3Result<HttpResponse> {
    let bucket = ctx.bucket_for(bucket_name, Permission::Write).await?;
    let body = read_all(request_body(payload, &ctx.payload).stream, BODY_LIMIT, ErrorCode::MalformedXML).await?;
    crate::request::upload::check_payload_hash(&ctx.payload, &body)?;
    let request: RestoreRequest = if body.is_empty() { RestoreRequest::default() } else { xml::parse(&body)? };
    let days = request.days()?;
    let version_id = ctx.query.get("versionId");
    let expiry = ctx.state.clock.due(coffer_storage::now_ms(), days as i64);
    let (started, version) = ctx.state.store.request_restore(bucket.id, key, version_id, days, expiry, ctx.requester()).await.map_err(|e| match e {
        StorageError::NoSuchKey => S3Error::no_such_key(key),
        StorageError::NoSuchVersion => S3Error::new(ErrorCode::NoSuchVersion).with("Key", key),
        other => other.into(),
    })?;
    let mut resp = match started {
        RestoreStarted::Started => HttpResponse::Accepted(),
        RestoreStarted::Extended => HttpResponse::Ok(),
    };
    if bucket.versioning != Versioning::Unversioned {
        resp.insert_header(("x-amz-version-id", version));
    }
    Ok(resp.finish())
}

