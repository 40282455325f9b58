//! One server access log record in S3's format: space-separated fields, `-` for none, the
//! time in brackets and the request line, referrer and user agent in quotes; and the
//! `REST.METHOD.RESOURCE` name of the operation.

use std::fmt::Write;
use time::OffsetDateTime;

/// What a record says about one request.
#[derive(Clone, Debug, Default)]
pub struct RequestFacts {
    pub bucket_owner: String,
    pub bucket: String,
    /// When the request arrived (milliseconds since the epoch).
    pub time_ms: i64,
    pub remote_ip: String,
    /// The caller's canonical id; None for anonymous requests.
    pub requester: Option<String>,
    pub request_id: String,
    pub operation: String,
    pub key: Option<String>,
    /// `METHOD /path?query HTTP/1.1`.
    pub request_uri: String,
    pub status: u16,
    pub error_code: Option<String>,
    pub bytes_sent: u64,
    pub object_size: Option<u64>,
    pub total_ms: u64,
    pub turnaround_ms: u64,
    pub referer: Option<String>,
    pub user_agent: Option<String>,
    pub version_id: Option<String>,
    /// SigV4 or SigV2 (None: unsigned).
    pub signature_version: Option<&'static str>,
    /// AuthHeader or QueryString (None: unsigned).
    pub auth_type: Option<&'static str>,
    pub host: Option<String>,
    pub tls: bool,
}

/// The record line (without a newline).
pub fn line(f: &RequestFacts) -> String {
    let dash = |v: Option<&str>| v.filter(|s| !s.is_empty()).map(str::to_string).unwrap_or_else(|| "-".into());
    let quoted = |v: Option<&str>| match v.filter(|s| !s.is_empty()) {
        Some(s) => format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\"")),
        None => "-".into(),
    };
    let mut out = String::with_capacity(512);
    let _ = write!(
        out,
        "{} {} [{}] {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} - -",
        f.bucket_owner,
        f.bucket,
        log_time(f.time_ms),
        dash(Some(&f.remote_ip)),
        dash(f.requester.as_deref()),
        f.request_id,
        f.operation,
        dash(f.key.as_deref().map(crate::http::key_encoding::url_path).as_deref()),
        quoted(Some(&f.request_uri)),
        f.status,
        dash(f.error_code.as_deref()),
        if f.bytes_sent == 0 { "-".to_string() } else { f.bytes_sent.to_string() },
        f.object_size.map_or_else(|| "-".to_string(), |s| s.to_string()),
        f.total_ms,
        f.turnaround_ms,
        quoted(f.referer.as_deref()),
        quoted(f.user_agent.as_deref()),
        dash(f.version_id.as_deref()),
        host_id(&f.request_id),
        dash(f.signature_version),
        if f.tls { "TLS_AES_128_GCM_SHA256" } else { "-" },
        dash(f.auth_type),
        dash(f.host.as_deref()),
        if f.tls { "TLSv1.3" } else { "-" },
    );
    out
}

/// `06/Feb/2019:00:00:38 +0000`.
fn log_time(ms: i64) -> String {
    format_ms(ms, time::macros::format_description!("[day]/[month repr:short]/[year]:[hour]:[minute]:[second] +0000"))
}

/// The UTC time `ms` (milliseconds since the epoch) in `format`.
pub(super) fn format_ms(ms: i64, format: &[time::format_description::FormatItem<'_>]) -> String {
    let t = OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    t.format(format).unwrap_or_default()
}

/// The x-amz-id-2 of the request: Coffer answers with none of its own, so the record names the
/// request id again (S3's field must not be empty).
fn host_id(request_id: &str) -> String {
    request_id.to_string()
}

/// S3's name for an operation: `REST.<METHOD>.<RESOURCE>`, the resource being OBJECT or
/// BUCKET, or the sub-resource the query names.
pub fn operation(method: &str, has_key: bool, query: &crate::http::router::Query, copy_source: bool) -> String {
    const SUBRESOURCES: &[(&str, &str)] = &[
        ("acl", "ACL"),
        ("tagging", "TAGGING"),
        ("versioning", "VERSIONING"),
        ("versions", "BUCKETVERSIONS"),
        ("uploads", "UPLOADS"),
        ("policy", "BUCKETPOLICY"),
        ("website", "WEBSITE"),
        ("cors", "CORS"),
        ("lifecycle", "LIFECYCLE"),
        ("logging", "LOGGING_STATUS"),
        ("location", "LOCATION"),
        ("replication", "REPLICATION"),
        ("notification", "NOTIFICATION"),
        ("encryption", "ENCRYPTION"),
        ("object-lock", "OBJECT_LOCK_CONFIGURATION"),
        ("retention", "OBJECT_RETENTION"),
        ("legal-hold", "OBJECT_LEGAL_HOLD"),
        ("restore", "RESTORE"),
        ("attributes", "OBJECT_ATTRIBUTES"),
        ("delete", "MULTI_OBJECT_DELETE"),
    ];
    let (method, resource) = if query.has("uploadId") {
        match (method, query.has("partNumber")) {
            ("PUT", true) if copy_source => ("COPY", "PART"),
            ("PUT", true) => ("PUT", "PART"),
            _ => (method, "UPLOAD"),
        }
    } else if let Some((_, name)) = SUBRESOURCES.iter().find(|(param, _)| query.has(param)) {
        (method, *name)
    } else if has_key {
        match (method, copy_source) {
            ("PUT", true) => ("COPY", "OBJECT"),
            _ => (method, "OBJECT"),
        }
    } else {
        (method, "BUCKET")
    };
    format!("REST.{method}.{resource}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::router::Query;

    #[test]
    fn a_record_has_s3s_fields_in_s3s_order() {
        let facts = RequestFacts {
            bucket_owner: "owner-id".into(),
            bucket: "site".into(),
            time_ms: 1_549_411_238_000,
            remote_ip: "127.0.0.1".into(),
            requester: Some("owner-id".into()),
            request_id: "REQ1".into(),
            operation: "REST.GET.OBJECT".into(),
            key: Some("photos/a b.jpg".into()),
            request_uri: "GET /site/photos/a%20b.jpg HTTP/1.1".into(),
            status: 200,
            bytes_sent: 10,
            object_size: Some(10),
            total_ms: 7,
            turnaround_ms: 3,
            user_agent: Some("aws-cli/2 \"quoted\"".into()),
            signature_version: Some("SigV4"),
            auth_type: Some("AuthHeader"),
            host: Some("127.0.0.1:9000".into()),
            ..Default::default()
        };
        assert_eq!(
            line(&facts),
            "owner-id site [06/Feb/2019:00:00:38 +0000] 127.0.0.1 owner-id REQ1 REST.GET.OBJECT photos/a%20b.jpg \
             \"GET /site/photos/a%20b.jpg HTTP/1.1\" 200 - 10 10 7 3 - \"aws-cli/2 \\\"quoted\\\"\" - REQ1 SigV4 - AuthHeader 127.0.0.1:9000 - - -"
        );
    }

    #[test]
    fn operations_are_named_as_s3_names_them() {
        let q = Query::parse;
        assert_eq!(operation("GET", true, &q(""), false), "REST.GET.OBJECT");
        assert_eq!(operation("PUT", true, &q(""), true), "REST.COPY.OBJECT");
        assert_eq!(operation("GET", false, &q("list-type=2"), false), "REST.GET.BUCKET");
        assert_eq!(operation("PUT", true, &q("partNumber=1&uploadId=x"), false), "REST.PUT.PART");
        assert_eq!(operation("POST", true, &q("uploadId=x"), false), "REST.POST.UPLOAD");
        assert_eq!(operation("POST", true, &q("uploads"), false), "REST.POST.UPLOADS");
        assert_eq!(operation("GET", false, &q("versioning"), false), "REST.GET.VERSIONING");
        assert_eq!(operation("POST", false, &q("delete"), false), "REST.POST.MULTI_OBJECT_DELETE");
    }
}
