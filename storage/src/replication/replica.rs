//! Writing replicas: of a version on this server (sharing its stored bytes, its part list
//! kept), and of versions replicated here from another Coffer, under the identity they have
//! there. A replica keeps its source's version id and time, so it becomes the latest version
//! only if the bucket has nothing newer; one already written (a retried delivery) is left as
//! it is. Replicas are never queued for replication again. The rows are written by the index
//! (`crate::meta::ReplicationIndex`); this file says what a replica is.

use super::{OutboxItem, Replicated};
use crate::error::Result;
use crate::ingest::Ingested;
use crate::model::{Bucket, ObjectRecord, Placement, ReplicaOf};
use crate::objects::{NewObject, Stored};
use crate::tiers::TierSet;
use crate::Store;

/// The replica in bucket `dest_bucket_id` of local version `src`: the same version, its bytes
/// where they are, no move and no restore of its own.
pub(crate) fn local_replica(src: &ObjectRecord, dest_bucket_id: i64) -> ObjectRecord {
    ObjectRecord {
        bucket_id: dest_bucket_id,
        placement: Placement { tier: src.placement.tier.clone(), moving_to: None, restore: None },
        replication: Some("REPLICA".into()),
        ..src.clone()
    }
}

/// The replica in `bucket_id` of a version that had identity `of` on another server, its
/// bytes `stored` here (with a move due if its storage class belongs on another tier).
pub(crate) fn remote_replica(bucket_id: i64, new: &NewObject, stored: &Stored, of: &ReplicaOf, tiers: &TierSet) -> ObjectRecord {
    let wants = tiers.tier_for_class(new.meta.storage_class.as_deref());
    ObjectRecord {
        bucket_id,
        key: new.key.clone(),
        version_id: of.version_id.clone(),
        is_latest: true,
        delete_marker: false,
        size: stored.size,
        etag: of.etag.clone(),
        modified_ms: of.modified_ms,
        owner_id: new.owner_id.clone(),
        meta: new.meta.clone(),
        placement: Placement {
            tier: stored.tier.map(str::to_string),
            moving_to: (wants != stored.tier).then(|| wants.map(str::to_string)),
            restore: None,
        },
        replication: Some("REPLICA".into()),
    }
}

/// The replica in `bucket_id` of a delete marker that had identity `of` on another server.
pub(crate) fn marker_replica(bucket_id: i64, key: &str, of: &ReplicaOf) -> ObjectRecord {
    ObjectRecord {
        bucket_id,
        key: key.to_string(),
        version_id: of.version_id.clone(),
        is_latest: true,
        delete_marker: true,
        size: 0,
        etag: String::new(),
        modified_ms: of.modified_ms,
        owner_id: String::new(),
        meta: Default::default(),
        placement: Placement::default(),
        replication: Some("REPLICA".into()),
    }
}

/// Whether the latest version `current` of a key is newer than a replica `replica_version`
/// arriving now: version ids are time-ordered, and `null` (written before versioning) is older
/// than any.
pub(crate) fn newer_than_replica(current: &str, replica_version: &str) -> bool {
    current != "null" && current > replica_version
}

impl Store {
    /// Puts the version of `item` into bucket `dest_bucket_id` of this server as a replica,
    /// marks the source COMPLETED and removes the row, all in one transaction.
    pub async fn replicate_here(&self, item: &OutboxItem, dest_bucket_id: i64) -> Result<Replicated> {
        self.index().replicate_here(item.clone(), dest_bucket_id).await
    }

    /// Writes a version replicated from another server (see `crate::sqlite::replication::write_replica`).
    pub async fn put_replica(&self, bucket: &Bucket, new: NewObject, body: Ingested, of: ReplicaOf) -> Result<ObjectRecord> {
        let (bucket_id, tiers) = (bucket.id, self.tiers());
        self.commit_body(body, |body| self.index().put_replica(bucket_id, new, body, of, tiers)).await
    }

    /// Writes a delete marker replicated from another server.
    pub async fn put_marker_replica(&self, bucket_id: i64, key: &str, of: ReplicaOf) -> Result<ObjectRecord> {
        self.index().put_marker_replica(bucket_id, key, of).await
    }
}

#[cfg(test)]
mod tests {
    use crate::testutil::*;
    use crate::{ReplicaOf, Versioning};

    fn of(version: &str, ms: i64) -> ReplicaOf {
        ReplicaOf { version_id: version.into(), modified_ms: ms, etag: String::new() }
    }

    #[tokio::test]
    async fn replicas_arriving_late_or_twice_keep_the_newest_latest() {
        let t = store().await;
        let b = t.store.create_bucket(&t.owner, "dst", "us-east-1").await.unwrap();
        assert!(t.store.put_marker_replica(b.id, "k", of("0002", 2000)).await.is_err(), "an unversioned bucket takes no replicas");
        t.store.set_versioning(b.id, Versioning::Enabled).await.unwrap();
        let newer = t.store.put_marker_replica(b.id, "k", of("0002", 2000)).await.unwrap();
        assert!(newer.is_latest && newer.delete_marker && newer.replication.as_deref() == Some("REPLICA"));
        let older = t.store.put_marker_replica(b.id, "k", of("0001", 1000)).await.unwrap();
        assert!(!older.is_latest, "an older version arriving late is not the latest");
        let again = t.store.put_marker_replica(b.id, "k", of("0002", 2000)).await.unwrap();
        assert_eq!(again.version_id, "0002");
        let (latest, _) = t.store.object(b.id, "k", None).await.unwrap();
        assert_eq!(latest.version_id, "0002");
        let page = t.store.replicated_versions(b.id, None, 10).await.unwrap();
        assert_eq!(page.len(), 2, "a retried delivery wrote nothing new");
    }
}
