//! Garbage collection of blob files: blobs whose reference count fell to zero, and files left
//! on disk by a crash between publishing a blob and committing the object that named it.

use crate::blob::Hash;
use crate::error::Result;
use crate::Store;

const BATCH: usize = 1000;

impl Store {
    /// Deletes unreferenced blobs. Runs in the writer so no commit can interleave; returns how
    /// many blobs were removed (none while a backup holds the collector back).
    pub async fn collect_garbage(&self) -> Result<usize> {
        let dir = self.inner.blobs.clone();
        self.writer()
            .write(move |c| {
                if crate::backup::gc_held(c)? {
                    return Ok(0);
                }
                let hashes: Vec<Vec<u8>> = c
                    .prepare_cached("SELECT hash FROM blobs WHERE refs <= 0 LIMIT ?1")?
                    .query_map([BATCH as i64], |r| r.get(0))?
                    .collect::<rusqlite::Result<_>>()?;
                let mut removed = 0;
                for h in hashes {
                    let Ok(hash) = <[u8; 32]>::try_from(h.as_slice()) else { continue };
                    if dir.remove_unless_pinned(&hash)? {
                        c.prepare_cached("DELETE FROM blobs WHERE hash = ?1 AND refs <= 0")?.execute([&hash[..]])?;
                        removed += 1;
                    }
                }
                Ok(removed)
            })
            .await
    }

    /// Deletes blob files the index has no row for (a crash after the file was published but
    /// before its object was committed). Returns how many were removed.
    pub async fn sweep_orphans(&self) -> Result<usize> {
        let dir = self.inner.blobs.clone();
        let on_disk = tokio::task::spawn_blocking(move || dir.list_all()).await.map_err(|_| crate::StorageError::Closed)??;
        let mut removed = 0;
        for batch in on_disk.chunks(BATCH) {
            removed += self.remove_orphans(batch.to_vec()).await?;
        }
        Ok(removed)
    }

    /// Deletes those of `hashes` that the index has no row for and no writer has pinned.
    /// Runs in the writer, so no commit naming one of them can interleave.
    pub(crate) async fn remove_orphans(&self, hashes: Vec<Hash>) -> Result<usize> {
        let dir = self.inner.blobs.clone();
        self.writer()
            .write(move |c| {
                let mut n = 0;
                let mut known = c.prepare_cached("SELECT EXISTS(SELECT 1 FROM blobs WHERE hash = ?1)")?;
                for hash in hashes {
                    let exists: bool = known.query_row([&hash[..]], |r| r.get(0))?;
                    if !exists && dir.remove_unless_pinned(&hash)? {
                        n += 1;
                    }
                }
                Ok(n)
            })
            .await
    }
}
