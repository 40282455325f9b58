//! Put/GetBucketLogging: turning server access logging of a bucket on (into a target bucket
//! of the same owner, under a prefix, with simple or partitioned keys) and off.

use crate::bucket_config::logging::{invalid_target, BucketLoggingStatus, LOGGING};
use crate::http::body::{read_all, request_body};
use crate::http::error::{ErrorCode, S3Result};
use crate::http::xml;
use crate::request::ctx::Ctx;
use actix_web::{web, HttpResponse};
use coffer_storage::StorageError;

const BODY_LIMIT: usize = 64 * 1024;

pub async fn put_bucket_logging(ctx: &Ctx<'_>, bucket_name: &str, payload: web::Payload) -> S3Result<HttpResponse> {
    let bucket = ctx.owned_bucket(bucket_name).await?;
    let body = read_all(request_body(payload, &ctx.payload).stream, BODY_LIMIT, ErrorCode::MalformedXML).await?;
    crate::request::upload::check_payload_hash(&ctx.payload, &body)?;
    let mut status: BucketLoggingStatus = xml::parse(&body)?;
    let Some(on) = status.logging_enabled.as_mut() else {
        crate::bucket_config::save::<BucketLoggingStatus>(&ctx.state.store, bucket.id, LOGGING, None).await?;
        ctx.state.logged_buckets.set(&bucket, false);
        return Ok(HttpResponse::Ok().finish());
    };
    on.validate()?;
    let target = match ctx.state.store.bucket(&on.target_bucket).await {
        Ok(target) => target,
        Err(StorageError::NoSuchBucket) => return Err(invalid_target("The target bucket for logging does not exist")),
        Err(e) => return Err(e.into()),
    };
    // Coffer writes the log objects as the target's owner: only an owner's own buckets qualify.
    if target.owner.id != bucket.owner.id {
        return Err(invalid_target("The owner for the bucket to be logged and the target bucket must be the same."));
    }
    if target.region != bucket.region {
        return Err(crate::http::error::S3Error::custom(
            "CrossLocationLoggingProhibited",
            actix_web::http::StatusCode::FORBIDDEN,
            "Cross S3 location logging not allowed.",
        ));
    }
    crate::bucket_config::save(&ctx.state.store, bucket.id, LOGGING, Some(&status)).await?;
    ctx.state.logged_buckets.set(&bucket, true);
    Ok(HttpResponse::Ok().finish())
}

pub async fn get_bucket_logging(ctx: &Ctx<'_>, bucket_name: &str) -> S3Result<HttpResponse> {
    let bucket = ctx.owned_bucket(bucket_name).await?;
    let mut status = crate::bucket_config::load::<BucketLoggingStatus>(&ctx.state.store, bucket.id, LOGGING).await?.unwrap_or_default();
    status.xmlns = xml::S3_NAMESPACE;
    xml::ok("BucketLoggingStatus", &status)
}
