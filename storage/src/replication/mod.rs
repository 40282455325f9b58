//! The replication outbox. A bucket's routes (which keys go where, written by the server from
//! its replication rules) are read inside the commit of every new version: a version a route
//! takes gets an outbox row in that same transaction and the status PENDING, so no
//! crash can lose it. A worker drains the rows; a replica on this server is written here, sharing the
//! source's stored bytes and keeping its version id, time and ETag, in one transaction that
//! also marks the source COMPLETED and deletes the row. Replicas are never routed again.

mod queue;
mod replica;
mod resync;

pub use queue::{ReplicationRoute, ROUTES_KIND};
pub(crate) use queue::REPLICATE_KIND;
pub(crate) use replica::{local_replica, marker_replica, newer_than_replica, remote_replica};
pub use resync::{ResyncCursor, ResyncStep};
pub(crate) use resync::{resync_bucket, resync_wants, RESYNC_CURSOR_PREFIX};

use crate::error::Result;
use crate::Store;

/// One row of the outbox.
#[derive(Clone, Debug)]
pub struct OutboxItem {
    pub seq: i64,
    pub bucket_id: i64,
    pub key: String,
    pub version_id: String,
    pub target: String,
    pub attempts: u32,
    /// Queued by a resync: the target may have the version already, so ask it first.
    pub check_first: bool,
}

/// What replicating a version to a remote target came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplicationOutcome {
    pub remote_version_id: Option<String>,
    pub error: Option<String>,
}

/// One version of a bucket with a replication status, and where it went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplicatedVersion {
    pub key: String,
    pub version_id: String,
    pub status: String,
    pub target: Option<String>,
    pub outcome: Option<ReplicationOutcome>,
}

/// What replicating one item did.
#[derive(Debug, PartialEq, Eq)]
pub enum Replicated {
    /// The replica exists now (or did already).
    Done,
    /// The source version is gone: nothing to replicate.
    SourceGone,
}

/// A bucket's replication, as `coffer admin replication status` shows it.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ReplicationStatus {
    pub pending: u64,
    pub pending_bytes: u64,
    pub completed: u64,
    pub failed: u64,
    pub failed_bytes: u64,
    /// When the oldest row still in the outbox was written.
    pub oldest_pending_ms: Option<i64>,
    /// The last error of a row being retried.
    pub last_error: Option<String>,
}

impl Store {
    /// Counts of a bucket's versions by replication status (a scan of the bucket's rows), and
    /// its outbox's oldest row and last error.
    pub async fn replication_status(&self, bucket_id: i64) -> Result<ReplicationStatus> {
        self.index().replication_status(bucket_id).await
    }

    /// Outbox rows due by `now_ms`, oldest due first, at most `limit`.
    pub async fn due_replications(&self, now_ms: i64, limit: usize) -> Result<Vec<OutboxItem>> {
        self.index().due_replications(now_ms, limit).await
    }

    /// How many versions wait in the outbox.
    pub async fn replication_backlog(&self) -> Result<u64> {
        self.index().replication_backlog().await
    }

    /// Leaves the row for later: the error is transient.
    pub async fn retry_replication(&self, seq: i64, error: String, due_ms: i64) -> Result<()> {
        self.index().retry_replication(seq, error, due_ms).await
    }

    /// Gives up on the row: the error is permanent; the source is marked FAILED and the
    /// reason kept.
    pub async fn fail_replication(&self, item: &OutboxItem, error: String) -> Result<()> {
        tracing::warn!(key = %item.key, version = %item.version_id, destination = %item.target, "replication failed for good: {error}");
        self.index().fail_replication(item.clone(), error).await
    }

    /// The version of `item` reached its remote target, where it has `remote_version_id`.
    pub async fn complete_replication(&self, item: &OutboxItem, remote_version_id: Option<String>) -> Result<()> {
        self.index().complete_replication(item.clone(), remote_version_id).await
    }

    /// A page of a bucket's versions that have a replication status, in key and version order
    /// after `after`, with the outcome of remote replication where there is one.
    pub async fn replicated_versions(&self, bucket_id: i64, after: Option<(String, String)>, limit: usize) -> Result<Vec<ReplicatedVersion>> {
        self.index().replicated_versions(bucket_id, after, limit).await
    }

    /// The route of `bucket_id` that replicates to `target`, if its rules still have one.
    pub async fn replication_route(&self, bucket_id: i64, target: &str) -> Result<Option<ReplicationRoute>> {
        let Some(doc) = self.bucket_config(bucket_id, ROUTES_KIND).await? else { return Ok(None) };
        let routes: Vec<ReplicationRoute> = serde_json::from_str(&doc)?;
        Ok(routes.into_iter().find(|r| r.target == target))
    }

    /// Drops an outbox row whose version is gone.
    pub async fn forget_replication(&self, seq: i64) -> Result<()> {
        self.index().forget_replication(seq).await
    }

    /// What replicating a version to a remote target came to: the version id it has there,
    /// or the reason it failed.
    pub async fn replication_outcome(&self, bucket_id: i64, key: &str, version_id: &str, target: &str) -> Result<Option<ReplicationOutcome>> {
        self.index().replication_outcome(bucket_id, key, version_id, target).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::*;
    use crate::{now_ms, Versioning, INLINE_MAX};

    #[tokio::test]
    async fn routed_versions_are_queued_in_their_commit_and_replicated_with_their_identity() {
        let t = store().await;
        let src = t.store.create_bucket(&t.owner, "src", "us-east-1").await.unwrap();
        let dst = t.store.create_bucket(&t.owner, "dst", "us-east-1").await.unwrap();
        for b in [&src, &dst] {
            t.store.set_versioning(b.id, Versioning::Enabled).await.unwrap();
        }
        let route = ReplicationRoute { rule_id: "r".into(), prefixes: vec!["docs/".into()], tags: vec![], delete_markers: true, target: "arn:aws:s3:::dst".into(), storage_class: None, replica_kms_key_id: None };
        t.store.set_bucket_config(src.id, ROUTES_KIND, Some(serde_json::to_string(&vec![route]).unwrap())).await.unwrap();

        let big = vec![5u8; INLINE_MAX * 2];
        let rec = put(&t, &src, "docs/a", &big).await.unwrap();
        assert_eq!(rec.replication.as_deref(), Some("PENDING"));
        assert_eq!(put(&t, &src, "other", b"x").await.unwrap().replication, None);
        t.store.delete_object(src.id, "docs/a", None, Default::default(), crate::DeleteOptions::default()).await.unwrap();
        let due = t.store.due_replications(now_ms(), 10).await.unwrap();
        assert_eq!(due.len(), 2, "the version and the delete marker");
        for item in &due {
            assert_eq!(t.store.replicate_here(item, dst.id).await.unwrap(), Replicated::Done);
        }
        assert!(t.store.due_replications(now_ms(), 10).await.unwrap().is_empty());

        let (copy, body) = t.store.object(dst.id, "docs/a", Some(&rec.version_id)).await.unwrap();
        assert_eq!((copy.etag.as_str(), copy.modified_ms, copy.replication.as_deref()), (rec.etag.as_str(), rec.modified_ms, Some("REPLICA")));
        assert_eq!(read_all(&t, &copy, &body, 0, copy.size).await, big);
        let (latest, _) = t.store.object(dst.id, "docs/a", None).await.unwrap();
        assert!(latest.delete_marker, "the delete marker replicated and is the latest there too");
        let (source, _) = t.store.object(src.id, "docs/a", Some(&rec.version_id)).await.unwrap();
        assert_eq!(source.replication.as_deref(), Some("COMPLETED"));
        // The bytes are shared: one blob file for both.
        assert_eq!(t.store.inner.blobs.list_all().unwrap().len(), 1);

        let status = t.store.replication_status(src.id).await.unwrap();
        assert_eq!((status.completed, status.pending, status.failed, status.oldest_pending_ms), (2, 0, 0, None));

        // A version removed before its turn is dropped from the outbox.
        let gone = put(&t, &src, "docs/b", b"y").await.unwrap();
        t.store.delete_object(src.id, "docs/b", Some(&gone.version_id), Default::default(), crate::DeleteOptions::default()).await.unwrap();
        let item = t.store.due_replications(now_ms(), 10).await.unwrap().remove(0);
        assert_eq!(t.store.replicate_here(&item, dst.id).await.unwrap(), Replicated::SourceGone);
    }
}
