//! The content-addressed blob directory: immutable files named by the SHA-256 of their bytes
//! under `blobs/ab/cd/<hex>`, staged in `tmp/` and published by rename with the directory fsynced.

use crate::direct::BlobWriter;
use crate::perms;
use std::collections::HashMap;
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

pub type Hash = [u8; 32];

pub(crate) struct BlobDir {
    blobs: PathBuf,
    tmp: PathBuf,
    /// Hashes a writer has published but not yet committed a reference to; GC leaves them alone.
    pins: Mutex<HashMap<Hash, usize>>,
}

impl BlobDir {
    pub fn open(root: &Path) -> io::Result<Arc<BlobDir>> {
        let blobs = root.join("blobs");
        let tmp = root.join("tmp");
        perms::create_dir_all(&blobs)?;
        perms::create_dir_all(&tmp)?;
        Ok(Arc::new(BlobDir { blobs, tmp, pins: Mutex::new(HashMap::new()) }))
    }

    /// Empties `tmp/`: anything left there is a write that never finished, so nothing references
    /// it. Only the server may do this, before it accepts writes; an admin command opening the
    /// store beside a running server must leave the server's staged uploads alone.
    pub fn clear_staging(&self) -> io::Result<()> {
        let _ = fs::remove_dir_all(&self.tmp);
        perms::create_dir_all(&self.tmp)
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

    pub fn path_of(&self, hash: &Hash) -> PathBuf {
        blob_path(&self.blobs, hash)
    }

    /// A fresh temporary file to stage a blob in.
    pub fn create_staging(self: &Arc<Self>) -> io::Result<(BlobWriter, StagingFile)> {
        let name = format!("{:016x}{:016x}", rand::random::<u64>(), rand::random::<u64>());
        let path = self.tmp.join(name);
        let writer = BlobWriter::create(&path)?;
        Ok((writer, StagingFile { path: Some(path) }))
    }

    /// Moves a fully written, fsynced staging file to its content address and pins the hash
    /// until the returned guard is dropped (after the metadata commit).
    pub fn publish(self: &Arc<Self>, mut staged: StagingFile, hash: &Hash) -> io::Result<PinGuard> {
        let guard = self.pin(hash);
        let final_path = self.path_of(hash);
        let tmp_path = staged.path.take().expect("staging file already published");
        if touch(&final_path).is_ok() {
            // Same bytes are already stored: keep one copy. The fresh mtime tells an external
            // orphan sweep (`crate::check`) that the file is about to be referenced again.
            let _ = fs::remove_file(&tmp_path);
            return Ok(guard);
        }
        let dir = final_path.parent().expect("blob path has a parent");
        if !dir.exists() {
            perms::create_dir_all(dir)?;
            sync_dir(dir.parent().expect("fan-out dir has a parent"))?;
        }
        fs::rename(&tmp_path, &final_path)?;
        sync_dir(dir)?;
        Ok(guard)
    }

    /// Pins a blob that is already stored (so the collector leaves it until the caller's
    /// commit names it again); fails if it is not there.
    pub fn publish_existing(self: &Arc<Self>, hash: &Hash) -> io::Result<PinGuard> {
        let guard = self.pin(hash);
        touch(&self.path_of(hash))?;
        Ok(guard)
    }

    fn pin(self: &Arc<Self>, hash: &Hash) -> PinGuard {
        *self.pins.lock().expect("pins poisoned").entry(*hash).or_insert(0) += 1;
        PinGuard { dir: self.clone(), hash: *hash }
    }

    /// Deletes a blob file unless a writer has it pinned. Returns whether it is gone.
    pub fn remove_unless_pinned(&self, hash: &Hash) -> io::Result<bool> {
        let pins = self.pins.lock().expect("pins poisoned");
        if pins.contains_key(hash) {
            return Ok(false);
        }
        match fs::remove_file(self.path_of(hash)) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(true),
            Err(e) => Err(e),
        }
    }

    /// Every blob file on disk, for the orphan sweep.
    pub fn list_all(&self) -> io::Result<Vec<Hash>> {
        list_blob_files(&self.blobs)
    }

    pub fn open_blob(&self, hash: &Hash) -> io::Result<File> {
        File::open(self.path_of(hash))
    }
}

/// Where the blob `hash` lives under the `blobs` directory.
pub(crate) fn blob_path(blobs: &Path, hash: &Hash) -> PathBuf {
    let hex = hex::encode(hash);
    blobs.join(&hex[0..2]).join(&hex[2..4]).join(hex)
}

/// Sets a file's modification time to now; fails if the file is not there.
pub(crate) fn touch(path: &Path) -> io::Result<()> {
    File::open(path)?.set_modified(std::time::SystemTime::now())
}

/// Every blob file under the `blobs` directory (files whose names are not hashes are skipped).
pub(crate) fn list_blob_files(blobs: &Path) -> io::Result<Vec<Hash>> {
    let mut out = Vec::new();
    for l1 in fs::read_dir(blobs)? {
        for l2 in fs::read_dir(l1?.path())? {
            for f in fs::read_dir(l2?.path())? {
                let name = f?.file_name();
                let mut hash = [0u8; 32];
                if hex::decode_to_slice(name.as_encoded_bytes(), &mut hash).is_ok() {
                    out.push(hash);
                }
            }
        }
    }
    Ok(out)
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

pub(crate) struct PinGuard {
    dir: Arc<BlobDir>,
    hash: Hash,
}

impl Drop for PinGuard {
    fn drop(&mut self) {
        let mut pins = self.dir.pins.lock().expect("pins poisoned");
        if let Some(n) = pins.get_mut(&self.hash) {
            *n -= 1;
            if *n == 0 {
                pins.remove(&self.hash);
            }
        }
    }
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

pub fn parse_hash(hex_str: &str) -> Option<Hash> {
    let mut h = [0u8; 32];
    hex::decode_to_slice(hex_str, &mut h).ok()?;
    Some(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opening_keeps_staged_files_and_only_clearing_removes_them() {
        let root = tempfile::tempdir().unwrap();
        let staged = root.path().join("tmp").join("upload-in-flight");
        BlobDir::open(root.path()).unwrap();
        fs::write(&staged, b"half an upload").unwrap();
        // A second process (an admin command) opening the store leaves it alone...
        let dir = BlobDir::open(root.path()).unwrap();
        assert!(staged.exists());
        // ...and the server clears it at start.
        dir.clear_staging().unwrap();
        assert!(!staged.exists());
        assert!(root.path().join("tmp").is_dir());
    }
}
