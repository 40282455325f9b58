//! Multipart uploads: CreateMultipartUpload, UploadPart, UploadPartCopy, CompleteMultipartUpload,
//! AbortMultipartUpload, ListParts and ListMultipartUploads; parts are blobs, Complete copies nothing.

use crate::http::body::{read_all, request_body};
use crate::http::checksum_fields::ChecksumFields;
use crate::http::checksums::ChecksumRequest;
use crate::request::copy_source::{copy_range, load_source};
use crate::request::ctx::Ctx;
use crate::http::error::{ErrorCode, S3Error, S3Result};
use crate::http::xml::Owner;
use crate::http::key_encoding::Encoder;
use crate::request::upload::{
    check_ingested_sha256, check_payload_hash, content_md5, declared_length, ingest_options, write_conditions, MAX_PUT_SIZE,
};
use crate::request::sse::Sealing;
use crate::request::object_headers::{meta_from_request, quoted_etag};
use crate::http::xml::{self, timestamp, S3_NAMESPACE};
use actix_web::{web, HttpResponse, HttpResponseBuilder};
use coffer_auth::Payload;
use coffer_crypto::checksum::{Checksum, ChecksumAlgorithm};
use coffer_storage::{
    ChecksumType, CompletePart, CompleteRequest, Ingested, Part, Permission, StorageError, Upload, UploadChecksum,
    UploadListItem, UploadListParams, User, Versioning, NULL_VERSION,
};
use serde::{Deserialize, Serialize};

/// Smallest size of every part but the last.
const MIN_PART_SIZE: u64 = 5 * 1024 * 1024;
const MAX_PART_NUMBER: u32 = 10_000;
const DEFAULT_MAX_PARTS: usize = 1000;
const DEFAULT_MAX_UPLOADS: usize = 1000;
/// Largest CompleteMultipartUpload body: 10,000 parts with a checksum each fit well within.
const MAX_COMPLETE_BODY: usize = 16 * 1024 * 1024;

/// The checksum fields of a part of an upload with `checksum`.
fn part_checksum(upload: Option<UploadChecksum>, part: &Part) -> ChecksumFields {
    ChecksumFields::new(upload.map(|u| u.algorithm.as_str()), part.checksum.clone())
}

fn checksum_headers(resp: &mut HttpResponseBuilder, checksum: Option<UploadChecksum>) {
    if let Some(c) = checksum {
        resp.insert_header(("x-amz-checksum-algorithm", c.algorithm.as_str()));
        resp.insert_header(("x-amz-checksum-type", c.kind.as_str()));
    }
}

fn upload_id<'a>(ctx: &'a Ctx<'_>) -> S3Result<&'a str> {
    ctx.query.get("uploadId").filter(|id| !id.is_empty()).ok_or_else(|| ErrorCode::NoSuchUpload.into())
}

fn part_number(ctx: &Ctx<'_>) -> S3Result<u32> {
    let raw = ctx.query.get("partNumber").unwrap_or_default();
    raw.trim().parse::<u32>().ok().filter(|n| (1..=MAX_PART_NUMBER).contains(n)).ok_or_else(|| {
        S3Error::invalid_argument("Part number must be an integer between 1 and 10000, inclusive")
            .with("ArgumentName", "partNumber")
            .with("ArgumentValue", raw)
    })
}

/// A non-negative integer query parameter, at most `max` (its default when absent).
fn query_count(ctx: &Ctx<'_>, name: &'static str, max: usize) -> S3Result<usize> {
    match ctx.query.get(name) {
        None => Ok(max),
        Some(v) => v.trim().parse::<i64>().ok().filter(|n| *n >= 0).map(|n| (n as usize).min(max)).ok_or_else(|| {
            S3Error::invalid_argument(format!("Provided {name} not an integer or within integer range")).with("ArgumentName", name)
        }),
    }
}

/// The x-amz-checksum-algorithm and x-amz-checksum-type of CreateMultipartUpload, checked
/// for combinations S3 refuses.
fn requested_checksum(ctx: &Ctx<'_>) -> S3Result<Option<UploadChecksum>> {
    let kind = ctx
        .header("x-amz-checksum-type")
        .map(|t| ChecksumType::parse(t.trim()).ok_or_else(|| S3Error::invalid_request("Value for x-amz-checksum-type header is invalid.")))
        .transpose()?;
    let Some(name) = ctx.header("x-amz-checksum-algorithm") else {
        return match kind {
            Some(_) => {
                Err(S3Error::invalid_request("The x-amz-checksum-type header can only be used with the x-amz-checksum-algorithm header."))
            }
            None => Ok(None),
        };
    };
    let algorithm =
        ChecksumAlgorithm::parse(name.trim()).ok_or_else(|| S3Error::invalid_request("Checksum algorithm provided is unsupported."))?;
    let is_crc = matches!(algorithm, ChecksumAlgorithm::Crc32 | ChecksumAlgorithm::Crc32c | ChecksumAlgorithm::Crc64Nvme);
    let kind = kind.unwrap_or(if algorithm == ChecksumAlgorithm::Crc64Nvme { ChecksumType::FullObject } else { ChecksumType::Composite });
    let refused = match kind {
        ChecksumType::Composite => algorithm == ChecksumAlgorithm::Crc64Nvme,
        ChecksumType::FullObject => !is_crc,
    };
    if refused {
        return Err(S3Error::invalid_request(format!(
            "The {} checksum type cannot be used with the {} checksum algorithm.",
            kind.as_str(),
            algorithm.as_str().to_lowercase()
        )));
    }
    Ok(Some(UploadChecksum { algorithm, kind }))
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct InitiateMultipartUploadResult {
    #[serde(rename = "@xmlns")]
    xmlns: &'static str,
    bucket: String,
    key: String,
    upload_id: String,
}

pub async fn create_multipart_upload(ctx: &Ctx<'_>, bucket_name: &str, key: &str) -> S3Result<HttpResponse> {
    let bucket = ctx.bucket_for(bucket_name, Permission::Write).await?;
    let mut meta = meta_from_request(ctx.req.headers())?;
    let (acl, owner_id) = crate::access::ownership::new_object_acl(ctx.state, &bucket, ctx.req.headers(), ctx.writer_id()).await?;
    meta.acl = acl;
    let checksum = requested_checksum(ctx)?;
    // The upload's data key is made now and wrapped in its metadata; every part uses it.
    let sealing = crate::request::sse::for_write(ctx.state, bucket.id, ctx.req.headers()).await?;
    meta.encryption = sealing.as_ref().map(|s| s.encryption.clone());
    let lock_params = crate::request::object_lock::LockParams::from_headers(ctx);
    meta.lock = crate::request::object_lock::for_new_version(ctx, &bucket, &lock_params, None, coffer_storage::now_ms()).await?;
    let upload = ctx.state.store.create_upload(bucket.id, key, &owner_id, meta, checksum).await?;
    let mut resp = HttpResponse::Ok();
    checksum_headers(&mut resp, checksum);
    if let Some(s) = &sealing {
        s.headers(&mut resp);
    }
    let body =
        InitiateMultipartUploadResult { xmlns: S3_NAMESPACE, bucket: bucket.name, key: key.to_string(), upload_id: upload.upload_id };
    Ok(resp.content_type("application/xml").body(xml::render("InitiateMultipartUploadResult", &body)?))
}

/// The upload a part request addresses, in a bucket the caller may write to.
/// The bucket and the upload are read together, and answered in the order of separate
/// lookups: `NoSuchBucket`, then the access check, then `NoSuchUpload` (which an empty or
/// missing upload id gets too).
async fn target_upload(ctx: &Ctx<'_>, bucket_name: &str, key: &str) -> S3Result<Upload> {
    let upload_id = ctx.query.get("uploadId").unwrap_or_default();
    let (bucket, upload) =
        ctx.state.store.bucket_and_upload(bucket_name, key, upload_id).await.map_err(|e| S3Error::bucket_lookup(bucket_name, e))?;
    ctx.check_bucket(&bucket, Permission::Write).await?;
    Ok(upload?)
}

/// Algorithms a part computes: the ones the request asks for and the upload's own.
fn part_algorithms(requested: &ChecksumRequest, upload: &Upload) -> Vec<ChecksumAlgorithm> {
    let mut algs = requested.algorithms.clone();
    if let Some(u) = upload.checksum {
        if !algs.contains(&u.algorithm) {
            algs.push(u.algorithm);
        }
    }
    algs
}

/// Receives a part's body (sealed as the upload says) and checks every digest the client sent
/// with it (declared length, payload SHA-256, Content-MD5, flexible checksum), as PutObject does.
async fn receive_part(
    ctx: &Ctx<'_>,
    upload: &Upload,
    sealing: Option<&Sealing>,
    payload: web::Payload,
) -> S3Result<(Ingested, Option<Checksum>)> {
    let length = declared_length(ctx.req.headers(), &ctx.payload)?;
    if let Some(l) = length.filter(|l| *l > MAX_PUT_SIZE) {
        return Err(S3Error::new(ErrorCode::EntityTooLarge)
            .with("ProposedSize", l.to_string())
            .with("MaxSizeAllowed", MAX_PUT_SIZE.to_string()));
    }
    if length.is_none() && !matches!(ctx.payload, Payload::Streaming(_)) {
        return Err(S3Error::new(ErrorCode::MissingContentLength));
    }
    let requested = ChecksumRequest::from_headers(ctx.req.headers())?;
    let md5 = content_md5(ctx)?;
    let body = request_body(payload, &ctx.payload);
    let opts = ingest_options(&ctx.payload, part_algorithms(&requested, upload), sealing);
    let mut ingested = ctx.state.store.ingest_part(body.stream, opts).await?;
    if length.is_some_and(|l| l != ingested.size) {
        return Err(S3Error::new(ErrorCode::IncompleteBody));
    }
    check_ingested_sha256(&ctx.payload, &ingested)?;
    if md5.is_some_and(|m| m != ingested.md5) {
        return Err(S3Error::new(ErrorCode::BadDigest));
    }
    let trailers = body.trailers.map(|t| t.get()).unwrap_or_default();
    let sent = requested.verify(&ingested, &trailers)?;
    if let Some(s) = sealing {
        ingested.md5 = s.etag_md5(ingested.md5);
    }
    Ok((ingested, sent))
}

pub async fn upload_part(ctx: &Ctx<'_>, bucket_name: &str, key: &str, payload: web::Payload) -> S3Result<HttpResponse> {
    let number = part_number(ctx)?;
    let upload = target_upload(ctx, bucket_name, key).await?;
    let sealing = crate::request::sse::for_upload(ctx.state, upload.meta.encryption.as_ref(), ctx.req.headers())?;
    let (ingested, sent) = receive_part(ctx, &upload, sealing.as_ref(), payload).await?;
    let part = ctx.state.store.put_part(&upload, number, ingested).await?;
    let mut resp = HttpResponse::Ok();
    resp.insert_header(("ETag", quoted_etag(&part.etag)));
    if let Some(s) = &sealing {
        s.headers(&mut resp);
    }
    // The upload's own checksum of the part, else the one the client sent.
    let echoed = match (upload.checksum, &part.checksum) {
        (Some(u), Some(value)) => Some((u.algorithm.header_name(), value.clone())),
        _ => sent.map(|c| (c.algorithm.header_name(), c.to_base64())),
    };
    if let Some(header) = echoed {
        resp.insert_header(header);
    }
    Ok(resp.finish())
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct CopyPartResult {
    #[serde(rename = "@xmlns")]
    xmlns: &'static str,
    #[serde(rename = "ETag")]
    etag: String,
    last_modified: String,
    #[serde(flatten)]
    checksum: ChecksumFields,
}

pub async fn upload_part_copy(ctx: &Ctx<'_>, bucket_name: &str, key: &str) -> S3Result<HttpResponse> {
    let number = part_number(ctx)?;
    let upload = target_upload(ctx, bucket_name, key).await?;
    let sealing = crate::request::sse::for_upload(ctx.state, upload.meta.encryption.as_ref(), ctx.req.headers())?;
    let src = load_source(ctx).await?;
    let unsealing =
        crate::request::sse::for_read(ctx.state, src.record.meta.encryption.as_ref(), ctx.req.headers(), &crate::request::sse::COPY_SOURCE_CUSTOMER)?;
    let (offset, len) = copy_range(ctx.header("x-amz-copy-source-range"), src.record.size)?;
    if len > MAX_PUT_SIZE {
        return Err(S3Error::new(ErrorCode::EntityTooLarge)
            .with("ProposedSize", len.to_string())
            .with("MaxSizeAllowed", MAX_PUT_SIZE.to_string()));
    }
    let bytes = ctx.state.store.read_body(&src.record, &src.body, offset, len, unsealing.key.as_ref());
    let checksums = upload.checksum.map(|u| vec![u.algorithm]).unwrap_or_default();
    let opts = ingest_options(&Payload::Unsigned, checksums, sealing.as_ref());
    let mut ingested = ctx.state.store.ingest_part(bytes, opts).await?;
    if ingested.size != len {
        return Err(S3Error::internal(format!("copy source yielded {} of {len} bytes", ingested.size)));
    }
    if let Some(s) = &sealing {
        ingested.md5 = s.etag_md5(ingested.md5);
    }
    let part = ctx.state.store.put_part(&upload, number, ingested).await?;

    let mut resp = HttpResponse::Ok();
    if let Some(s) = &sealing {
        s.headers(&mut resp);
    }
    if src.record.version_id != NULL_VERSION || src.bucket.versioning != Versioning::Unversioned {
        resp.insert_header(("x-amz-copy-source-version-id", src.record.version_id.clone()));
    }
    let body = CopyPartResult {
        xmlns: S3_NAMESPACE,
        etag: quoted_etag(&part.etag),
        last_modified: timestamp(part.modified_ms),
        checksum: part_checksum(upload.checksum, &part),
    };
    Ok(resp.content_type("application/xml").body(xml::render("CopyPartResult", &body)?))
}

#[derive(Deserialize)]
pub(crate) struct CompleteMultipartUpload {
    #[serde(rename = "Part", default)]
    parts: Vec<CompletedPartXml>,
}

/// A listed part. The checksum elements are spelled out: serde's flatten does not work when
/// deserializing XML.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CompletedPartXml {
    part_number: u32,
    #[serde(rename = "ETag", default)]
    etag: String,
    #[serde(rename = "ChecksumCRC32", default)]
    crc32: Option<String>,
    #[serde(rename = "ChecksumCRC32C", default)]
    crc32c: Option<String>,
    #[serde(rename = "ChecksumCRC64NVME", default)]
    crc64nvme: Option<String>,
    #[serde(rename = "ChecksumSHA1", default)]
    sha1: Option<String>,
    #[serde(rename = "ChecksumSHA256", default)]
    sha256: Option<String>,
}

impl From<CompletedPartXml> for CompletePart {
    fn from(p: CompletedPartXml) -> CompletePart {
        let checksum = p.crc32.or(p.crc32c).or(p.crc64nvme).or(p.sha1).or(p.sha256);
        CompletePart { number: p.part_number, etag: p.etag, checksum }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct CompleteMultipartUploadResult {
    #[serde(rename = "@xmlns")]
    xmlns: &'static str,
    location: String,
    bucket: String,
    key: String,
    #[serde(rename = "ETag")]
    etag: String,
    #[serde(flatten)]
    checksum: ChecksumFields,
    #[serde(skip_serializing_if = "Option::is_none")]
    checksum_type: Option<&'static str>,
}

/// The parts listed in a CompleteMultipartUpload body (at least one).
async fn completed_parts(ctx: &Ctx<'_>, payload: web::Payload) -> S3Result<Vec<CompletePart>> {
    let body = read_all(request_body(payload, &ctx.payload).stream, MAX_COMPLETE_BODY, ErrorCode::MalformedXML).await?;
    check_payload_hash(&ctx.payload, &body)?;
    let doc: CompleteMultipartUpload = xml::parse(&body)?;
    if doc.parts.is_empty() {
        return Err(ErrorCode::MalformedXML.into());
    }
    Ok(doc.parts.into_iter().map(CompletePart::from).collect())
}

/// A whole-object checksum sent in an x-amz-checksum-* header of Complete, to verify.
fn expected_checksum(ctx: &Ctx<'_>) -> Option<(ChecksumAlgorithm, String)> {
    ChecksumAlgorithm::ALL.into_iter().find_map(|a| ctx.header(a.header_name()).map(|v| (a, v.trim().to_string())))
}

fn object_location(ctx: &Ctx<'_>, bucket: &str, key: &str) -> String {
    let info = ctx.req.connection_info();
    format!("{}://{}/{bucket}/{key}", info.scheme(), info.host())
}

pub async fn complete_multipart_upload(ctx: &Ctx<'_>, bucket_name: &str, key: &str, payload: web::Payload) -> S3Result<HttpResponse> {
    let bucket = ctx.bucket_for(bucket_name, Permission::Write).await?;
    let upload_id = upload_id(ctx)?;
    let expected_size = ctx
        .header("x-amz-mp-object-size")
        .map(|v| {
            v.trim()
                .parse::<u64>()
                .map_err(|_| S3Error::invalid_argument("Invalid x-amz-mp-object-size").with("ArgumentName", "x-amz-mp-object-size"))
        })
        .transpose()?;
    // An SSE-C key sent along must be the upload's (a completed upload has nothing left to
    // check); without one, Complete reads nothing more than it did before SSE.
    let customer_md5 = match crate::request::sse::carries_customer_key(ctx.req.headers()) {
        false => None,
        true => match ctx.state.store.upload(bucket.id, key, upload_id).await {
            Ok(upload) => crate::request::sse::check_complete_key(ctx.state, upload.meta.encryption.as_ref(), ctx.req.headers())?,
            Err(_) => None,
        },
    };
    let request = CompleteRequest {
        parts: completed_parts(ctx, payload).await?,
        min_part_size: MIN_PART_SIZE,
        expected_checksum: expected_checksum(ctx),
        expected_size,
        conditions: write_conditions(ctx),
        replica_of: crate::request::replica::identity(ctx, &bucket, key, crate::request::replica::ReplicaWrite::Object).await?,
        requester: ctx.requester(),
    };
    let done = ctx.state.store.complete_upload(bucket.id, key, upload_id, request).await.map_err(|e| match e {
        StorageError::NoSuchKey => S3Error::no_such_key(key),
        other => other.into(),
    })?;
    let mut resp = HttpResponse::Ok();
    if done.version_id != NULL_VERSION {
        resp.insert_header(("x-amz-version-id", done.version_id.clone()));
    }
    crate::request::sse::response_headers(&mut resp, done.encryption.as_ref(), customer_md5.as_deref());
    crate::request::expiration::add_for_version(ctx.state, bucket.id, key, &done.version_id, &mut resp).await;
    let checksum = done.checksum.as_ref();
    let body = CompleteMultipartUploadResult {
        xmlns: S3_NAMESPACE,
        location: object_location(ctx, &bucket.name, key),
        bucket: bucket.name.clone(),
        key: key.to_string(),
        etag: quoted_etag(&done.etag),
        checksum: ChecksumFields::new(checksum.map(|c| c.algorithm.as_str()), checksum.map(|c| c.value.clone())),
        checksum_type: checksum.map(|c| c.kind.as_str()),
    };
    Ok(resp.content_type("application/xml").body(xml::render("CompleteMultipartUploadResult", &body)?))
}

pub async fn abort_multipart_upload(ctx: &Ctx<'_>, bucket_name: &str, key: &str) -> S3Result<HttpResponse> {
    let bucket = ctx.bucket_for(bucket_name, Permission::Write).await?;
    ctx.state.store.abort_upload(bucket.id, key, upload_id(ctx)?).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct PartEntry {
    part_number: u32,
    last_modified: String,
    #[serde(rename = "ETag")]
    etag: String,
    size: u64,
    #[serde(flatten)]
    checksum: ChecksumFields,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ListPartsResult {
    #[serde(rename = "@xmlns")]
    xmlns: &'static str,
    bucket: String,
    key: String,
    upload_id: String,
    part_number_marker: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_part_number_marker: Option<u32>,
    max_parts: usize,
    is_truncated: bool,
    #[serde(rename = "Part")]
    parts: Vec<PartEntry>,
    initiator: Owner,
    owner: Owner,
    storage_class: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    checksum_algorithm: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    checksum_type: Option<&'static str>,
}

/// Who started an upload (and owns the object it becomes).
async fn initiator(ctx: &Ctx<'_>, upload: &Upload) -> S3Result<User> {
    let found = ctx.state.store.user_by_id(&upload.owner_id).await?;
    Ok(found.unwrap_or_else(|| User { id: upload.owner_id.clone(), name: String::new() }))
}

fn storage_class(upload: &Upload) -> String {
    upload.meta.storage_class.clone().unwrap_or_else(|| "STANDARD".to_string())
}

pub async fn list_parts(ctx: &Ctx<'_>, bucket_name: &str, key: &str) -> S3Result<HttpResponse> {
    let bucket = ctx.bucket_for(bucket_name, Permission::Read).await?;
    let max_parts = query_count(ctx, "max-parts", DEFAULT_MAX_PARTS)?;
    let marker = match ctx.query.get("part-number-marker") {
        None => 0,
        Some(v) => v
            .trim()
            .parse::<u32>()
            .map_err(|_| S3Error::invalid_argument("Invalid part-number-marker").with("ArgumentName", "part-number-marker"))?,
    };
    let (upload, page) = ctx.state.store.list_parts(bucket.id, key, upload_id(ctx)?, marker, max_parts).await?;
    let next = if page.is_truncated { page.parts.last().map(|p| p.number) } else { None };
    let who = initiator(ctx, &upload).await?;
    let result = ListPartsResult {
        xmlns: S3_NAMESPACE,
        bucket: bucket.name.clone(),
        key: key.to_string(),
        upload_id: upload.upload_id.clone(),
        part_number_marker: marker,
        next_part_number_marker: next,
        max_parts,
        is_truncated: page.is_truncated,
        parts: page
            .parts
            .iter()
            .map(|p| PartEntry {
                part_number: p.number,
                last_modified: timestamp(p.modified_ms),
                etag: quoted_etag(&p.etag),
                size: p.size,
                checksum: part_checksum(upload.checksum, p),
            })
            .collect(),
        initiator: Owner::of(&who),
        owner: Owner::of(&who),
        storage_class: storage_class(&upload),
        checksum_algorithm: upload.checksum.map(|c| c.algorithm.as_str()),
        checksum_type: upload.checksum.map(|c| c.kind.as_str()),
    };
    xml::ok("ListPartsResult", &result)
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct UploadEntry {
    key: String,
    upload_id: String,
    initiator: Owner,
    owner: Owner,
    storage_class: String,
    initiated: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    checksum_algorithm: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    checksum_type: Option<&'static str>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct CommonPrefix {
    prefix: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ListMultipartUploadsResult {
    #[serde(rename = "@xmlns")]
    xmlns: &'static str,
    bucket: String,
    key_marker: String,
    upload_id_marker: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_key_marker: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_upload_id_marker: Option<String>,
    prefix: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    delimiter: Option<String>,
    max_uploads: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    encoding_type: Option<&'static str>,
    is_truncated: bool,
    #[serde(rename = "Upload")]
    uploads: Vec<UploadEntry>,
    common_prefixes: Vec<CommonPrefix>,
}

fn upload_entry(upload: Upload, initiator: &User, enc: &Encoder) -> UploadEntry {
    UploadEntry {
        storage_class: storage_class(&upload),
        initiated: timestamp(upload.initiated_ms),
        checksum_algorithm: upload.checksum.map(|c| c.algorithm.as_str()),
        checksum_type: upload.checksum.map(|c| c.kind.as_str()),
        key: enc.name(&upload.key),
        upload_id: upload.upload_id,
        initiator: Owner::of(initiator),
        owner: Owner::of(initiator),
    }
}

pub async fn list_multipart_uploads(ctx: &Ctx<'_>, bucket_name: &str) -> S3Result<HttpResponse> {
    let bucket = ctx.bucket_for(bucket_name, Permission::Read).await?;
    let enc = Encoder::from_query(&ctx.query)?;
    let params = UploadListParams {
        prefix: ctx.query.get("prefix").unwrap_or_default().to_string(),
        delimiter: ctx.query.get("delimiter").filter(|d| !d.is_empty()).map(str::to_string),
        key_marker: ctx.query.get("key-marker").map(str::to_string),
        upload_id_marker: ctx.query.get("upload-id-marker").map(str::to_string),
        max_uploads: query_count(ctx, "max-uploads", DEFAULT_MAX_UPLOADS)?,
    };
    let page = ctx.state.store.list_uploads(bucket.id, params.clone()).await?;
    let (mut next_key, mut next_upload) = (None, None);
    if page.is_truncated {
        match page.items.last() {
            Some(UploadListItem::Upload(u)) => (next_key, next_upload) = (Some(u.key.clone()), Some(u.upload_id.clone())),
            Some(UploadListItem::Prefix(p)) => next_key = Some(p.clone()),
            None => {}
        }
    }
    let mut uploads = Vec::new();
    let mut common_prefixes = Vec::new();
    for item in page.items {
        match item {
            UploadListItem::Upload(u) => {
                let who = initiator(ctx, &u).await?;
                uploads.push(upload_entry(u, &who, &enc))
            }
            UploadListItem::Prefix(prefix) => common_prefixes.push(CommonPrefix { prefix: enc.name(&prefix) }),
        }
    }
    let result = ListMultipartUploadsResult {
        xmlns: S3_NAMESPACE,
        bucket: bucket.name.clone(),
        key_marker: enc.name(params.key_marker.as_deref().unwrap_or_default()),
        upload_id_marker: params.upload_id_marker.unwrap_or_default(),
        next_key_marker: enc.opt(next_key.as_deref()),
        next_upload_id_marker: next_upload,
        prefix: enc.name(&params.prefix),
        delimiter: enc.opt(params.delimiter.as_deref()),
        max_uploads: params.max_uploads,
        encoding_type: enc.encoding_type(),
        is_truncated: page.is_truncated,
        uploads,
        common_prefixes,
    };
    xml::ok("ListMultipartUploadsResult", &result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_complete_body() {
        let body = br#"<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Part><ETag>"abc"</ETag><PartNumber>1</PartNumber></Part><Part><ChecksumCRC32>AAAAAA==</ChecksumCRC32><ETag>def</ETag><PartNumber>2</PartNumber></Part></CompleteMultipartUpload>"#;
        let doc: CompleteMultipartUpload = xml::parse(body).unwrap();
        let parts: Vec<CompletePart> = doc.parts.into_iter().map(CompletePart::from).collect();
        assert_eq!(parts.len(), 2);
        assert_eq!((parts[1].number, parts[1].checksum.as_deref()), (2, Some("AAAAAA==")));
    }

    #[test]
    fn renders_flattened_checksums() {
        let body = CopyPartResult {
            xmlns: S3_NAMESPACE,
            etag: "\"e\"".into(),
            last_modified: "t".into(),
            checksum: ChecksumFields::new(Some("CRC32C"), Some("AAAAAA==".into())),
        };
        let text = xml::render("CopyPartResult", &body).unwrap();
        assert!(text.contains("<ChecksumCRC32C>AAAAAA==</ChecksumCRC32C>"), "{text}");
    }
}
