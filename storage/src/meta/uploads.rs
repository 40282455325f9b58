//! Multipart uploads: creating one, its parts, listing, aborting and completing it into a version.
//! The contract a metadata store implements for them; `crate::sqlite::uploads` is SQLite's.

use crate::blob::Hash;
use crate::error::Result;
use crate::model::{Body, Bucket, CompleteRequest, CompletedUpload, Part, PartPage, Upload, UploadListParams, UploadPage};
use crate::tiers::TierSet;
use std::sync::Arc;

#[async_trait::async_trait]
pub trait UploadIndex {
    /// Records `upload` (its id freshly chosen) as in progress, without parts.
    async fn create_upload(&self, upload: Upload) -> Result<()>;

    /// The upload `upload_id` of `key` in the bucket, if it is in progress.
    async fn upload(&self, bucket_id: i64, key: &str, upload_id: &str) -> Result<Option<Upload>>;

    /// The bucket named `bucket` (`NoSuchBucket`) and, read with it, the upload as `upload`
    /// finds it: the hot path of UploadPart.
    async fn bucket_and_upload(&self, bucket: &str, key: &str, upload_id: &str) -> Result<(Bucket, Option<Upload>)>;

    /// Records `part` of `upload`, its bytes the published blob `hash` (`stored` names it), in
    /// one transaction: replaces any part with the same number, releasing that part's blob
    /// reference, takes a reference to `hash`, and notes the blob's `crc32c` if it has none.
    /// `NoSuchUpload` if the upload is no longer in progress (nothing is then changed).
    async fn put_part(&self, upload: &Upload, part: Part, hash: Hash, stored: Body, crc32c: Option<u32>) -> Result<()>;

    /// Removes an upload in progress with its parts, releasing their blob references, in one
    /// transaction. `NoSuchUpload`.
    async fn abort_upload(&self, bucket_id: i64, key: &str, upload_id: &str) -> Result<()>;

    /// The upload and one page of its parts (numbers after `after`, at most `max`), read
    /// together. `NoSuchUpload`.
    async fn list_parts(&self, bucket_id: i64, key: &str, upload_id: &str, after: u32, max: usize) -> Result<(Upload, PartPage)>;

    /// One page of the bucket's uploads in progress, by key and then by initiation, keys under
    /// a delimiter folded into common prefixes as `crate::keys::common_prefix` says.
    async fn list_uploads(&self, bucket_id: i64, params: UploadListParams) -> Result<UploadPage>;

    /// The parts an object version was completed from; None if it was not uploaded in parts.
    async fn object_parts(&self, bucket_id: i64, key: &str, version_id: &str) -> Result<Option<Vec<Part>>>;

    /// Completes an upload in one transaction: checks `req` against the stored parts
    /// (`crate::multipart::complete::plan`), writes the version as any new version is written
    /// (conditions, versioning, quota, events and replication queued with it; as a replica
    /// when `req.replica_of` says so), records its parts, removes the upload (the version
    /// keeps its own blob references, unused parts' are released) and remembers the result
    /// for `crate::multipart::complete::COMPLETED_KEPT_MS`. An upload completed within that
    /// time answers its first result again; an unknown one is `NoSuchUpload`.
    async fn complete_upload(&self, bucket_id: i64, key: &str, upload_id: &str, req: CompleteRequest, tiers: Arc<TierSet>) -> Result<CompletedUpload>;
}
