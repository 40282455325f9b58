//! Buckets: creation with S3's ownership rules, lookup, listing per owner, deletion when empty.

use crate::error::{Result, StorageError};
use crate::model::{Bucket, User, Versioning};
use crate::Store;

impl Store {
    pub async fn create_bucket(&self, owner: &User, name: &str, region: &str) -> Result<Bucket> {
        self.index().create_bucket(owner.clone(), name, region).await
    }

    /// The bucket called `name`, or `NoSuchBucket`. What is cached of its configuration goes
    /// if another node changed it since (see `config_cache`).
    pub async fn bucket(&self, name: &str) -> Result<Bucket> {
        let bucket = self.index().bucket_by_name(name).await?.ok_or(StorageError::NoSuchBucket)?;
        self.inner.configs.observe(bucket.id, bucket.config_gen);
        Ok(bucket)
    }

    /// The configuration generation last seen of bucket `bucket_id` (see `Bucket::config_gen`):
    /// a cache of what its documents say is good while this stays the same.
    pub fn config_generation(&self, bucket_id: i64) -> i64 {
        self.inner.configs.seen(bucket_id)
    }

    /// Buckets owned by `owner_id`, by name.
    pub async fn list_buckets(&self, owner_id: &str) -> Result<Vec<Bucket>> {
        self.index().list_buckets(owner_id).await
    }

    /// Every bucket, by name (for the admin commands).
    pub async fn all_buckets(&self) -> Result<Vec<Bucket>> {
        self.index().all_buckets().await
    }

    /// The kinds of configuration documents a bucket has (e.g. "policy", "lifecycle").
    pub async fn bucket_config_kinds(&self, bucket_id: i64) -> Result<Vec<String>> {
        self.index().bucket_config_kinds(bucket_id).await
    }

    /// Deletes an empty bucket (no object versions or delete markers left).
    pub async fn delete_bucket(&self, name: &str) -> Result<()> {
        let id = self.index().delete_bucket(name).await?;
        // A later bucket may get this id; it must not see this one's documents.
        self.inner.configs.invalidate(id, None);
        Ok(())
    }

    /// A configuration document of a bucket (`kind` names it, e.g. "tagging"), if set.
    /// How long a bucket configuration read from the index may be trusted before reading it
    /// again (None: until this process changes it; Some while other nodes share the index).
    pub fn config_max_age(&self) -> Option<std::time::Duration> {
        self.inner.configs.max_age()
    }

    pub async fn bucket_config(&self, bucket_id: i64, kind: &str) -> Result<Option<String>> {
        if let Some(cached) = self.inner.configs.get(bucket_id, kind) {
            return Ok(cached);
        }
        let since = self.inner.configs.generation();
        let doc = self.index().bucket_config(bucket_id, kind).await?;
        self.inner.configs.fill(since, bucket_id, kind, doc.clone());
        Ok(doc)
    }

    /// The (id, name) of every bucket with a configuration document of `kind`.
    pub async fn buckets_with_config(&self, kind: &str) -> Result<Vec<(i64, String)>> {
        self.index().buckets_with_config(kind).await
    }

    /// Sets (Some) or removes (None) a configuration document of a bucket.
    pub async fn set_bucket_config(&self, bucket_id: i64, kind: &str, document: Option<String>) -> Result<()> {
        let result = self.index().set_bucket_config(bucket_id, kind, document).await;
        // Also after a failed write: whatever the index holds now is read again.
        self.inner.configs.invalidate(bucket_id, Some(kind));
        result
    }

    /// Sets the bucket's versioning state (Enabled or Suspended).
    pub async fn set_versioning(&self, bucket_id: i64, state: Versioning) -> Result<()> {
        self.index().set_versioning(bucket_id, state).await
    }
}

/// Refuses to leave versioning Enabled while Object Lock is on (`lock_enabled` asks the index,
/// only when that matters).
pub(crate) fn check_versioning_change(state: Versioning, lock_enabled: impl FnOnce() -> Result<bool>) -> Result<()> {
    if state != Versioning::Enabled && lock_enabled()? {
        return Err(StorageError::InvalidBucketState("An Object Lock configuration is present on this bucket, so the versioning state cannot be changed."));
    }
    Ok(())
}
