//! Object Ownership: a bucket's ObjectOwnership setting (BucketOwnerEnforced,
//! BucketOwnerPreferred or ObjectWriter), who owns an uploaded object, and whether ACLs apply.

use crate::error::{S3Error, S3Result};
use crate::state::AppState;
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

/// Refuses ACLs other than the owner's own on a BucketOwnerEnforced bucket.
pub async fn check_acl_allowed(state: &AppState, bucket: &Bucket, grants: &[Grant]) -> S3Result<()> {
    if !owner_only(bucket, grants) && load(state, bucket.id).await? == Some(ObjectOwnership::BucketOwnerEnforced) {
        return Err(acls_not_supported());
    }
    Ok(())
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
