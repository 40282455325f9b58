//! Durable cursors of background workers: where a worker's pass stopped (a key, a hash, a
//! timestamp: the worker decides what the text means), so a restart resumes from there.

use crate::error::Result;
use crate::Store;
use rusqlite::{params, Connection, OptionalExtension};

impl Store {
    /// The cursor `worker` last saved, if any.
    pub async fn worker_cursor(&self, worker: &str) -> Result<Option<String>> {
        let worker = worker.to_string();
        self.readers().read(move |c| read_cursor(c, &worker)).await
    }

    /// Forgets every cursor whose name starts with `prefix` but not with `keep`.
    pub async fn forget_worker_cursors(&self, prefix: &str, keep: &str) -> Result<()> {
        let (prefix, keep) = (prefix.to_string(), keep.to_string());
        self.writer()
            .write(move |c| {
                c.prepare_cached(
                    "DELETE FROM worker_cursors WHERE substr(worker, 1, length(?1)) = ?1 AND substr(worker, 1, length(?2)) != ?2",
                )?
                .execute(params![prefix, keep])?;
                Ok(())
            })
            .await
    }

    /// Saves `worker`'s cursor (None forgets it, so the next pass starts from the beginning).
    pub async fn set_worker_cursor(&self, worker: &str, cursor: Option<String>) -> Result<()> {
        let worker = worker.to_string();
        self.writer().write(move |c| write_cursor(c, &worker, cursor.as_deref())).await
    }
}

/// The cursor `worker` last saved, read on any connection (also one opened outside a `Store`).
pub(crate) fn read_cursor(c: &Connection, worker: &str) -> Result<Option<String>> {
    Ok(c.prepare_cached("SELECT cursor FROM worker_cursors WHERE worker = ?1")?
        .query_row([worker], |r| r.get(0))
        .optional()?)
}

/// Saves (or, with None, forgets) `worker`'s cursor on any connection.
pub(crate) fn write_cursor(c: &Connection, worker: &str, cursor: Option<&str>) -> Result<()> {
    match cursor {
        Some(cursor) => c
            .prepare_cached(
                "INSERT INTO worker_cursors (worker, cursor, updated_ms) VALUES (?1, ?2, ?3)
                 ON CONFLICT(worker) DO UPDATE SET cursor = excluded.cursor, updated_ms = excluded.updated_ms",
            )?
            .execute(params![worker, cursor, crate::now_ms()])?,
        None => c.prepare_cached("DELETE FROM worker_cursors WHERE worker = ?1")?.execute([worker])?,
    };
    Ok(())
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
        let reopened = crate::Store::open(t.store.root()).unwrap();
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
