//! Block Public Access: a bucket's four flags, kept as a bucket configuration document, and
//! what grants count as public (to everyone, or to every signed-in user).

use crate::http::error::{S3Error, S3Result};
use crate::state::AppState;
use coffer_storage::{Grant, Grantee};
use serde::{Deserialize, Serialize};

const PUBLIC_ACCESS_BLOCK: &str = "public-access-block";

#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct PublicAccessBlock {
    #[serde(default)]
    pub block_public_acls: bool,
    #[serde(default)]
    pub ignore_public_acls: bool,
    #[serde(default)]
    pub block_public_policy: bool,
    #[serde(default)]
    pub restrict_public_buckets: bool,
}

pub fn is_public(grant: &Grant) -> bool {
    matches!(grant.grantee, Grantee::AllUsers | Grantee::AuthenticatedUsers)
}

pub async fn load(state: &AppState, bucket_id: i64) -> S3Result<Option<PublicAccessBlock>> {
    crate::bucket_config::load(&state.store, bucket_id, PUBLIC_ACCESS_BLOCK).await
}

pub async fn store(state: &AppState, bucket_id: i64, config: Option<&PublicAccessBlock>) -> S3Result<()> {
    crate::bucket_config::save(&state.store, bucket_id, PUBLIC_ACCESS_BLOCK, config).await
}

/// Refuses a request that would set a public ACL on a bucket that blocks them.
pub async fn check_new_acl(state: &AppState, bucket_id: i64, grants: &[Grant]) -> S3Result<()> {
    if grants.iter().any(is_public) && load(state, bucket_id).await?.is_some_and(|b| b.block_public_acls) {
        return Err(S3Error::new(crate::http::error::ErrorCode::AccessDenied).with_message("Access Denied: public ACLs are blocked by the bucket's BlockPublicAcls setting"));
    }
    Ok(())
}

/// The grants that count when checking access: public ones are left out under IgnorePublicAcls.
pub async fn effective(state: &AppState, bucket_id: i64, grants: &[Grant]) -> S3Result<Vec<Grant>> {
    if grants.iter().any(is_public) && load(state, bucket_id).await?.is_some_and(|b| b.ignore_public_acls) {
        return Ok(grants.iter().filter(|g| !is_public(g)).cloned().collect());
    }
    Ok(grants.to_vec())
}
