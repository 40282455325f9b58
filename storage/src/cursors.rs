//! Durable cursors of background workers: where a worker's pass stopped (a key, a hash, a
//! timestamp: the worker decides what the text means), so a restart resumes from there; and
//! the leases that let one node of several sharing an index run a fleet-wide job.

use crate::error::Result;
use crate::Store;

impl Store {
    /// The cursor `worker` last saved, if any.
    pub async fn worker_cursor(&self, worker: &str) -> Result<Option<String>> {
        self.index().worker_cursor(worker).await
    }

    /// Forgets every cursor whose name starts with `prefix` but not with `keep`.
    pub async fn forget_worker_cursors(&self, prefix: &str, keep: &str) -> Result<()> {
        self.index().forget_worker_cursors(prefix, keep).await
    }

    /// Saves `worker`'s cursor (None forgets it, so the next pass starts from the beginning).
    pub async fn set_worker_cursor(&self, worker: &str, cursor: Option<String>) -> Result<()> {
        self.index().set_worker_cursor(worker, cursor).await
    }

    /// Takes or renews the lease `name` for this node for `ttl`: true while this node holds
    /// it (always, for a store on SQLite, which one process uses), false while another node's
    /// runs. A node that stops renewing loses it when `ttl` lapses.
    pub async fn hold_lease(&self, name: &str, ttl: std::time::Duration) -> Result<bool> {
        self.index().hold_lease(name, ttl).await
    }
}

#[cfg(test)]
mod tests {
    use crate::testutil::store;

    #[tokio::test]
    async fn cursors_survive_reopening() {
        let t = store().await;
        assert_eq!(t.store.worker_cursor("scrub").await.unwrap(), None);
        t.store.set_worker_cursor("scrub", Some("ab12".into())).await.unwrap();
        t.store.set_worker_cursor("scrub", Some("cd34".into())).await.unwrap();
        let reopened = t.reopen();
        assert_eq!(reopened.worker_cursor("scrub").await.unwrap().as_deref(), Some("cd34"));
        reopened.set_worker_cursor("scrub", None).await.unwrap();
        assert_eq!(reopened.worker_cursor("scrub").await.unwrap(), None);
        for name in ["lc:1:old:a", "lc:1:new:a", "lc:2:old:a"] {
            reopened.set_worker_cursor(name, Some("x".into())).await.unwrap();
        }
        reopened.forget_worker_cursors("lc:1:", "lc:1:new:").await.unwrap();
        assert_eq!(reopened.worker_cursor("lc:1:old:a").await.unwrap(), None);
        assert!(reopened.worker_cursor("lc:1:new:a").await.unwrap().is_some());
        assert!(reopened.worker_cursor("lc:2:old:a").await.unwrap().is_some());
    }
}
