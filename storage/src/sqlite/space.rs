//! Giving freed pages back to the file system. SQLite keeps the pages of deleted rows in its
//! file for reuse; with `auto_vacuum = INCREMENTAL` they can be cut off the end of the file a
//! few at a time (`PRAGMA incremental_vacuum(N)`), in the writer's ordinary transactions, so
//! no writer waits for more than one small step.

use rusqlite::Connection;

/// Indexes up to this size that were made without incremental vacuum are rebuilt with it at
/// start (a VACUUM, about a second per 100 MB here); larger ones keep their free pages.
const CONVERT_AT_START_MAX: u64 = 64 << 20;

/// Turns incremental vacuum on by rebuilding the index (instant for a new one; in WAL mode the
/// setting only takes effect through a VACUUM).
pub(super) fn allow_reclaiming(conn: &Connection) -> rusqlite::Result<()> {
    let mode: i64 = conn.query_row("PRAGMA auto_vacuum", [], |r| r.get(0))?;
    const INCREMENTAL: i64 = 2;
    if mode == INCREMENTAL {
        return Ok(());
    }
    let (pages, page_size): (i64, i64) =
        (conn.query_row("PRAGMA page_count", [], |r| r.get(0))?, conn.query_row("PRAGMA page_size", [], |r| r.get(0))?);
    let bytes = (pages * page_size) as u64;
    if bytes <= CONVERT_AT_START_MAX {
        if bytes > 1 << 20 {
            tracing::info!(bytes, "rebuilding the index once so that freed space can be returned");
        }
        conn.execute_batch("PRAGMA auto_vacuum = INCREMENTAL; VACUUM;")
    } else {
        tracing::warn!(bytes, "the index was made without incremental vacuum and is too large to rebuild at start; space freed in it is reused, not returned");
        Ok(())
    }
}

/// What one reclaiming step did.
pub(super) struct Reclaimed {
    pub bytes: u64,
    /// Free pages still in the file.
    pub left: i64,
}

/// Cuts up to `max_pages` free pages off the end of the file, inside the writer's transaction.
pub(super) fn reclaim(c: &Connection, max_pages: u32) -> crate::Result<Reclaimed> {
    let free: i64 = c.query_row("PRAGMA freelist_count", [], |r| r.get(0))?;
    let mode: i64 = c.query_row("PRAGMA auto_vacuum", [], |r| r.get(0))?;
    if free == 0 || mode != 2 {
        return Ok(Reclaimed { bytes: 0, left: free });
    }
    let pages = free.min(max_pages as i64);
    let page_size: i64 = c.query_row("PRAGMA page_size", [], |r| r.get(0))?;
    // The pragma frees one page per row it steps; run it to the end.
    let mut stmt = c.prepare(&format!("PRAGMA incremental_vacuum({pages})"))?;
    let mut rows = stmt.query([])?;
    while rows.next()?.is_some() {}
    Ok(Reclaimed { bytes: (pages * page_size) as u64, left: free - pages })
}

/// Copies what the log holds into the file as far as no reader needs it (it never waits), so
/// the file shows its new size; the log itself is cut back to `journal_size_limit`.
pub(super) fn checkpoint(c: &Connection) -> crate::Result<()> {
    c.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::testutil::{put, sqlite_store};
    use crate::DeleteOptions;

    fn index_file_bytes(t: &crate::testutil::TestStore) -> u64 {
        std::fs::metadata(t.store.root().join("index.sqlite")).unwrap().len()
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn an_emptied_index_gives_its_space_back() {
        let t = sqlite_store().await;
        let b = t.store.create_bucket(&t.owner, "b", "us-east-1").await.unwrap();
        let body = vec![7u8; 3000];
        let puts = (0..8000).map(|i| {
            let (t, b, body) = (&t, &b, &body);
            async move { put(t, b, &format!("k{i:05}"), body).await.unwrap() }
        });
        futures::future::join_all(puts).await;
        let keys: Vec<(String, Option<String>)> = (0..8000).map(|i| (format!("k{i:05}"), None)).collect();
        for chunk in keys.chunks(1000) {
            t.store.delete_objects(b.id, chunk.to_vec(), Default::default(), DeleteOptions::default()).await.unwrap();
        }
        let mut returned = 0;
        loop {
            let step = t.store.reclaim_index_space(1024).await.unwrap();
            if step == 0 {
                break;
            }
            returned += step;
        }
        let after = index_file_bytes(&t);
        assert!(returned > 20 << 20, "returned {returned} bytes");
        assert!(after < 2 << 20, "the index file is still {after} bytes");
    }
}
