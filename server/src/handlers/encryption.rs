//! Bucket default encryption: Put/Get/DeleteBucketEncryption. The document and its validation
//! live in `bucket_encryption`; writes consult the stored setting there.

use crate::http::body::{read_all, request_body};
use crate::bucket_config::encryption::{default_encryption, set_default_encryption, DefaultEncryption, ROOT};
use crate::request::ctx::Ctx;
use crate::http::error::{ErrorCode, S3Error, S3Result};
use crate::http::xml;
use actix_web::{web, HttpResponse};

const BODY_LIMIT: usize = 64 * 1024;

pub async fn put_bucket_encryption(ctx: &Ctx<'_>, bucket_name: &str, payload: web::Payload) -> S3Result<HttpResponse> {
    let bucket = ctx.owned_bucket(bucket_name).await?;
    let body = read_all(request_body(payload, &ctx.payload).stream, BODY_LIMIT, ErrorCode::MalformedXML).await?;
    crate::request::upload::check_payload_hash(&ctx.payload, &body)?;
    crate::request::upload::check_content_md5(ctx, &body)?;
    let config = DefaultEncryption::from_xml(&body)?;
    set_default_encryption(&ctx.state.store, bucket.id, Some(&config)).await?;
    Ok(HttpResponse::Ok().finish())
}

pub async fn get_bucket_encryption(ctx: &Ctx<'_>, bucket_name: &str) -> S3Result<HttpResponse> {
    let bucket = ctx.owned_bucket(bucket_name).await?;
    let config = default_encryption(&ctx.state.store, bucket.id)
        .await?
        .ok_or_else(|| S3Error::new(ErrorCode::ServerSideEncryptionConfigurationNotFoundError).with("BucketName", bucket_name))?;
    xml::ok(ROOT, &config.to_document())
}

pub async fn delete_bucket_encryption(ctx: &Ctx<'_>, bucket_name: &str) -> S3Result<HttpResponse> {
    let bucket = ctx.owned_bucket(bucket_name).await?;
    set_default_encryption(&ctx.state.store, bucket.id, None).await?;
    Ok(HttpResponse::NoContent().finish())
}
