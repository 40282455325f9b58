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
use crate::meta::{Index, Wanted};
use crate::{Store, StorageError};
use std::io;
use std::sync::Arc;

const BATCH: usize = 1000;

impl Store {
    /// Deletes unreferenced blobs, a batch at a time; returns how many were removed (none
    /// while a backup holds the collector back).
    pub async fn collect_garbage(&self) -> Result<usize> {
        let doomed = self.index().forget_unreferenced_blobs(BATCH).await?;
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
        let (dir, index) = (self.inner.blobs.clone(), self.inner.index.clone());
        tokio::task::spawn_blocking(move || delete_unwanted(&dir, &*index, &hashes, wanted)).await.map_err(|_| StorageError::Closed)?
    }
}

fn delete_unwanted(dir: &Arc<BlobDir>, index: &dyn Index, hashes: &[Hash], wanted: Wanted) -> Result<usize> {
    let mut removed = 0;
    for hash in hashes {
        let still_wanted = || index.blob_wanted_blocking(hash, wanted).map_err(|e| io::Error::other(e.to_string()));
        if dir.remove_unless_wanted(hash, still_wanted)? {
            removed += 1;
        }
    }
    Ok(removed)
}
