//! Whole-store facts and worker bookkeeping: health, statistics, worker cursors, the tier and
//! remote catalogs, the access-log queue. The contract a metadata store implements for them;
//! `crate::sqlite::service` is SQLite's.

use crate::error::Result;
use crate::blob_store::BlobLocation;
use crate::tiers::{RemoteSpec, TierSpec};
use crate::{AccessLogBacklog, AccessLogBatch, Backlogs, IndexCounts, StoreUsage};

#[async_trait::async_trait]
pub trait ServiceIndex {
    /// The cursor `worker` last saved (a key, a hash, a time: the worker decides), if any.
    async fn worker_cursor(&self, worker: &str) -> Result<Option<String>>;

    /// Forgets every worker cursor whose name starts with `prefix` but not with `keep`.
    async fn forget_worker_cursors(&self, prefix: &str, keep: &str) -> Result<()>;

    /// Saves `worker`'s cursor; None forgets it, so its next pass starts from the beginning.
    async fn set_worker_cursor(&self, worker: &str, cursor: Option<String>) -> Result<()>;

    /// Queues access log `records` as (destination, line), durably.
    async fn queue_access_records(&self, records: Vec<(String, String)>) -> Result<()>;

    /// Every destination with records queued.
    async fn access_log_backlog(&self) -> Result<Vec<AccessLogBacklog>>;

    /// The oldest records queued for `destination`, at most `limit`.
    async fn queued_access_records(&self, destination: &str, limit: usize) -> Result<AccessLogBatch>;

    /// Forgets the records of `destination` up to row `through_seq` (delivered, or dropped
    /// because the target is gone). Returns how many.
    async fn forget_access_records(&self, destination: &str, through_seq: i64) -> Result<u64>;

    /// Bytes the index takes on disk (or wherever it is kept).
    fn index_bytes(&self) -> u64;

    /// What the index holds: users, buckets, versions (inline ones apart), referenced blobs.
    async fn index_counts(&self) -> Result<IndexCounts>;

    /// Returns up to `max_pages` pages of space freed by deletes to the file system, without
    /// holding writers up for longer than that takes; returns the bytes returned (0 when there
    /// is nothing to return, or the store returns space by itself).
    async fn reclaim_space(&self, max_pages: u32) -> Result<u64>;

    /// Usage per bucket and of the whole store. Reads every version row: cache the answer.
    async fn store_usage(&self) -> Result<StoreUsage>;

    /// The backlogs of background work.
    async fn backlogs(&self) -> Result<Backlogs>;

    /// Takes, or renews, the lease named `name` for this index handle (this node) for `ttl`:
    /// true while this node holds it, false while another node's lease runs. A store only
    /// one process uses (SQLite's) always holds every lease.
    async fn hold_lease(&self, name: &str, ttl: std::time::Duration) -> Result<bool>;

    /// Whether the index answers a query.
    async fn ping(&self) -> Result<()>;

    /// The tiers registered in the index, by name.
    async fn tier_specs(&self) -> Result<Vec<TierSpec>>;

    /// Registers a tier; a remote tier's remote must be registered first.
    async fn add_tier(&self, spec: TierSpec) -> Result<()>;

    /// Unregisters a tier that holds no version and has none on its way to it.
    async fn remove_tier(&self, name: &str) -> Result<()>;

    /// The remotes registered in the index, with their sealed secret keys.
    async fn remotes(&self) -> Result<Vec<(RemoteSpec, Vec<u8>)>>;

    /// Registers a remote S3 endpoint with its sealed secret key.
    async fn add_remote(&self, spec: RemoteSpec, sealed_secret: Vec<u8>) -> Result<()>;

    /// Unregisters a remote no registered tier uses.
    async fn remove_remote(&self, name: &str) -> Result<()>;

    /// Where the index says this store's blobs are (None: never recorded, an older data dir
    /// or a new one, whose blobs are in the data dir).
    async fn recorded_blob_location(&self) -> Result<Option<BlobLocation>>;

    /// Records where the blobs are. Fails (returning where they are) once the index names
    /// blobs kept somewhere else: in the recorded place, or in the data dir if none was recorded.
    async fn record_blob_location(&self, location: &BlobLocation) -> Result<std::result::Result<(), BlobLocation>>;
}




