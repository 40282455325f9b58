//! Object versions: writing one under conditions and versioning rules, reading, copying,
//! tagging, deleting and listing. The contract a metadata store implements for them;
//! `crate::sqlite::objects` is SQLite's.

use crate::blob::Hash;
use crate::error::Result;
use crate::events::{Origin, Requester};
use crate::model::*;
use crate::LockChange;
use crate::objects::{DeleteOutcome, NewObject};
use crate::tiers::TierSet;
use std::sync::Arc;

/// The bytes a new version names, already durable in the blob store (or inline).
#[derive(Clone, Debug)]
pub struct NewBody {
    pub size: u64,
    /// The version's ETag (hex MD5 for a single PUT).
    pub etag: String,
    pub body: Body,
    /// The CRC32C of the single blob, to record for verified reads if the blob has none yet.
    pub crc32c: Option<u32>,
}

/// One version of one key, named.
#[derive(Clone, Debug)]
pub struct VersionRef {
    pub bucket_id: i64,
    pub key: String,
    pub version_id: String,
}

/// A change of a version's metadata in place (tags and ACLs are not new versions).
#[derive(Clone, Debug)]
pub enum MetaChange {
    /// Replaces the tags (empty: removes them).
    Tags(Vec<(String, String)>),
    /// Replaces the ACL grants.
    Acl(Option<Vec<Grant>>),
}

impl MetaChange {
    pub fn apply(self, meta: &mut ObjectMeta) {
        match self {
            MetaChange::Tags(tags) => meta.tags = tags,
            MetaChange::Acl(acl) => meta.acl = acl,
        }
    }
}

#[async_trait::async_trait]
pub trait ObjectIndex {
    /// Turns Object Lock on for the bucket (for good), or replaces its setting, with
    /// `document`; the bucket's versioning must be Enabled (`InvalidBucketState`).
    async fn set_bucket_lock(&self, bucket_id: i64, document: String) -> Result<()>;

    /// Names `body` as the new latest version of `new.key`, in one transaction: checks `cond`
    /// against the latest version (`PreconditionFailed`, or `NoSuchKey` for If-Match on no
    /// object), applies the bucket's versioning (a `null` version is replaced), checks the
    /// bucket's quota, takes the blob references, and queues the version's event and
    /// replication. A storage class that belongs on a tier gets a move queued.
    async fn put_version(&self, bucket_id: i64, new: NewObject, body: NewBody, cond: WriteConditions, tiers: Arc<TierSet>) -> Result<ObjectRecord>;

    /// Writes a new version of `new.key` in `dest_bucket_id` sharing the bytes (and tier) of
    /// `source`, read in the same transaction; otherwise as `put_version`.
    async fn copy_version(&self, source: VersionRef, dest_bucket_id: i64, new: NewObject, cond: WriteConditions, tiers: Arc<TierSet>) -> Result<ObjectRecord>;

    /// The latest version of a key (possibly a delete marker) or a given version, with its
    /// body; `NoSuchKey` / `NoSuchVersion` when there is none.
    async fn version(&self, bucket_id: i64, key: &str, version_id: Option<&str>) -> Result<(ObjectRecord, Body)>;

    /// The bucket named `bucket` (`NoSuchBucket`) and the version as `version` finds it, read
    /// in one snapshot: the hot path of GET and HEAD.
    async fn bucket_and_version(&self, bucket: &str, key: &str, version_id: Option<&str>) -> Result<(Bucket, Result<(ObjectRecord, Body)>)>;

    /// As `bucket_and_version`, without the version's body: the hot path of HEAD, which then
    /// reads no inline bytes.
    async fn bucket_and_record(&self, bucket: &str, key: &str, version_id: Option<&str>) -> Result<(Bucket, Result<ObjectRecord>)>;

    /// Changes the metadata of the latest (or a given) version in place and queues the event
    /// of `origin`, in one transaction; returns the version id. A delete marker has no
    /// metadata to change (`NoSuchKey` / `NoSuchVersion`).
    async fn change_version_meta(&self, bucket_id: i64, key: &str, version_id: Option<&str>, change: MetaChange, origin: Origin) -> Result<String>;

    /// Deletes each (key, version) for `by` in one transaction, each with its own outcome:
    /// without a version, removes the latest (unversioned) or places a delete marker; with
    /// one, removes that version unless Object Lock protects it (`ObjectLocked`). Events and
    /// replication are queued with each.
    async fn delete_versions(&self, bucket_id: i64, items: Vec<(String, Option<String>)>, by: Requester, options: DeleteOptions) -> Result<Vec<Result<DeleteOutcome>>>;

    /// One page of the latest, non-deleted versions in raw UTF-8 byte order of keys, with
    /// keys sharing a delimited prefix folded into one common prefix (ListObjects v1/v2).
    async fn list_objects(&self, bucket_id: i64, p: ListParams) -> Result<ListPage>;

    /// One page of all versions and delete markers, newest first within a key.
    async fn list_versions(&self, bucket_id: i64, p: VersionListParams) -> Result<VersionPage>;

    /// The CRC32C recorded for blob `hash`, if any. Blocking: called from a read's thread.
    fn blob_crc32c_blocking(&self, hash: &Hash) -> Result<Option<u32>>;

    /// Changes the lock of a version (the latest when `version_id` is None) as S3 allows:
    /// a retention in force can be extended; a COMPLIANCE one cannot be shortened, removed or
    /// made GOVERNANCE by anyone; a GOVERNANCE one only with `options.bypass_governance`
    /// (also to become COMPLIANCE). Returns the version id.
    async fn change_version_lock(&self, bucket_id: i64, key: &str, version_id: Option<&str>, change: LockChange, options: DeleteOptions) -> Result<String>;
}

