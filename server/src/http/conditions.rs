//! Conditional requests: If-Match, If-None-Match, If-Modified-Since, If-Unmodified-Since (and
//! their x-amz-copy-source-* twins), evaluated in the order S3 (and RFC 7232) gives them.

use crate::http::error::{ErrorCode, S3Result};
use coffer_storage::etag_list_matches as etag_matches;
use actix_web::http::header::HeaderMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

#[derive(Debug, Default)]
pub struct Preconditions {
    if_match: Option<String>,
    if_none_match: Option<String>,
    if_modified_since: Option<SystemTime>,
    if_unmodified_since: Option<SystemTime>,
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim)
}

fn date(headers: &HeaderMap, name: &str) -> Option<SystemTime> {
    header(headers, name).and_then(|v| httpdate::parse_http_date(v).ok())
}


impl Preconditions {
    /// The conditions of a GET/HEAD (`prefix` "") or of a copy source (`prefix` "x-amz-copy-source-").
    pub fn from_headers(headers: &HeaderMap, prefix: &str) -> Preconditions {
        Preconditions {
            if_match: header(headers, &format!("{prefix}if-match")).map(str::to_string),
            if_none_match: header(headers, &format!("{prefix}if-none-match")).map(str::to_string),
            if_modified_since: date(headers, &format!("{prefix}if-modified-since")),
            if_unmodified_since: date(headers, &format!("{prefix}if-unmodified-since")),
        }
    }

    /// Checks the conditions against an object. `not_modified` is the error a failed
    /// If-None-Match / If-Modified-Since gives: NotModified for GET and HEAD,
    /// PreconditionFailed for copy sources.
    pub fn check(&self, etag: &str, modified_ms: i64, not_modified: ErrorCode) -> S3Result<()> {
        // HTTP dates have whole seconds.
        let modified = UNIX_EPOCH + Duration::from_secs((modified_ms / 1000) as u64);
        if let Some(list) = &self.if_match {
            if !etag_matches(list, etag) {
                return Err(ErrorCode::PreconditionFailed.into());
            }
        } else if let Some(t) = self.if_unmodified_since {
            if modified > t {
                return Err(ErrorCode::PreconditionFailed.into());
            }
        }
        if let Some(list) = &self.if_none_match {
            if etag_matches(list, etag) {
                return Err(not_modified.into());
            }
        } else if let Some(t) = self.if_modified_since {
            if modified <= t {
                return Err(not_modified.into());
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::{HeaderName, HeaderValue};

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(HeaderName::from_bytes(k.as_bytes()).unwrap(), HeaderValue::from_str(v).unwrap());
        }
        h
    }

    const MS: i64 = 1_700_000_000_000;

    #[test]
    fn if_match_wins_over_unmodified_since() {
        let h = headers(&[("if-match", "\"abc\""), ("if-unmodified-since", "Mon, 01 Jan 2001 00:00:00 GMT")]);
        assert!(Preconditions::from_headers(&h, "").check("abc", MS, ErrorCode::NotModified).is_ok());
        let h = headers(&[("if-match", "\"zzz\"")]);
        let err = Preconditions::from_headers(&h, "").check("abc", MS, ErrorCode::NotModified).unwrap_err();
        assert_eq!(err.code, "PreconditionFailed");
    }

    #[test]
    fn if_none_match_gives_not_modified() {
        let h = headers(&[("if-none-match", "\"abc\"")]);
        let err = Preconditions::from_headers(&h, "").check("abc", MS, ErrorCode::NotModified).unwrap_err();
        assert_eq!(err.code, "NotModified");
        let h = headers(&[("x-amz-copy-source-if-none-match", "\"abc\"")]);
        let err = Preconditions::from_headers(&h, "x-amz-copy-source-").check("abc", MS, ErrorCode::PreconditionFailed).unwrap_err();
        assert_eq!(err.code, "PreconditionFailed");
    }

    #[test]
    fn modified_since_compares_whole_seconds() {
        let h = headers(&[("if-modified-since", &httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(1_700_000_000)))]);
        let err = Preconditions::from_headers(&h, "").check("abc", MS + 500, ErrorCode::NotModified).unwrap_err();
        assert_eq!(err.code, "NotModified");
    }
}
