//! Inline bodies for the scrubber: small objects kept in the index, walked in row order and
//! re-hashed against the SHA-256 recorded with them (rows written before it was kept are skipped).

use crate::blob::Hash;
use crate::error::Result;
use crate::Store;
use sha2::{Digest, Sha256};

/// What re-hashing one inline body found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InlineVerdict {
    /// The body's row (the object version's `seq`).
    pub seq: i64,
    /// The SHA-256 recorded for it.
    pub sha256: Hash,
    pub bytes: u64,
    pub intact: bool,
}

impl Store {
    /// Re-hashes up to `limit` inline bodies after row `after_seq` (on a blocking thread, not
    /// on the caller's).
    pub async fn scrub_inline_after(&self, after_seq: i64, limit: usize) -> Result<Vec<InlineVerdict>> {
        let bodies = self.index().inline_bodies_after(after_seq, limit).await?;
        let verdicts = tokio::task::spawn_blocking(move || {
            bodies
                .into_iter()
                .map(|(seq, data, sha256)| {
                    let actual: Hash = Sha256::digest(&data).into();
                    InlineVerdict { seq, sha256, bytes: data.len() as u64, intact: actual == sha256 }
                })
                .collect()
        });
        verdicts.await.map_err(|_| crate::StorageError::Closed)
    }

    /// "bucket/key version" of the object version in row `seq`, if it still exists.
    pub async fn object_name_at(&self, seq: i64) -> Result<Option<String>> {
        self.index().object_name_at(seq).await
    }
}
