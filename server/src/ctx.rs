//! The per-request context handlers receive: shared state, the request, its decoded query,
//! the authenticated caller, and the ownership check every bucket operation starts with.

use crate::authn::Principal;
use crate::error::{ErrorCode, S3Error, S3Result};
use crate::router::Query;
use crate::state::AppState;
use actix_web::HttpRequest;
use coffer_auth::Payload;
use coffer_storage::{Bucket, StorageError, User};

pub struct Ctx<'a> {
    pub state: &'a AppState,
    pub req: &'a HttpRequest,
    pub query: Query,
    pub principal: Option<Principal>,
    /// How the request body is signed (decides aws-chunked decoding and hash checks).
    pub payload: Payload,
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

    /// The checksum mode GET and HEAD return checksums in.
    pub fn checksum_mode(&self) -> bool {
        self.header("x-amz-checksum-mode").is_some_and(|v| v.eq_ignore_ascii_case("ENABLED"))
    }
}
