//! SQLite's ServiceIndex: whole-store facts and worker bookkeeping (health, statistics, worker
//! cursors, the tier and remote catalogs, the access-log queue).

use super::SqliteIndex;
use crate::error::Result;
use crate::meta::ServiceIndex;
use rusqlite::{params, Connection, OptionalExtension};

#[async_trait::async_trait]
impl ServiceIndex for SqliteIndex {
    async fn worker_cursor(&self, worker: &str) -> Result<Option<String>> {
        let worker = worker.to_string();
        self.readers.read(move |c| read_cursor(c, &worker)).await
    }

    async fn forget_worker_cursors(&self, prefix: &str, keep: &str) -> Result<()> {
        let (prefix, keep) = (prefix.to_string(), keep.to_string());
        self.writer
            .write(move |c| {
                c.prepare_cached(
                    "DELETE FROM worker_cursors WHERE substr(worker, 1, length(?1)) = ?1 AND substr(worker, 1, length(?2)) != ?2",
                )?
                .execute(params![prefix, keep])?;
                Ok(())
            })
            .await
    }

    async fn set_worker_cursor(&self, worker: &str, cursor: Option<String>) -> Result<()> {
        let worker = worker.to_string();
        self.writer.write(move |c| write_cursor(c, &worker, cursor.as_deref())).await
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
