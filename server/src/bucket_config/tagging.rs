//! Object tags: parsing them from the x-amz-tagging header (URL-encoded pairs) or a Tagging XML
//! body, S3's limits on them, and the TagSet XML shape shared by requests and responses.

use crate::http::error::{S3Error, S3Result};
use serde::{Deserialize, Serialize};

const MAX_TAGS: usize = 10;
const MAX_KEY_CHARS: usize = 128;
const MAX_VALUE_CHARS: usize = 256;

fn invalid_tag(message: &str) -> S3Error {
    S3Error::custom("InvalidTag", actix_web::http::StatusCode::BAD_REQUEST, message)
}

/// Checks S3's rules for object tags and returns them sorted by key.
pub fn validate(tags: Vec<(String, String)>) -> S3Result<Vec<(String, String)>> {
    if tags.len() > MAX_TAGS {
        return Err(invalid_tag("Object tags cannot be greater than 10"));
    }
    validate_bucket(tags)
}

/// The rules object and bucket tags share (length of keys and values, unique keys); returns
/// the tags sorted by key.
pub fn validate_bucket(mut tags: Vec<(String, String)>) -> S3Result<Vec<(String, String)>> {
    for (k, v) in &tags {
        if k.is_empty() || k.chars().count() > MAX_KEY_CHARS {
            return Err(invalid_tag("The TagKey you have provided is invalid"));
        }
        if v.chars().count() > MAX_VALUE_CHARS {
            return Err(invalid_tag("The TagValue you have provided is invalid"));
        }
    }
    tags.sort();
    if tags.windows(2).any(|w| w[0].0 == w[1].0) {
        return Err(invalid_tag("Cannot provide multiple Tags with the same key"));
    }
    Ok(tags)
}

/// The x-amz-tagging header: `k1=v1&k2=v2`, encoded like a query string (a key without `=`
/// has an empty value).
pub fn from_header(header: &str) -> S3Result<Vec<(String, String)>> {
    validate(crate::http::router::Query::parse(header).into_pairs())
}

#[derive(Serialize, Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct Tagging {
    #[serde(rename = "@xmlns", default, skip_deserializing)]
    pub xmlns: &'static str,
    #[serde(default)]
    pub tag_set: TagSet,
}

#[derive(Serialize, Deserialize, Default)]
pub struct TagSet {
    #[serde(rename = "Tag", default)]
    pub tags: Vec<Tag>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct Tag {
    pub key: String,
    #[serde(default)]
    pub value: String,
}

impl Tagging {
    pub fn of(tags: &[(String, String)]) -> Tagging {
        Tagging {
            xmlns: crate::http::xml::S3_NAMESPACE,
            tag_set: TagSet { tags: tags.iter().map(|(k, v)| Tag { key: k.clone(), value: v.clone() }).collect() },
        }
    }

    pub fn into_pairs(self) -> S3Result<Vec<(String, String)>> {
        validate(self.tag_set.tags.into_iter().map(|t| (t.key, t.value)).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_pairs_are_decoded_and_sorted() {
        let tags = from_header("foo=bar&bar&a%20b=c%2Bd").unwrap();
        assert_eq!(tags, vec![("a b".into(), "c+d".into()), ("bar".into(), "".into()), ("foo".into(), "bar".into())]);
    }

    #[test]
    fn limits() {
        let eleven: Vec<_> = (0..11).map(|i| (format!("k{i}"), "v".to_string())).collect();
        assert_eq!(validate(eleven).unwrap_err().code, "InvalidTag");
        assert_eq!(validate(vec![("k".repeat(129), String::new())]).unwrap_err().code, "InvalidTag");
        assert_eq!(validate(vec![("k".into(), "v".repeat(257))]).unwrap_err().code, "InvalidTag");
        assert_eq!(validate(vec![("k".into(), "1".into()), ("k".into(), "2".into())]).unwrap_err().code, "InvalidTag");
        assert!(validate(vec![("k".repeat(128), "v".repeat(256))]).is_ok());
    }
}
