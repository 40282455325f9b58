//! The store's blobs as its writers and collector see them: staging files in `tmp/` that are
//! published under their SHA-256 into the blob store in use (`crate::blob_store`), and pins
//! that keep a just-published blob from the collector until the commit that names it.
//!
//! Each blob is stored under a generation the index chooses (`BlobKey`): always 0 on an index
//! only this process writes; on a shared index, the one a writer reserves before it puts the
//! bytes, and which its commit checks (see `meta::BlobIndex::reserve_blob_blocking`).

use crate::blob_store::{BlobKey, BlobStore, LocalBlobs};
pub use crate::blob_store::{parse_hash, Hash};
use crate::direct::BlobWriter;
use crate::meta::Index;
use crate::perms;
use std::collections::HashMap;
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

pub(crate) struct BlobDir {
    tmp: PathBuf,
    store: Arc<dyn BlobStore>,
    /// Which generation of each blob is stored.
    index: Arc<dyn Index>,
    /// Blobs a writer has published but not yet committed a reference to; GC leaves them alone.
    pins: Mutex<HashMap<BlobKey, usize>>,
    /// Blobs published for bodies that were then dropped unnamed (`PublishedBlob`), for the
    /// collector to take back.
    unnamed: Mutex<Vec<BlobKey>>,
}

impl BlobDir {
    /// Blobs in the data dir `root` itself (`root/blobs`).
    pub fn open(root: &Path, index: Arc<dyn Index>) -> io::Result<Arc<BlobDir>> {
        let store = Arc::new(LocalBlobs::open(root)?);
        Self::with_store(root, store, index)
    }

    /// Blobs in `store`, staged in `root/tmp`.
    pub fn with_store(root: &Path, store: Arc<dyn BlobStore>, index: Arc<dyn Index>) -> io::Result<Arc<BlobDir>> {
        let tmp = root.join("tmp");
        perms::create_dir_all(&tmp)?;
        Ok(Arc::new(BlobDir { tmp, store, index, pins: Mutex::new(HashMap::new()), unnamed: Mutex::new(Vec::new()) }))
    }

    /// The blob store in use.
    pub fn store(&self) -> &Arc<dyn BlobStore> {
        &self.store
    }

    /// Empties `tmp/`: anything left there is a write that never finished, so nothing references
    /// it; and frees the blob store's deleted files that a crash kept from being freed. Only the server may do this, before it accepts writes; an admin command opening the
    /// store beside a running server must leave the server's staged uploads alone.
    pub fn clear_staging(&self) -> io::Result<()> {
        let _ = fs::remove_dir_all(&self.tmp);
        perms::create_dir_all(&self.tmp)?;
        let cleared = self.store.clear_detached()?;
        if cleared > 0 {
            tracing::info!(cleared, store = %self.store.location(), "freed the files of deleted blobs that a crash left behind");
        }
        Ok(())
    }

    /// Creates, writes, syncs and removes a small file in `tmp/`: whether uploads can stage.
    pub fn probe_staging(&self) -> io::Result<()> {
        use std::io::Write;
        let path = self.tmp.join(format!("probe-{:016x}", rand::random::<u64>()));
        let written = fs::OpenOptions::new().write(true).create_new(true).open(&path).and_then(|mut f| {
            f.write_all(b"ok")?;
            f.sync_data()
        });
        let removed = fs::remove_file(&path);
        written.and(removed)
    }

    /// A fresh temporary file to stage a blob in.
    pub fn create_staging(self: &Arc<Self>) -> io::Result<(BlobWriter, StagingFile)> {
        let name = format!("{:016x}{:016x}", rand::random::<u64>(), rand::random::<u64>());
        let path = self.tmp.join(name);
        let writer = BlobWriter::create(&path)?;
        Ok((writer, StagingFile { path: Some(path) }))
    }

    /// Makes a fully written, fsynced staging file blob `hash`, under the generation the index
    /// reserves for it, and pins it until the returned guard is dropped (after the metadata
    /// commit, which names the guard's key).
    pub fn publish(self: &Arc<Self>, staged: StagingFile, hash: &Hash) -> io::Result<PinGuard> {
        let size = fs::metadata(staged.path())?.len();
        let guard = self.pin(self.reserve(hash, size)?);
        self.store.put_staged(&guard.key, staged.path())?;
        drop(staged);
        Ok(guard)
    }

    /// The blobs dropped unnamed since the last call (`PublishedBlob`).
    pub fn take_unnamed(&self) -> Vec<BlobKey> {
        std::mem::take(&mut *self.unnamed.lock().expect("unnamed blobs poisoned"))
    }

    /// Pins a blob that is already stored (so the collector leaves it until the caller's
    /// commit names it again); fails if it is not there.
    pub fn publish_existing(self: &Arc<Self>, hash: &Hash, size: u64) -> io::Result<PinGuard> {
        let guard = self.pin(self.reserve(hash, size)?);
        self.store.refresh(&guard.key)?;
        Ok(guard)
    }

    fn reserve(&self, hash: &Hash, size: u64) -> io::Result<BlobKey> {
        let gen = self.index.reserve_blob_blocking(hash, size).map_err(io::Error::other)?;
        Ok(BlobKey { hash: *hash, gen })
    }

    fn pin(self: &Arc<Self>, key: BlobKey) -> PinGuard {
        *self.pins.lock().expect("pins poisoned").entry(key).or_insert(0) += 1;
        PinGuard { dir: self.clone(), key }
    }

    /// Deletes blob `key` unless a writer has it pinned or `still_wanted` (asked while no new
    /// pin can be taken) says a commit names it again. Returns `None` if it was kept, else how
    /// many bytes deleting it freed here (0 when the place freed them itself).
    pub fn remove_unless_wanted(&self, key: &BlobKey, still_wanted: impl FnOnce() -> io::Result<bool>) -> io::Result<Option<u64>> {
        let detached = {
            let pins = self.pins.lock().expect("pins poisoned");
            if pins.contains_key(key) || still_wanted()? {
                return Ok(None);
            }
            self.store.detach(key)?
        };
        // The name is free already (a writer may publish the same bytes again at once), so
        // the slow part, freeing the file, holds no writer's publish up.
        match detached.free() {
            Ok(freed) => Ok(Some(freed)),
            Err(e) => {
                tracing::warn!(blob = %key, error = %e, "a deleted blob's file could not be removed from tmp/");
                Ok(Some(0))
            }
        }
    }

    /// Every stored blob, for the orphan sweep.
    pub fn list_all(&self) -> io::Result<Vec<BlobKey>> {
        self.store.list()
    }

    /// Reads blob `hash` from byte `offset`.
    pub fn open_at(&self, hash: &Hash, offset: u64) -> io::Result<Box<dyn Read + Send>> {
        self.with_stored(hash, |key| self.store.open_at(key, offset))
    }

    /// Reads all of blob `hash` for a check of its bytes (see `BlobStore::open_for_check`).
    pub fn open_for_check(&self, hash: &Hash) -> io::Result<Box<dyn Read + Send>> {
        self.with_stored(hash, |key| self.store.open_for_check(key))
    }

    /// The local file of blob `hash`, when the store is a local directory.
    pub fn local_file(&self, hash: &Hash) -> io::Result<Option<PathBuf>> {
        Ok(self.store.local_file(&self.stored_key(hash, false)?))
    }

    /// Runs `f` on the key blob `hash` is stored under. A generation this node remembered may
    /// have been collected and uploaded again under another: then it asks the index afresh.
    fn with_stored<T>(&self, hash: &Hash, f: impl Fn(&BlobKey) -> io::Result<T>) -> io::Result<T> {
        let key = self.stored_key(hash, false)?;
        match f(&key) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => match self.stored_key(hash, true)? {
                fresh if fresh != key => f(&fresh),
                _ => Err(e),
            },
            other => other,
        }
    }

    fn stored_key(&self, hash: &Hash, fresh: bool) -> io::Result<BlobKey> {
        match self.index.blob_generation_blocking(hash, fresh).map_err(io::Error::other)? {
            Some(gen) => Ok(BlobKey { hash: *hash, gen }),
            None => Err(io::Error::new(io::ErrorKind::NotFound, format!("the index has no blob {}", hex::encode(hash)))),
        }
    }
}

/// A staged, not yet published blob file; removed when dropped unpublished.
pub(crate) struct StagingFile {
    path: Option<PathBuf>,
}

impl StagingFile {
    /// Where the staged bytes are (until published or dropped).
    pub fn path(&self) -> &Path {
        self.path.as_deref().expect("staging file already published")
    }
}

impl Drop for StagingFile {
    fn drop(&mut self) {
        if let Some(p) = self.path.take() {
            let _ = fs::remove_file(p);
        }
    }
}

/// A blob published for a body before any commit names it (`ingest` publishes while the
/// hashing pool finishes). Dropped unnamed (the request failed its checks, or the client went
/// away), the blob goes on the list the collector takes back at its next pass.
pub(crate) struct PublishedBlob {
    pin: Option<PinGuard>,
}

impl PublishedBlob {
    pub fn new(pin: PinGuard) -> PublishedBlob {
        PublishedBlob { pin: Some(pin) }
    }

    /// For the commit that names the blob: the pin, which keeps it from the collector until then.
    pub fn into_pin(mut self) -> PinGuard {
        self.pin.take().expect("a published blob has its pin until it is named")
    }
}

impl Drop for PublishedBlob {
    fn drop(&mut self) {
        if let Some(pin) = self.pin.take() {
            pin.dir.unnamed.lock().expect("unnamed blobs poisoned").push(pin.key);
        }
    }
}

pub(crate) struct PinGuard {
    dir: Arc<BlobDir>,
    key: BlobKey,
}

impl PinGuard {
    /// The blob the guard pins, under the generation the commit must name.
    pub fn key(&self) -> BlobKey {
        self.key
    }
}

impl Drop for PinGuard {
    fn drop(&mut self) {
        let mut pins = self.dir.pins.lock().expect("pins poisoned");
        if let Some(n) = pins.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                pins.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opening_keeps_staged_files_and_only_clearing_removes_them() {
        let root = tempfile::tempdir().unwrap();
        let staged = root.path().join("tmp").join("upload-in-flight");
        let index: Arc<dyn Index> = Arc::new(crate::sqlite::SqliteIndex::open(&root.path().join("index.sqlite"), 1).unwrap());
        BlobDir::open(root.path(), index.clone()).unwrap();
        fs::write(&staged, b"half an upload").unwrap();
        // A second process (an admin command) opening the store leaves it alone...
        let dir = BlobDir::open(root.path(), index).unwrap();
        assert!(staged.exists());
        // ...and the server clears it at start.
        dir.clear_staging().unwrap();
        assert!(!staged.exists());
        assert!(root.path().join("tmp").is_dir());
    }
}
