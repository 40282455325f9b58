//! DeleteObject and DeleteObjects (up to 1000 keys, Quiet mode, per-key results and errors).

use crate::http::body::{read_all, request_body};
use crate::request::ctx::Ctx;
use crate::access::mfa;
use crate::http::error::{ErrorCode, S3Error, S3Result};
use crate::request::replica::{self, ReplicaWrite};
use crate::request::upload::check_payload_hash;
use crate::http::xml::{self, S3_NAMESPACE};
use actix_web::{web, HttpResponse};
use crate::request::object_lock::bypass_governance;
use coffer_storage::{DeleteOptions, DeleteOutcome, Permission, StorageError};
use serde::{Deserialize, Serialize};

fn outcome_headers(resp: &mut actix_web::HttpResponseBuilder, outcome: &DeleteOutcome) {
    if let Some(v) = &outcome.version_id {
        resp.insert_header(("x-amz-version-id", v.clone()));
    }
    if outcome.delete_marker {
        resp.insert_header(("x-amz-delete-marker", "true"));
    }
}

pub async fn delete_object(ctx: &Ctx<'_>, bucket_name: &str, key: &str) -> S3Result<HttpResponse> {
    let bucket = ctx.bucket_for(bucket_name, Permission::Write).await?;
    if ctx.query.get("versionId").is_some() {
        mfa::require_for_version_delete(ctx.state, ctx.req.headers(), &bucket).await?;
    }
    let replica_of = match ctx.query.get("versionId") {
        None => replica::identity(ctx, &bucket, key, ReplicaWrite::DeleteMarker).await?,
        Some(_) => None,
    };
    let outcome = match replica_of {
        Some(of) => {
            let marker = ctx.state.store.put_marker_replica(bucket.id, key, of).await?;
            DeleteOutcome { version_id: Some(marker.version_id), delete_marker: true }
        }
        None => {
            let options = DeleteOptions { bypass_governance: bypass_governance(ctx, &bucket, key).await? };
            ctx.state.store.delete_object(bucket.id, key, ctx.query.get("versionId"), ctx.requester(), options).await?
        }
    };
    let mut resp = HttpResponse::NoContent();
    outcome_headers(&mut resp, &outcome);
    Ok(resp.finish())
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct Delete {
    #[serde(default)]
    quiet: Option<bool>,
    #[serde(default, rename = "Object")]
    objects: Vec<ObjectIdentifier>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ObjectIdentifier {
    key: String,
    #[serde(default)]
    version_id: Option<String>,
}

#[derive(Serialize)]
struct DeleteResult {
    #[serde(rename = "@xmlns")]
    xmlns: &'static str,
    #[serde(rename = "$value")]
    entries: Vec<DeleteEntry>,
}

#[derive(Serialize)]
enum DeleteEntry {
    Deleted(Deleted),
    Error(DeleteError),
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Deleted {
    key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    version_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    delete_marker: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    delete_marker_version_id: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct DeleteError {
    key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    version_id: Option<String>,
    code: String,
    message: String,
}

/// Most keys one DeleteObjects request may name.
const MAX_KEYS: usize = 1000;
/// Largest request body: 1000 keys of 1024 bytes plus markup.
const BODY_LIMIT: usize = 2 * 1024 * 1024;

pub async fn delete_objects(ctx: &Ctx<'_>, bucket_name: &str, payload: web::Payload) -> S3Result<HttpResponse> {
    let bucket = ctx.bucket(bucket_name).await?;
    // Under a bucket policy each key is decided on its own (resources name keys).
    let per_key = ctx.has_policy(&bucket).await?;
    if !per_key {
        ctx.check_bucket(&bucket, Permission::Write).await?;
    }
    let body = read_all(request_body(payload, &ctx.payload).stream, BODY_LIMIT, ErrorCode::MalformedXML).await?;
    check_payload_hash(&ctx.payload, &body)?;
    crate::request::upload::check_content_md5(ctx, &body)?;
    let request: Delete = xml::parse(&body)?;
    if request.objects.is_empty() || request.objects.len() > MAX_KEYS {
        return Err(S3Error::new(ErrorCode::MalformedXML));
    }
    if request.objects.iter().any(|o| o.version_id.is_some()) {
        mfa::require_for_version_delete(ctx.state, ctx.req.headers(), &bucket).await?;
    }
    let quiet = request.quiet.unwrap_or(false);
    let mut allowed = Vec::with_capacity(request.objects.len());
    for o in &request.objects {
        let action = if o.version_id.is_some() { "s3:DeleteObjectVersion" } else { "s3:DeleteObject" };
        allowed.push(!per_key || ctx.check_key(&bucket, &o.key, action, Permission::Write).await.is_ok());
    }
    let targets: Vec<(String, Option<String>)> = request
        .objects
        .iter()
        .zip(&allowed)
        .filter(|(o, ok)| **ok && o.key.len() <= 1024)
        .map(|(o, _)| (o.key.clone(), o.version_id.clone()))
        .collect();
    // Bypassing GOVERNANCE retention is asked once for the request; it applies when the caller
    // may bypass it on every key.
    let mut bypass = !targets.is_empty();
    for (key, _) in &targets {
        bypass = bypass && bypass_governance(ctx, &bucket, key).await?;
    }
    let options = DeleteOptions { bypass_governance: bypass };
    let mut outcomes = ctx.state.store.delete_objects(bucket.id, targets, ctx.requester(), options).await?.into_iter();
    let mut entries = Vec::new();
    for (obj, ok) in request.objects.into_iter().zip(allowed) {
        let result = if obj.key.len() > 1024 {
            Err(S3Error::new(ErrorCode::KeyTooLongError))
        } else if !ok {
            Err(S3Error::new(ErrorCode::AccessDenied))
        } else {
            outcomes.next().unwrap_or(Err(StorageError::Closed)).map_err(S3Error::from)
        };
        match result {
            Ok(outcome) if !quiet => {
                let marker_version = outcome.delete_marker.then(|| outcome.version_id.clone()).flatten();
                entries.push(DeleteEntry::Deleted(Deleted {
                    key: obj.key,
                    version_id: obj.version_id,
                    delete_marker: outcome.delete_marker.then_some(true),
                    delete_marker_version_id: marker_version,
                }))
            }
            Ok(_) => {}
            Err(e) => entries.push(DeleteEntry::Error(DeleteError {
                key: obj.key,
                version_id: obj.version_id,
                code: e.code.to_string(),
                message: e.message,
            })),
        }
    }
    xml::ok("DeleteResult", &DeleteResult { xmlns: S3_NAMESPACE, entries })
}
