//! What the lifecycle, tiering and restore workers scan and apply.
//! The contract a metadata store implements for them; `crate::sqlite::lifecycle` is SQLite's.
//!
//! Blob bytes are copied by the facade (`crate::placement`, `crate::restore`) before the index
//! is asked to switch a version to them; the index only moves references and placements.

use crate::blob::Hash;
use crate::error::Result;
use crate::events::Requester;
use crate::lifecycle::{AgeCursor, AgeScan, AgedBatch, LifecycleAction, LifecycleVersion};
use crate::model::{Body, ObjectRecord, Segment, Upload};
use crate::objects::DeleteOutcome;
use crate::placement::Moved;
use crate::restore::RestoreStarted;
use crate::tiers::TierSet;
use std::sync::Arc;

/// The re-check `lifecycle_apply` runs on a version as it is inside the transaction.
pub type StillDue = Box<dyn FnOnce(&LifecycleVersion) -> bool + Send>;

/// When a restored copy made at `done_ms` for `days` days expires.
pub type RestoreExpiry = Box<dyn FnOnce(u32, i64) -> i64 + Send>;

/// An index several nodes share runs a bucket's lifecycle pass on one node at a time: while
/// another node holds the bucket, `lifecycle_batch`, `lifecycle_aged` and
/// `uploads_started_before` find nothing for it (see `crate::postgres::lifecycle`).
#[async_trait::async_trait]
pub trait LifecycleIndex {
    /// Buckets that have a configuration document of `kind`, by bucket id, with the document.
    async fn bucket_configs_of_kind(&self, kind: &str) -> Result<Vec<(i64, String)>>;

    /// The versions of at most `max_keys` keys of the bucket in [`lower`, `upper`) (no upper
    /// bound when None), by key, each key's versions newest first
    /// (`crate::lifecycle::key_versions` gives their facts). One read.
    async fn lifecycle_batch(&self, bucket_id: i64, lower: Vec<u8>, upper: Option<Vec<u8>>, max_keys: usize) -> Result<Vec<Vec<LifecycleVersion>>>;

    /// Versions of the kind `scan` visits whose (time, row) is after `after` and whose time is
    /// at most `bound_ms`, oldest first, at most `limit` (see `AgedBatch::of_rows`).
    async fn lifecycle_aged(&self, bucket_id: i64, scan: AgeScan, after: AgeCursor, bound_ms: i64, limit: usize) -> Result<AgedBatch>;

    /// Every version of each of `keys`, each key's newest first, read together.
    async fn lifecycle_keys(&self, bucket_id: i64, keys: Vec<String>) -> Result<Vec<Vec<LifecycleVersion>>>;

    /// In one transaction: reads the versions of `key`, finds row `seq`, and if `still_due`
    /// says that version is still due (and Object Lock does not protect it from a removal),
    /// performs `action` as lifecycle (events queued, replication as for a request delete;
    /// a transition sets the class and the move `crate::lifecycle::transition` says, and
    /// queues LifecycleTransition). None when nothing was done.
    async fn lifecycle_apply(
        &self,
        bucket_id: i64,
        key: &str,
        seq: i64,
        action: LifecycleAction,
        still_due: StillDue,
        tiers: Arc<TierSet>,
    ) -> Result<Option<DeleteOutcome>>;

    /// Uploads of the bucket started at or before `initiated_before_ms`, after upload row
    /// `after_seq`, by row, at most `limit`, with their row numbers.
    async fn uploads_started_before(&self, bucket_id: i64, initiated_before_ms: i64, after_seq: i64, limit: usize) -> Result<Vec<(i64, Upload)>>;

    /// The version at row `seq` with its body, if it still exists.
    async fn version_at(&self, seq: i64) -> Result<Option<(ObjectRecord, Body)>>;

    /// RestoreObject, in one transaction: the version (latest when `version_id` is None) must
    /// be on an archive tier of `tiers` (`TierError::NotArchived`) with no restore under way
    /// (`TierError::RestoreInProgress`). A version with a restored copy keeps it until
    /// `extended_expiry_ms`; else a restore of `days` days is queued. Queues
    /// ObjectRestorePost for `by`. Returns what happened and the version id.
    #[allow(clippy::too_many_arguments)]
    async fn request_restore(
        &self,
        bucket_id: i64,
        key: &str,
        version_id: Option<String>,
        days: u32,
        extended_expiry_ms: i64,
        by: Requester,
        tiers: Arc<TierSet>,
    ) -> Result<(RestoreStarted, String)>;

    /// Row numbers of versions whose restore is waiting, after row `after`, at most `limit`.
    async fn due_restores(&self, after: i64, limit: usize) -> Result<Vec<i64>>;

    /// The blobs `segments` of version row `seq` were copied to the local store from `tier`:
    /// in one transaction, if the version still waits for its restore and is still on `tier`,
    /// the copies get a local reference each, the restore is done now and expires at
    /// `expiry(days, now)`, and ObjectRestoreCompleted is queued. False when it was not
    /// (the copies are then garbage).
    async fn complete_restore(&self, seq: i64, tier: Option<String>, segments: Vec<Segment>, expiry: RestoreExpiry) -> Result<bool>;

    /// Row numbers of versions whose restored copy expired by `now_ms`, soonest first, at
    /// most `limit`.
    async fn expired_restores(&self, now_ms: i64, limit: usize) -> Result<Vec<i64>>;

    /// Drops the restored copy of version row `seq` if it expired by `now_ms`, in one
    /// transaction: its local references released, the restore cleared, ObjectRestoreDelete
    /// queued. False when there was nothing to drop.
    async fn drop_restore(&self, seq: i64, now_ms: i64) -> Result<bool>;

    /// Row numbers of versions with a due move, after row `after`, at most `limit`.
    async fn due_moves(&self, after: i64, limit: usize) -> Result<Vec<i64>>;

    /// How many versions have a move due, and how many a restore waiting, read together.
    async fn tiering_backlog(&self) -> Result<(u64, u64)>;

    /// Records blobs (hash, size) about to be copied to `tier`, unreferenced unless known
    /// already, so a crash before the switch leaves them to the tier collector.
    async fn note_tier_blobs(&self, tier: String, blobs: Vec<(Hash, u64)>) -> Result<()>;

    /// Switches version row `seq` to `to` (None: the local store), its blobs `segments` copied
    /// there already, in one transaction: only if it is still on `from` with the move
    /// `expected_move` due (else `Skipped`); the references move from `from` to `to` and the
    /// move is done.
    async fn switch_placement(&self, seq: i64, from: Option<String>, expected_move: Option<Option<String>>, to: Option<String>, segments: Vec<Segment>) -> Result<Moved>;

    /// Up to `limit` unreferenced tier blobs as (tier, hash); none while a backup holds
    /// garbage collection.
    async fn tier_garbage(&self, limit: usize) -> Result<Vec<(String, Vec<u8>)>>;

    /// Forgets tier blob `hash` of `tier`, removed from the tier, unless it is referenced again.
    async fn forget_tier_blob(&self, tier: String, hash: Vec<u8>) -> Result<()>;
}
