//! Access control lists, owner-only for now: Get*Acl shows the owner's FULL_CONTROL, and
//! Put*Acl accepts what keeps it that way ("private"); wider grants wait for the ACL work.

use crate::body::{read_all, request_body};
use crate::ctx::Ctx;
use crate::error::{ErrorCode, S3Error, S3Result};
use crate::handlers::bucket::Owner;
use crate::xml::{self, S3_NAMESPACE};
use actix_web::{web, HttpResponse};
use coffer_storage::StorageError;
use serde::{Deserialize, Serialize};

/// S3's canned ACLs; anything else in x-amz-acl is InvalidArgument.
const CANNED: &[&str] = &[
    "private",
    "public-read",
    "public-read-write",
    "authenticated-read",
    "aws-exec-read",
    "bucket-owner-read",
    "bucket-owner-full-control",
    "log-delivery-write",
];

const XSI: &str = "http://www.w3.org/2001/XMLSchema-instance";

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct AccessControlPolicy {
    #[serde(rename = "@xmlns")]
    xmlns: &'static str,
    owner: Owner,
    access_control_list: GrantList,
}

#[derive(Serialize)]
struct GrantList {
    #[serde(rename = "Grant")]
    grants: Vec<Grant>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Grant {
    grantee: Grantee,
    permission: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Grantee {
    #[serde(rename = "@xmlns:xsi")]
    xmlns_xsi: &'static str,
    #[serde(rename = "@xsi:type")]
    kind: &'static str,
    #[serde(rename = "ID")]
    id: String,
    display_name: String,
}

/// Checks the bucket (and the object, when `key` is given) exist and belong to the caller.
async fn resource_owner(ctx: &Ctx<'_>, bucket_name: &str, key: Option<&str>) -> S3Result<coffer_storage::User> {
    let bucket = ctx.owned_bucket(bucket_name).await?;
    if let Some(key) = key {
        let version = ctx.query.get("versionId");
        let (rec, _) = ctx.state.store.object(bucket.id, key, version).await.map_err(|e| match e {
            StorageError::NoSuchKey => S3Error::no_such_key(key),
            StorageError::NoSuchVersion => S3Error::new(ErrorCode::NoSuchVersion),
            other => other.into(),
        })?;
        if rec.delete_marker {
            return Err(S3Error::no_such_key(key));
        }
    }
    Ok(bucket.owner)
}

pub async fn get_acl(ctx: &Ctx<'_>, bucket: &str, key: Option<&str>) -> S3Result<HttpResponse> {
    let owner = resource_owner(ctx, bucket, key).await?;
    let grant = Grant {
        grantee: Grantee { xmlns_xsi: XSI, kind: "CanonicalUser", id: owner.id.clone(), display_name: owner.name.clone() },
        permission: "FULL_CONTROL",
    };
    xml::ok(
        "AccessControlPolicy",
        &AccessControlPolicy { xmlns: S3_NAMESPACE, owner: Owner::of(&owner), access_control_list: GrantList { grants: vec![grant] } },
    )
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PolicyIn {
    #[serde(default)]
    access_control_list: Option<GrantListIn>,
}

#[derive(Deserialize)]
struct GrantListIn {
    #[serde(default, rename = "Grant")]
    grants: Vec<GrantIn>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GrantIn {
    grantee: GranteeIn,
    permission: String,
}

#[derive(Deserialize)]
struct GranteeIn {
    #[serde(default, rename = "ID")]
    id: Option<String>,
}

fn not_yet() -> S3Error {
    S3Error::new(ErrorCode::NotImplemented).with_message("Only the owner's FULL_CONTROL (the \"private\" ACL) is supported by Coffer yet.")
}

/// Largest AccessControlPolicy body read.
const ACL_BODY_LIMIT: usize = 64 * 1024;

pub async fn put_acl(ctx: &Ctx<'_>, bucket: &str, key: Option<&str>, payload: web::Payload) -> S3Result<HttpResponse> {
    let owner = resource_owner(ctx, bucket, key).await?;
    let body = read_all(request_body(payload, &ctx.payload).stream, ACL_BODY_LIMIT, ErrorCode::MalformedXML).await?;
    crate::handlers::put::check_payload_hash(&ctx.payload, &body)?;
    if let Some(canned) = ctx.header("x-amz-acl") {
        if !CANNED.contains(&canned) {
            return Err(S3Error::invalid_argument(format!("Invalid canned ACL: {canned}")).with("ArgumentName", "x-amz-acl"));
        }
        return if canned == "private" { Ok(HttpResponse::Ok().finish()) } else { Err(not_yet()) };
    }
    if ctx.req.headers().keys().any(|h| h.as_str().starts_with("x-amz-grant-")) {
        return Err(not_yet());
    }
    let policy: PolicyIn = xml::parse(&body)?;
    let grants = policy.access_control_list.map(|l| l.grants).unwrap_or_default();
    let owner_only = grants.iter().all(|g| g.permission == "FULL_CONTROL" && g.grantee.id.as_deref() == Some(owner.id.as_str()));
    if owner_only {
        Ok(HttpResponse::Ok().finish())
    } else {
        Err(not_yet())
    }
}
