//! Each bucket's usage (objects, versions, bytes), kept current by the index's triggers, and
//! its quota, checked inside the commit of every new version so concurrent writes cannot pass it.

use crate::error::{Result, StorageError};
use crate::Store;
use serde::Serialize;

/// How much of the store a bucket's versions use, as the triggers of migration 14 count it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Usage {
    /// Keys whose latest version is an object (not a delete marker).
    pub objects: u64,
    /// Versions that are objects, current or not.
    pub versions: u64,
    pub delete_markers: u64,
    /// The sizes of all those versions added up (what clients wrote, before dedup).
    pub logical_bytes: u64,
}

/// A bucket's limits; None is no limit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Quota {
    pub max_bytes: Option<u64>,
    pub max_objects: Option<u64>,
}

impl Quota {
    pub fn is_set(&self) -> bool {
        self.max_bytes.is_some() || self.max_objects.is_some()
    }

    /// Why `after` is refused when the bucket held `before`: a write may not grow past a
    /// limit (one that shrinks or keeps a count already past it is let through).
    fn refusal(&self, before: &Usage, after: &Usage) -> Option<String> {
        if let Some(max) = self.max_bytes {
            if after.logical_bytes > max && after.logical_bytes > before.logical_bytes {
                return Some(format!(
                    "The bucket's quota of {max} bytes would be exceeded: it holds {} bytes and this write adds {}.",
                    before.logical_bytes,
                    after.logical_bytes - before.logical_bytes
                ));
            }
        }
        if let Some(max) = self.max_objects {
            if after.objects > max && after.objects > before.objects {
                return Some(format!("The bucket's quota of {max} objects would be exceeded: it holds {} objects.", before.objects));
            }
        }
        None
    }

    /// `QuotaExceeded` (saying why) if `after` is refused when the bucket held `before`.
    pub(crate) fn check(&self, before: &Usage, after: &Usage) -> Result<()> {
        match self.refusal(before, after) {
            Some(why) => Err(StorageError::QuotaExceeded(why)),
            None => Ok(()),
        }
    }
}

/// What `coffer admin bucket info` shows of a bucket's space.
#[derive(Clone, Debug, Serialize)]
pub struct BucketSpace {
    #[serde(flatten)]
    pub usage: Usage,
    /// Bytes on disk (or on tiers) the bucket's versions name, each blob counted once: less
    /// than the logical bytes where versions share bytes (copies, identical uploads), more
    /// where encryption adds its tags. Blobs shared with other buckets count in each.
    pub stored_bytes: u64,
    pub quota: Quota,
}

impl Store {
    /// The bucket's usage and quota (zeros and no quota for an unknown bucket id).
    pub async fn bucket_usage(&self, bucket_id: i64) -> Result<(Usage, Quota)> {
        self.index().bucket_usage(bucket_id).await
    }

    /// Whether a new version of `key` of `size` bytes could fit the bucket's byte quota now
    /// (the commit checks again): lets a PUT be refused before its body is received. An
    /// overwrite in a bucket without versioning counts as replacing the `null` version.
    pub async fn check_quota(&self, bucket_id: i64, key: &str, size: u64) -> Result<()> {
        let Some((before, quota, replaced)) = self.index().byte_quota_for_put(bucket_id, key).await? else { return Ok(()) };
        let after = Usage { logical_bytes: (before.logical_bytes + size).saturating_sub(replaced), ..before };
        quota.check(&before, &after)
    }

    /// Every bucket's usage added up.
    pub async fn total_usage(&self) -> Result<Usage> {
        self.index().total_usage().await
    }

    /// The bucket's usage and quota, and the bytes it stores: this walks the bucket's
    /// versions, so it is for admin commands, not requests.
    pub async fn bucket_space(&self, bucket_id: i64) -> Result<BucketSpace> {
        self.index().bucket_space(bucket_id).await
    }

    /// Sets the bucket's quota (None in a field lifts that limit).
    pub async fn set_bucket_quota(&self, bucket_id: i64, quota: Quota) -> Result<()> {
        self.index().set_bucket_quota(bucket_id, quota).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::*;
    use crate::{DeleteOptions, Versioning};

    #[tokio::test]
    async fn the_triggers_count_every_version_and_marker() {
        let t = store().await;
        let b = t.store.create_bucket(&t.owner, "b", "us-east-1").await.unwrap();
        put(&t, &b, "a", b"12345").await.unwrap();
        put(&t, &b, "a", b"123").await.unwrap();
        put(&t, &b, "big", &vec![1u8; 100_000]).await.unwrap();
        let (u, _) = t.store.bucket_usage(b.id).await.unwrap();
        assert_eq!(u, Usage { objects: 2, versions: 2, delete_markers: 0, logical_bytes: 100_003 });
        t.store.set_versioning(b.id, Versioning::Enabled).await.unwrap();
        put(&t, &b, "a", b"1234567").await.unwrap();
        t.store.delete_object(b.id, "big", None, Default::default(), DeleteOptions::default()).await.unwrap();
        let (u, _) = t.store.bucket_usage(b.id).await.unwrap();
        assert_eq!(u, Usage { objects: 1, versions: 3, delete_markers: 1, logical_bytes: 100_010 });
        put(&t, &b, "copy-of-big", &vec![1u8; 100_000]).await.unwrap();
        let space = t.store.bucket_space(b.id).await.unwrap();
        assert_eq!(space.usage.logical_bytes, 200_010);
        assert_eq!(space.stored_bytes, 100_010, "identical bytes are stored once");
    }

    #[tokio::test]
    async fn a_write_past_the_quota_is_refused_and_leaves_nothing() {
        let t = store().await;
        let b = t.store.create_bucket(&t.owner, "b", "us-east-1").await.unwrap();
        t.store.set_bucket_quota(b.id, Quota { max_bytes: Some(10), max_objects: Some(2) }).await.unwrap();
        put(&t, &b, "a", b"123456").await.unwrap();
        assert!(matches!(put(&t, &b, "b", b"123456").await, Err(StorageError::QuotaExceeded(_))));
        assert!(matches!(t.store.object(b.id, "b", None).await, Err(StorageError::NoSuchKey)));
        assert!(matches!(t.store.check_quota(b.id, "b", 6).await, Err(StorageError::QuotaExceeded(_))));
        t.store.check_quota(b.id, "a", 10).await.expect("an overwrite replaces the null version");
        put(&t, &b, "a", b"1234567890").await.expect("an overwrite within the quota");
        t.store.set_bucket_quota(b.id, Quota { max_bytes: Some(5), max_objects: Some(1) }).await.unwrap();
        put(&t, &b, "a", b"12345678").await.expect("a bucket already past its quota may shrink");
        assert!(matches!(put(&t, &b, "c", b"").await, Err(StorageError::QuotaExceeded(_))));
        t.store.set_bucket_quota(b.id, Quota::default()).await.unwrap();
        put(&t, &b, "c", &vec![0u8; 100_000]).await.unwrap();
        let (u, q) = t.store.bucket_usage(b.id).await.unwrap();
        assert_eq!((u.objects, u.logical_bytes, q), (2, 100_008, Quota::default()));
    }
}
