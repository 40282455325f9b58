//! GetBucketUsage, a Coffer extension (`GET /BUCKET?coffer-usage`, which S3 clients never
//! send): the bucket's object count and bytes from the counters the index keeps current, for
//! whoever may list the bucket (authorized exactly as ListObjects is, s3:ListBucket).

use crate::http::error::S3Result;
use crate::http::xml;
use crate::request::ctx::Ctx;
use actix_web::HttpResponse;
use coffer_storage::Permission;
use serde::Serialize;

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct BucketUsage {
    bucket: String,
    /// Keys whose latest version is an object, not a delete marker.
    objects: u64,
    /// Versions that are objects, current or noncurrent.
    versions: u64,
    delete_markers: u64,
    /// The sizes of all versions added up (what clients wrote).
    logical_bytes: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_objects: Option<u64>,
}

/// One indexed read of the bucket's usage row: never a walk of its versions.
pub async fn get_bucket_usage(ctx: &Ctx<'_>, name: &str) -> S3Result<HttpResponse> {
    let bucket = ctx.bucket_for(name, Permission::Read).await?;
    let (usage, quota) = ctx.state.store.bucket_usage(bucket.id).await?;
    xml::ok(
        "BucketUsage",
        &BucketUsage {
            bucket: bucket.name,
            objects: usage.objects,
            versions: usage.versions,
            delete_markers: usage.delete_markers,
            logical_bytes: usage.logical_bytes,
            max_bytes: quota.max_bytes,
            max_objects: quota.max_objects,
        },
    )
}
