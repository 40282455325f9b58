//! The policy document of a browser POST upload: expiration and conditions (exact match,
//! eq, starts-with, content-length-range), checked against the form's fields.

use crate::http::error::{ErrorCode, S3Error, S3Result};
use base64::Engine;
use serde_json::Value;
use std::collections::HashMap;

/// Form fields no condition needs to name.
const EXEMPT: &[&str] = &["policy", "x-amz-signature", "signature", "awsaccesskeyid", "file", "x-amz-security-token"];

pub struct PostPolicy {
    expiration: time::OffsetDateTime,
    conditions: Vec<Condition>,
}

enum Condition {
    Eq(String, String),
    StartsWith(String, String),
    LengthRange(u64, u64),
}

fn denied(why: impl Into<String>) -> S3Error {
    S3Error::new(ErrorCode::AccessDenied).with_message(format!("Invalid according to Policy: {}", why.into()))
}

fn malformed(why: &str) -> S3Error {
    S3Error::invalid_argument(format!("Invalid Policy: {why}")).with("ArgumentName", "policy")
}

fn field_name(v: &Value) -> S3Result<String> {
    let s = v.as_str().ok_or_else(|| malformed("condition field is not a string"))?;
    Ok(s.trim_start_matches('$').to_ascii_lowercase())
}

fn number(v: &Value) -> S3Result<u64> {
    v.as_u64().or_else(|| v.as_str().and_then(|s| s.parse().ok())).ok_or_else(|| malformed("content-length-range bounds are not numbers"))
}

impl PostPolicy {
    /// Decodes the base64 policy field.
    pub fn parse(b64: &str) -> S3Result<PostPolicy> {
        let raw = base64::engine::general_purpose::STANDARD.decode(b64.trim()).map_err(|_| malformed("not base64"))?;
        let doc: Value = serde_json::from_slice(&raw).map_err(|_| malformed("not JSON"))?;
        let exp = doc.get("expiration").and_then(Value::as_str).ok_or_else(|| malformed("missing expiration"))?;
        // ISO 8601 with a 'T' between date and time, as S3 requires.
        let expiration = Some(exp)
            .filter(|e| e.contains('T'))
            .and_then(|e| time::OffsetDateTime::parse(e, &time::format_description::well_known::Rfc3339).ok())
            .ok_or_else(|| malformed("bad expiration"))?;
        let mut conditions = Vec::new();
        for c in doc.get("conditions").and_then(Value::as_array).ok_or_else(|| malformed("missing conditions"))? {
            match c {
                Value::Object(map) if map.is_empty() => return Err(malformed("empty condition")),
                Value::Object(map) => {
                    for (k, v) in map {
                        let v = v.as_str().ok_or_else(|| malformed("condition value is not a string"))?;
                        conditions.push(Condition::Eq(k.to_ascii_lowercase(), v.to_string()));
                    }
                }
                Value::Array(items) if items.len() == 3 => {
                    let op = items[0].as_str().unwrap_or("").to_ascii_lowercase();
                    match op.as_str() {
                        "eq" => conditions.push(Condition::Eq(field_name(&items[1])?, items[2].as_str().unwrap_or("").to_string())),
                        "starts-with" => conditions.push(Condition::StartsWith(field_name(&items[1])?, items[2].as_str().unwrap_or("").to_string())),
                        "content-length-range" => conditions.push(Condition::LengthRange(number(&items[1])?, number(&items[2])?)),
                        _ => return Err(malformed("unknown condition")),
                    }
                }
                _ => return Err(malformed("condition is neither an object nor a list of three")),
            }
        }
        Ok(PostPolicy { expiration, conditions })
    }

    /// Checks expiry and every condition against the form fields (lowercased names) and the
    /// bucket; every field must be named by some condition.
    pub fn check(&self, fields: &HashMap<String, String>, bucket: &str) -> S3Result<()> {
        if self.expiration < time::OffsetDateTime::now_utc() {
            return Err(denied("Policy expired."));
        }
        let value = |name: &str| if name == "bucket" { Some(bucket) } else { fields.get(name).map(String::as_str) };
        let mut covered = vec!["bucket".to_string()];
        for c in &self.conditions {
            match c {
                Condition::Eq(name, want) => {
                    covered.push(name.clone());
                    if value(name) != Some(want.as_str()) {
                        return Err(denied(format!("Policy Condition failed: [\"eq\", \"${name}\", \"{want}\"]")));
                    }
                }
                Condition::StartsWith(name, prefix) => {
                    covered.push(name.clone());
                    // Content-Type may list several types; each must start with the prefix. An
                    // absent field is empty, so an empty prefix allows leaving it out.
                    let ok = match value(name) {
                        Some(v) if name == "content-type" => v.split(',').all(|t| t.trim().starts_with(prefix.as_str())),
                        Some(v) => v.starts_with(prefix.as_str()),
                        None => prefix.is_empty(),
                    };
                    if !ok {
                        return Err(denied(format!("Policy Condition failed: [\"starts-with\", \"${name}\", \"{prefix}\"]")));
                    }
                }
                Condition::LengthRange(..) => {}
            }
        }
        let extra: Vec<&String> = fields
            .keys()
            .filter(|k| {
                !EXEMPT.contains(&k.as_str())
                    && !k.starts_with("x-ignore-")
                    && !k.starts_with("x-amz-checksum-")
                    && !covered.contains(k)
            })
            .collect();
        if let Some(k) = extra.first() {
            return Err(denied(format!("Extra input fields: {k}")));
        }
        Ok(())
    }

    /// The content-length-range condition, if any.
    pub fn length_range(&self) -> Option<(u64, u64)> {
        self.conditions.iter().find_map(|c| match c {
            Condition::LengthRange(lo, hi) => Some((*lo, *hi)),
            _ => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(conditions: &str) -> PostPolicy {
        let doc = format!(r#"{{"expiration":"2099-01-01T00:00:00.000Z","conditions":{conditions}}}"#);
        PostPolicy::parse(&base64::engine::general_purpose::STANDARD.encode(doc)).unwrap()
    }

    fn fields(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn conditions() {
        let p = policy(r#"[{"bucket":"b"},["starts-with","$key","up/"],{"acl":"private"},["content-length-range",0,1024]]"#);
        let open = policy(r#"[{"bucket":"b"},["starts-with","$key",""],["starts-with","$x-amz-server-side-encryption",""]]"#);
        assert!(open.check(&fields(&[("key", "k")]), "b").is_ok(), "an empty prefix allows an absent field");
        let strict = policy(r#"[{"bucket":"b"},["starts-with","$key",""],["starts-with","$x-amz-meta-a","x"]]"#);
        assert!(strict.check(&fields(&[("key", "k")]), "b").is_err(), "a non-empty prefix needs the field");
        assert!(open.check(&fields(&[("key", "k"), ("x-amz-checksum-sha256", "AA==")]), "b").is_ok(), "checksum fields need no condition");
        assert!(p.check(&fields(&[("key", "up/a.txt"), ("acl", "private")]), "b").is_ok());
        assert_eq!(p.check(&fields(&[("key", "down/a.txt"), ("acl", "private")]), "b").unwrap_err().code, "AccessDenied");
        assert!(p.check(&fields(&[("key", "up/a"), ("acl", "private")]), "other").is_err());
        assert!(p.check(&fields(&[("key", "up/a"), ("acl", "private"), ("x-amz-meta-x", "1")]), "b").is_err(), "uncovered field");
        assert!(p.check(&fields(&[("key", "up/a"), ("acl", "private"), ("x-ignore-me", "1")]), "b").is_ok());
        assert_eq!(p.length_range(), Some((0, 1024)));
    }

    #[test]
    fn expiry() {
        let doc = r#"{"expiration":"2001-01-01T00:00:00Z","conditions":[]}"#;
        let p = PostPolicy::parse(&base64::engine::general_purpose::STANDARD.encode(doc)).unwrap();
        assert!(p.check(&HashMap::new(), "b").unwrap_err().message.contains("expired"));
    }
}
