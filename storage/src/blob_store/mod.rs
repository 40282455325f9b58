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

use sha2::{Digest, Sha256};
use std::io::{self, Read};
use std::path::Path;
use std::time::{Duration, SystemTime};

/// A blob's SHA-256.
pub type Hash = [u8; 32];

/// A hash from its hex form.
pub fn parse_hash(hex_str: &str) -> Option<Hash> {
    let mut h = [0u8; 32];
    hex::decode_to_slice(hex_str, &mut h).ok()?;
    Some(h)
}

/// A blob taken away from its name whose bytes may still be there (`BlobStore::detach`).
#[must_use = "the bytes are freed by `free`"]
pub enum Detached {
    Gone,
    /// The blob's file, renamed to this path to be removed.
    File(std::path::PathBuf),
}

impl Detached {
    /// Frees the bytes; returns how many there were (0 when the place did it already).
    pub fn free(self) -> io::Result<u64> {
        match self {
            Detached::Gone => Ok(0),
            Detached::File(path) => {
                let size = std::fs::metadata(&path).map_or(0, |m| m.len());
                remove_if_present(&path).map(|()| size)
            }
        }
    }
}

/// Removes the file at `path`; one that is not there is already what was asked.
pub(crate) fn remove_if_present(path: &Path) -> io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// The blob operations of one place. They block (run them on the blocking pool); every blob
/// is named by the SHA-256 of its bytes, and putting refuses bytes that do not hash to it.
pub trait BlobStore: Send + Sync {
    /// Stores the bytes of the local file `src` as blob `key`, leaving `src` where it is.
    fn put_file(&self, key: &BlobKey, src: &Path) -> io::Result<()>;
    /// Makes the staged, fsynced file `staged` blob `key`. The file may be consumed (a local
    /// directory renames it); the caller removes what is left. Same bytes already stored are
    /// kept as they are.
    fn put_staged(&self, key: &BlobKey, staged: &Path) -> io::Result<()> {
        self.put_file(key, staged)
    }
    /// Whether the place holds blob `key`.
    fn contains(&self, key: &BlobKey) -> io::Result<bool>;
    /// The size of blob `key` and when it was last written or refreshed (None: not held).
    fn stat(&self, key: &BlobKey) -> io::Result<Option<BlobStat>>;
    /// Notes that blob `key` is about to be referenced again (so an outside orphan sweep with
    /// a grace period leaves it); fails with NotFound if it is not there.
    fn refresh(&self, key: &BlobKey) -> io::Result<()> {
        match self.contains(key)? {
            true => Ok(()),
            false => Err(io::Error::new(io::ErrorKind::NotFound, format!("blob {key} is not stored"))),
        }
    }
    /// Reads blob `key` from byte `offset` to its end.
    fn open_at(&self, key: &BlobKey, offset: u64) -> io::Result<Box<dyn Read + Send>>;
    /// Reads all of blob `key` for a check of its bytes, bypassing caches where it can.
    fn open_for_check(&self, key: &BlobKey) -> io::Result<Box<dyn Read + Send>> {
        self.open_at(key, 0)
    }
    /// Removes blob `key` (absent is fine).
    fn delete(&self, key: &BlobKey) -> io::Result<()>;
    /// Takes blob `key` away from its name at once, and returns what is left to free of its
    /// bytes, for the caller to free once it holds no lock (`Detached::free`). Freeing a large
    /// file can take tens of milliseconds (on a file system mounted with `discard`, about 20 ms
    /// for 64 MiB here); a place whose delete is quick does it all here.
    fn detach(&self, key: &BlobKey) -> io::Result<Detached> {
        self.delete(key).map(|()| Detached::Gone)
    }
    /// Frees what `detach` left behind and a crash kept from being freed; returns how many.
    /// Only ever-unnamed leftovers go, so another node sharing the place loses nothing.
    fn clear_detached(&self) -> io::Result<usize> {
        Ok(0)
    }
    /// Every blob held, for the orphan sweep (names that are not hashes are skipped).
    fn list(&self) -> io::Result<Vec<BlobKey>>;
    /// The file that holds blob `key`, when the place is a local directory (so a copy can
    /// read it directly instead of staging it first).
    fn local_file(&self, _key: &BlobKey) -> Option<std::path::PathBuf> {
        None
    }
    /// Where the blobs are, for logs and for the index's record of it.
    fn location(&self) -> String;
}

/// The name of one blob in a blob store: the SHA-256 of its bytes, and a generation.
///
/// Generation 0 is the blob's plain hex name; a store whose index only this process writes
/// never uses another. Nodes sharing a PostgreSQL index put every blob under a generation
/// drawn from the index when it is reserved (`meta::BlobIndex::reserve_blob_blocking`), and
/// a blob that is collected and uploaded again gets a fresh one: a name is never reused, so a
/// node deleting a doomed blob can never delete bytes another node is uploading again, even
/// on a blob tier that shows deleted names for a while.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlobKey {
    pub hash: Hash,
    pub gen: u64,
}

impl BlobKey {
    /// The plain name of blob `hash` (generation 0).
    pub fn plain(hash: Hash) -> BlobKey {
        BlobKey { hash, gen: 0 }
    }

    /// A key from its name: the hex hash, with `-g` and the generation unless it is 0.
    pub fn parse(name: &str) -> Option<BlobKey> {
        match name.split_once("-g") {
            None => Some(BlobKey::plain(parse_hash(name)?)),
            Some((hex, gen)) => {
                let gen: u64 = gen.parse().ok().filter(|g| *g > 0 && !gen.starts_with('0'))?;
                Some(BlobKey { hash: parse_hash(hex)?, gen })
            }
        }
    }
}

impl From<Hash> for BlobKey {
    fn from(hash: Hash) -> BlobKey {
        BlobKey::plain(hash)
    }
}

/// The key's name in the store: what `BlobKey::parse` reads back.
impl std::fmt::Display for BlobKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.gen {
            0 => write!(f, "{}", hex::encode(self.hash)),
            gen => write!(f, "{}-g{gen}", hex::encode(self.hash)),
        }
    }
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
