//! PostObject: browser form uploads (multipart/form-data) authorized by a signed policy
//! document (SigV4 or SigV2 fields), or anonymous into a bucket that grants WRITE to everyone.

use crate::request::ctx::Ctx;
use crate::http::error::{ErrorCode, S3Error, S3Result};
use crate::request::object_headers::{meta_from_request, quoted_etag};
use crate::access::post_policy::PostPolicy;
use crate::http::xml;
use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use bytes::Bytes;
use coffer_auth::{verify_post_policy, PostSignature};
use coffer_storage::{EventName, NewObject, Origin, Permission, User, WriteConditions};
use futures::StreamExt;
use serde::Serialize;
use std::collections::HashMap;

/// Most bytes of text fields read before the file, all fields together.
const FIELDS_LIMIT: usize = 64 * 1024;

/// S3's PostResponse carries no XML namespace.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct PostResponse {
    location: String,
    bucket: String,
    key: String,
    #[serde(rename = "ETag")]
    etag: String,
}

fn bad_form(message: &str) -> S3Error {
    S3Error::invalid_argument(message)
}

fn malformed(e: multer::Error) -> S3Error {
    bad_form(&format!("malformed form: {e}"))
}

/// Form fields that describe the object, as the headers a PUT would carry.
pub(crate) fn fields_as_headers(fields: &HashMap<String, String>) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for (name, value) in fields {
        let header = match name.as_str() {
            "content-type" | "cache-control" | "content-disposition" | "content-encoding" | "expires" | "content-language" => name.as_str(),
            "acl" => "x-amz-acl",
            "tagging" => continue,
            n if n.starts_with("x-amz-meta-") || n == "x-amz-storage-class" || n == "x-amz-website-redirect-location" => n,
            n if n.starts_with("x-amz-server-side-encryption") || n.starts_with("x-amz-checksum-") => n,
            _ => continue,
        };
        if let (Ok(n), Ok(v)) = (HeaderName::from_bytes(header.as_bytes()), HeaderValue::from_str(value)) {
            headers.append(n, v);
        }
    }
    headers
}

/// The policy field and the signature fields (SigV4 or SigV2) over it; `None` for a form
/// without a policy.
pub(crate) fn form_signature(fields: &HashMap<String, String>) -> S3Result<Option<(&str, PostSignature<'_>)>> {
    let Some(policy) = fields.get("policy") else { return Ok(None) };
    let sig = if let Some(signature) = fields.get("x-amz-signature") {
        let credential = fields.get("x-amz-credential").ok_or_else(|| bad_form("Bucket POST must contain a field named 'x-amz-credential'."))?;
        let amz_date = fields.get("x-amz-date").ok_or_else(|| bad_form("Bucket POST must contain a field named 'x-amz-date'."))?;
        PostSignature::V4 { credential, amz_date, signature }
    } else {
        let access_key = fields.get("awsaccesskeyid").ok_or_else(|| bad_form("Bucket POST must contain a field named 'AWSAccessKeyId'."))?;
        let signature = fields.get("signature").ok_or_else(|| bad_form("Bucket POST must contain a field named 'Signature'."))?;
        PostSignature::V2 { access_key, signature }
    };
    Ok(Some((policy, sig)))
}

/// Who the form says is uploading: the signer of its policy, or nobody.
async fn signer(ctx: &Ctx<'_>, fields: &HashMap<String, String>) -> S3Result<Option<User>> {
    let Some((policy, sig)) = form_signature(fields)? else { return Ok(None) };
    let access_key = ctx
        .state
        .verify_signed(|credentials| verify_post_policy(policy, &sig, &ctx.state.region, &|ak: &str| credentials(ak).map(|c| c.secret_key)))
        .await??;
    Ok(ctx.state.credentials(&access_key).await?.map(|c| c.user))
}

/// The boundary of a `multipart/form-data` Content-Type.
pub(crate) fn form_boundary(content_type: &str) -> S3Result<String> {
    multer::parse_boundary(content_type).map_err(|_| S3Error::new(ErrorCode::MalformedXML).with_message("POST requires a multipart/form-data body"))
}

/// Reads a multipart/form-data body up to its `file` field: the text fields before it (names
/// lowercased, `key` with `${filename}` filled in) and the file field, whose data is unread.
pub(crate) async fn read_form<'r, S>(boundary: String, body: S) -> S3Result<(HashMap<String, String>, multer::Field<'r>)>
where
    S: futures::Stream<Item = Result<Bytes, std::io::Error>> + Send + 'r,
{
    let mut form = multer::Multipart::new(body, boundary);
    let mut fields: HashMap<String, String> = HashMap::new();
    let mut budget = FIELDS_LIMIT;
    let file = loop {
        let field = form.next_field().await.map_err(malformed)?;
        let Some(mut field) = field else { return Err(bad_form("POST requires exactly one file upload per request.")) };
        let name = field.name().unwrap_or("").to_ascii_lowercase();
        if name == "file" {
            break field;
        }
        // Read in pieces against the budget, so an endless field cannot fill memory.
        let mut value = Vec::new();
        while let Some(chunk) = field.chunk().await.map_err(malformed)? {
            if value.len() + chunk.len() > budget {
                return Err(S3Error::new(ErrorCode::MaxPostPreDataLengthExceeded));
            }
            value.extend_from_slice(&chunk);
        }
        budget -= value.len();
        fields.insert(name, String::from_utf8_lossy(&value).into_owned());
    };
    let filename = file.file_name().unwrap_or("").to_string();
    let key_field = fields.get("key").cloned().ok_or_else(|| bad_form("Bucket POST must contain a field named 'key'.  If it is specified, please check the order of the fields."))?;
    // Conditions on $key see the key with ${filename} filled in.
    fields.insert("key".to_string(), key_field.replace("${filename}", &filename));
    Ok((fields, file))
}

/// The Object Lock a form's fields ask for, for the `s3:object-lock-*` policy condition keys.
fn form_lock_request(fields: &HashMap<String, String>) -> crate::request::ctx::LockRequest {
    use crate::request::object_lock::{LEGAL_HOLD, MODE, RETAIN_UNTIL};
    crate::request::ctx::LockRequest {
        mode: fields.get(MODE).cloned(),
        retain_until_ms: fields.get(RETAIN_UNTIL).and_then(|d| crate::bucket_config::object_lock::parse_date(d).ok()),
        legal_hold: fields.get(LEGAL_HOLD).cloned(),
    }
}

pub async fn post_object(ctx: &Ctx<'_>, bucket_name: &str, mut payload: web::Payload) -> S3Result<HttpResponse> {
    let boundary = form_boundary(ctx.header("content-type").unwrap_or(""))?;
    // multer wants a Send stream; the actix payload is read on this task and handed over.
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(8);
    actix_web::rt::spawn(async move {
        while let Some(chunk) = payload.next().await {
            if tx.send(chunk.map_err(|e| std::io::Error::other(e.to_string()))).await.is_err() {
                break;
            }
        }
    });
    let stream = futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) });
    let (fields, file) = read_form(boundary, stream).await?;
    let key = fields["key"].clone();

    let bucket = ctx.state.store.bucket(bucket_name).await.map_err(|_| S3Error::no_such_bucket(bucket_name))?;
    let user = signer(ctx, &fields).await?;
    let policy = match fields.get("policy") {
        Some(p) => Some(PostPolicy::parse(p)?),
        None => None,
    };
    if let Some(p) = &policy {
        p.check(&fields, bucket_name)?;
    }
    // The signer (or an anonymous form) needs WRITE on the bucket, as for a PUT: a bucket
    // policy decides on the form's key, with the Object Lock its fields ask for.
    let target = crate::request::ctx::Target { key: Some(key.clone()), ..ctx.target.clone() };
    let lock_request = std::cell::OnceCell::from(form_lock_request(&fields));
    let form_ctx = Ctx { state: ctx.state, req: ctx.req, query: ctx.query.clone(), principal: user.map(|user| crate::access::authn::Principal { user }), payload: coffer_auth::Payload::Unsigned, target, request_id: ctx.request_id.clone(), lock_request };
    let bucket = form_ctx.bucket_for(&bucket.name, Permission::Write).await?;

    let headers = fields_as_headers(&fields);
    let mut meta = meta_from_request(&headers)?;
    let sealing = crate::request::sse::for_write(ctx.state, bucket.id, &headers).await?;
    meta.encryption = sealing.as_ref().map(|s| s.encryption.clone());
    if let Some(tagging) = fields.get("tagging") {
        meta.tags = xml::parse::<crate::bucket_config::tagging::Tagging>(tagging.as_bytes())?.into_pairs()?;
    }
    let (acl, owner_id) = crate::access::ownership::new_object_acl(ctx.state, &bucket, &headers, form_ctx.writer_id()).await?;
    meta.acl = acl;
    let lock_params = crate::request::object_lock::LockParams {
        mode: fields.get(crate::request::object_lock::MODE).map(String::as_str),
        retain_until: fields.get(crate::request::object_lock::RETAIN_UNTIL).map(String::as_str),
        legal_hold: fields.get(crate::request::object_lock::LEGAL_HOLD).map(String::as_str),
    };
    meta.lock = crate::request::object_lock::for_new_version(ctx, &bucket, &lock_params, None, coffer_storage::now_ms()).await?;

    let body = futures::stream::unfold(file, |mut f| async move {
        match f.chunk().await {
            Ok(Some(c)) => Some((Ok(c), f)),
            Ok(None) => None,
            Err(e) => Some((Err(std::io::Error::other(e.to_string())), f)),
        }
    });
    let checksums = crate::http::checksums::ChecksumRequest::from_headers(&headers)?;
    let opts = crate::request::upload::ingest_options(&coffer_auth::Payload::Unsigned, checksums.algorithms.clone(), sealing.as_ref());
    let mut ingested = ctx.state.store.ingest(Box::pin(body), opts).await?;
    meta.checksum = checksums.verify(&ingested, &[])?.as_ref().map(coffer_storage::StoredChecksum::from);
    if let Some((lo, hi)) = policy.as_ref().and_then(|p| p.length_range()) {
        if ingested.size < lo {
            return Err(S3Error::custom("EntityTooSmall", StatusCode::BAD_REQUEST, "Your proposed upload is smaller than the minimum allowed size"));
        }
        if ingested.size > hi {
            return Err(S3Error::new(ErrorCode::EntityTooLarge));
        }
    }
    if let Some(s) = &sealing {
        ingested.md5 = s.etag_md5(ingested.md5);
    }
    let origin = Origin::new(EventName::ObjectCreatedPost, form_ctx.requester());
    let record = ctx.state.store.put_object(&bucket, NewObject { key: key.clone(), owner_id, meta, origin }, ingested, WriteConditions::default()).await?;
    let etag = quoted_etag(&record.etag);
    let resp = |mut b: actix_web::HttpResponseBuilder| {
        if let Some(s) = &sealing {
            s.headers(&mut b);
        }
        if record.version_id != coffer_storage::NULL_VERSION {
            b.insert_header(("x-amz-version-id", record.version_id.clone()));
        }
        b
    };

    if let Some(target) = fields.get("success_action_redirect").or_else(|| fields.get("redirect")).filter(|t| !t.is_empty()) {
        let sep = if target.contains('?') { '&' } else { '?' };
        let enc = |s: &str| percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string();
        let location = format!("{target}{sep}bucket={}&key={}&etag={}", enc(bucket_name), enc(&key), enc(&etag));
        return Ok(resp(HttpResponse::SeeOther()).insert_header(("Location", location)).insert_header(("ETag", etag)).finish());
    }
    let location = format!("/{bucket_name}/{key}");
    match fields.get("success_action_status").map(String::as_str) {
        Some("200") => Ok(resp(HttpResponse::Ok()).insert_header(("ETag", etag)).insert_header(("Location", location)).finish()),
        Some("201") => {
            let body = xml::render("PostResponse", &PostResponse { location: location.clone(), bucket: bucket_name.to_string(), key, etag: etag.clone() })?;
            Ok(resp(HttpResponse::Created()).insert_header(("ETag", etag)).insert_header(("Location", location)).content_type("application/xml").body(body))
        }
        _ => Ok(resp(HttpResponse::NoContent()).insert_header(("ETag", etag)).insert_header(("Location", location)).finish()),
    }
}
