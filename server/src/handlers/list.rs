//! Listing: ListObjects (v1), ListObjectsV2 and ListObjectVersions, with prefix, delimiter,
//! markers and continuation tokens, max-keys shared by keys and prefixes, and encoding-type=url.

use crate::request::ctx::Ctx;
use crate::http::error::{S3Error, S3Result};
use crate::http::xml::Owner;
use crate::request::object_headers::quoted_etag;
use crate::http::xml::{self, timestamp, S3_NAMESPACE};
use actix_web::HttpResponse;
use base64::Engine;
use coffer_storage::{Bucket, ListItem, Permission, ListParams, ObjectRecord, VersionListParams};
use crate::http::key_encoding::Encoder;
use serde::Serialize;

const DEFAULT_MAX_KEYS: usize = 1000;

fn max_keys(ctx: &Ctx<'_>) -> S3Result<usize> {
    match ctx.query.get("max-keys") {
        None => Ok(DEFAULT_MAX_KEYS),
        Some(v) => v
            .trim()
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 0)
            .map(|n| (n as usize).min(DEFAULT_MAX_KEYS))
            .ok_or_else(|| S3Error::invalid_argument("Provided max-keys not an integer or within integer range").with("ArgumentName", "max-keys")),
    }
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Contents {
    key: String,
    last_modified: String,
    #[serde(rename = "ETag")]
    etag: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    checksum_algorithm: Option<String>,
    size: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    owner: Option<Owner>,
    storage_class: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct CommonPrefix {
    prefix: String,
}

fn contents(rec: ObjectRecord, enc: &Encoder, owner: Option<Owner>) -> Contents {
    Contents {
        key: enc.name(&rec.key),
        last_modified: timestamp(rec.modified_ms),
        etag: quoted_etag(&rec.etag),
        checksum_algorithm: rec.meta.checksum.as_ref().map(|c| c.algorithm.clone()),
        size: rec.size,
        owner,
        storage_class: rec.meta.storage_class.unwrap_or_else(|| "STANDARD".to_string()),
    }
}

/// Splits a page into objects and common prefixes, rendered.
fn split_items(items: Vec<ListItem>, enc: &Encoder, bucket: &Bucket, with_owner: bool) -> (Vec<Contents>, Vec<CommonPrefix>) {
    let mut objects = Vec::new();
    let mut prefixes = Vec::new();
    for item in items {
        match item {
            ListItem::Object(rec) => objects.push(contents(rec, enc, with_owner.then(|| Owner::of(&bucket.owner)))),
            ListItem::Prefix(p) => prefixes.push(CommonPrefix { prefix: enc.name(&p) }),
        }
    }
    (objects, prefixes)
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ListBucketResult {
    #[serde(rename = "@xmlns")]
    xmlns: &'static str,
    name: String,
    prefix: String,
    marker: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_marker: Option<String>,
    max_keys: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    delimiter: Option<String>,
    is_truncated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    encoding_type: Option<&'static str>,
    contents: Vec<Contents>,
    common_prefixes: Vec<CommonPrefix>,
}

fn list_params(ctx: &Ctx<'_>, after: Option<String>, max_keys: usize) -> ListParams {
    ListParams {
        prefix: ctx.query.get("prefix").unwrap_or("").to_string(),
        delimiter: ctx.query.get("delimiter").filter(|d| !d.is_empty()).map(str::to_string),
        after,
        max_keys,
    }
}

pub async fn list_objects_v1(ctx: &Ctx<'_>, bucket_name: &str) -> S3Result<HttpResponse> {
    let bucket = ctx.bucket_for(bucket_name, Permission::Read).await?;
    let enc = Encoder::from_query(&ctx.query)?;
    let max_keys = max_keys(ctx)?;
    let marker = ctx.query.get("marker").filter(|m| !m.is_empty()).map(str::to_string);
    let params = list_params(ctx, marker.clone(), max_keys);
    let page = ctx.state.store.list_objects(bucket.id, params.clone()).await?;
    let next_marker = if page.is_truncated { enc.opt(page.last_name()) } else { None };
    let is_truncated = page.is_truncated;
    let (contents, common_prefixes) = split_items(page.items, &enc, &bucket, true);
    xml::ok(
        "ListBucketResult",
        &ListBucketResult {
            xmlns: S3_NAMESPACE,
            name: bucket.name.clone(),
            // v1 never encodes Prefix, even with encoding-type=url (clients do not decode it).
            prefix: params.prefix.clone(),
            marker: enc.name(marker.as_deref().unwrap_or("")),
            next_marker,
            max_keys,
            delimiter: enc.opt(params.delimiter.as_deref()),
            is_truncated,
            encoding_type: enc.encoding_type(),
            contents,
            common_prefixes,
        },
    )
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ListBucketResultV2 {
    #[serde(rename = "@xmlns")]
    xmlns: &'static str,
    name: String,
    prefix: String,
    key_count: usize,
    max_keys: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    delimiter: Option<String>,
    is_truncated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    continuation_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_continuation_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    start_after: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    encoding_type: Option<&'static str>,
    contents: Vec<Contents>,
    common_prefixes: Vec<CommonPrefix>,
}

fn encode_token(last: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(last.as_bytes())
}

fn decode_token(token: &str) -> S3Result<String> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token.trim())
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| S3Error::invalid_argument("The continuation token provided is incorrect").with("ArgumentName", "continuation-token"))
}

pub async fn list_objects_v2(ctx: &Ctx<'_>, bucket_name: &str) -> S3Result<HttpResponse> {
    let bucket = ctx.bucket_for(bucket_name, Permission::Read).await?;
    let enc = Encoder::from_query(&ctx.query)?;
    let max_keys = max_keys(ctx)?;
    let token = ctx.query.get("continuation-token").map(str::to_string);
    let start_after = ctx.query.get("start-after").filter(|s| !s.is_empty()).map(str::to_string);
    let after = match &token {
        Some(t) => Some(decode_token(t)?),
        None => start_after.clone(),
    };
    let params = list_params(ctx, after, max_keys);
    let page = ctx.state.store.list_objects(bucket.id, params.clone()).await?;
    let next_token = if page.is_truncated { page.last_name().map(encode_token) } else { None };
    let is_truncated = page.is_truncated;
    let key_count = page.items.len();
    let fetch_owner = ctx.query.get("fetch-owner").is_some_and(|v| v == "true");
    let (contents, common_prefixes) = split_items(page.items, &enc, &bucket, fetch_owner);
    xml::ok(
        "ListBucketResult",
        &ListBucketResultV2 {
            xmlns: S3_NAMESPACE,
            name: bucket.name.clone(),
            prefix: enc.name(&params.prefix),
            key_count,
            max_keys,
            delimiter: enc.opt(params.delimiter.as_deref()),
            is_truncated,
            continuation_token: token,
            next_continuation_token: next_token,
            start_after: enc.opt(start_after.as_deref()),
            encoding_type: enc.encoding_type(),
            contents,
            common_prefixes,
        },
    )
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ListVersionsResult {
    #[serde(rename = "@xmlns")]
    xmlns: &'static str,
    name: String,
    prefix: String,
    key_marker: String,
    version_id_marker: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_key_marker: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_version_id_marker: Option<String>,
    max_keys: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    delimiter: Option<String>,
    is_truncated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    encoding_type: Option<&'static str>,
    #[serde(rename = "$value")]
    entries: Vec<VersionEntry>,
}

#[derive(Serialize)]
enum VersionEntry {
    Version(Version),
    DeleteMarker(DeleteMarker),
    CommonPrefixes(CommonPrefix),
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Version {
    key: String,
    version_id: String,
    is_latest: bool,
    last_modified: String,
    #[serde(rename = "ETag")]
    etag: String,
    size: u64,
    owner: Owner,
    storage_class: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct DeleteMarker {
    key: String,
    version_id: String,
    is_latest: bool,
    last_modified: String,
    owner: Owner,
}

pub async fn list_object_versions(ctx: &Ctx<'_>, bucket_name: &str) -> S3Result<HttpResponse> {
    let bucket = ctx.bucket_for(bucket_name, Permission::Read).await?;
    let enc = Encoder::from_query(&ctx.query)?;
    let max_keys = max_keys(ctx)?;
    let params = VersionListParams {
        prefix: ctx.query.get("prefix").unwrap_or("").to_string(),
        delimiter: ctx.query.get("delimiter").filter(|d| !d.is_empty()).map(str::to_string),
        key_marker: ctx.query.get("key-marker").filter(|m| !m.is_empty()).map(str::to_string),
        version_id_marker: ctx.query.get("version-id-marker").filter(|m| !m.is_empty()).map(str::to_string),
        max_keys,
    };
    let page = ctx.state.store.list_versions(bucket.id, params.clone()).await?;
    let entries = page
        .items
        .into_iter()
        .map(|item| match item {
            ListItem::Prefix(p) => VersionEntry::CommonPrefixes(CommonPrefix { prefix: enc.name(&p) }),
            ListItem::Object(rec) if rec.delete_marker => VersionEntry::DeleteMarker(DeleteMarker {
                key: enc.name(&rec.key),
                version_id: rec.version_id,
                is_latest: rec.is_latest,
                last_modified: timestamp(rec.modified_ms),
                owner: Owner::of(&bucket.owner),
            }),
            ListItem::Object(rec) => VersionEntry::Version(Version {
                key: enc.name(&rec.key),
                version_id: rec.version_id,
                is_latest: rec.is_latest,
                last_modified: timestamp(rec.modified_ms),
                etag: quoted_etag(&rec.etag),
                size: rec.size,
                owner: Owner::of(&bucket.owner),
                storage_class: rec.meta.storage_class.unwrap_or_else(|| "STANDARD".to_string()),
            }),
        })
        .collect();
    xml::ok(
        "ListVersionsResult",
        &ListVersionsResult {
            xmlns: S3_NAMESPACE,
            name: bucket.name.clone(),
            prefix: enc.name(&params.prefix),
            key_marker: enc.name(params.key_marker.as_deref().unwrap_or("")),
            version_id_marker: params.version_id_marker.clone().unwrap_or_default(),
            next_key_marker: enc.opt(page.next_key_marker.as_deref()),
            next_version_id_marker: page.next_version_id_marker,
            max_keys,
            delimiter: enc.opt(params.delimiter.as_deref()),
            is_truncated: page.is_truncated,
            encoding_type: enc.encoding_type(),
            entries,
        },
    )
}
