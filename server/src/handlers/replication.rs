//! Put/Get/DeleteBucketReplication: the configuration is checked as S3 checks it (versioning
//! Enabled on the source and on a destination on this server, destination buckets and
//! remotes that exist) and stored as put, with the routes the storage layer queues new
//! versions by (`workers::replication` carries them out). A rule with ExistingObjectReplication
//! starts a resync of what the bucket already holds.

use crate::bucket_config::replication::{ReplicationConfiguration, Target, KIND};
use crate::http::body::{read_all, request_body};
use crate::http::error::{ErrorCode, S3Error, S3Result};
use crate::http::xml;
use crate::request::ctx::Ctx;
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use coffer_storage::{Bucket, StorageError, Versioning};

const BODY_LIMIT: usize = 1024 * 1024;

pub async fn put(ctx: &Ctx<'_>, bucket_name: &str, payload: web::Payload) -> S3Result<HttpResponse> {
    let bucket = ctx.owned_bucket(bucket_name).await?;
    let body = read_all(request_body(payload, &ctx.payload).stream, BODY_LIMIT, ErrorCode::MalformedXML).await?;
    crate::request::upload::check_payload_hash(&ctx.payload, &body)?;
    crate::request::upload::check_content_md5(ctx, &body)?;
    let mut config: ReplicationConfiguration = xml::parse(&body)?;
    let targets = config.validate()?;
    if bucket.versioning != Versioning::Enabled {
        return Err(S3Error::invalid_request("Versioning must be 'Enabled' on the bucket to apply a replication configuration"));
    }
    check_targets(ctx, &bucket, &targets).await?;
    crate::bucket_config::save(&ctx.state.store, bucket.id, coffer_storage::ROUTES_KIND, Some(&config.routes())).await?;
    crate::bucket_config::save(&ctx.state.store, bucket.id, KIND, Some(&config)).await?;
    if config.replicates_existing_objects() {
        ctx.state.store.start_resync(bucket.id, false).await?;
    }
    Ok(HttpResponse::Ok().finish())
}

/// Destinations on this server exist, are not the source and keep versions; remotes are registered.
async fn check_targets(ctx: &Ctx<'_>, source: &Bucket, targets: &[Target]) -> S3Result<()> {
    let remotes = ctx.state.store.remotes().await?;
    for target in targets {
        match target {
            Target::Local { bucket } => {
                let dest = ctx.state.store.bucket(bucket).await.map_err(|e| match e {
                    StorageError::NoSuchBucket => S3Error::invalid_request("Destination bucket must exist."),
                    other => other.into(),
                })?;
                if dest.id == source.id {
                    return Err(S3Error::invalid_request("Destination bucket cannot be the same as the source bucket."));
                }
                if dest.versioning != Versioning::Enabled {
                    return Err(S3Error::invalid_request("Destination bucket must have versioning enabled."));
                }
            }
            Target::Remote { remote, .. } => {
                if !remotes.iter().any(|(r, _)| r.name == *remote) {
                    return Err(S3Error::invalid_argument(format!("No remote is named {remote:?} (coffer admin remote add)."))
                        .with("ArgumentName", "Bucket"));
                }
            }
        }
    }
    Ok(())
}

pub async fn get(ctx: &Ctx<'_>, bucket_name: &str) -> S3Result<HttpResponse> {
    let bucket = ctx.owned_bucket(bucket_name).await?;
    let config: ReplicationConfiguration = crate::bucket_config::load(&ctx.state.store, bucket.id, KIND).await?.ok_or_else(|| {
        S3Error::custom("ReplicationConfigurationNotFoundError", StatusCode::NOT_FOUND, "The replication configuration was not found")
            .with("BucketName", bucket_name)
    })?;
    xml::ok("ReplicationConfiguration", &ReplicationConfiguration { xmlns: xml::S3_NAMESPACE, ..config })
}

pub async fn delete(ctx: &Ctx<'_>, bucket_name: &str) -> S3Result<HttpResponse> {
    let bucket = ctx.owned_bucket(bucket_name).await?;
    crate::bucket_config::save::<ReplicationConfiguration>(&ctx.state.store, bucket.id, KIND, None).await?;
    crate::bucket_config::save::<Vec<coffer_storage::ReplicationRoute>>(&ctx.state.store, bucket.id, coffer_storage::ROUTES_KIND, None).await?;
    Ok(HttpResponse::NoContent().finish())
}
