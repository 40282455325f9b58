//! Inline bodies for the scrubber: small objects kept in the index, walked in row order and
//! re-hashed against the SHA-256 recorded with them (rows written before it was kept are skipped).

use super::blobs::object_name;
use crate::blob::Hash;
use crate::error::Result;
use crate::Store;
use rusqlite::params;
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
    /// Re-hashes up to `limit` inline bodies after row `after_seq` (hashing runs on the read
    /// pool's blocking thread, not on the caller's).
    pub async fn scrub_inline_after(&self, after_seq: i64, limit: usize) -> Result<Vec<InlineVerdict>> {
        self.readers()
            .read(move |c| {
                let mut stmt = c.prepare_cached(
                    "SELECT seq, data, sha256 FROM inline_bodies WHERE seq > ?1 AND sha256 IS NOT NULL ORDER BY seq LIMIT ?2",
                )?;
                let rows = stmt.query_map(params![after_seq, limit as i64], |r| {
                    Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?, r.get::<_, Vec<u8>>(2)?))
                })?;
                let mut out = Vec::new();
                for row in rows {
                    let (seq, data, recorded) = row?;
                    let Ok(sha256) = Hash::try_from(recorded.as_slice()) else { continue };
                    let actual: Hash = Sha256::digest(&data).into();
                    out.push(InlineVerdict { seq, sha256, bytes: data.len() as u64, intact: actual == sha256 });
                }
                Ok(out)
            })
            .await
    }

    /// "bucket/key version" of the object version in row `seq`, if it still exists.
    pub async fn object_name_at(&self, seq: i64) -> Result<Option<String>> {
        use rusqlite::OptionalExtension;
        self.readers()
            .read(move |c| {
                Ok(c.prepare_cached("SELECT b.name, o.key, o.version_id FROM objects o JOIN buckets b ON b.id = o.bucket_id WHERE o.seq = ?1")?
                    .query_row([seq], object_name)
                    .optional()?)
            })
            .await
    }
}
