//! GetObjectAttributes: an object version's ETag, checksum, parts (paginated), storage class
//! and size, without its bytes, each only when x-amz-object-attributes asks for it.

use crate::http::checksum_fields::ChecksumFields;
use crate::request::ctx::Ctx;
use crate::http::error::{ErrorCode, S3Error, S3Result};
use crate::request::object_headers::http_date;
use crate::http::xml::{self, S3_NAMESPACE};
use actix_web::HttpResponse;
use coffer_storage::{ObjectRecord, Part, Permission, StorageError, Versioning};
use serde::Serialize;

const DEFAULT_MAX_PARTS: usize = 1000;

/// The attributes a request asks for.
#[derive(Default)]
struct Wanted {
    etag: bool,
    checksum: bool,
    parts: bool,
    storage_class: bool,
    size: bool,
}

fn wanted(ctx: &Ctx<'_>) -> S3Result<Wanted> {
    let mut w = Wanted::default();
    let names = ctx.req.headers().get_all("x-amz-object-attributes").filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(','));
    for name in names.map(str::trim).filter(|n| !n.is_empty()) {
        match name {
            "ETag" => w.etag = true,
            "Checksum" => w.checksum = true,
            "ObjectParts" => w.parts = true,
            "StorageClass" => w.storage_class = true,
            "ObjectSize" => w.size = true,
            _ => return Err(S3Error::invalid_argument("Invalid attribute name specified.").with("ArgumentName", "x-amz-object-attributes")),
        }
    }
    if !(w.etag || w.checksum || w.parts || w.storage_class || w.size) {
        return Err(S3Error::invalid_argument(
            "The x-amz-object-attributes header specifying the attributes to be retrieved is either missing or empty",
        )
        .with("ArgumentName", "x-amz-object-attributes"));
    }
    Ok(w)
}

/// A non-negative integer header.
fn count_header(ctx: &Ctx<'_>, name: &'static str) -> S3Result<Option<usize>> {
    ctx.header(name)
        .map(|v| v.trim().parse::<usize>().map_err(|_| S3Error::invalid_argument(format!("Invalid {name}")).with("ArgumentName", name)))
        .transpose()
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ChecksumElement {
    #[serde(flatten)]
    value: ChecksumFields,
    checksum_type: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ObjectPartEntry {
    part_number: u32,
    size: u64,
    #[serde(flatten)]
    checksum: ChecksumFields,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ObjectParts {
    parts_count: usize,
    part_number_marker: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_part_number_marker: Option<u32>,
    max_parts: usize,
    is_truncated: bool,
    #[serde(rename = "Part")]
    parts: Vec<ObjectPartEntry>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct GetObjectAttributesResponse {
    #[serde(rename = "@xmlns")]
    xmlns: &'static str,
    #[serde(rename = "ETag", skip_serializing_if = "Option::is_none")]
    etag: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    checksum: Option<ChecksumElement>,
    #[serde(skip_serializing_if = "Option::is_none")]
    object_parts: Option<ObjectParts>,
    #[serde(skip_serializing_if = "Option::is_none")]
    storage_class: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    object_size: Option<u64>,
}

/// One page of an object's parts: numbers after `marker`, at most `max`.
fn parts_page(rec: &ObjectRecord, parts: Vec<Part>, marker: usize, max: usize) -> ObjectParts {
    let total = parts.len();
    let algorithm = rec.meta.checksum.as_ref().map(|c| c.algorithm.as_str());
    let mut after: Vec<Part> = parts.into_iter().filter(|p| p.number as usize > marker).collect();
    let is_truncated = after.len() > max;
    after.truncate(max);
    ObjectParts {
        parts_count: total,
        part_number_marker: marker,
        next_part_number_marker: if is_truncated { after.last().map(|p| p.number) } else { None },
        max_parts: max,
        is_truncated,
        parts: after
            .into_iter()
            .map(|p| ObjectPartEntry { part_number: p.number, size: p.size, checksum: ChecksumFields::new(algorithm, p.checksum) })
            .collect(),
    }
}

pub async fn get_object_attributes(ctx: &Ctx<'_>, bucket_name: &str, key: &str) -> S3Result<HttpResponse> {
    let (bucket, found) = ctx.state.store.bucket_and_record(bucket_name, key, ctx.query.get("versionId")).await.map_err(|e| S3Error::bucket_lookup(bucket_name, e))?;
    let wanted = wanted(ctx)?;
    let version_id = ctx.query.get("versionId");
    let found = match found {
        // Whoever may not list the bucket learns nothing about which keys exist.
        Err(StorageError::NoSuchKey | StorageError::NoSuchVersion) if ctx.check_bucket(&bucket, Permission::Read).await.is_err() => {
            return Err(S3Error::new(ErrorCode::AccessDenied))
        }
        other => other,
    };
    let rec = found.map_err(|e| match e {
        StorageError::NoSuchKey => S3Error::no_such_key(key),
        StorageError::NoSuchVersion => {
            S3Error::new(ErrorCode::NoSuchVersion).with("Key", key).with("VersionId", version_id.unwrap_or_default())
        }
        other => other.into(),
    })?;
    if rec.delete_marker {
        let err = if version_id.is_some() { S3Error::new(ErrorCode::MethodNotAllowed) } else { S3Error::no_such_key(key) };
        return Err(err.with("DeleteMarker", "true"));
    }
    ctx.check_object(&rec, Permission::Read).await?;
    // Attributes of an SSE-C object are the customer's to see: the key must come along.
    crate::request::sse::for_head(ctx.state, rec.meta.encryption.as_ref(), ctx.req.headers())?;
    let object_parts = match wanted.parts {
        true => ctx.state.store.object_parts(bucket.id, key, &rec.version_id).await?,
        false => None,
    };
    let max = count_header(ctx, "x-amz-max-parts")?.unwrap_or(DEFAULT_MAX_PARTS).min(DEFAULT_MAX_PARTS);
    let marker = count_header(ctx, "x-amz-part-number-marker")?.unwrap_or(0);
    let checksum = rec.meta.checksum.as_ref().filter(|_| wanted.checksum);
    let body = GetObjectAttributesResponse {
        xmlns: S3_NAMESPACE,
        etag: wanted.etag.then(|| rec.etag.clone()),
        checksum: checksum.map(|c| ChecksumElement {
            value: ChecksumFields::new(Some(&c.algorithm), Some(c.value.clone())),
            checksum_type: c.kind.as_str(),
        }),
        object_parts: object_parts.map(|parts| parts_page(&rec, parts, marker, max)),
        storage_class: wanted.storage_class.then(|| rec.meta.storage_class.clone().unwrap_or_else(|| "STANDARD".to_string())),
        object_size: wanted.size.then_some(rec.size),
    };
    let mut resp = HttpResponse::Ok();
    resp.insert_header(("Last-Modified", http_date(rec.modified_ms)));
    if bucket.versioning != Versioning::Unversioned {
        resp.insert_header(("x-amz-version-id", rec.version_id.clone()));
    }
    Ok(resp.content_type("application/xml").body(xml::render("GetObjectAttributesResponse", &body)?))
}
