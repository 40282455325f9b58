//! Whole-store facts and worker bookkeeping: health, statistics, worker cursors, the tier and
//! remote catalogs, the access-log queue. The contract a metadata store implements for them;
//! `crate::sqlite::service` is SQLite's.

use crate::error::Result;

#[async_trait::async_trait]
pub trait ServiceIndex {
    /// The cursor `worker` last saved (a key, a hash, a time: the worker decides), if any.
    async fn worker_cursor(&self, worker: &str) -> Result<Option<String>>;

    /// Forgets every worker cursor whose name starts with `prefix` but not with `keep`.
    async fn forget_worker_cursors(&self, prefix: &str, keep: &str) -> Result<()>;

    /// Saves `worker`'s cursor; None forgets it, so its next pass starts from the beginning.
    async fn set_worker_cursor(&self, worker: &str, cursor: Option<String>) -> Result<()>;
}
