//! The per-request context handlers receive: shared state, the request, its decoded query,
//! the authenticated caller, and the ownership check every bucket operation starts with.

use crate::authn::Principal;
use crate::error::{ErrorCode, S3Error, S3Result};
use crate::router::Query;
use crate::state::AppState;
use actix_web::HttpRequest;
use coffer_auth::Payload;
use crate::acl;
use coffer_storage::{Bucket, Grant, ObjectRecord, Permission, StorageError, User};

pub struct Ctx<'a> {
    pub state: &'a AppState,
    pub req: &'a HttpRequest,
    pub query: Query,
    pub principal: Option<Principal>,
    /// How the request body is signed (decides aws-chunked decoding and hash checks).
    pub payload: Payload,
}

/// The bucket configuration document holding a bucket's grants (beyond its owner's).
const BUCKET_ACL: &str = "acl";

pub async fn bucket_grants(state: &AppState, bucket_id: i64) -> S3Result<Vec<Grant>> {
    match state.store.bucket_config(bucket_id, BUCKET_ACL).await? {
        Some(doc) => serde_json::from_str(&doc).map_err(S3Error::internal),
        None => Ok(Vec::new()),
    }
}

pub async fn set_bucket_grants(state: &AppState, bucket_id: i64, grants: &[Grant]) -> S3Result<()> {
    let doc = (!grants.is_empty()).then(|| serde_json::to_string(grants)).transpose().map_err(S3Error::internal)?;
    Ok(state.store.set_bucket_config(bucket_id, BUCKET_ACL, doc).await?)
}

impl Ctx<'_> {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.req.headers().get(name).and_then(|v| v.to_str().ok())
    }

    /// The signed-in user; anonymous callers get AccessDenied (no public access exists yet).
    pub fn user(&self) -> S3Result<&User> {
        self.principal.as_ref().map(|p| &p.user).ok_or_else(|| S3Error::new(ErrorCode::AccessDenied))
    }

    /// Checks that the caller may act on `bucket`: today, that they own it.
    pub fn authorize(&self, bucket: &Bucket) -> S3Result<()> {
        if self.user()?.id == bucket.owner.id {
            Ok(())
        } else {
            Err(S3Error::new(ErrorCode::AccessDenied))
        }
    }

    /// Loads a bucket the caller may act on.
    pub async fn owned_bucket(&self, name: &str) -> S3Result<Bucket> {
        let bucket = self.state.store.bucket(name).await.map_err(|e| match e {
            StorageError::NoSuchBucket => S3Error::no_such_bucket(name),
            other => other.into(),
        })?;
        self.authorize(&bucket)?;
        Ok(bucket)
    }

    /// The signed-in user, or None for anonymous callers.
    pub fn caller(&self) -> Option<&User> {
        self.principal.as_ref().map(|p| &p.user)
    }

    /// Loads a bucket on which the caller holds `wanted` (as owner or through the bucket ACL).
    pub async fn bucket_for(&self, name: &str, wanted: Permission) -> S3Result<Bucket> {
        let bucket = self.state.store.bucket(name).await.map_err(|e| match e {
            StorageError::NoSuchBucket => S3Error::no_such_bucket(name),
            other => other.into(),
        })?;
        self.check_bucket(&bucket, wanted).await?;
        Ok(bucket)
    }

    /// Checks `wanted` on a loaded bucket; the owner needs no lookup of grants.
    pub async fn check_bucket(&self, bucket: &Bucket, wanted: Permission) -> S3Result<()> {
        if self.caller().is_some_and(|u| u.id == bucket.owner.id) {
            return Ok(());
        }
        let grants = bucket_grants(self.state, bucket.id).await?;
        let grants = crate::public_access::effective(self.state, bucket.id, &grants).await?;
        if acl::allows(&bucket.owner.id, &grants, self.caller(), wanted) {
            Ok(())
        } else {
            Err(S3Error::new(ErrorCode::AccessDenied))
        }
    }

    /// Checks `wanted` on an object version: its owner (the writer) or its grants.
    pub async fn check_object(&self, rec: &ObjectRecord, wanted: Permission) -> S3Result<()> {
        if self.caller().is_some_and(|u| u.id == rec.owner_id) {
            return Ok(());
        }
        let grants = rec.meta.acl.as_deref().unwrap_or(&[]);
        let grants = crate::public_access::effective(self.state, rec.bucket_id, grants).await?;
        if acl::allows(&rec.owner_id, &grants, self.caller(), wanted) {
            Ok(())
        } else {
            Err(S3Error::new(ErrorCode::AccessDenied))
        }
    }

    /// The checksum mode GET and HEAD return checksums in.
    pub fn checksum_mode(&self) -> bool {
        self.header("x-amz-checksum-mode").is_some_and(|v| v.eq_ignore_ascii_case("ENABLED"))
    }
}
