//! The replication outbox, its per-target outcomes, replicas written here, and resync.
//! The contract a metadata store implements for them; `crate::sqlite::replication` is SQLite's.
//!
//! Versions are queued (an outbox row, status PENDING) inside the commit that writes them, by
//! that commit's own operation, when a route of the bucket takes them
//! (`crate::replication::ReplicationRoute::takes`).

use crate::error::Result;
use crate::meta::NewBody;
use crate::objects::NewObject;
use crate::tiers::TierSet;
use std::sync::Arc;
use crate::model::{ObjectRecord, ReplicaOf};
use crate::replication::{OutboxItem, ReplicatedVersion, Replicated, ReplicationOutcome, ReplicationStatus, ResyncStep};

#[async_trait::async_trait]
pub trait ReplicationIndex {
    /// Writes a version replicated from another server as `of` says (its version id, time
    /// and ETag), naming `body`, in one transaction; a replica already here is returned as
    /// it is, and an older replica does not become the latest over a newer version.
    async fn put_replica(&self, bucket_id: i64, new: NewObject, body: NewBody, of: ReplicaOf, tiers: Arc<TierSet>) -> Result<ObjectRecord>;

    /// Counts (and bytes) of a bucket's versions by replication status, with its outbox's
    /// oldest row time and latest error, read together.
    async fn replication_status(&self, bucket_id: i64) -> Result<ReplicationStatus>;

    /// Outbox rows (replications and resyncs) due by `now_ms`, oldest due first, at most `limit`.
    /// An index several nodes share hands a row to one caller at a time: a row returned is not
    /// returned again until it is settled (retried, failed, completed, replicated, forgotten)
    /// or a while has passed (`crate::postgres::replication::CLAIM_MS`).
    async fn due_replications(&self, now_ms: i64, limit: usize) -> Result<Vec<OutboxItem>>;

    /// How many rows the outbox holds.
    async fn replication_backlog(&self) -> Result<u64>;

    /// Row `seq` failed for a transient reason: counts the attempt, keeps `error` and makes
    /// the row due again at `due_ms`. A row that is gone is no error.
    async fn retry_replication(&self, seq: i64, error: String, due_ms: i64) -> Result<()>;

    /// Gives up on `item` for good, in one transaction: queues the source version's
    /// ReplicationOperationFailedReplication event (if the version still exists), marks it
    /// FAILED, keeps `error` as its outcome for the target, and removes the row.
    async fn fail_replication(&self, item: OutboxItem, error: String) -> Result<()>;

    /// `item` reached its remote target, where it has `remote_version_id`: in one transaction
    /// the source is marked COMPLETED, the outcome kept and the row removed.
    async fn complete_replication(&self, item: OutboxItem, remote_version_id: Option<String>) -> Result<()>;

    /// A page of a bucket's versions that have a replication status, in (key, version id)
    /// order after `after`, at most `limit`, each with its remote outcome if it has one.
    async fn replicated_versions(&self, bucket_id: i64, after: Option<(String, String)>, limit: usize) -> Result<Vec<ReplicatedVersion>>;

    /// Drops outbox row `seq` (its version is gone). A row already gone is no error.
    async fn forget_replication(&self, seq: i64) -> Result<()>;

    /// The outcome of replicating one version to `target`, if it was delivered or failed.
    async fn replication_outcome(&self, bucket_id: i64, key: &str, version_id: &str, target: &str) -> Result<Option<ReplicationOutcome>>;

    /// Replicates `item` into bucket `dest_bucket_id` of this store, in one transaction: the
    /// replica (sharing the source's stored bytes and part list, keeping its version id, time
    /// and ETag; left alone if it exists already), the source marked COMPLETED, the row
    /// removed. `SourceGone` (and the row removed) when the source version no longer exists.
    /// Errors: `NoSuchBucket`; `Replication` when the destination is not versioned.
    async fn replicate_here(&self, item: OutboxItem, dest_bucket_id: i64) -> Result<Replicated>;

    /// Writes a delete marker replicated from another server under the identity `of` it had
    /// there; it becomes the latest version unless the bucket has a newer one. One already
    /// written (a retried delivery) is returned as it is. Same errors as `replicate_here`.
    async fn put_marker_replica(&self, bucket_id: i64, key: &str, of: ReplicaOf) -> Result<ObjectRecord>;

    /// One step of the longest-idle running resync that no other node is stepping (a worker cursor under
    /// `crate::replication::RESYNC_CURSOR_PREFIX`), in one transaction: walks up to `limit`
    /// versions after its cursor in (key, version id) order, queues the ones
    /// `crate::replication::resync_wants` and a route take as resync rows (PENDING), and
    /// advances the cursor, or forgets it when the walk is finished. None when none runs.
    async fn resync_step(&self, limit: usize) -> Result<Option<ResyncStep>>;
}
