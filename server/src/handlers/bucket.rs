//! Bucket operations: ListBuckets, CreateBucket (naming rules, location constraint),
//! HeadBucket, DeleteBucket, GetBucketLocation and GetBucketVersioning.

use crate::http::body::{read_all, request_body};
use crate::request::ctx::Ctx;
use crate::http::error::{ErrorCode, S3Error, S3Result};
use crate::http::xml::{self, timestamp, Owner, S3_NAMESPACE};
use actix_web::{web, HttpResponse};
use coffer_storage::StorageError;
use serde::{Deserialize, Serialize};

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ListAllMyBucketsResult {
    #[serde(rename = "@xmlns")]
    xmlns: &'static str,
    owner: Owner,
    buckets: BucketList,
    #[serde(skip_serializing_if = "Option::is_none")]
    continuation_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    prefix: Option<String>,
}

#[derive(Serialize)]
struct BucketList {
    #[serde(rename = "Bucket")]
    items: Vec<BucketEntry>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct BucketEntry {
    name: String,
    creation_date: String,
    bucket_region: String,
}

/// Most buckets one ListBuckets page may hold.
const MAX_BUCKETS: usize = 10_000;

pub async fn list_buckets(ctx: &Ctx<'_>) -> S3Result<HttpResponse> {
    let user = ctx.user()?;
    let max = match ctx.query.get("max-buckets") {
        None => MAX_BUCKETS,
        Some(v) => v
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_BUCKETS).contains(n))
            .ok_or_else(|| S3Error::invalid_argument("max-buckets must be between 1 and 10000").with("ArgumentName", "max-buckets"))?,
    };
    let prefix = ctx.query.get("prefix").unwrap_or("");
    // The continuation token is the name of the last bucket returned; names are plain ASCII.
    let after = ctx.query.get("continuation-token").unwrap_or("");
    let mut buckets: Vec<_> = ctx
        .state
        .store
        .list_buckets(&user.id)
        .await?
        .into_iter()
        .filter(|b| b.name.starts_with(prefix) && b.name.as_str() > after)
        .collect();
    let continuation_token = (buckets.len() > max).then(|| buckets[max - 1].name.clone());
    buckets.truncate(max);
    let items = buckets
        .into_iter()
        .map(|b| BucketEntry { name: b.name, creation_date: timestamp(b.created_ms), bucket_region: b.region })
        .collect();
    xml::ok(
        "ListAllMyBucketsResult",
        &ListAllMyBucketsResult {
            xmlns: S3_NAMESPACE,
            owner: Owner::of(user),
            buckets: BucketList { items },
            continuation_token,
            prefix: (!prefix.is_empty()).then(|| prefix.to_string()),
        },
    )
}

/// S3's bucket naming rules.
pub fn valid_bucket_name(name: &str) -> bool {
    let b = name.as_bytes();
    if !(3..=63).contains(&b.len()) {
        return false;
    }
    let allowed = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'.' || c == b'-';
    let alnum = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    if !b.iter().all(|&c| allowed(c)) || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    if name.contains("..") || name.contains(".-") || name.contains("-.") {
        return false;
    }
    if name.parse::<std::net::Ipv4Addr>().is_ok() {
        return false;
    }
    !(name.starts_with("xn--") || name.starts_with("sthree-") || name.ends_with("-s3alias") || name.ends_with("--ol-s3"))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct CreateBucketConfiguration {
    #[serde(default)]
    location_constraint: Option<String>,
}

/// The region where re-creating a bucket you own succeeds.
const LEGACY_REGION: &str = "us-east-1";

/// Largest CreateBucketConfiguration body we read.
const CREATE_BODY_LIMIT: usize = 64 * 1024;

pub async fn create_bucket(ctx: &Ctx<'_>, name: &str, payload: web::Payload) -> S3Result<HttpResponse> {
    let user = ctx.user()?.clone();
    if !valid_bucket_name(name) {
        return Err(S3Error::new(ErrorCode::InvalidBucketName).with("BucketName", name));
    }
    let object_lock = ctx.header("x-amz-bucket-object-lock-enabled").is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
    let body = read_all(request_body(payload, &ctx.payload).stream, CREATE_BODY_LIMIT, ErrorCode::MalformedXML).await?;
    crate::request::upload::check_payload_hash(&ctx.payload, &body)?;
    let region = if body.iter().all(u8::is_ascii_whitespace) {
        ctx.state.region.clone()
    } else {
        let config: CreateBucketConfiguration = xml::parse(&body)?;
        match config.location_constraint.filter(|l| !l.is_empty()) {
            None => ctx.state.region.clone(),
            Some(l) if l == ctx.state.region => l,
            Some(l) => {
                return Err(S3Error::new(ErrorCode::InvalidLocationConstraint)
                    .with_message(format!("The specified location-constraint is not valid: {l}")))
            }
        }
    };
    let grants = crate::access::acl::from_headers(ctx.req.headers(), &user.id)?;
    let ownership = ctx.header("x-amz-object-ownership").map(crate::access::ownership::ObjectOwnership::parse).transpose()?;
    if ownership == Some(crate::access::ownership::ObjectOwnership::BucketOwnerEnforced)
        && grants.as_ref().is_some_and(|g| g.iter().any(|g| g.grantee != coffer_storage::Grantee::User(user.id.clone())))
    {
        return Err(crate::access::ownership::acls_not_supported());
    }
    match ctx.state.store.create_bucket(&user, name, &region).await {
        Ok(bucket) => {
            if let Some(grants) = grants {
                crate::request::ctx::set_bucket_grants(ctx.state, bucket.id, &grants).await?;
            }
            if ownership.is_some() {
                crate::access::ownership::store(ctx.state, bucket.id, ownership).await?;
            }
            // Object Lock turns versioning on, for good.
            if object_lock {
                ctx.state.store.set_versioning(bucket.id, coffer_storage::Versioning::Enabled).await?;
                crate::bucket_config::object_lock::set_bucket_lock(&ctx.state.store, bucket.id, &Default::default()).await?;
            }
        }
        // S3 in us-east-1 keeps its legacy answer to re-creating your own bucket: 200, as long
        // as the request would not change the bucket's ACL.
        Err(StorageError::BucketAlreadyOwnedByYou) if region == LEGACY_REGION => {
            let existing = ctx.state.store.bucket(name).await?;
            let current = crate::request::ctx::bucket_grants(ctx.state, existing.id).await?;
            if grants.unwrap_or_default() != current {
                return Err(S3Error::new(ErrorCode::BucketAlreadyExists).with("BucketName", name));
            }
        }
        Err(StorageError::BucketAlreadyOwnedByYou) => {
            return Err(S3Error::new(ErrorCode::BucketAlreadyOwnedByYou).with("BucketName", name))
        }
        Err(StorageError::BucketAlreadyExists) => {
            return Err(S3Error::new(ErrorCode::BucketAlreadyExists).with("BucketName", name))
        }
        Err(e) => return Err(e.into()),
    }
    Ok(HttpResponse::Ok().insert_header(("Location", format!("/{name}"))).finish())
}

pub async fn head_bucket(ctx: &Ctx<'_>, name: &str) -> S3Result<HttpResponse> {
    let bucket = ctx.bucket_for(name, coffer_storage::Permission::Read).await?;
    Ok(HttpResponse::Ok().insert_header(("x-amz-bucket-region", bucket.region)).finish())
}

pub async fn delete_bucket(ctx: &Ctx<'_>, name: &str) -> S3Result<HttpResponse> {
    let bucket = ctx.owned_bucket(name).await?;
    ctx.state.store.delete_bucket(name).await.map_err(|e| match e {
        StorageError::BucketNotEmpty => S3Error::new(ErrorCode::BucketNotEmpty).with("BucketName", name),
        StorageError::NoSuchBucket => S3Error::no_such_bucket(name),
        other => other.into(),
    })?;
    // A later bucket may reuse the id; its policy must not come from this one's cache entry.
    ctx.state.policies.forget(bucket.id);
    ctx.state.lifecycle.forget(bucket.id);
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Serialize)]
struct LocationConstraint {
    #[serde(rename = "@xmlns")]
    xmlns: &'static str,
    #[serde(rename = "$text")]
    region: String,
}

pub async fn get_bucket_location(ctx: &Ctx<'_>, name: &str) -> S3Result<HttpResponse> {
    let bucket = ctx.owned_bucket(name).await?;
    // us-east-1 is reported as an empty constraint, as S3 does.
    let region = if bucket.region == "us-east-1" { String::new() } else { bucket.region };
    xml::ok("LocationConstraint", &LocationConstraint { xmlns: S3_NAMESPACE, region })
}

#[cfg(test)]
mod tests {
    use super::valid_bucket_name;

    #[test]
    fn bucket_names() {
        for ok in ["abc", "my.bucket.name", "a-b-c", "123", &"a".repeat(63)] {
            assert!(valid_bucket_name(ok), "{ok}");
        }
        for bad in ["ab", "ABC", "a_b", "-ab", "ab-", "a..b", "192.168.1.1", "xn--abc", "a.-b", &"a".repeat(64), "abc-s3alias"] {
            assert!(!valid_bucket_name(bad), "{bad}");
        }
    }
}
