//! Reference counts of blobs, on the local store (`blobs`) or on a tier (`tier_blobs`): a
//! version, an upload part or a restored copy holds one reference to each blob it names,
//! and the collectors remove blobs nobody references.

use crate::error::{Result, StorageError};
use crate::model::Segment;
use rusqlite::{params, Connection};

/// Takes one reference to a blob on `tier` (None: the local store), creating its row.
pub(crate) fn retain(c: &Connection, tier: Option<&str>, hash: &[u8], size: u64) -> Result<()> {
    match tier {
        None => c
            .prepare_cached("INSERT INTO blobs (hash, size, refs) VALUES (?1, ?2, 1) ON CONFLICT(hash) DO UPDATE SET refs = refs + 1")?
            .execute(params![hash, size as i64])?,
        Some(t) => c
            .prepare_cached(
                "INSERT INTO tier_blobs (tier, hash, size, refs) VALUES (?1, ?2, ?3, 1) ON CONFLICT(tier, hash) DO UPDATE SET refs = refs + 1",
            )?
            .execute(params![t, hash, size as i64])?,
    };
    Ok(())
}

/// Drops one reference to a blob on `tier` (None: the local store).
pub(crate) fn release(c: &Connection, tier: Option<&str>, hash: &[u8]) -> Result<()> {
    match tier {
        None => c.prepare_cached("UPDATE blobs SET refs = refs - 1 WHERE hash = ?1")?.execute([hash])?,
        Some(t) => c.prepare_cached("UPDATE tier_blobs SET refs = refs - 1 WHERE tier = ?1 AND hash = ?2")?.execute(params![t, hash])?,
    };
    Ok(())
}

/// The raw hash of a segment.
pub(crate) fn segment_hash(s: &Segment) -> Result<[u8; 32]> {
    crate::blob::parse_hash(&s.hash).ok_or_else(|| StorageError::Corrupt(format!("bad segment hash {:?}", s.hash)))
}

/// Takes a reference to every blob of `segments` on `tier`.
pub(crate) fn retain_all(c: &Connection, tier: Option<&str>, segments: &[Segment]) -> Result<()> {
    segments.iter().try_for_each(|s| retain(c, tier, &segment_hash(s)?, s.len))
}

/// Drops a reference to every blob of `segments` on `tier`.
pub(crate) fn release_all(c: &Connection, tier: Option<&str>, segments: &[Segment]) -> Result<()> {
    segments.iter().try_for_each(|s| release(c, tier, &segment_hash(s)?))
}
