//! Garbage collection of blobs: blobs whose reference count fell to zero, and blobs left in
//! the blob store by a crash between publishing a blob and committing the object that named it.
//!
//! The index writer only forgets rows; the blobs themselves are deleted outside it (a remote
//! blob store answers in milliseconds, and even local unlinks should not hold up commits).
//! A blob is deleted under the pin lock after checking that no writer has it pinned and that
//! no committed row names it again, so a concurrent upload of the same bytes either keeps the
//! blob or publishes it afresh after the delete, never loses it.

use crate::blob::{BlobDir, Hash};
use crate::error::Result;
use crate::sqlite::ReadPool;
use crate::{Store, StorageError};
use rusqlite::OptionalExtension;
use std::io;
use std::sync::Arc;

const BATCH: usize = 1000;

impl Store {
    /// Deletes unreferenced blobs, a batch at a time; returns how many were removed (none
    /// while a backup holds the collector back).
    pub async fn collect_garbage(&self) -> Result<usize> {
        let doomed: Vec<Hash> = self
            .writer()
            .write(move |c| {
                if crate::backup::gc_held(c)? {
                    return Ok(Vec::new());
                }
                let hashes: Vec<Vec<u8>> = c
                    .prepare_cached("SELECT hash FROM blobs WHERE refs <= 0 LIMIT ?1")?
                    .query_map([BATCH as i64], |r| r.get(0))?
                    .collect::<rusqlite::Result<_>>()?;
                let mut forget = c.prepare_cached("DELETE FROM blobs WHERE hash = ?1 AND refs <= 0")?;
                for h in &hashes {
                    forget.execute([h])?;
                }
                Ok(hashes.iter().filter_map(|h| Hash::try_from(h.as_slice()).ok()).collect())
            })
            .await?;
        self.delete_unwanted(doomed, Wanted::Referenced).await
    }

    /// Deletes blobs the index has no row for (a crash after the blob was published but
    /// before its object was committed). Returns how many were removed.
    pub async fn sweep_orphans(&self) -> Result<usize> {
        let dir = self.inner.blobs.clone();
        let stored = tokio::task::spawn_blocking(move || dir.list_all()).await.map_err(|_| StorageError::Closed)??;
        self.delete_unwanted(stored, Wanted::Known).await
    }

    /// Deletes those of `hashes` that no writer has pinned and the index does not want.
    pub(crate) async fn remove_orphans(&self, hashes: Vec<Hash>) -> Result<usize> {
        self.delete_unwanted(hashes, Wanted::Known).await
    }

    async fn delete_unwanted(&self, hashes: Vec<Hash>, wanted: Wanted) -> Result<usize> {
        if hashes.is_empty() {
            return Ok(0);
        }
        let (dir, readers) = (self.inner.blobs.clone(), self.readers().clone());
        tokio::task::spawn_blocking(move || delete_unwanted(&dir, &readers, &hashes, wanted)).await.map_err(|_| StorageError::Closed)?
    }
}

/// Which index rows keep a blob.
#[derive(Clone, Copy)]
enum Wanted {
    /// A row with references (the collector: it forgot the row, a commit may have made it again).
    Referenced,
    /// Any row (the orphan sweep: a row at all means the collector's business).
    Known,
}

fn delete_unwanted(dir: &Arc<BlobDir>, readers: &ReadPool, hashes: &[Hash], wanted: Wanted) -> Result<usize> {
    let mut removed = 0;
    for hash in hashes {
        let still_wanted = || {
            readers
                .read_blocking(|c| {
                    let refs: Option<i64> =
                        c.prepare_cached("SELECT refs FROM blobs WHERE hash = ?1")?.query_row([&hash[..]], |r| r.get(0)).optional()?;
                    Ok(match wanted {
                        Wanted::Referenced => refs.is_some_and(|n| n > 0),
                        Wanted::Known => refs.is_some(),
                    })
                })
                .map_err(|e| io::Error::other(e.to_string()))
        };
        if dir.remove_unless_wanted(hash, still_wanted)? {
            removed += 1;
        }
    }
    Ok(removed)
}
