//! Put/Get/DeleteBucketPolicy and GetBucketPolicyStatus: the bucket's IAM policy document,
//! validated on the way in, kept as sent, and whether it (or the ACL) makes the bucket public.

use crate::http::body::{read_all, request_body};
use crate::request::ctx::{bucket_grants, Ctx};
use crate::http::error::{ErrorCode, S3Error, S3Result};
use crate::bucket_config::policy::{self, Policy};
use crate::http::xml;
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use coffer_storage::Bucket;
use serde::Serialize;

/// S3 keeps bucket policies to 20 KB.
const POLICY_LIMIT: usize = 20 * 1024;

fn malformed(reason: impl Into<String>) -> S3Error {
    S3Error::custom("MalformedPolicy", StatusCode::BAD_REQUEST, reason)
}

/// The bucket, if the caller is its owner: others are refused even when the policy lets
/// them manage it (S3 answers 405 to identities outside the owner's account).
async fn owner_only(ctx: &Ctx<'_>, bucket_name: &str) -> S3Result<Bucket> {
    let bucket = ctx.owned_bucket(bucket_name).await?;
    if !ctx.caller().is_some_and(|u| u.id == bucket.owner.id) {
        return Err(S3Error::new(ErrorCode::MethodNotAllowed));
    }
    Ok(bucket)
}

pub async fn put_bucket_policy(ctx: &Ctx<'_>, bucket_name: &str, payload: web::Payload) -> S3Result<HttpResponse> {
    let bucket = owner_only(ctx, bucket_name).await?;
    let body = read_all(request_body(payload, &ctx.payload).stream, POLICY_LIMIT + 1, ErrorCode::MalformedXML).await?;
    crate::request::upload::check_payload_hash(&ctx.payload, &body)?;
    if body.len() > POLICY_LIMIT {
        return Err(S3Error::custom("PolicyTooLarge", StatusCode::BAD_REQUEST, "Policy exceeds the maximum allowed document size."));
    }
    let doc = std::str::from_utf8(&body).map_err(|_| malformed("This policy contains invalid Json"))?;
    if doc.trim().is_empty() {
        return Err(malformed("Policies must be valid JSON and the first byte must be '{'"));
    }
    let parsed = Policy::parse(doc, &bucket.name).map_err(|e| malformed(e.0))?;
    if parsed.is_public() && crate::access::public_access::load(ctx.state, bucket.id).await?.is_some_and(|b| b.block_public_policy) {
        return Err(S3Error::new(ErrorCode::AccessDenied)
            .with_message("Access Denied: public policies are blocked by the bucket's BlockPublicPolicy setting"));
    }
    ctx.state.policies.store(&ctx.state.store, bucket.id, Some(doc.to_string())).await?;
    Ok(HttpResponse::NoContent().finish())
}

pub async fn get_bucket_policy(ctx: &Ctx<'_>, bucket_name: &str) -> S3Result<HttpResponse> {
    let bucket = owner_only(ctx, bucket_name).await?;
    let doc = policy::cache::document(&ctx.state.store, bucket.id).await?.ok_or_else(|| {
        S3Error::custom("NoSuchBucketPolicy", StatusCode::NOT_FOUND, "The bucket policy does not exist").with("BucketName", bucket_name)
    })?;
    Ok(HttpResponse::Ok().content_type("application/json").body(doc))
}

pub async fn delete_bucket_policy(ctx: &Ctx<'_>, bucket_name: &str) -> S3Result<HttpResponse> {
    let bucket = owner_only(ctx, bucket_name).await?;
    ctx.state.policies.store(&ctx.state.store, bucket.id, None).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct PolicyStatus {
    #[serde(rename = "@xmlns")]
    xmlns: &'static str,
    is_public: bool,
}

/// Public when the policy allows everyone without a narrowing condition, or the bucket ACL
/// grants to everyone or to every signed-in user.
pub async fn get_bucket_policy_status(ctx: &Ctx<'_>, bucket_name: &str) -> S3Result<HttpResponse> {
    let bucket = owner_only(ctx, bucket_name).await?;
    let mut is_public = ctx.state.policies.load(&ctx.state.store, bucket.id).await?.is_some_and(|p| p.is_public());
    if !is_public {
        is_public = bucket_grants(ctx.state, bucket.id).await?.iter().any(crate::access::public_access::is_public);
    }
    xml::ok("PolicyStatus", &PolicyStatus { xmlns: xml::S3_NAMESPACE, is_public })
}
