//! Where blobs live: a trait of the few operations the store needs from a place that keeps
//! immutable byte strings under their SHA-256 (put, read from an offset, delete, list), with
//! a local directory (`LocalBlobs`) and a bucket of any S3 service (`S3Blobs`) behind it.
//!
//! The store's own blobs use one of them (the data dir's `blobs/` by default; a shared
//! directory or an S3 cluster with `--blobs`), and so does every storage tier.

pub(crate) mod local;
mod location;
mod s3;

pub use local::LocalBlobs;
pub use location::BlobLocation;
pub use s3::S3Blobs;

use crate::blob::Hash;
use sha2::{Digest, Sha256};
use std::io::{self, Read};
use std::path::Path;
use std::time::{Duration, SystemTime};

/// The blob operations of one place. They block (run them on the blocking pool); every blob
/// is named by the SHA-256 of its bytes, and putting refuses bytes that do not hash to it.
pub trait BlobStore: Send + Sync {
    /// Stores the bytes of the local file `src` as blob `hash`, leaving `src` where it is.
    fn put_file(&self, hash: &Hash, src: &Path) -> io::Result<()>;
    /// Makes the staged, fsynced file `staged` blob `hash`. The file may be consumed (a local
    /// directory renames it); the caller removes what is left. Same bytes already stored are
    /// kept as they are.
    fn put_staged(&self, hash: &Hash, staged: &Path) -> io::Result<()> {
        self.put_file(hash, staged)
    }
    /// Whether the place holds blob `hash`.
    fn contains(&self, hash: &Hash) -> io::Result<bool>;
    /// The size of blob `hash` and when it was last written or refreshed (None: not held).
    fn stat(&self, hash: &Hash) -> io::Result<Option<BlobStat>>;
    /// Notes that blob `hash` is about to be referenced again (so an outside orphan sweep with
    /// a grace period leaves it); fails with NotFound if it is not there.
    fn refresh(&self, hash: &Hash) -> io::Result<()> {
        match self.contains(hash)? {
            true => Ok(()),
            false => Err(io::Error::new(io::ErrorKind::NotFound, format!("blob {} is not stored", hex::encode(hash)))),
        }
    }
    /// Reads blob `hash` from byte `offset` to its end.
    fn open_at(&self, hash: &Hash, offset: u64) -> io::Result<Box<dyn Read + Send>>;
    /// Reads all of blob `hash` for a check of its bytes, bypassing caches where it can.
    fn open_for_check(&self, hash: &Hash) -> io::Result<Box<dyn Read + Send>> {
        self.open_at(hash, 0)
    }
    /// Removes blob `hash` (absent is fine).
    fn delete(&self, hash: &Hash) -> io::Result<()>;
    /// Every blob held, for the orphan sweep (names that are not hashes are skipped).
    fn list(&self) -> io::Result<Vec<Hash>>;
    /// The file that holds blob `hash`, when the place is a local directory (so a copy can
    /// read it directly instead of staging it first).
    fn local_file(&self, _hash: &Hash) -> Option<std::path::PathBuf> {
        None
    }
    /// Where the blobs are, for logs and for the index's record of it.
    fn location(&self) -> String;
}

/// What a blob store says about one blob.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlobStat {
    pub size: u64,
    pub modified: SystemTime,
}

impl BlobStat {
    /// Whether the blob was last written or refreshed more than `age` ago.
    pub fn older_than(&self, age: Duration) -> bool {
        SystemTime::now().duration_since(self.modified).is_ok_and(|d| d >= age)
    }
}

/// Reads `src` to its end into `sink`, failing if the bytes do not hash to `hash`. (Segment
/// lengths are plaintext lengths; the stored bytes of a sealed blob are longer, so the name
/// is the check.)
pub(crate) fn copy_verified(src: &mut dyn Read, hash: &Hash, mut sink: impl FnMut(&[u8]) -> io::Result<()>) -> io::Result<()> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = src.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        sink(&buf[..n])?;
    }
    if <[u8; 32]>::from(hasher.finalize()) != *hash {
        return Err(io::Error::new(io::ErrorKind::InvalidData, format!("blob {} does not match its name after the copy", hex::encode(hash))));
    }
    Ok(())
}
