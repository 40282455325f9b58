//! CORS rules of a bucket: their XML form, validation, and matching a request's origin, method
//! and headers against them (with one `*` wildcard in origins and headers, as S3 allows).

use crate::http::error::{S3Error, S3Result};
use actix_web::http::StatusCode;
use serde::{Deserialize, Serialize};

pub const METHODS: &[&str] = &["GET", "PUT", "POST", "DELETE", "HEAD"];
const MAX_RULES: usize = 100;

#[derive(Serialize, Deserialize, Clone, Debug, Default)]
#[serde(rename_all = "PascalCase")]
pub struct CorsConfiguration {
    #[serde(rename = "@xmlns", default, skip_deserializing)]
    pub xmlns: &'static str,
    #[serde(rename = "CORSRule", default)]
    pub rules: Vec<CorsRule>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default)]
#[serde(rename_all = "PascalCase")]
pub struct CorsRule {
    #[serde(rename = "ID", default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(rename = "AllowedHeader", default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_headers: Vec<String>,
    #[serde(rename = "AllowedMethod", default)]
    pub allowed_methods: Vec<String>,
    #[serde(rename = "AllowedOrigin", default)]
    pub allowed_origins: Vec<String>,
    #[serde(rename = "ExposeHeader", default, skip_serializing_if = "Vec::is_empty")]
    pub expose_headers: Vec<String>,
    #[serde(rename = "MaxAgeSeconds", default, skip_serializing_if = "Option::is_none")]
    pub max_age_seconds: Option<u64>,
}

/// `pattern` with at most one `*` matching any run of characters; case-insensitive when asked.
fn wildcard_match(pattern: &str, value: &str, ignore_case: bool) -> bool {
    let (p, v) = if ignore_case { (pattern.to_ascii_lowercase(), value.to_ascii_lowercase()) } else { (pattern.to_string(), value.to_string()) };
    match p.split_once('*') {
        None => p == v,
        Some((head, tail)) => v.len() >= head.len() + tail.len() && v.starts_with(head) && v.ends_with(tail),
    }
}

impl CorsConfiguration {
    pub fn validate(&self) -> S3Result<()> {
        let invalid = |m: String| S3Error::invalid_request(m);
        if self.rules.is_empty() || self.rules.len() > MAX_RULES {
            return Err(S3Error::new(crate::http::error::ErrorCode::MalformedXML));
        }
        for rule in &self.rules {
            if rule.allowed_methods.is_empty() || rule.allowed_origins.is_empty() {
                return Err(S3Error::new(crate::http::error::ErrorCode::MalformedXML));
            }
            if let Some(m) = rule.allowed_methods.iter().find(|m| !METHODS.contains(&m.as_str())) {
                return Err(invalid(format!("Found unsupported HTTP method in CORS config. Unsupported method is {m}")));
            }
            if let Some(o) = rule.allowed_origins.iter().find(|o| o.matches('*').count() > 1) {
                return Err(invalid(format!("AllowedOrigin \"{o}\" can not have more than one wildcard.")));
            }
            if let Some(h) = rule.allowed_headers.iter().find(|h| h.matches('*').count() > 1) {
                return Err(invalid(format!("AllowedHeader \"{h}\" can not have more than one wildcard.")));
            }
        }
        Ok(())
    }

    /// The first rule that allows `origin` to use `method` with `headers`.
    pub fn find(&self, origin: &str, method: &str, headers: &[String]) -> Option<&CorsRule> {
        self.rules.iter().find(|r| {
            r.allowed_origins.iter().any(|o| wildcard_match(o, origin, false))
                && r.allowed_methods.iter().any(|m| m == method)
                && headers.iter().all(|h| r.allowed_headers.iter().any(|a| wildcard_match(a, h, true)))
        })
    }
}

impl CorsRule {
    /// The Access-Control-* headers that answer `origin` under this rule.
    pub fn response_headers(&self, origin: &str, requested_headers: &[String]) -> Vec<(&'static str, String)> {
        let wildcard = self.allowed_origins.iter().any(|o| o == "*");
        let mut out = vec![
            ("Access-Control-Allow-Origin", if wildcard { "*".to_string() } else { origin.to_string() }),
            ("Access-Control-Allow-Methods", self.allowed_methods.join(", ")),
            ("Vary", "Origin, Access-Control-Request-Headers, Access-Control-Request-Method".to_string()),
        ];
        if !wildcard {
            out.push(("Access-Control-Allow-Credentials", "true".to_string()));
        }
        if !requested_headers.is_empty() {
            out.push(("Access-Control-Allow-Headers", requested_headers.join(", ")));
        }
        if !self.expose_headers.is_empty() {
            out.push(("Access-Control-Expose-Headers", self.expose_headers.join(", ")));
        }
        if let Some(age) = self.max_age_seconds {
            out.push(("Access-Control-Max-Age", age.to_string()));
        }
        out
    }
}

/// The names listed in an Access-Control-Request-Headers header, lowercased.
pub fn requested_headers(value: Option<&str>) -> Vec<String> {
    value
        .map(|v| v.split(',').map(|h| h.trim().to_ascii_lowercase()).filter(|h| !h.is_empty()).collect())
        .unwrap_or_default()
}

pub fn forbidden(message: &str) -> S3Error {
    S3Error::custom("AccessForbidden", StatusCode::FORBIDDEN, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(origins: &[&str], methods: &[&str], headers: &[&str]) -> CorsRule {
        CorsRule {
            allowed_origins: origins.iter().map(|s| s.to_string()).collect(),
            allowed_methods: methods.iter().map(|s| s.to_string()).collect(),
            allowed_headers: headers.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn origins_with_one_wildcard() {
        let c = CorsConfiguration {
            rules: vec![rule(&["*suffix"], &["GET"], &[]), rule(&["start*end"], &["GET"], &[]), rule(&["*.put"], &["PUT"], &[])],
            ..Default::default()
        };
        assert!(c.find("foo.suffix", "GET", &[]).is_some());
        assert!(c.find("foo.suffix.get", "GET", &[]).is_none());
        assert!(c.find("startend", "GET", &[]).is_some());
        assert!(c.find("start12end", "GET", &[]).is_some());
        assert!(c.find("0start12end", "GET", &[]).is_none());
        assert!(c.find("foo.put", "GET", &[]).is_none());
        assert!(c.find("foo.put", "PUT", &[]).is_some());
    }

    #[test]
    fn requested_headers_must_all_be_allowed() {
        let c = CorsConfiguration { rules: vec![rule(&["*"], &["GET"], &["x-amz-*", "Content-Type"])], ..Default::default() };
        assert!(c.find("a", "GET", &["x-amz-meta-a".into(), "content-type".into()]).is_some());
        assert!(c.find("a", "GET", &["authorization".into()]).is_none());
        let r = &c.rules[0];
        let h = r.response_headers("a", &[]);
        assert!(h.contains(&("Access-Control-Allow-Origin", "*".to_string())));
    }

    #[test]
    fn validation() {
        let bad = CorsConfiguration { rules: vec![rule(&["*"], &["PATCH"], &[])], ..Default::default() };
        assert_eq!(bad.validate().unwrap_err().code, "InvalidRequest");
        let two = CorsConfiguration { rules: vec![rule(&["*a*"], &["GET"], &[])], ..Default::default() };
        assert!(two.validate().is_err());
        assert!(CorsConfiguration { rules: vec![rule(&["https://*.example.com"], &["GET", "PUT"], &["*"])], ..Default::default() }.validate().is_ok());
    }
}
