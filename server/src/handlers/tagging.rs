//! Tagging: Put/Get/DeleteObjectTagging (on the latest version or one given by versionId) and
//! Put/Get/DeleteBucketTagging (kept as a bucket configuration document).

use crate::http::body::{read_all, request_body};
use crate::request::ctx::Ctx;
use crate::http::error::{ErrorCode, S3Error, S3Result};
use crate::bucket_config::tagging::{self, Tagging};
use crate::http::xml;
use actix_web::{web, HttpResponse};
use coffer_storage::{StorageError, Versioning};

/// Largest Tagging body read.
const BODY_LIMIT: usize = 64 * 1024;

fn not_found(key: &str) -> impl Fn(StorageError) -> S3Error + '_ {
    move |e| match e {
        StorageError::NoSuchKey => S3Error::no_such_key(key),
        StorageError::NoSuchVersion => S3Error::new(ErrorCode::NoSuchVersion).with("Key", key),
        other => other.into(),
    }
}

fn with_version(versioning: Versioning, version_id: String, mut resp: actix_web::HttpResponseBuilder) -> actix_web::HttpResponseBuilder {
    if versioning != Versioning::Unversioned {
        resp.insert_header(("x-amz-version-id", version_id));
    }
    resp
}

pub async fn get_object_tagging(ctx: &Ctx<'_>, bucket_name: &str, key: &str) -> S3Result<HttpResponse> {
    let bucket = ctx.owned_bucket(bucket_name).await?;
    let (rec, _) = ctx.state.store.object(bucket.id, key, ctx.query.get("versionId")).await.map_err(not_found(key))?;
    if rec.delete_marker {
        return Err(S3Error::no_such_key(key));
    }
    let body = xml::render("Tagging", &Tagging::of(&rec.meta.tags))?;
    Ok(with_version(bucket.versioning, rec.version_id, HttpResponse::Ok()).content_type("application/xml").body(body))
}

pub async fn put_object_tagging(ctx: &Ctx<'_>, bucket_name: &str, key: &str, payload: web::Payload) -> S3Result<HttpResponse> {
    let bucket = ctx.owned_bucket(bucket_name).await?;
    let body = read_all(request_body(payload, &ctx.payload).stream, BODY_LIMIT, ErrorCode::MalformedXML).await?;
    crate::request::upload::check_payload_hash(&ctx.payload, &body)?;
    let tags = xml::parse::<Tagging>(&body)?.into_pairs()?;
    let version = ctx.state.store.set_object_tags(bucket.id, key, ctx.query.get("versionId"), tags, ctx.requester()).await.map_err(not_found(key))?;
    Ok(with_version(bucket.versioning, version, HttpResponse::Ok()).finish())
}

pub async fn delete_object_tagging(ctx: &Ctx<'_>, bucket_name: &str, key: &str) -> S3Result<HttpResponse> {
    let bucket = ctx.owned_bucket(bucket_name).await?;
    let version = ctx.state.store.delete_object_tags(bucket.id, key, ctx.query.get("versionId"), ctx.requester()).await.map_err(not_found(key))?;
    Ok(with_version(bucket.versioning, version, HttpResponse::NoContent()).finish())
}

/// The bucket configuration document that holds a bucket's tags (as JSON pairs).
const BUCKET_TAGS: &str = "tagging";

pub async fn get_bucket_tagging(ctx: &Ctx<'_>, bucket_name: &str) -> S3Result<HttpResponse> {
    let bucket = ctx.owned_bucket(bucket_name).await?;
    let tags: Vec<(String, String)> = match crate::bucket_config::load(&ctx.state.store, bucket.id, BUCKET_TAGS).await? {
        Some(tags) => tags,
        None => {
            return Err(S3Error::custom("NoSuchTagSet", actix_web::http::StatusCode::NOT_FOUND, "The TagSet does not exist")
                .with("BucketName", bucket_name))
        }
    };
    xml::ok("Tagging", &Tagging::of(&tags))
}

/// Most tags a bucket may carry.
const MAX_BUCKET_TAGS: usize = 50;

pub async fn put_bucket_tagging(ctx: &Ctx<'_>, bucket_name: &str, payload: web::Payload) -> S3Result<HttpResponse> {
    let bucket = ctx.owned_bucket(bucket_name).await?;
    let body = read_all(request_body(payload, &ctx.payload).stream, BODY_LIMIT, ErrorCode::MalformedXML).await?;
    crate::request::upload::check_payload_hash(&ctx.payload, &body)?;
    let tagging = xml::parse::<Tagging>(&body)?;
    if tagging.tag_set.tags.len() > MAX_BUCKET_TAGS {
        return Err(S3Error::new(ErrorCode::InvalidArgument).with_message("Bucket tag count cannot be greater than 50"));
    }
    let tags = tagging::validate_bucket(tagging.tag_set.tags.into_iter().map(|t| (t.key, t.value)).collect())?;
    crate::bucket_config::save(&ctx.state.store, bucket.id, BUCKET_TAGS, Some(&tags)).await?;
    Ok(HttpResponse::NoContent().finish())
}

pub async fn delete_bucket_tagging(ctx: &Ctx<'_>, bucket_name: &str) -> S3Result<HttpResponse> {
    let bucket = ctx.owned_bucket(bucket_name).await?;
    ctx.state.store.set_bucket_config(bucket.id, BUCKET_TAGS, None).await?;
    Ok(HttpResponse::NoContent().finish())
}
