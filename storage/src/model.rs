//! Plain data types the storage API takes and returns: users, buckets, object records and
//! their metadata, listing parameters and pages.

use coffer_crypto::checksum::{Checksum, ChecksumAlgorithm};
use serde::{Deserialize, Serialize};

pub const NULL_VERSION: &str = "null";

#[derive(Clone, Debug)]
pub struct User {
    pub id: String,
    pub name: String,
}

/// An access key as stored: its secret was sealed by the caller and is opaque here.
#[derive(Clone, Debug)]
pub struct AccessKey {
    pub access_key: String,
    pub sealed_secret: Vec<u8>,
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
    /// How many times the bucket's configuration documents were changed, on an index other
    /// nodes share (0 on one of this process's own): a node that sees it move drops what it
    /// cached of them (see `config_cache`).
    pub config_gen: i64,
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
    /// Object tags, sorted by key.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<(String, String)>,
    /// x-amz-website-redirect-location: where the website endpoint redirects this object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub website_redirect: Option<String>,
    /// Grants beyond the object owner's own FULL_CONTROL; None for the private default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acl: Option<Vec<Grant>>,
    /// How the stored bytes are encrypted; None for objects stored as sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption: Option<Encryption>,
    /// Object Lock: the version's retention and legal hold.
    #[serde(default, skip_serializing_if = "VersionLock::is_none")]
    pub lock: VersionLock,
}

/// An Object Lock retention mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LockMode {
    /// Protects until the date, except from callers allowed to bypass governance retention
    /// who ask to (`x-amz-bypass-governance-retention: true`).
    Governance,
    /// Protects until the date from everyone; the date can only move later.
    Compliance,
}

/// A version's Object Lock state.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionLock {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention: Option<(LockMode, i64)>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub legal_hold: bool,
}

impl VersionLock {
    pub fn is_none(&self) -> bool {
        self.retention.is_none() && !self.legal_hold
    }

    /// Why the version cannot be deleted at `now_ms` (None when it can): a legal hold, or a
    /// retention whose date has not passed, unless it is GOVERNANCE and `bypass` is allowed.
    pub fn protects(&self, now_ms: i64, bypass: bool) -> Option<&'static str> {
        if self.legal_hold {
            return Some("the version is under a legal hold");
        }
        match self.retention {
            Some((LockMode::Compliance, until)) if until > now_ms => Some("the version is retained in COMPLIANCE mode"),
            Some((LockMode::Governance, until)) if until > now_ms && !bypass => Some("the version is retained in GOVERNANCE mode"),
            _ => None,
        }
    }
}

/// Which key protects an encrypted object's data key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum EncryptionMode {
    /// SSE-S3: the server's master key.
    S3,
    /// SSE-KMS: a KMS key.
    Kms,
    /// SSE-C: the customer's key, sent with every request and never stored.
    Customer,
}

/// How an object version's bytes are encrypted at rest. The bytes are sealed under a data key
/// of their own (see `coffer_crypto::envelope`); this records how to get that key back.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Encryption {
    pub mode: EncryptionMode,
    /// The data key, wrapped by the key `mode` names, base64.
    pub wrapped_key: String,
    /// SSE-KMS: the canonical id of the KMS key and the version that wrapped the data key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms_key_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms_key_version: Option<u32>,
    /// SSE-KMS: the key's ARN, which responses name it by.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms_key_arn: Option<String>,
    /// SSE-KMS: the encryption context as sent (base64 JSON), bound to the wrapped key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms_context: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub bucket_key: bool,
    /// SSE-C: a salt and a keyed hash of the customer's key (base64), to recognise it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_check: Option<String>,
}

impl Encryption {
    /// An encryption record of `mode` with its wrapped data key (base64) and nothing else set.
    pub fn new(mode: EncryptionMode, wrapped_key: String) -> Encryption {
        Encryption {
            mode,
            wrapped_key,
            kms_key_id: None,
            kms_key_version: None,
            kms_key_arn: None,
            kms_context: None,
            bucket_key: false,
            key_check: None,
        }
    }
}

/// Who an ACL grant is for.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub enum Grantee {
    /// A user, by canonical id.
    User(String),
    /// Everyone, signed in or not.
    AllUsers,
    /// Every signed-in user.
    AuthenticatedUsers,
    /// S3's log delivery group.
    LogDelivery,
}

/// What an ACL grant allows.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub enum Permission {
    Read,
    Write,
    ReadAcp,
    WriteAcp,
    FullControl,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Grant {
    pub grantee: Grantee,
    pub permission: Permission,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct StoredChecksum {
    pub algorithm: String,
    /// Base64 of the digest; a composite multipart checksum ends in `-N`.
    pub value: String,
    /// Whether the value covers the whole object or is a checksum of part checksums.
    #[serde(default, rename = "type", skip_serializing_if = "ChecksumType::is_full_object")]
    pub kind: ChecksumType,
}

impl From<&Checksum> for StoredChecksum {
    fn from(c: &Checksum) -> Self {
        StoredChecksum { algorithm: c.algorithm.as_str().to_string(), value: c.to_base64(), kind: ChecksumType::FullObject }
    }
}

/// S3's x-amz-checksum-type: what a multipart object's checksum is computed over.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ChecksumType {
    /// A checksum of all the object's bytes (CRCs of parts combine into it).
    #[default]
    FullObject,
    /// A checksum of the concatenated part checksums, written with a `-N` suffix.
    Composite,
}

impl ChecksumType {
    pub fn as_str(self) -> &'static str {
        match self {
            ChecksumType::FullObject => "FULL_OBJECT",
            ChecksumType::Composite => "COMPOSITE",
        }
    }
    pub fn parse(s: &str) -> Option<ChecksumType> {
        [ChecksumType::FullObject, ChecksumType::Composite].into_iter().find(|t| t.as_str().eq_ignore_ascii_case(s))
    }
    pub fn is_full_object(&self) -> bool {
        *self == ChecksumType::FullObject
    }
}

/// One piece of an object's bytes: a whole blob, named by the SHA-256 of its bytes.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Segment {
    pub hash: String,
    pub len: u64,
    /// The generation a writer just put the blob under, for its commit to check (see
    /// `blob_store::BlobKey`); never stored (a read asks the index which generation is live).
    #[serde(skip)]
    pub gen: Option<u64>,
}

impl Segment {
    /// Blob `hash` (hex) of `len` bytes, already referenced.
    pub fn named(hash: String, len: u64) -> Segment {
        Segment { hash, len, gen: None }
    }
}

/// Where an object's bytes are.
#[derive(Clone, Debug)]
pub enum Body {
    /// Small objects are kept in the index row itself, with the SHA-256 of the stored bytes
    /// to verify them by (`None` for rows written before it was kept).
    Inline { data: bytes::Bytes, sha256: Option<[u8; 32]> },
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
    /// Where the version's bytes are, and any move or restore of them.
    pub placement: Placement,
    /// Its replication status (PENDING, COMPLETED, FAILED, or REPLICA for a copy), if any rule
    /// replicates it.
    pub replication: Option<String>,
}

/// Where a version's bytes are kept (see `crate::tiers`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Placement {
    /// The tier that holds the bytes; None for the local store.
    pub tier: Option<String>,
    /// A move that is due: to a tier, or (`Some(None)`) back to the local store.
    pub moving_to: Option<Option<String>>,
    /// A restore asked for (of a version on an archive tier).
    pub restore: Option<RestoreState>,
}

impl Placement {
    /// The tier the version belongs on: where a due move takes it, else where it is.
    pub fn destination(&self) -> Option<&str> {
        match &self.moving_to {
            Some(to) => to.as_deref(),
            None => self.tier.as_deref(),
        }
    }
}

/// A restore of an archived version: a copy on the local store for `days` days.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RestoreState {
    pub days: u32,
    /// When the copy was made; None while the restore is running.
    pub done_ms: Option<i64>,
    /// When the copy is dropped again.
    pub expiry_ms: Option<i64>,
}

impl RestoreState {
    /// Whether the restored copy exists and has not expired by `now_ms`.
    pub fn readable(&self, now_ms: i64) -> bool {
        self.done_ms.is_some() && self.expiry_ms.is_some_and(|e| e > now_ms)
    }
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

/// The checksum a multipart upload was created with: every part carries one of this
/// algorithm, and Complete combines them as `kind` says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UploadChecksum {
    pub algorithm: ChecksumAlgorithm,
    pub kind: ChecksumType,
}

/// A multipart upload in progress.
#[derive(Clone, Debug)]
pub struct Upload {
    pub upload_id: String,
    pub bucket_id: i64,
    pub key: String,
    pub owner_id: String,
    pub initiated_ms: i64,
    /// Metadata the completed object will carry.
    pub meta: ObjectMeta,
    pub checksum: Option<UploadChecksum>,
}

/// One uploaded part (of an upload, or of an object completed from parts).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Part {
    #[serde(rename = "n")]
    pub number: u32,
    pub size: u64,
    /// Hex MD5 of the part's bytes, without quotes.
    pub etag: String,
    /// Base64 checksum in the upload's algorithm, if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum: Option<String>,
    #[serde(rename = "t")]
    pub modified_ms: i64,
}

/// One entry of a CompleteMultipartUpload request.
#[derive(Clone, Debug)]
pub struct CompletePart {
    pub number: u32,
    /// As sent, quotes allowed.
    pub etag: String,
    /// The part checksum the client listed (base64), if any.
    pub checksum: Option<String>,
}

/// Everything a CompleteMultipartUpload asks for besides the upload itself.
#[derive(Clone, Debug, Default)]
pub struct CompleteRequest {
    pub parts: Vec<CompletePart>,
    /// Smallest size allowed for every part but the last.
    pub min_part_size: u64,
    /// A whole-object checksum the client sent to verify against (base64, `-N` for composite).
    pub expected_checksum: Option<(ChecksumAlgorithm, String)>,
    /// x-amz-mp-object-size: the size the client expects the object to have.
    pub expected_size: Option<u64>,
    pub conditions: WriteConditions,
    /// Set when the upload is a replica of a version on another server (see `ReplicaOf`).
    pub replica_of: Option<ReplicaOf>,
    /// Who completes the upload (for its ObjectCreated:CompleteMultipartUpload event).
    pub requester: Requester,
}

/// The identity a replica keeps from its source version on another server: the version id,
/// creation time and ETag it had there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplicaOf {
    pub version_id: String,
    pub modified_ms: i64,
    pub etag: String,
}

/// The outcome of completing an upload, kept so a repeated Complete returns the same answer.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct CompletedUpload {
    pub etag: String,
    pub version_id: String,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum: Option<StoredChecksum>,
    /// The object's encryption, for the response's SSE headers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption: Option<Encryption>,
}

#[derive(Clone, Debug, Default)]
pub struct UploadListParams {
    pub prefix: String,
    pub delimiter: Option<String>,
    pub key_marker: Option<String>,
    pub upload_id_marker: Option<String>,
    pub max_uploads: usize,
}

#[derive(Clone, Debug)]
pub enum UploadListItem {
    Upload(Upload),
    Prefix(String),
}

#[derive(Clone, Debug, Default)]
pub struct UploadPage {
    pub items: Vec<UploadListItem>,
    pub is_truncated: bool,
}

/// One page of an upload's parts, by part number.
#[derive(Clone, Debug, Default)]
pub struct PartPage {
    pub parts: Vec<Part>,
    pub is_truncated: bool,
}

/// Who asked for a change, as its event records it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Requester {
    /// The caller's canonical user id (the anonymous id for anonymous callers).
    pub principal_id: String,
    pub source_ip: String,
    pub request_id: String,
}

/// The principal (and source) named in events of changes Coffer makes by itself: lifecycle
/// expirations and transitions, restores completing or expiring, failed replications.
pub const COFFER_PRINCIPAL: &str = "coffer";

impl Requester {
    /// Coffer itself, for changes no request made (with a request id of its own).
    pub fn coffer() -> Requester {
        Requester {
            principal_id: COFFER_PRINCIPAL.into(),
            source_ip: COFFER_PRINCIPAL.into(),
            request_id: format!("{:016X}", rand::random::<u64>()),
        }
    }
}

/// What a delete (or a change of retention) may override.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DeleteOptions {
    /// `x-amz-bypass-governance-retention: true` from a caller allowed
    /// `s3:BypassGovernanceRetention`: GOVERNANCE retention does not protect.
    pub bypass_governance: bool,
}

/// The bucket configuration document holding a bucket's Object Lock setting (written by the
/// server; its presence means lock is on).
pub const LOCK_KIND: &str = "object-lock";
