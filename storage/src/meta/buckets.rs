//! Buckets and their configuration documents, versioning state, usage counters and quotas.
//! The contract a metadata store implements for them; `crate::sqlite::buckets` is SQLite's.

use crate::error::Result;
use crate::model::{Bucket, User, Versioning};
use crate::usage::{BucketSpace, Quota, Usage};

#[async_trait::async_trait]
pub trait BucketIndex {
    /// Creates the bucket `name` owned by `owner`, unversioned and without documents.
    /// `BucketAlreadyOwnedByYou` or `BucketAlreadyExists` if the name is taken.
    async fn create_bucket(&self, owner: User, name: &str, region: &str) -> Result<Bucket>;

    /// The bucket called `name`, if any.
    async fn bucket_by_name(&self, name: &str) -> Result<Option<Bucket>>;

    /// Buckets owned by the user with id `owner_id`, by name.
    async fn list_buckets(&self, owner_id: &str) -> Result<Vec<Bucket>>;

    /// Every bucket, by name.
    async fn all_buckets(&self) -> Result<Vec<Bucket>>;

    /// Deletes the bucket `name` if it holds no version or delete marker, together with its
    /// configuration documents, uploads in progress (their parts' blob references released)
    /// and remembered completions, all or nothing. Returns the deleted bucket's id.
    /// `NoSuchBucket`, `BucketNotEmpty`.
    async fn delete_bucket(&self, name: &str) -> Result<i64>;

    /// The kinds of configuration documents the bucket has, sorted.
    async fn bucket_config_kinds(&self, bucket_id: i64) -> Result<Vec<String>>;

    /// The bucket's configuration document of `kind`, if set.
    async fn bucket_config(&self, bucket_id: i64, kind: &str) -> Result<Option<String>>;

    /// The (id, name) of every bucket with a configuration document of `kind`, by id.
    async fn buckets_with_config(&self, kind: &str) -> Result<Vec<(i64, String)>>;

    /// Sets (Some) or removes (None) the bucket's configuration document of `kind`.
    async fn set_bucket_config(&self, bucket_id: i64, kind: &str, document: Option<String>) -> Result<()>;

    /// Sets the bucket's versioning state, checked (`crate::buckets::check_versioning_change`)
    /// against its Object Lock configuration in the same transaction.
    async fn set_versioning(&self, bucket_id: i64, state: Versioning) -> Result<()>;

    /// The bucket's usage counters and quota (zeros and no quota for an unknown bucket id).
    async fn bucket_usage(&self, bucket_id: i64) -> Result<(Usage, Quota)>;

    /// For a bucket with a byte quota, read together: its usage, its quota, and the bytes a
    /// new version of `key` would replace (the `null` version's size unless versioning is
    /// Enabled). None for a bucket without a byte quota.
    async fn byte_quota_for_put(&self, bucket_id: i64, key: &str) -> Result<Option<(Usage, Quota, u64)>>;

    /// Every bucket's usage added up.
    async fn total_usage(&self) -> Result<Usage>;

    /// The bucket's usage, quota and stored bytes (each blob its versions name counted once,
    /// inline bodies by their length), read together. Walks the bucket: for admin commands.
    async fn bucket_space(&self, bucket_id: i64) -> Result<BucketSpace>;

    /// Sets the bucket's quota (None in a field lifts that limit), keeping its counters.
    async fn set_bucket_quota(&self, bucket_id: i64, quota: Quota) -> Result<()>;
}
