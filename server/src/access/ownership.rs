//! Object Ownership: a bucket's ObjectOwnership setting (BucketOwnerEnforced,
//! BucketOwnerPreferred or ObjectWriter), who owns an uploaded object, and whether ACLs apply.

use crate::http::error::{S3Error, S3Result};
use crate::state::AppState;
use actix_web::http::header::HeaderMap;
use actix_web::http::StatusCode;
use coffer_storage::{Bucket, Grant, Grantee, Permission};

const OWNERSHIP: &str = "ownership";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ObjectOwnership {
    BucketOwnerEnforced,
    BucketOwnerPreferred,
    ObjectWriter,
}

impl ObjectOwnership {
    pub fn parse(s: &str) -> S3Result<ObjectOwnership> {
        match s.trim() {
            "BucketOwnerEnforced" => Ok(ObjectOwnership::BucketOwnerEnforced),
            "BucketOwnerPreferred" => Ok(ObjectOwnership::BucketOwnerPreferred),
            "ObjectWriter" => Ok(ObjectOwnership::ObjectWriter),
            other => Err(S3Error::invalid_argument(format!("Invalid x-amz-object-ownership value: {other}"))),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ObjectOwnership::BucketOwnerEnforced => "BucketOwnerEnforced",
            ObjectOwnership::BucketOwnerPreferred => "BucketOwnerPreferred",
            ObjectOwnership::ObjectWriter => "ObjectWriter",
        }
    }
}

pub async fn load(state: &AppState, bucket_id: i64) -> S3Result<Option<ObjectOwnership>> {
    match state.store.bucket_config(bucket_id, OWNERSHIP).await? {
        Some(doc) => ObjectOwnership::parse(&doc).map(Some),
        None => Ok(None),
    }
}

pub async fn store(state: &AppState, bucket_id: i64, value: Option<ObjectOwnership>) -> S3Result<()> {
    Ok(state.store.set_bucket_config(bucket_id, OWNERSHIP, value.map(|v| v.as_str().to_string())).await?)
}

pub fn acls_not_supported() -> S3Error {
    S3Error::custom("AccessControlListNotSupported", StatusCode::BAD_REQUEST, "The bucket does not allow ACLs")
}

/// Grants that only restate the bucket owner's control, which BucketOwnerEnforced accepts.
fn owner_only(bucket: &Bucket, grants: &[Grant]) -> bool {
    grants.iter().all(|g| g.grantee == Grantee::User(bucket.owner.id.clone()) && g.permission == Permission::FullControl)
}

/// Refuses, on a BucketOwnerEnforced bucket, any ACL a request sets (`Some`) other than the
/// bucket owner's full control — "private" included, as S3 does.
pub async fn check_acl_allowed(state: &AppState, bucket: &Bucket, requested: Option<&[Grant]>) -> S3Result<()> {
    let Some(grants) = requested else { return Ok(()) };
    let owner_full_control = !grants.is_empty() && owner_only(bucket, grants);
    if !owner_full_control && load(state, bucket.id).await? == Some(ObjectOwnership::BucketOwnerEnforced) {
        return Err(acls_not_supported());
    }
    Ok(())
}

/// The ACL (None: the private default) and the owner of a new object that a writer puts into
/// `bucket` with these request headers, after the bucket's ownership and public-access rules.
pub async fn new_object_acl(state: &AppState, bucket: &Bucket, headers: &HeaderMap, writer: &str) -> S3Result<(Option<Vec<Grant>>, String)> {
    let requested = crate::access::acl::from_headers(headers, &bucket.owner.id)?;
    check_acl_allowed(state, bucket, requested.as_deref()).await?;
    let grants = requested.unwrap_or_default();
    crate::access::public_access::check_new_acl(state, bucket.id, &grants).await?;
    let owner = object_owner(state, bucket, writer, &grants).await?;
    Ok(((!grants.is_empty()).then_some(grants), owner))
}

/// Who owns an object `writer` uploads with `grants` into `bucket`.
pub async fn object_owner(state: &AppState, bucket: &Bucket, writer: &str, grants: &[Grant]) -> S3Result<String> {
    let gives_owner_control = grants.iter().any(|g| g.grantee == Grantee::User(bucket.owner.id.clone()) && g.permission == Permission::FullControl);
    Ok(match load(state, bucket.id).await? {
        Some(ObjectOwnership::BucketOwnerEnforced) => bucket.owner.id.clone(),
        Some(ObjectOwnership::BucketOwnerPreferred) if gives_owner_control => bucket.owner.id.clone(),
        _ => writer.to_string(),
    })
}
