//! Get/PutBucketAcl and Get/PutObjectAcl: the grants of a bucket or of one object version, as
//! AccessControlPolicy XML, canned ACLs or x-amz-grant-* headers.

use crate::access::acl;
use crate::http::body::{read_all, request_body};
use crate::request::ctx::{bucket_grants, set_bucket_grants, Ctx};
use crate::http::error::{ErrorCode, S3Error, S3Result};
use crate::http::xml;
use actix_web::{web, HttpResponse};
use coffer_storage::{Bucket, Grant, ObjectRecord, Permission, StorageError, User};

const ACL_BODY_LIMIT: usize = 64 * 1024;

async fn object(ctx: &Ctx<'_>, bucket: &Bucket, key: &str) -> S3Result<ObjectRecord> {
    let version = ctx.query.get("versionId");
    let (rec, _) = ctx.state.store.object(bucket.id, key, version).await.map_err(|e| match e {
        StorageError::NoSuchKey => S3Error::no_such_key(key),
        StorageError::NoSuchVersion => S3Error::new(ErrorCode::NoSuchVersion),
        other => other.into(),
    })?;
    if rec.delete_marker {
        return Err(S3Error::no_such_key(key));
    }
    Ok(rec)
}

async fn owner_user(ctx: &Ctx<'_>, bucket: &Bucket, owner_id: &str) -> S3Result<User> {
    if owner_id == bucket.owner.id {
        return Ok(bucket.owner.clone());
    }
    Ok(ctx.state.store.user_by_id(owner_id).await?.unwrap_or(User { id: owner_id.to_string(), name: owner_id.to_string() }))
}

async fn render(ctx: &Ctx<'_>, owner: &User, grants: &[Grant]) -> S3Result<HttpResponse> {
    let mut names = std::collections::HashMap::new();
    for g in grants {
        if let coffer_storage::Grantee::User(id) = &g.grantee {
            if let Some(u) = ctx.state.store.user_by_id(id).await? {
                names.insert(id.clone(), u.name);
            }
        }
    }
    xml::ok("AccessControlPolicy", &acl::policy(owner, grants, |id| names.get(id).cloned()))
}

pub async fn get_acl(ctx: &Ctx<'_>, bucket_name: &str, key: Option<&str>) -> S3Result<HttpResponse> {
    match key {
        None => {
            let bucket = ctx.bucket_for(bucket_name, Permission::ReadAcp).await?;
            let grants = bucket_grants(ctx.state, bucket.id).await?;
            render(ctx, &bucket.owner, &grants).await
        }
        Some(key) => {
            let bucket = ctx.state.store.bucket(bucket_name).await.map_err(|_| S3Error::no_such_bucket(bucket_name))?;
            let rec = object(ctx, &bucket, key).await?;
            ctx.check_object(&rec, Permission::ReadAcp).await?;
            let owner = owner_user(ctx, &bucket, &rec.owner_id).await?;
            render(ctx, &owner, rec.meta.acl.as_deref().unwrap_or(&[])).await
        }
    }
}

/// The grants a Put*Acl request asks for: from headers, else from the XML body. Every user
/// named must exist.
async fn requested(ctx: &Ctx<'_>, payload: web::Payload, owner: &User, bucket_owner: &str) -> S3Result<Vec<Grant>> {
    let body = read_all(request_body(payload, &ctx.payload).stream, ACL_BODY_LIMIT, ErrorCode::MalformedXML).await?;
    crate::request::upload::check_payload_hash(&ctx.payload, &body)?;
    let grants = match acl::from_headers(ctx.req.headers(), bucket_owner)? {
        Some(grants) => grants,
        None if body.iter().all(u8::is_ascii_whitespace) => return Err(S3Error::new(ErrorCode::MalformedXML)),
        None => acl::parse_policy(&body, owner)?,
    };
    for g in &grants {
        if let coffer_storage::Grantee::User(id) = &g.grantee {
            if ctx.state.store.user_by_id(id).await?.is_none() {
                return Err(S3Error::invalid_argument("Invalid id").with("ArgumentName", "CanonicalUser/ID").with("ArgumentValue", id.clone()));
            }
        }
    }
    Ok(grants)
}

pub async fn put_acl(ctx: &Ctx<'_>, bucket_name: &str, key: Option<&str>, payload: web::Payload) -> S3Result<HttpResponse> {
    match key {
        None => {
            let bucket = ctx.bucket_for(bucket_name, Permission::WriteAcp).await?;
            let grants = requested(ctx, payload, &bucket.owner, &bucket.owner.id).await?;
            crate::access::ownership::check_acl_allowed(ctx.state, &bucket, Some(&grants)).await?;
            crate::access::public_access::check_new_acl(ctx.state, bucket.id, &grants).await?;
            set_bucket_grants(ctx.state, bucket.id, &grants).await?;
        }
        Some(key) => {
            let bucket = ctx.state.store.bucket(bucket_name).await.map_err(|_| S3Error::no_such_bucket(bucket_name))?;
            let rec = object(ctx, &bucket, key).await?;
            ctx.check_object(&rec, Permission::WriteAcp).await?;
            let owner = owner_user(ctx, &bucket, &rec.owner_id).await?;
            let grants = requested(ctx, payload, &owner, &bucket.owner.id).await?;
            crate::access::ownership::check_acl_allowed(ctx.state, &bucket, Some(&grants)).await?;
            crate::access::public_access::check_new_acl(ctx.state, bucket.id, &grants).await?;
            let acl = (!grants.is_empty()).then_some(grants);
            ctx.state.store.set_object_acl(bucket.id, key, Some(&rec.version_id), acl, ctx.requester()).await?;
        }
    }
    Ok(HttpResponse::Ok().finish())
}
