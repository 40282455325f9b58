//! Plain data types the storage API takes and returns: users, buckets, object records and
//! their metadata, listing parameters and pages.

use coffer_crypto::checksum::Checksum;
use serde::{Deserialize, Serialize};

pub const NULL_VERSION: &str = "null";

#[derive(Clone, Debug)]
pub struct User {
    pub id: String,
    pub name: String,
}

#[derive(Clone, Debug)]
pub struct Credentials {
    pub access_key: String,
    pub secret_key: String,
    pub user: User,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Versioning {
    Unversioned,
    Enabled,
    Suspended,
}

impl Versioning {
    pub fn as_str(self) -> &'static str {
        match self {
            Versioning::Unversioned => "Unversioned",
            Versioning::Enabled => "Enabled",
            Versioning::Suspended => "Suspended",
        }
    }
    pub fn parse(s: &str) -> Versioning {
        match s {
            "Enabled" => Versioning::Enabled,
            "Suspended" => Versioning::Suspended,
            _ => Versioning::Unversioned,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Bucket {
    pub id: i64,
    pub name: String,
    pub owner: User,
    pub region: String,
    pub created_ms: i64,
    pub versioning: Versioning,
}

/// Everything about an object version that is not its bytes and not its identity.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct ObjectMeta {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_encoding: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_disposition: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_language: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_control: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_class: Option<String>,
    /// x-amz-meta-* pairs, names lowercased without the prefix, in the order received.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub user: Vec<(String, String)>,
    /// The flexible checksum the client asked for, as (algorithm name, base64 value).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum: Option<StoredChecksum>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct StoredChecksum {
    pub algorithm: String,
    pub value: String,
}

impl From<&Checksum> for StoredChecksum {
    fn from(c: &Checksum) -> Self {
        StoredChecksum { algorithm: c.algorithm.as_str().to_string(), value: c.to_base64() }
    }
}

/// One piece of an object's bytes: a whole blob, named by the SHA-256 of its bytes.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Segment {
    pub hash: String,
    pub len: u64,
}

/// Where an object's bytes are.
#[derive(Clone, Debug)]
pub enum Body {
    /// Small objects are kept in the index row itself.
    Inline(bytes::Bytes),
    /// Larger ones are the concatenation of these blobs.
    Blobs(Vec<Segment>),
}

/// One version of one object as the index knows it, without its bytes (see `Body`).
#[derive(Clone, Debug)]
pub struct ObjectRecord {
    pub bucket_id: i64,
    pub key: String,
    pub version_id: String,
    pub is_latest: bool,
    pub delete_marker: bool,
    pub size: u64,
    /// Hex MD5 (or multipart form), without quotes.
    pub etag: String,
    pub modified_ms: i64,
    pub owner_id: String,
    pub meta: ObjectMeta,
}

/// Conditions a write checks atomically against the current latest version. Each is an
/// entity-tag list as sent in the header (`*`, or quoted or bare ETags separated by commas).
#[derive(Clone, Debug, Default)]
pub struct WriteConditions {
    /// If-None-Match — fail (PreconditionFailed) if a current object matches.
    pub if_none_match: Option<String>,
    /// If-Match — fail unless a current object matches (NoSuchKey if there is none).
    pub if_match: Option<String>,
}

/// Whether an If-Match / If-None-Match entity-tag list matches `etag` (unquoted).
pub fn etag_list_matches(list: &str, etag: &str) -> bool {
    list.split(',').map(str::trim).any(|candidate| {
        let candidate = candidate.strip_prefix("W/").unwrap_or(candidate);
        candidate == "*" || candidate.trim_matches('"') == etag
    })
}

#[derive(Clone, Debug, Default)]
pub struct ListParams {
    pub prefix: String,
    pub delimiter: Option<String>,
    /// Exclusive start: only keys strictly after this one.
    pub after: Option<String>,
    pub max_keys: usize,
}

#[derive(Clone, Debug)]
pub enum ListItem {
    Object(ObjectRecord),
    Prefix(String),
}

#[derive(Clone, Debug, Default)]
pub struct ListPage {
    /// Objects and common prefixes, in key order.
    pub items: Vec<ListItem>,
    pub is_truncated: bool,
}

impl ListPage {
    /// The key or prefix the page ended on: the marker to continue after.
    pub fn last_name(&self) -> Option<&str> {
        self.items.last().map(|i| match i {
            ListItem::Object(o) => o.key.as_str(),
            ListItem::Prefix(p) => p.as_str(),
        })
    }
}

#[derive(Clone, Debug, Default)]
pub struct VersionListParams {
    pub prefix: String,
    pub delimiter: Option<String>,
    pub key_marker: Option<String>,
    pub version_id_marker: Option<String>,
    pub max_keys: usize,
}

#[derive(Clone, Debug, Default)]
pub struct VersionPage {
    pub items: Vec<ListItem>,
    pub is_truncated: bool,
    pub next_key_marker: Option<String>,
    pub next_version_id_marker: Option<String>,
}
