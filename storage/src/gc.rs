//! Garbage collection of blobs: blobs whose reference count fell to zero, and blobs left in
//! the blob store by a crash between publishing a blob and committing the object that named it.
//!
//! On a shared index the collector follows the protocol of generations and holds described
//! in `crate::postgres::blobs`, which makes it safe across nodes.
//!
//! The index writer only forgets rows; the blobs themselves are deleted outside it (a remote
//! blob store answers in milliseconds, and even local unlinks should not hold up commits).
//! A blob is deleted under the pin lock after checking that no writer has it pinned and that
//! no committed row names it again, so a concurrent upload of the same bytes either keeps the
//! blob or publishes it afresh after the delete, never loses it.

use crate::blob::BlobDir;
use crate::blob_store::BlobKey;
use crate::error::Result;
use crate::meta::{Index, Wanted};
use crate::{Store, StorageError};
use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

const BATCH: usize = 1000;

impl Store {
    /// Deletes unreferenced blobs, a batch at a time, and the blobs of bodies dropped before a
    /// commit named them (`PublishedBlob`); returns how many were removed (no unreferenced
    /// ones while a backup holds the collector back).
    pub async fn collect_garbage(&self) -> Result<usize> {
        let unnamed = self.inner.blobs.take_unnamed();
        let removed = if unnamed.is_empty() { 0 } else { self.remove_orphans(unnamed).await? };
        let doomed = self.index().forget_unreferenced_blobs(BATCH).await?;
        Ok(removed + self.delete_taken(doomed, Wanted::Referenced).await?)
    }

    /// Deletes blobs the index has no row for (a crash after the blob was published but
    /// before its object was committed). Returns how many were removed.
    pub async fn sweep_orphans(&self) -> Result<usize> {
        let dir = self.inner.blobs.clone();
        let stored = tokio::task::spawn_blocking(move || dir.list_all()).await.map_err(|_| StorageError::Closed)??;
        Ok(self.delete_unwanted(stored, Wanted::Known).await?.len())
    }

    /// After a write that reserved and put `keys` failed: deletes those nothing references
    /// and no writer has pinned.
    pub(crate) async fn remove_orphans(&self, keys: Vec<BlobKey>) -> Result<usize> {
        let released = self.index().release_blobs(keys).await?;
        self.delete_taken(released, Wanted::Known).await
    }

    /// Deletes the blobs the index gave up (as `wanted` says), and tells it which are gone.
    async fn delete_taken(&self, taken: Vec<BlobKey>, wanted: Wanted) -> Result<usize> {
        let removed = self.delete_unwanted(taken, wanted).await?;
        for key in &removed {
            self.index().blob_deleted(*key).await?;
        }
        Ok(removed.len())
    }

    /// Deletes those of `keys` that no writer has pinned and the index does not want; returns
    /// the ones it deleted.
    async fn delete_unwanted(&self, keys: Vec<BlobKey>, wanted: Wanted) -> Result<Vec<BlobKey>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let (dir, index) = (self.inner.blobs.clone(), self.inner.index.clone());
        tokio::task::spawn_blocking(move || delete_unwanted(&dir, &*index, keys, wanted)).await.map_err(|_| StorageError::Closed)?
    }
}

fn delete_unwanted(dir: &Arc<BlobDir>, index: &dyn Index, keys: Vec<BlobKey>, wanted: Wanted) -> Result<Vec<BlobKey>> {
    let mut removed = Vec::new();
    let mut pace = FreeingPace::start();
    for key in keys {
        let still_wanted = || index.blob_wanted_blocking(&key, wanted).map_err(|e| io::Error::other(e.to_string()));
        if let Some(freed) = dir.remove_unless_wanted(&key, still_wanted)? {
            removed.push(key);
            pace.freed(freed);
        }
    }
    Ok(removed)
}

/// Bytes of deleted blobs freed per second at most (1 GiB/s: 30 GiB per collector interval).
///
/// Freeing a file is I/O, not just a name going away: on a file system mounted with `discard`
/// it tells the device about every freed block, which took 12 to 20 ms per 64 MiB file here
/// and kept the disk busy meanwhile. Ten gigabytes of deleted objects freed at once slowed the
/// uploads running beside them to a quarter for four seconds (multipart parts' p99 went from
/// 290 to 730 ms); at a steady rate the same work is spread thin.
const FREE_BYTES_PER_SEC: f64 = (1u64 << 30) as f64;

/// Keeps one batch's freeing at `FREE_BYTES_PER_SEC` by sleeping when it runs ahead.
struct FreeingPace {
    started: Instant,
    bytes: u64,
}

impl FreeingPace {
    fn start() -> FreeingPace {
        FreeingPace { started: Instant::now(), bytes: 0 }
    }

    fn freed(&mut self, bytes: u64) {
        self.bytes += bytes;
        let due = Duration::from_secs_f64(self.bytes as f64 / FREE_BYTES_PER_SEC);
        if let Some(ahead) = due.checked_sub(self.started.elapsed()) {
            std::thread::sleep(ahead);
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::blob_store::LocalBlobs;
    use crate::postgres::tests::TestDb;
    use crate::testutil::put_into;
    use crate::*;
    use std::sync::Arc;

    /// A node of a cluster: its own data dir, the shared database and the shared blob dir.
    fn node(db: &TestDb, blobs: &std::path::Path) -> (Store, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let site = Site { data_dir: dir.path().to_path_buf(), metadata: Metadata::Postgres(db.url.clone()) };
        let store = Store::open_at(&site).unwrap().use_blob_store(Arc::new(LocalBlobs::open(blobs).unwrap())).unwrap();
        (store, dir)
    }

    async fn read(store: &Store, bucket: &Bucket, key: &str) -> Vec<u8> {
        let (rec, body) = store.object(bucket.id, key, None).await.unwrap();
        crate::testutil::read_from(store, &rec, &body, 0, rec.size).await
    }

    /// One node deletes and collects the bytes another node is writing again, round after
    /// round: every write that was acknowledged stays readable from both nodes.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_node_collecting_never_loses_bytes_another_node_writes_again() {
        let Some(db) = TestDb::create().await else { return };
        let shared = tempfile::tempdir().unwrap();
        let ((a, _a), (b, _b)) = (node(&db, shared.path()), node(&db, shared.path()));
        let owner = a.create_user("root", "AK", b"sealed".to_vec()).await.unwrap();
        let bucket = a.create_bucket(&owner, "b", "us-east-1").await.unwrap();
        let mut written = Vec::new();
        for round in 0..30u8 {
            let data = vec![round; 70_000];
            put_into(&a, &owner, &bucket, "garbage", &data).await.unwrap();
            a.delete_object(bucket.id, "garbage", None, Default::default(), DeleteOptions::default()).await.unwrap();
            let key = format!("k{round}");
            // Mostly the collector takes the blob first and the write puts it again under a
            // new generation; sometimes the write's reservation comes first and holds it.
            let (_, wrote) = tokio::join!(a.collect_garbage(), put_into(&b, &owner, &bucket, &key, &data));
            match wrote {
                Ok(_) => written.push((key, data)),
                Err(StorageError::Busy) => {} // collected before the commit: the client retries
                Err(e) => panic!("round {round}: {e}"),
            }
        }
        a.collect_garbage().await.unwrap();
        b.collect_garbage().await.unwrap();
        assert!(written.len() >= 20, "only {} of 30 writes went through", written.len());
        for (key, data) in &written {
            assert_eq!(&read(&a, &bucket, key).await, data, "{key} through a");
            assert_eq!(&read(&b, &bucket, key).await, data, "{key} through b");
        }
        assert_eq!(a.blob_store().list().unwrap().len(), written.len(), "no garbage and no copies left");
    }
}
