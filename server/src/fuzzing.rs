//! The one door for the fuzz targets in `fuzz/` (cargo feature `fuzzing`, off by default):
//! functions that take raw request bytes and hand them to the real parsers of this crate.
//!
//! Each function drives the same parsers a request reaches: the router, the request headers,
//! every XML document Coffer accepts, bucket policies, POST policies and POST forms. They
//! return nothing; a bug shows as a panic (or a broken invariant asserted here).

use std::collections::HashMap;

use bytes::Bytes;
use coffer_storage::User;

use crate::access::{acl, ownership::ObjectOwnership, post_policy::PostPolicy};
use crate::bucket_config::{cors::CorsConfiguration, encryption::DefaultEncryption, policy::Policy, tagging, website::WebsiteConfiguration};
use crate::handlers::post_object;
use crate::http::error::ErrorCode;
use crate::http::{conditions::Preconditions, head::Head, range, router, xml};
use crate::keys::sse_headers;
use crate::request::{copy_source, object_headers, upload};

/// Object sizes the Range and copy-source-range headers are resolved against.
const SIZES: [u64; 4] = [0, 1, 1000, u64::MAX];

/// A request head as it arrived: the addressing and routing of `entry`, then every header
/// parser a request may reach (Range, copy source and its range, conditions, SSE, checksums,
/// ACL grants, tagging, object metadata, lengths).
pub fn request_head(method: &str, target: &str, header_lines: &[(&[u8], &[u8])]) {
    use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
    let (Ok(method), Ok(uri)) = (actix_web::http::Method::from_bytes(method.as_bytes()), target.parse::<actix_web::http::Uri>()) else {
        return; // actix-web refuses such a request line before Coffer sees it
    };
    let mut headers = HeaderMap::new();
    for (name, value) in header_lines {
        if let (Ok(n), Ok(v)) = (HeaderName::from_bytes(name), HeaderValue::from_bytes(value)) {
            headers.append(n, v);
        }
    }
    let head = Head { method: &method, uri: &uri, headers: &headers };
    for domain in [None, Some("s3.example.com")] {
        if let Ok((bucket, key)) = router::address(head, domain) {
            let query = router::Query::parse(uri.query().unwrap_or(""));
            let copy = headers.contains_key("x-amz-copy-source");
            if let Ok(op) = router::route(&method, bucket, key, &query, copy) {
                op.action(&query);
            }
        }
    }
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    for size in SIZES {
        if let Ok(Some(r)) = range::resolve(text("range"), size) {
            assert!(r.len >= 1 && r.start.checked_add(r.len).is_some_and(|end| end <= size), "range {r:?} outside {size}");
            r.content_range(size);
        }
        if let Ok((offset, len)) = copy_source::copy_range(text("x-amz-copy-source-range"), size) {
            assert!(offset.checked_add(len).is_some_and(|end| end <= size), "copy range outside {size}");
        }
    }
    if let Some(raw) = text("x-amz-copy-source") {
        let _ = copy_source::parse_copy_source(raw);
    }
    for (prefix, code) in [("", ErrorCode::NotModified), ("x-amz-copy-source-", ErrorCode::PreconditionFailed)] {
        let _ = Preconditions::from_headers(&headers, prefix).check("9bb58f26192e4ba00f01e2e7b136bbd8", 1_700_000_000_123, code);
    }
    let _ = sse_headers::requested(&headers, true);
    let _ = sse_headers::customer_key(&headers, &sse_headers::COPY_SOURCE_CUSTOMER, true);
    let _ = crate::http::checksums::ChecksumRequest::from_headers(&headers);
    let _ = acl::from_headers(&headers, "owner-id");
    let _ = object_headers::meta_from_request(&headers);
    let _ = upload::checked_put_length(&headers, &coffer_auth::Payload::Unsigned);
    let _ = crate::http::limits::check_headers(&headers, 100, 16 * 1024);
    if let Some(raw) = text("x-amz-tagging") {
        let _ = tagging::from_header(raw);
    }
    if let Some(raw) = text("x-amz-object-ownership") {
        let _ = ObjectOwnership::parse(raw);
    }
}

/// The XML documents Coffer accepts, in the order [`xml_document`] numbers them.
pub const XML_DOCUMENTS: [&str; 12] = [
    "CreateBucketConfiguration",
    "Tagging",
    "CompleteMultipartUpload",
    "Delete",
    "WebsiteConfiguration",
    "CORSConfiguration",
    "AccessControlPolicy",
    "ServerSideEncryptionConfiguration",
    "PublicAccessBlockConfiguration",
    "VersioningConfiguration",
    "OwnershipControls",
    "LifecycleConfiguration",
];

/// Parses `body` as the document `XML_DOCUMENTS[kind % 12]`, with the checks its handler
/// makes after parsing.
pub fn xml_document(kind: u8, body: &[u8]) {
    let owner = User { id: "owner-id".into(), name: "owner".into() };
    match usize::from(kind) % XML_DOCUMENTS.len() {
        0 => drop(xml::parse::<crate::handlers::bucket::CreateBucketConfiguration>(body)),
        1 => {
            if let Ok(doc) = xml::parse::<tagging::Tagging>(body) {
                if let Ok(tags) = doc.into_pairs() {
                    let _ = tagging::validate_bucket(tags);
                }
            }
        }
        2 => drop(xml::parse::<crate::handlers::multipart::CompleteMultipartUpload>(body)),
        3 => drop(xml::parse::<crate::handlers::delete::Delete>(body)),
        4 => {
            if let Ok(config) = xml::parse::<WebsiteConfiguration>(body) {
                if config.validate().is_ok() {
                    for (key, error) in [("index.html", None), ("docs/a", Some(404))] {
                        if let Some(rule) = config.route(key, error) {
                            rule.target(key, "bucket.example.com", "http");
                        }
                    }
                }
            }
        }
        5 => {
            if let Ok(config) = xml::parse::<CorsConfiguration>(body) {
                if config.validate().is_ok() {
                    let requested = crate::bucket_config::cors::requested_headers(Some("content-type, x-amz-meta-a"));
                    if let Some(rule) = config.find("https://www.example.com", "PUT", &requested) {
                        rule.response_headers("https://www.example.com", &requested);
                    }
                }
            }
        }
        6 => drop(acl::parse_policy(body, &owner)),
        7 => drop(DefaultEncryption::from_xml(body)),
        8 => drop(xml::parse::<crate::access::public_access::PublicAccessBlock>(body)),
        9 => drop(xml::parse::<crate::handlers::versioning::VersioningRequest>(body)),
        10 => drop(xml::parse::<crate::handlers::ownership::OwnershipControls>(body)),
        _ => lifecycle_configuration(body),
    }
}

/// A lifecycle configuration as PutBucketLifecycleConfiguration takes it: parsed, validated,
/// stored as JSON (which must load back the same) and compiled into rules that are asked
/// when uploads are due, by real days and by compressed test days.
fn lifecycle_configuration(body: &[u8]) {
    use crate::bucket_config::lifecycle::{Clock, Lifecycle, LifecycleConfiguration};
    let Ok(mut config) = xml::parse::<LifecycleConfiguration>(body) else { return };
    if config.validate().is_err() {
        return;
    }
    let stored = serde_json::to_string(&config).expect("a configuration serializes");
    assert!(serde_json::from_str::<LifecycleConfiguration>(&stored).is_ok_and(|c| c == config), "an accepted configuration does not load again");
    let rules = Lifecycle::compile(&config);
    rules.expires_objects();
    rules.scan_prefixes();
    let now = 1_700_000_000_000;
    for clock in [Clock::new(None), Clock::new(Some(1))] {
        if let Some(days) = rules.abort_after_days() {
            clock.started_by(now, days);
        }
        rules.upload_due(&clock, now, "logs/2024/a.log", now - 86_400_000);
    }
}

/// A bucket policy as PutBucketPolicy receives it: parsed and validated for bucket `b`, then
/// evaluated. A document accepted for a bucket must parse again when loaded from storage.
pub fn bucket_policy(doc: &str) {
    let Ok(policy) = Policy::parse(doc, "b") else { return };
    assert!(Policy::parse_stored(doc).is_ok(), "an accepted policy does not load again");
    policy.is_public();
    policy.reads_object_tags();
    let context = |key: &str| -> Option<Vec<String>> {
        let value = match key.to_ascii_lowercase().as_str() {
            "aws:sourceip" => "192.168.1.7",
            "aws:securetransport" => "true",
            "aws:referer" => "https://www.example.com/page",
            "s3:prefix" => "home/alice/",
            "s3:max-keys" => "100",
            "s3:signatureage" => "1000",
            "s3:existingobjecttag/team" => "blue",
            _ => return None,
        };
        Some(vec![value.to_string()])
    };
    let caller = crate::bucket_config::policy::Caller { id: "owner-id", name: "alice" };
    for (action, resource, caller) in [
        ("s3:GetObject", "arn:aws:s3:::b/home/alice/file.txt", Some(caller)),
        ("s3:ListBucket", "arn:aws:s3:::b", None),
        ("s3:PutObject", "arn:aws:s3:::b/x", Some(caller)),
    ] {
        policy.evaluate(&crate::bucket_config::policy::Request { action, resource, caller, context: &context });
    }
}

/// A POST policy document (the JSON inside the base64 `policy` field), checked against a
/// typical form. `raw` is also tried as the base64 field itself.
pub fn post_policy(json: &[u8]) {
    use base64::Engine as _;
    if let Ok(raw) = std::str::from_utf8(json) {
        let _ = PostPolicy::parse(raw);
    }
    let Ok(policy) = PostPolicy::parse(&base64::engine::general_purpose::STANDARD.encode(json)) else { return };
    let fields: HashMap<String, String> = [
        ("key", "user/alice/photo.png"),
        ("bucket", "b"),
        ("acl", "public-read"),
        ("content-type", "image/png"),
        ("success_action_status", "201"),
        ("x-amz-meta-tag", "holiday"),
        ("x-amz-credential", "AKIAIOSFODNN7EXAMPLE/20300101/us-east-1/s3/aws4_request"),
        ("x-amz-date", "20300101T000000Z"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let _ = policy.check(&fields, "b");
    policy.length_range();
}

/// A browser POST upload: the `Content-Type` header and the multipart body, read as
/// PostObject reads it (fields, the file, the policy, the signature, headers and tags).
pub fn post_form(content_type: &str, body: &[u8]) {
    let body = futures::stream::iter([Ok::<Bytes, std::io::Error>(Bytes::copy_from_slice(body))]);
    futures::executor::block_on(async {
        let Ok(boundary) = post_object::form_boundary(content_type) else { return };
        let Ok((fields, mut file)) = post_object::read_form(boundary, body).await else { return };
        while let Ok(Some(_)) = file.chunk().await {}
        let lookup = |ak: &str| (ak == "AKIAIOSFODNN7EXAMPLE").then(|| "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".to_string());
        if let Ok(Some((policy, signature))) = post_object::form_signature(&fields) {
            let _ = coffer_auth::verify_post_policy(policy, &signature, "us-east-1", &lookup);
        }
        if let Some(Ok(policy)) = fields.get("policy").map(|p| PostPolicy::parse(p)) {
            let _ = policy.check(&fields, "b");
        }
        let _ = object_headers::meta_from_request(&post_object::fields_as_headers(&fields));
        if let Some(tags) = fields.get("tagging") {
            let _ = xml::parse::<tagging::Tagging>(tags.as_bytes()).and_then(tagging::Tagging::into_pairs);
        }
    });
}
