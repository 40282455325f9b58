//! Blobs for the scrubber: the next blobs after a cursor in hash order (a range of the `blobs`
//! primary key), and re-hashing one blob, a bounded slice at a time, against its name.

use crate::blob::{BlobDir, Hash};
use crate::error::Result;
use crate::Store;
use sha2::{Digest, Sha256};
use std::fmt;
use std::io::{self, Read};
use std::sync::Arc;

/// Size of one read while hashing.
const READ_CHUNK: usize = 1 << 20;

/// What re-reading a blob file found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BlobVerdict {
    /// Its bytes hash to its name and it has its recorded size.
    Intact,
    /// There is no file.
    Missing,
    /// The file has another size than the index records.
    WrongSize { actual: u64 },
    /// The bytes hash to something else (hex).
    WrongHash { actual: String },
    /// Reading failed (an I/O error: a bad sector, a permission).
    Unreadable(String),
}

impl BlobVerdict {
    pub fn is_intact(&self) -> bool {
        *self == BlobVerdict::Intact
    }
}

impl fmt::Display for BlobVerdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BlobVerdict::Intact => write!(f, "intact"),
            BlobVerdict::Missing => write!(f, "file missing"),
            BlobVerdict::WrongSize { actual } => write!(f, "file is {actual} bytes, not its recorded size"),
            BlobVerdict::WrongHash { actual } => write!(f, "bytes hash to {actual}"),
            BlobVerdict::Unreadable(e) => write!(f, "unreadable: {e}"),
        }
    }
}

/// Re-hashing of one blob file, which may take many calls to `advance` (so a large blob never
/// holds a worker's step for long). Blocking: call it on a blocking thread.
pub struct BlobCheck {
    hash: Hash,
    size: u64,
    blobs: Arc<BlobDir>,
    reader: Option<Box<dyn Read + Send>>,
    read: u64,
    hasher: Sha256,
}

impl BlobCheck {
    pub fn hash(&self) -> &Hash {
        &self.hash
    }

    /// Bytes read so far.
    pub fn bytes_read(&self) -> u64 {
        self.read
    }

    /// Reads and hashes up to about `budget` more bytes; the verdict once the file is done.
    pub fn advance(&mut self, budget: u64) -> Option<BlobVerdict> {
        match self.advance_io(budget) {
            Ok(verdict) => verdict,
            Err(e) if e.kind() == io::ErrorKind::NotFound => Some(BlobVerdict::Missing),
            Err(e) => Some(BlobVerdict::Unreadable(e.to_string())),
        }
    }

    fn advance_io(&mut self, budget: u64) -> io::Result<Option<BlobVerdict>> {
        if self.reader.is_none() {
            self.reader = Some(self.blobs.open_for_check(&self.hash)?);
        }
        let reader = self.reader.as_mut().expect("opened above");
        let mut buf = vec![0u8; READ_CHUNK.min(budget.max(1) as usize)];
        let mut this_call = 0u64;
        let mut at_end = false;
        while this_call < budget.max(1) && !at_end {
            let n = reader.read(&mut buf)?;
            at_end = n == 0;
            self.hasher.update(&buf[..n]);
            self.read += n as u64;
            this_call += n as u64;
        }
        if !at_end && self.read >= self.size {
            // At the recorded size: the blob must end here.
            let n = reader.read(&mut buf[..1])?;
            at_end = n == 0;
            self.hasher.update(&buf[..n]);
            self.read += n as u64;
        }
        if !at_end && self.read <= self.size {
            return Ok(None);
        }
        if self.read != self.size {
            return Ok(Some(BlobVerdict::WrongSize { actual: self.read }));
        }
        let actual: Hash = std::mem::take(&mut self.hasher).finalize().into();
        Ok(Some(if actual == self.hash { BlobVerdict::Intact } else { BlobVerdict::WrongHash { actual: hex::encode(actual) } }))
    }
}

impl Store {
    /// Up to `limit` referenced blobs (hash, recorded size) after `after` in hash order: a
    /// range scan of the `blobs` primary key.
    pub async fn blobs_after(&self, after: Option<Hash>, limit: usize) -> Result<Vec<(Hash, u64)>> {
        self.index().blobs_after(after, limit).await
    }

    /// A check of the blob file `hash` against its name and recorded `size`.
    pub fn blob_check(&self, hash: Hash, size: u64) -> BlobCheck {
        BlobCheck { hash, size, blobs: self.inner.blobs.clone(), reader: None, read: 0, hasher: Sha256::new() }
    }

    /// Whether an object or upload still references the blob (a file the collector removed
    /// after it was listed is not missing).
    pub async fn blob_is_referenced(&self, hash: Hash) -> Result<bool> {
        self.index().blob_is_referenced(hash).await
    }

    /// Up to `limit` object versions ("bucket/key version") whose bytes include blob `hash`.
    /// It reads every manifest: for reports of corruption, never on a hot path.
    pub async fn objects_naming_blob(&self, hash: Hash, limit: usize) -> Result<Vec<String>> {
        self.index().objects_naming_blob(hash, limit).await
    }
}
