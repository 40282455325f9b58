//! Put/Get/DeletePublicAccessBlock on a bucket.

use crate::http::body::{read_all, request_body};
use crate::request::ctx::Ctx;
use crate::http::error::{ErrorCode, S3Error, S3Result};
use crate::access::public_access::{self, PublicAccessBlock};
use crate::http::xml;
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use serde::Serialize;

const BODY_LIMIT: usize = 64 * 1024;

#[derive(Serialize)]
struct Document<'a> {
    #[serde(rename = "@xmlns")]
    xmlns: &'static str,
    #[serde(flatten)]
    config: &'a PublicAccessBlock,
}

pub async fn get(ctx: &Ctx<'_>, bucket_name: &str) -> S3Result<HttpResponse> {
    let bucket = ctx.owned_bucket(bucket_name).await?;
    let config = public_access::load(ctx.state, bucket.id).await?.ok_or_else(|| {
        S3Error::custom("NoSuchPublicAccessBlockConfiguration", StatusCode::NOT_FOUND, "The public access block configuration was not found")
            .with("BucketName", bucket_name)
    })?;
    xml::ok("PublicAccessBlockConfiguration", &Document { xmlns: xml::S3_NAMESPACE, config: &config })
}

pub async fn put(ctx: &Ctx<'_>, bucket_name: &str, payload: web::Payload) -> S3Result<HttpResponse> {
    let bucket = ctx.owned_bucket(bucket_name).await?;
    let body = read_all(request_body(payload, &ctx.payload).stream, BODY_LIMIT, ErrorCode::MalformedXML).await?;
    crate::request::upload::check_payload_hash(&ctx.payload, &body)?;
    let config: PublicAccessBlock = xml::parse(&body)?;
    public_access::store(ctx.state, bucket.id, Some(&config)).await?;
    Ok(HttpResponse::Ok().finish())
}

pub async fn delete(ctx: &Ctx<'_>, bucket_name: &str) -> S3Result<HttpResponse> {
    let bucket = ctx.owned_bucket(bucket_name).await?;
    public_access::store(ctx.state, bucket.id, None).await?;
    Ok(HttpResponse::NoContent().finish())
}
