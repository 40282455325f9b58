//! Object metadata as HTTP headers: read from a PUT (content headers, x-amz-meta-*, storage
//! class) and written on GET/HEAD (with the response-* query overrides).

use crate::http::error::{ErrorCode, S3Error, S3Result};
use crate::http::router::Query;
use actix_web::http::header::HeaderMap;
use actix_web::HttpResponseBuilder;
use coffer_storage::{ObjectMeta, ObjectRecord, NULL_VERSION};
use std::time::{Duration, UNIX_EPOCH};

/// S3's limit on the user metadata of one object (names and values, in bytes).
const USER_META_LIMIT: usize = 2 * 1024;

/// Every storage class S3 names (botocore's StorageClass).
pub const STORAGE_CLASSES: &[&str] = &[
    "STANDARD",
    "REDUCED_REDUNDANCY",
    "STANDARD_IA",
    "ONEZONE_IA",
    "INTELLIGENT_TIERING",
    "GLACIER",
    "DEEP_ARCHIVE",
    "GLACIER_IR",
    "OUTPOSTS",
    "SNOW",
    "EXPRESS_ONEZONE",
];

/// A header value as text: UTF-8 when it is valid UTF-8, else ISO-8859-1 (HTTP's old default).
fn header_text(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_string(),
        Err(_) => bytes.iter().map(|&b| b as char).collect(),
    }
}

/// Text back to header bytes: ISO-8859-1 when every character fits (so clients that read
/// headers as Latin-1, as Python does, get back what they sent), else UTF-8.
fn header_bytes(text: &str) -> Vec<u8> {
    if text.chars().all(|c| (c as u32) < 0x100) {
        text.chars().map(|c| c as u8).collect()
    } else {
        text.as_bytes().to_vec()
    }
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string)
}

/// Content-Encoding without the `aws-chunked` token, which only describes the transfer.
fn stored_content_encoding(headers: &HeaderMap) -> Option<String> {
    let raw = header(headers, "content-encoding")?;
    let kept: Vec<&str> = raw.split(',').map(str::trim).filter(|t| !t.is_empty() && !t.eq_ignore_ascii_case("aws-chunked")).collect();
    (!kept.is_empty()).then(|| kept.join(", "))
}

/// The metadata a PUT (or a CopyObject with REPLACE) gives the new object.
pub fn meta_from_request(headers: &HeaderMap) -> S3Result<ObjectMeta> {
    let mut user = Vec::new();
    let mut user_size = 0;
    for (name, value) in headers.iter() {
        if let Some(meta_name) = name.as_str().strip_prefix("x-amz-meta-") {
            let value = header_text(value.as_bytes());
            user_size += meta_name.len() + value.len();
            user.push((meta_name.to_string(), value));
        }
    }
    if user_size > USER_META_LIMIT {
        return Err(S3Error::new(ErrorCode::MetadataTooLarge)
            .with("Size", user_size.to_string())
            .with("MaxSizeAllowed", USER_META_LIMIT.to_string()));
    }
    let storage_class = match header(headers, "x-amz-storage-class") {
        None => None,
        Some(c) if c == "STANDARD" => None,
        Some(c) if STORAGE_CLASSES.contains(&c.as_str()) => Some(c),
        Some(_) => return Err(ErrorCode::InvalidStorageClass.into()),
    };
    Ok(ObjectMeta {
        content_type: header(headers, "content-type"),
        content_encoding: stored_content_encoding(headers),
        content_disposition: header(headers, "content-disposition"),
        content_language: header(headers, "content-language"),
        cache_control: header(headers, "cache-control"),
        expires: header(headers, "expires"),
        storage_class,
        user,
        checksum: None,
        tags: match header(headers, "x-amz-tagging") {
            Some(h) => crate::bucket_config::tagging::from_header(&h)?,
            None => Vec::new(),
        },
        website_redirect: header(headers, "x-amz-website-redirect-location"),
        // Set by the handler, which knows the bucket owner (for bucket-owner-* canned ACLs).
        acl: None,
        // Set by the handler from the SSE headers and the bucket's default.
        encryption: None,
        // Set by the handler from the lock headers and the bucket's default retention.
        lock: Default::default(),
    })
}

pub fn http_date(ms: i64) -> String {
    httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs((ms.max(0) / 1000) as u64))
}

pub fn quoted_etag(etag: &str) -> String {
    format!("\"{etag}\"")
}

/// Headers that describe the version itself: ETag, Last-Modified, version id.
pub fn version_headers(resp: &mut HttpResponseBuilder, rec: &ObjectRecord, versioned_bucket: bool) {
    if !rec.delete_marker {
        resp.insert_header(("ETag", quoted_etag(&rec.etag)));
    }
    resp.insert_header(("Last-Modified", http_date(rec.modified_ms)));
    if versioned_bucket || rec.version_id != NULL_VERSION {
        resp.insert_header(("x-amz-version-id", rec.version_id.clone()));
    }
}

/// The headers of a GET or HEAD of `rec`, with response-* overrides from the query.
pub fn object_headers(resp: &mut HttpResponseBuilder, rec: &ObjectRecord, query: &Query, checksum_mode: bool, versioned_bucket: bool) {
    let m = &rec.meta;
    version_headers(resp, rec, versioned_bucket);
    resp.insert_header(("Accept-Ranges", "bytes"));
    let pick = |param: &str, stored: &Option<String>| query.get(param).map(str::to_string).or_else(|| stored.clone());
    let content_type = pick("response-content-type", &m.content_type).unwrap_or_else(|| "binary/octet-stream".to_string());
    resp.insert_header(("Content-Type", content_type));
    for (name, param, stored) in [
        ("Content-Encoding", "response-content-encoding", &m.content_encoding),
        ("Content-Disposition", "response-content-disposition", &m.content_disposition),
        ("Content-Language", "response-content-language", &m.content_language),
        ("Cache-Control", "response-cache-control", &m.cache_control),
        ("Expires", "response-expires", &m.expires),
    ] {
        if let Some(v) = pick(param, stored) {
            resp.insert_header((name, v));
        }
    }
    for (k, v) in &m.user {
        if let Ok(value) = actix_web::http::header::HeaderValue::from_bytes(&header_bytes(v)) {
            resp.append_header((format!("x-amz-meta-{k}"), value));
        }
    }
    if let Some(class) = &m.storage_class {
        resp.insert_header(("x-amz-storage-class", class.clone()));
    }
    if let Some(status) = &rec.replication {
        resp.insert_header(("x-amz-replication-status", status.clone()));
    }
    if let Some(location) = &m.website_redirect {
        resp.insert_header(("x-amz-website-redirect-location", location.clone()));
    }
    if let Some((mode, until)) = m.lock.retention {
        resp.insert_header(("x-amz-object-lock-mode", crate::bucket_config::object_lock::mode_name(mode)));
        resp.insert_header(("x-amz-object-lock-retain-until-date", crate::bucket_config::object_lock::format_date(until)));
    }
    if m.lock.legal_hold {
        resp.insert_header(("x-amz-object-lock-legal-hold", "ON"));
    }
    if !m.tags.is_empty() {
        resp.insert_header(("x-amz-tagging-count", m.tags.len().to_string()));
    }
    if checksum_mode {
        if let Some(c) = &m.checksum {
            resp.insert_header((format!("x-amz-checksum-{}", c.algorithm.to_ascii_lowercase()), c.value.clone()));
            resp.insert_header(("x-amz-checksum-type", c.kind.as_str()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::{HeaderName, HeaderValue};

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(HeaderName::from_bytes(k.as_bytes()).unwrap(), HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn aws_chunked_is_not_stored() {
        let m = meta_from_request(&headers(&[("content-encoding", "aws-chunked,gzip")])).unwrap();
        assert_eq!(m.content_encoding.as_deref(), Some("gzip"));
        let m = meta_from_request(&headers(&[("content-encoding", "aws-chunked")])).unwrap();
        assert_eq!(m.content_encoding, None);
    }

    #[test]
    fn metadata_limit() {
        let big = "x".repeat(2100);
        let err = meta_from_request(&headers(&[("x-amz-meta-big", &big)])).unwrap_err();
        assert_eq!(err.code, "MetadataTooLarge");
        let m = meta_from_request(&headers(&[("x-amz-meta-Color", "blue")])).unwrap();
        assert_eq!(m.user, vec![("color".to_string(), "blue".to_string())]);
    }

    #[test]
    fn metadata_text_round_trips_latin1_and_utf8() {
        assert_eq!(header_text(b"Hello World\xe9"), "Hello World\u{e9}");
        assert_eq!(header_text("caf\u{e9}".as_bytes()), "caf\u{e9}");
        assert_eq!(header_bytes("Hello World\u{e9}"), b"Hello World\xe9");
        assert_eq!(header_bytes("\u{2603}"), "\u{2603}".as_bytes());
    }

    #[test]
    fn storage_class() {
        assert!(meta_from_request(&headers(&[("x-amz-storage-class", "STANDARD")])).unwrap().storage_class.is_none());
        assert_eq!(meta_from_request(&headers(&[("x-amz-storage-class", "FOO")])).unwrap_err().code, "InvalidStorageClass");
    }
}
