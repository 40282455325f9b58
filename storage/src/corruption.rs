//! Blobs whose bytes no longer match their SHA-256 name, recorded in the index
//! (`corrupt_blobs`) by whoever finds them (the scrubber, verified reads), each blob once.

use crate::blob::Hash;
use crate::error::Result;
use crate::{now_ms, Store};
use rusqlite::{params, Connection};

/// A blob recorded as corrupt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CorruptBlob {
    /// The blob's name: the SHA-256 its bytes should have, in hex.
    pub hash: String,
    /// When it was first found corrupt (ms since the epoch).
    pub detected_ms: i64,
    /// What found it (`scrub`, `scrub-inline`, `read`...).
    pub source: String,
}

impl Store {
    /// Records a corrupt blob durably; a blob already recorded keeps its first detection.
    pub async fn record_corrupt_blob(&self, hash: Hash, source: &str) -> Result<()> {
        let source = source.to_string();
        self.writer()
            .write(move |c| {
                c.prepare_cached("INSERT OR IGNORE INTO corrupt_blobs (hash, detected_ms, source) VALUES (?1, ?2, ?3)")?
                    .execute(params![&hash[..], now_ms(), source])?;
                Ok(())
            })
            .await
    }

    /// Every blob recorded as corrupt, oldest detection first.
    pub async fn corrupt_blobs(&self) -> Result<Vec<CorruptBlob>> {
        self.readers().read(list_corrupt).await
    }
}

/// Every blob recorded as corrupt, read on any connection.
pub(crate) fn list_corrupt(c: &Connection) -> Result<Vec<CorruptBlob>> {
    let mut stmt = c.prepare_cached("SELECT hash, detected_ms, source FROM corrupt_blobs ORDER BY detected_ms, hash")?;
    let rows = stmt.query_map([], |r| Ok(CorruptBlob { hash: hex::encode(r.get::<_, Vec<u8>>(0)?), detected_ms: r.get(1)?, source: r.get(2)? }))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}
