//! SQLite's UploadIndex: multipart uploads: creating one, its parts, listing, aborting and completing it into a version.

use super::SqliteIndex;
use crate::blob::Hash;
use crate::columns::{decode_upload_checksum, encode_upload_checksum};
use crate::error::{MultipartError, Result, StorageError};
use crate::meta::UploadIndex;
use crate::model::*;
use crate::multipart::complete::{self, COMPLETED_KEPT_MS};
use crate::multipart::listing::UploadScan;
use crate::now_ms;
use crate::objects::Stored;
use crate::sqlite::objects::{insert_version, note_crc32c};
use crate::tiers::TierSet;
use rusqlite::{params, Connection, OptionalExtension, Row};
use std::sync::Arc;

#[async_trait::async_trait]
impl UploadIndex for SqliteIndex {
    async fn create_upload(&self, upload: Upload) -> Result<()> {
        self.writer
            .write(move |c| {
                c.prepare_cached(
                    "INSERT INTO uploads (upload_id, bucket_id, key, owner_id, initiated_ms, meta, checksum)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )?
                .execute(params![
                    upload.upload_id,
                    upload.bucket_id,
                    upload.key.as_bytes(),
                    upload.owner_id,
                    upload.initiated_ms,
                    serde_json::to_string(&upload.meta)?,
                    encode_upload_checksum(upload.checksum)
                ])?;
                Ok(())
            })
            .await
    }

    async fn upload(&self, bucket_id: i64, key: &str, upload_id: &str) -> Result<Option<Upload>> {
        let (key, upload_id) = (key.to_string(), upload_id.to_string());
        self.readers.read(move |c| Ok(find_upload(c, bucket_id, &key, &upload_id)?.map(|(_, u)| u))).await
    }

    async fn bucket_and_upload(&self, bucket: &str, key: &str, upload_id: &str) -> Result<(Bucket, Option<Upload>)> {
        let (key, upload_id) = (key.to_string(), upload_id.to_string());
        let (bucket, found) = self.bucket_and(bucket, move |c, bucket_id| find_upload(c, bucket_id, &key, &upload_id)).await?;
        Ok((bucket, found?.map(|(_, u)| u)))
    }

    async fn put_part(&self, upload: &Upload, part: Part, hash: Hash, stored: Body, crc32c: Option<u32>) -> Result<()> {
        let (bucket_id, key, upload_id) = (upload.bucket_id, upload.key.clone(), upload.upload_id.clone());
        self.writer
            .write(move |c| {
                let (seq, _) = require_upload(c, bucket_id, &key, &upload_id)?;
                replace_part(c, seq, &part, &hash)?;
                note_crc32c(c, &stored, crc32c)
            })
            .await
    }

    async fn abort_upload(&self, bucket_id: i64, key: &str, upload_id: &str) -> Result<()> {
        let (key, upload_id) = (key.to_string(), upload_id.to_string());
        self.writer
            .write(move |c| {
                let (seq, _) = require_upload(c, bucket_id, &key, &upload_id)?;
                drop_upload(c, seq)
            })
            .await
    }

    async fn list_parts(&self, bucket_id: i64, key: &str, upload_id: &str, after: u32, max: usize) -> Result<(Upload, PartPage)> {
        let (key, upload_id) = (key.to_string(), upload_id.to_string());
        self.readers
            .read(move |c| {
                let (seq, upload) = require_upload(c, bucket_id, &key, &upload_id)?;
                let mut stmt = c.prepare_cached(&format!(
                    "SELECT {PART_COLUMNS} FROM parts WHERE upload_seq = ?1 AND part_number > ?2 ORDER BY part_number LIMIT ?3"
                ))?;
                let mut parts: Vec<Part> = stmt
                    .query_map(params![seq, after, max as i64 + 1], part_from_row)?
                    .map(|r| r.map(|(p, _)| p))
                    .collect::<rusqlite::Result<_>>()?;
                let is_truncated = parts.len() > max;
                parts.truncate(max);
                Ok((upload, PartPage { parts, is_truncated }))
            })
            .await
    }

    async fn list_uploads(&self, bucket_id: i64, params: UploadListParams) -> Result<UploadPage> {
        self.readers.read(move |c| scan_uploads(c, bucket_id, &params)).await
    }

    async fn object_parts(&self, bucket_id: i64, key: &str, version_id: &str) -> Result<Option<Vec<Part>>> {
        let (key, version_id) = (key.to_string(), version_id.to_string());
        self.readers
            .read(move |c| {
                let parts: Option<String> = c
                    .prepare_cached("SELECT parts FROM objects WHERE bucket_id = ?1 AND key = ?2 AND version_id = ?3")?
                    .query_row(params![bucket_id, key.as_bytes(), version_id], |r| r.get(0))
                    .optional()?
                    .flatten();
                Ok(parts.map(|p| serde_json::from_str(&p)).transpose()?)
            })
            .await
    }

    async fn complete_upload(&self, bucket_id: i64, key: &str, upload_id: &str, req: CompleteRequest, tiers: Arc<TierSet>) -> Result<CompletedUpload> {
        let (key, upload_id) = (key.to_string(), upload_id.to_string());
        self.writer.write(move |c| complete_upload(c, bucket_id, &key, &upload_id, &req, &tiers)).await
    }
}

pub(crate) const UPLOAD_COLUMNS: &str = "seq, upload_id, bucket_id, key, owner_id, initiated_ms, meta, checksum";
const PART_COLUMNS: &str = "part_number, size, etag, checksum, modified_ms, hash";

/// An upload row: its sequence number (the key parts hang off) and the upload.
pub(crate) fn upload_from_row(r: &Row) -> rusqlite::Result<(i64, Upload)> {
    let key: Vec<u8> = r.get(3)?;
    let meta: String = r.get(6)?;
    let upload = Upload {
        upload_id: r.get(1)?,
        bucket_id: r.get(2)?,
        key: String::from_utf8_lossy(&key).into_owned(),
        owner_id: r.get(4)?,
        initiated_ms: r.get(5)?,
        meta: serde_json::from_str(&meta).unwrap_or_default(),
        checksum: decode_upload_checksum(r.get::<_, Option<String>>(7)?.as_deref()),
    };
    Ok((r.get(0)?, upload))
}

/// A part row and the hash of the blob holding its bytes.
fn part_from_row(r: &Row) -> rusqlite::Result<(Part, Vec<u8>)> {
    let part = Part { number: r.get(0)?, size: r.get::<_, i64>(1)? as u64, etag: r.get(2)?, checksum: r.get(3)?, modified_ms: r.get(4)? };
    Ok((part, r.get(5)?))
}

/// The upload `upload_id` of `key` in the bucket, if it is in progress.
fn find_upload(c: &Connection, bucket_id: i64, key: &str, upload_id: &str) -> Result<Option<(i64, Upload)>> {
    Ok(c.prepare_cached(&format!("SELECT {UPLOAD_COLUMNS} FROM uploads WHERE upload_id = ?1 AND bucket_id = ?2 AND key = ?3"))?
        .query_row(params![upload_id, bucket_id, key.as_bytes()], upload_from_row)
        .optional()?)
}

fn require_upload(c: &Connection, bucket_id: i64, key: &str, upload_id: &str) -> Result<(i64, Upload)> {
    find_upload(c, bucket_id, key, upload_id)?.ok_or(StorageError::Multipart(MultipartError::NoSuchUpload))
}

/// Removes an upload with its parts, releasing the parts' blobs (the garbage collector
/// removes blobs nobody references).
fn drop_upload(c: &Connection, seq: i64) -> Result<()> {
    let hashes: Vec<Vec<u8>> = c
        .prepare_cached("SELECT hash FROM parts WHERE upload_seq = ?1")?
        .query_map([seq], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    for h in hashes {
        crate::sqlite::refs::release(c, None, &h)?;
    }
    c.prepare_cached("DELETE FROM parts WHERE upload_seq = ?1")?.execute([seq])?;
    c.prepare_cached("DELETE FROM uploads WHERE seq = ?1")?.execute([seq])?;
    Ok(())
}

/// Aborts every upload of a bucket that is being deleted, and forgets its completed ones.
pub(crate) fn drop_bucket_uploads(c: &Connection, bucket_id: i64) -> Result<()> {
    let seqs: Vec<i64> = c
        .prepare_cached("SELECT seq FROM uploads WHERE bucket_id = ?1")?
        .query_map([bucket_id], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    for seq in seqs {
        drop_upload(c, seq)?;
    }
    c.prepare_cached("DELETE FROM completed_uploads WHERE bucket_id = ?1")?.execute([bucket_id])?;
    Ok(())
}

/// Every part of an upload with its blob hash, by part number.
fn upload_parts(c: &Connection, seq: i64) -> Result<Vec<(Part, Vec<u8>)>> {
    let mut stmt = c.prepare_cached(&format!("SELECT {PART_COLUMNS} FROM parts WHERE upload_seq = ?1 ORDER BY part_number"))?;
    let rows = stmt.query_map([seq], part_from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Stores a part row, replacing (and releasing) any part with the same number, and takes one
/// reference to its local blob.
fn replace_part(c: &Connection, seq: i64, part: &Part, hash: &[u8]) -> Result<()> {
    let old: Option<Vec<u8>> = c
        .prepare_cached("SELECT hash FROM parts WHERE upload_seq = ?1 AND part_number = ?2")?
        .query_row(params![seq, part.number], |r| r.get(0))
        .optional()?;
    if let Some(old) = old {
        crate::sqlite::refs::release(c, None, &old)?;
    }
    c.prepare_cached(
        "INSERT OR REPLACE INTO parts (upload_seq, part_number, size, etag, checksum, modified_ms, hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![seq, part.number, part.size as i64, part.etag, part.checksum, part.modified_ms, hash])?;
    crate::sqlite::refs::retain(c, None, hash, part.size)
}

fn scan_uploads(c: &Connection, bucket_id: i64, p: &UploadListParams) -> Result<UploadPage> {
    let mut scan = UploadScan::new(p);
    if let Some((key, upload_id)) = scan.marker() {
        let seq = c
            .prepare_cached("SELECT seq FROM uploads WHERE bucket_id = ?1 AND key = ?2 AND upload_id = ?3")?
            .query_row(params![bucket_id, key, upload_id], |r| r.get(0))
            .optional()?;
        scan.resume_after(seq);
    }
    let mut stmt = c.prepare_cached(&format!(
        "SELECT {UPLOAD_COLUMNS} FROM uploads
         WHERE bucket_id = ?1 AND key >= ?2 AND (key, seq) > (?3, ?4) AND (?5 IS NULL OR key < ?5)
         ORDER BY key, seq LIMIT ?6"
    ))?;
    while let Some(b) = scan.next_batch() {
        let rows = stmt
            .query_map(params![bucket_id, b.lower, b.after_key, b.after_seq, b.upper, b.limit], upload_from_row)?
            .collect::<rusqlite::Result<_>>()?;
        scan.take(rows);
    }
    Ok(scan.page())
}

/// Completes an upload into a new version of its key, or answers an earlier completion's result.
fn complete_upload(c: &Connection, bucket_id: i64, key: &str, upload_id: &str, req: &CompleteRequest, tiers: &TierSet) -> Result<CompletedUpload> {
    let Some((seq, upload)) = find_upload(c, bucket_id, key, upload_id)? else {
        return previous_result(c, bucket_id, key, upload_id)?.ok_or(MultipartError::NoSuchUpload.into());
    };
    let plan = complete::plan(key, &upload, &upload_parts(c, seq)?, req)?;
    let stored = Stored { size: plan.size, etag: &plan.etag, body: &plan.body, tier: None };
    let record = match &req.replica_of {
        Some(of) => crate::sqlite::replication::write_replica(c, bucket_id, &plan.new, &stored, of, tiers)?,
        None => insert_version(c, bucket_id, &plan.new, &stored, &req.conditions, tiers)?,
    };
    c.prepare_cached("UPDATE objects SET parts = ?4 WHERE bucket_id = ?1 AND key = ?2 AND version_id = ?3")?.execute(params![
        bucket_id,
        key.as_bytes(),
        record.version_id,
        serde_json::to_string(&plan.parts)?
    ])?;
    // The object now holds its own reference to each chosen blob; the parts' go, unused ones with them.
    drop_upload(c, seq)?;
    let result = plan.result(record);
    remember(c, bucket_id, key, upload_id, &result)?;
    Ok(result)
}

fn previous_result(c: &Connection, bucket_id: i64, key: &str, upload_id: &str) -> Result<Option<CompletedUpload>> {
    let result: Option<String> = c
        .prepare_cached("SELECT result FROM completed_uploads WHERE upload_id = ?1 AND bucket_id = ?2 AND key = ?3")?
        .query_row(params![upload_id, bucket_id, key.as_bytes()], |r| r.get(0))
        .optional()?;
    Ok(result.map(|r| serde_json::from_str(&r)).transpose()?)
}

/// Keeps the result for repeated Complete requests, and forgets results older than a day.
fn remember(c: &Connection, bucket_id: i64, key: &str, upload_id: &str, result: &CompletedUpload) -> Result<()> {
    let now = now_ms();
    c.prepare_cached("DELETE FROM completed_uploads WHERE completed_ms < ?1")?.execute([now - COMPLETED_KEPT_MS])?;
    c.prepare_cached(
        "INSERT OR REPLACE INTO completed_uploads (upload_id, bucket_id, key, completed_ms, result) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![upload_id, bucket_id, key.as_bytes(), now, serde_json::to_string(result)?])?;
    Ok(())
}
