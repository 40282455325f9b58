//! Put/Get/DeleteBucketOwnershipControls.

use crate::http::body::{read_all, request_body};
use crate::request::ctx::{bucket_grants, Ctx};
use crate::http::error::{ErrorCode, S3Error, S3Result};
use crate::access::ownership::{self, ObjectOwnership};
use crate::http::xml;
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};

const BODY_LIMIT: usize = 64 * 1024;

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct OwnershipControls {
    #[serde(rename = "@xmlns", default, skip_deserializing)]
    xmlns: &'static str,
    #[serde(rename = "Rule", default)]
    rules: Vec<Rule>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Rule {
    object_ownership: String,
}

pub async fn get(ctx: &Ctx<'_>, bucket_name: &str) -> S3Result<HttpResponse> {
    let bucket = ctx.owned_bucket(bucket_name).await?;
    let value = ownership::load(ctx.state, bucket.id).await?.ok_or_else(|| {
        S3Error::custom("OwnershipControlsNotFoundError", StatusCode::NOT_FOUND, "The bucket ownership controls were not found")
            .with("BucketName", bucket_name)
    })?;
    let doc = OwnershipControls { xmlns: xml::S3_NAMESPACE, rules: vec![Rule { object_ownership: value.as_str().to_string() }] };
    xml::ok("OwnershipControls", &doc)
}

pub async fn put(ctx: &Ctx<'_>, bucket_name: &str, payload: web::Payload) -> S3Result<HttpResponse> {
    let bucket = ctx.owned_bucket(bucket_name).await?;
    let body = read_all(request_body(payload, &ctx.payload).stream, BODY_LIMIT, ErrorCode::MalformedXML).await?;
    crate::request::upload::check_payload_hash(&ctx.payload, &body)?;
    let doc: OwnershipControls = xml::parse(&body)?;
    let [rule] = doc.rules.as_slice() else { return Err(S3Error::new(ErrorCode::MalformedXML)) };
    let value = ObjectOwnership::parse(&rule.object_ownership).map_err(|_| S3Error::new(ErrorCode::MalformedXML))?;
    if value == ObjectOwnership::BucketOwnerEnforced && !bucket_grants(ctx.state, bucket.id).await?.is_empty() {
        return Err(S3Error::custom(
            "InvalidBucketAclWithObjectOwnership",
            StatusCode::BAD_REQUEST,
            "Bucket cannot have ACLs set with ObjectOwnership's BucketOwnerEnforced setting",
        ));
    }
    ownership::store(ctx.state, bucket.id, Some(value)).await?;
    Ok(HttpResponse::Ok().finish())
}

pub async fn delete(ctx: &Ctx<'_>, bucket_name: &str) -> S3Result<HttpResponse> {
    let bucket = ctx.owned_bucket(bucket_name).await?;
    ownership::store(ctx.state, bucket.id, None).await?;
    Ok(HttpResponse::NoContent().finish())
}
