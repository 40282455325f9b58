//! Put/Get/DeleteBucketLifecycleConfiguration: the rules are validated, stored as put and
//! returned exactly so; the lifecycle worker (`workers::lifecycle`) carries them out.

use crate::bucket_config::lifecycle::{self, LifecycleConfiguration};
use crate::http::body::{read_all, request_body};
use crate::http::error::{ErrorCode, S3Error, S3Result};
use crate::http::xml;
use crate::request::ctx::Ctx;
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};

const BODY_LIMIT: usize = 1024 * 1024;

pub async fn put(ctx: &Ctx<'_>, bucket_name: &str, payload: web::Payload) -> S3Result<HttpResponse> {
    let bucket = ctx.owned_bucket(bucket_name).await?;
    let body = read_all(request_body(payload, &ctx.payload).stream, BODY_LIMIT, ErrorCode::MalformedXML).await?;
    crate::request::upload::check_payload_hash(&ctx.payload, &body)?;
    crate::request::upload::check_content_md5(ctx, &body)?;
    let mut config: LifecycleConfiguration = xml::parse(&body)?;
    config.validate()?;
    lifecycle::save(&ctx.state.lifecycle, &ctx.state.store, bucket.id, Some(&config)).await?;
    Ok(HttpResponse::Ok().finish())
}

pub async fn get(ctx: &Ctx<'_>, bucket_name: &str) -> S3Result<HttpResponse> {
    let bucket = ctx.owned_bucket(bucket_name).await?;
    let entry = ctx.state.lifecycle.load(&ctx.state.store, bucket.id).await?.ok_or_else(|| {
        S3Error::custom("NoSuchLifecycleConfiguration", StatusCode::NOT_FOUND, "The lifecycle configuration does not exist")
            .with("BucketName", bucket_name)
    })?;
    let config = LifecycleConfiguration { xmlns: xml::S3_NAMESPACE, ..entry.config.clone() };
    xml::ok("LifecycleConfiguration", &config)
}

pub async fn delete(ctx: &Ctx<'_>, bucket_name: &str) -> S3Result<HttpResponse> {
    let bucket = ctx.owned_bucket(bucket_name).await?;
    lifecycle::save(&ctx.state.lifecycle, &ctx.state.store, bucket.id, None).await?;
    Ok(HttpResponse::NoContent().finish())
}
