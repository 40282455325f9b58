//! SQLite's BlobIndex: blob references: what names a blob, garbage the collector may remove, scrub positions, corrupt blobs, where the blobs live.

use super::SqliteIndex;
use crate::blob::Hash;
use crate::blob_store::BlobKey;
use crate::error::{Result, StorageError};
use std::path::Path;
use crate::meta::{BlobIndex, Wanted};
use crate::{now_ms, CorruptBlob};
use rusqlite::{params, Connection, OptionalExtension};

#[async_trait::async_trait]
impl BlobIndex for SqliteIndex {
    async fn inline_bodies_after(&self, after_seq: i64, limit: usize) -> Result<Vec<(i64, Vec<u8>, Hash)>> {
        self.readers
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
                    if let Ok(sha256) = Hash::try_from(recorded.as_slice()) {
                        out.push((seq, data, sha256));
                    }
                }
                Ok(out)
            })
            .await
    }

    async fn object_name_at(&self, seq: i64) -> Result<Option<String>> {
        self.readers
            .read(move |c| {
                Ok(c.prepare_cached("SELECT b.name, o.key, o.version_id FROM objects o JOIN buckets b ON b.id = o.bucket_id WHERE o.seq = ?1")?
                    .query_row([seq], object_name)
                    .optional()?)
            })
            .await
    }

    /// Only this process writes the index, so its collector and writers meet at the blob
    /// store's pin lock: rows go at once and every blob is generation 0.
    async fn forget_unreferenced_blobs(&self, limit: usize) -> Result<Vec<BlobKey>> {
        self.writer
            .write(move |c| {
                if crate::sqlite::backup::gc_held(c)? {
                    return Ok(Vec::new());
                }
                let hashes: Vec<Vec<u8>> = c
                    .prepare_cached("SELECT hash FROM blobs WHERE refs <= 0 LIMIT ?1")?
                    .query_map([limit as i64], |r| r.get(0))?
                    .collect::<rusqlite::Result<_>>()?;
                let mut forget = c.prepare_cached("DELETE FROM blobs WHERE hash = ?1 AND refs <= 0")?;
                for h in &hashes {
                    forget.execute([h])?;
                }
                Ok(hashes.iter().filter_map(|h| Hash::try_from(h.as_slice()).ok()).map(BlobKey::plain).collect())
            })
            .await
    }

    async fn blob_deleted(&self, _key: BlobKey) -> Result<()> {
        Ok(())
    }

    fn reserve_blob_blocking(&self, _hash: &Hash, _size: u64) -> Result<u64> {
        Ok(0)
    }

    fn blob_generation_blocking(&self, _hash: &Hash, _fresh: bool) -> Result<Option<u64>> {
        Ok(Some(0))
    }

    async fn release_blobs(&self, keys: Vec<BlobKey>) -> Result<Vec<BlobKey>> {
        Ok(keys) // the pin lock and `blob_wanted_blocking` decide
    }

    fn blob_wanted_blocking(&self, key: &BlobKey, wanted: Wanted) -> Result<bool> {
        self.readers.read_blocking(|c| {
            let refs: Option<i64> = c.prepare_cached("SELECT refs FROM blobs WHERE hash = ?1")?.query_row([&key.hash[..]], |r| r.get(0)).optional()?;
            Ok(match wanted {
                Wanted::Referenced => refs.is_some_and(|n| n > 0),
                Wanted::Known => refs.is_some(),
            })
        })
    }

    async fn record_corrupt_blob(&self, hash: Hash, source: &str) -> Result<()> {
        let source = source.to_string();
        self.writer
            .write(move |c| {
                c.prepare_cached("INSERT OR IGNORE INTO corrupt_blobs (hash, detected_ms, source) VALUES (?1, ?2, ?3)")?
                    .execute(params![&hash[..], now_ms(), source])?;
                Ok(())
            })
            .await
    }

    async fn corrupt_blobs(&self) -> Result<Vec<CorruptBlob>> {
        self.readers.read(list_corrupt).await
    }

    async fn scrub_bytes_total(&self) -> Result<u64> {
        self.readers
            .read(|c| {
                let blobs: i64 = c.query_row("SELECT COALESCE(SUM(size), 0) FROM blobs WHERE refs > 0", [], |r| r.get(0))?;
                let inline: i64 =
                    c.query_row("SELECT COALESCE(SUM(length(data)), 0) FROM inline_bodies WHERE sha256 IS NOT NULL", [], |r| r.get(0))?;
                Ok((blobs + inline) as u64)
            })
            .await
    }

    async fn blobs_after(&self, after: Option<Hash>, limit: usize) -> Result<Vec<(Hash, u64)>> {
        self.readers
            .read(move |c| {
                let after: Vec<u8> = after.map(|h| h.to_vec()).unwrap_or_default();
                let mut stmt = c.prepare_cached("SELECT hash, size FROM blobs WHERE hash > ?1 AND refs > 0 ORDER BY hash LIMIT ?2")?;
                let rows = stmt.query_map(params![after, limit as i64], |r| Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, i64>(1)?)))?;
                let mut out = Vec::new();
                for row in rows {
                    let (hash, size) = row?;
                    if let Ok(hash) = Hash::try_from(hash.as_slice()) {
                        out.push((hash, size as u64));
                    }
                }
                Ok(out)
            })
            .await
    }

    async fn blob_is_referenced(&self, hash: Hash) -> Result<bool> {
        self.readers
            .read(move |c| Ok(c.prepare_cached("SELECT EXISTS(SELECT 1 FROM blobs WHERE hash = ?1 AND refs > 0)")?.query_row([&hash[..]], |r| r.get(0))?))
            .await
    }

    async fn objects_naming_blob(&self, hash: Hash, limit: usize) -> Result<Vec<String>> {
        let pattern = format!("%{}%", hex::encode(hash));
        self.readers
            .read(move |c| {
                let mut stmt = c.prepare_cached(
                    "SELECT b.name, o.key, o.version_id FROM objects o JOIN buckets b ON b.id = o.bucket_id
                     WHERE o.manifest LIKE ?1 LIMIT ?2",
                )?;
                let rows = stmt.query_map(params![pattern, limit as i64], object_name)?;
                Ok(rows.collect::<rusqlite::Result<_>>()?)
            })
            .await
    }
}

/// Every blob recorded as corrupt, read on any connection (also one opened outside a `Store`).
pub(crate) fn list_corrupt(c: &Connection) -> Result<Vec<CorruptBlob>> {
    let mut stmt = c.prepare_cached("SELECT hash, detected_ms, source FROM corrupt_blobs ORDER BY detected_ms, hash")?;
    let rows = stmt.query_map([], |r| Ok(CorruptBlob { hash: hex::encode(r.get::<_, Vec<u8>>(0)?), detected_ms: r.get(1)?, source: r.get(2)? }))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// "bucket/key version" from a row of (bucket name, key, version id).
fn object_name(r: &rusqlite::Row) -> rusqlite::Result<String> {
    Ok(crate::scrub::version_name(&r.get::<_, String>(0)?, &r.get::<_, Vec<u8>>(1)?, &r.get::<_, String>(2)?))
}

/// The saved cursor `cursor` (the scrubber's state) and the corrupt blobs, read from the index
/// under `root` without opening a `Store`: safe next to a running server.
pub(crate) fn scrub_records_at(root: &Path, cursor: &str) -> Result<(Option<String>, Vec<CorruptBlob>)> {
    let path = root.join("index.sqlite");
    if !path.exists() {
        return Err(StorageError::Io(std::io::Error::new(std::io::ErrorKind::NotFound, format!("no index at {}", path.display()))));
    }
    let c = super::open_read_only(&path)?;
    Ok((super::service::read_cursor(&c, cursor)?, list_corrupt(&c)?))
}
