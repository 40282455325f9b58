//! Object Lock: Put/GetObjectLockConfiguration on buckets, Put/GetObjectRetention and
//! Put/GetObjectLegalHold on versions. Lock is enabled on a bucket at creation or later on a
//! bucket with versioning Enabled, and never disabled. Changes to a version's retention are
//! checked by the storage layer in their own transaction (extend freely; shorten, remove or
//! leave GOVERNANCE only with the bypass; COMPLIANCE never).

use crate::bucket_config::object_lock::{self as lock, BucketLock, LegalHoldXml, RetentionXml};
use crate::http::body::{read_all, request_body};
use crate::http::error::{ErrorCode, S3Error, S3Result};
use crate::http::xml;
use crate::request::ctx::{Ctx, LockRequest};
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use coffer_storage::{Bucket, DeleteOptions, LockChange, Permission, StorageError};

const BODY_LIMIT: usize = 64 * 1024;

/// A lock document's body, checked as every configuration PUT is (payload hash, Content-MD5).
async fn body(ctx: &Ctx<'_>, payload: web::Payload) -> S3Result<web::Bytes> {
    let body = read_all(request_body(payload, &ctx.payload).stream, BODY_LIMIT, ErrorCode::MalformedXML).await?;
    crate::request::upload::check_payload_hash(&ctx.payload, &body)?;
    crate::request::upload::check_content_md5(ctx, &body)?;
    Ok(body)
}

pub async fn put_configuration(ctx: &Ctx<'_>, bucket_name: &str, payload: web::Payload) -> S3Result<HttpResponse> {
    let bucket = ctx.owned_bucket(bucket_name).await?;
    let setting = BucketLock::from_xml(&body(ctx, payload).await?)?;
    lock::set_bucket_lock(&ctx.state.store, bucket.id, &setting).await?;
    Ok(HttpResponse::Ok().finish())
}

pub async fn get_configuration(ctx: &Ctx<'_>, bucket_name: &str) -> S3Result<HttpResponse> {
    let bucket = ctx.owned_bucket(bucket_name).await?;
    let setting = lock::bucket_lock(&ctx.state.store, bucket.id).await?.ok_or_else(|| {
        S3Error::custom("ObjectLockConfigurationNotFoundError", StatusCode::NOT_FOUND, "Object Lock configuration does not exist for this bucket")
            .with("BucketName", bucket_name)
    })?;
    xml::ok("ObjectLockConfiguration", &setting.to_document())
}

/// The bucket of a retention or legal-hold call, which must have lock on.
async fn locked_bucket(ctx: &Ctx<'_>, bucket_name: &str, wanted: Permission) -> S3Result<Bucket> {
    let bucket = ctx.bucket_for(bucket_name, wanted).await?;
    if lock::bucket_lock(&ctx.state.store, bucket.id).await?.is_none() {
        return Err(lock::not_enabled());
    }
    Ok(bucket)
}

/// Decides the request's policy again with the lock values its body asks for.
async fn recheck_with(ctx: &Ctx<'_>, bucket: &Bucket, key: &str, asked: LockRequest) -> S3Result<()> {
    let _ = ctx.lock_request.set(asked);
    ctx.check_key(bucket, key, ctx.target.action, Permission::Write).await
}

fn missing_version<'a>(key: &'a str, version_id: Option<&'a str>) -> impl Fn(StorageError) -> S3Error + 'a {
    move |e| match (e, version_id) {
        (StorageError::NoSuchKey, _) | (StorageError::NoSuchVersion, None) => S3Error::no_such_key(key),
        (StorageError::NoSuchVersion, Some(v)) => S3Error::new(ErrorCode::NoSuchVersion).with("Key", key).with("VersionId", v),
        (other, _) => other.into(),
    }
}

fn version_header(resp: &mut actix_web::HttpResponseBuilder, version_id: &str) {
    if version_id != coffer_storage::NULL_VERSION {
        resp.insert_header(("x-amz-version-id", version_id.to_string()));
    }
}

pub async fn put_retention(ctx: &Ctx<'_>, bucket_name: &str, key: &str, payload: web::Payload) -> S3Result<HttpResponse> {
    let bucket = locked_bucket(ctx, bucket_name, Permission::Write).await?;
    let retention = lock::parse_retention(&body(ctx, payload).await?)?;
    // The body says what is asked: policy conditions on it (s3:object-lock-*) are decided now.
    let asked = LockRequest { mode: retention.map(|(m, _)| lock::mode_name(m).to_string()), retain_until_ms: retention.map(|(_, u)| u), legal_hold: None };
    recheck_with(ctx, &bucket, key, asked).await?;
    if retention.is_some_and(|(_, until)| until <= coffer_storage::now_ms()) {
        return Err(S3Error::invalid_argument("The retain until date must be in the future!").with("ArgumentName", "RetainUntilDate"));
    }
    let options = DeleteOptions { bypass_governance: crate::request::object_lock::bypass_governance(ctx, &bucket, key).await? };
    let version_id = ctx.query.get("versionId");
    let changed = ctx
        .state
        .store
        .change_version_lock(bucket.id, key, version_id, LockChange::Retention(retention), options)
        .await
        .map_err(missing_version(key, version_id))?;
    let mut resp = HttpResponse::Ok();
    version_header(&mut resp, &changed);
    Ok(resp.finish())
}

pub async fn get_retention(ctx: &Ctx<'_>, bucket_name: &str, key: &str) -> S3Result<HttpResponse> {
    let bucket = locked_bucket(ctx, bucket_name, Permission::Read).await?;
    let version_id = ctx.query.get("versionId");
    let (rec, _) = ctx.state.store.object(bucket.id, key, version_id).await.map_err(missing_version(key, version_id))?;
    let Some((mode, until)) = rec.meta.lock.retention.filter(|_| !rec.delete_marker) else {
        return Err(S3Error::custom("NoSuchObjectLockConfiguration", StatusCode::NOT_FOUND, "The specified object does not have a ObjectLock configuration"));
    };
    let doc = RetentionXml { xmlns: xml::S3_NAMESPACE, mode: Some(lock::mode_name(mode).into()), retain_until_date: Some(lock::format_date(until)) };
    xml::ok("Retention", &doc)
}

pub async fn put_legal_hold(ctx: &Ctx<'_>, bucket_name: &str, key: &str, payload: web::Payload) -> S3Result<HttpResponse> {
    let bucket = locked_bucket(ctx, bucket_name, Permission::Write).await?;
    let on = lock::parse_legal_hold(&body(ctx, payload).await?)?;
    let asked = LockRequest { legal_hold: Some(if on { "ON" } else { "OFF" }.to_string()), ..Default::default() };
    recheck_with(ctx, &bucket, key, asked).await?;
    let version_id = ctx.query.get("versionId");
    let changed = ctx
        .state
        .store
        .change_version_lock(bucket.id, key, version_id, LockChange::LegalHold(on), DeleteOptions::default())
        .await
        .map_err(missing_version(key, version_id))?;
    let mut resp = HttpResponse::Ok();
    version_header(&mut resp, &changed);
    Ok(resp.finish())
}

pub async fn get_legal_hold(ctx: &Ctx<'_>, bucket_name: &str, key: &str) -> S3Result<HttpResponse> {
    let bucket = locked_bucket(ctx, bucket_name, Permission::Read).await?;
    let version_id = ctx.query.get("versionId");
    let (rec, _) = ctx.state.store.object(bucket.id, key, version_id).await.map_err(missing_version(key, version_id))?;
    let status = if rec.meta.lock.legal_hold { "ON" } else { "OFF" };
    xml::ok("LegalHold", &LegalHoldXml { xmlns: xml::S3_NAMESPACE, status: Some(status.into()) })
}
