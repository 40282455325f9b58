//! PostgreSQL's UploadIndex: multipart uploads whose parts may arrive at different nodes. An
//! upload's row orders its writers: part uploads share its lock, Complete and Abort take it alone.

use super::buckets::{bucket_at, bucket_versioning, BUCKET_COLUMNS};
use super::objects::{change_refs, insert_row, insert_version, lock_key, note_blob_crc32c};
use super::rows::{object_from_row, OBJECT_COLUMNS};
use super::{in_snapshot, transact, PgIndex};
use crate::blob::Hash;
use crate::columns::{decode_meta, decode_upload_checksum, encode_upload_checksum};
use crate::error::{MultipartError, Result, StorageError};
use crate::meta::UploadIndex;
use crate::model::*;
use crate::multipart::complete::{self, COMPLETED_KEPT_MS};
use crate::multipart::listing::UploadScan;
use crate::now_ms;
use crate::objects::{NewObject, Stored};
use crate::replication::{newer_than_replica, remote_replica};
use crate::tiers::TierSet;
use std::sync::Arc;
use super::GenericClient;
use tokio_postgres::Row;

pub(crate) const UPLOAD_COLUMNS: &str = "seq, upload_id, bucket_id, key, owner_id, initiated_ms, meta, checksum";
/// How many columns `UPLOAD_COLUMNS` names: columns selected after them start here.
const UPLOAD_COLUMN_COUNT: usize = 8;
const PART_COLUMNS: &str = "part_number, size, etag, checksum, modified_ms, hash";

#[async_trait::async_trait]
impl UploadIndex for PgIndex {
    async fn create_upload(&self, upload: Upload) -> Result<()> {
        self.client()
            .await?
            .execute(
                "INSERT INTO uploads (upload_id, bucket_id, key, owner_id, initiated_ms, meta, checksum) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                &[
                    &upload.upload_id,
                    &upload.bucket_id,
                    &upload.key.as_bytes(),
                    &upload.owner_id,
                    &upload.initiated_ms,
                    &serde_json::to_string(&upload.meta)?,
                    &encode_upload_checksum(upload.checksum),
                ],
            )
            .await?;
        Ok(())
    }

    async fn upload(&self, bucket_id: i64, key: &str, upload_id: &str) -> Result<Option<Upload>> {
        Ok(find_upload(&*self.client().await?, bucket_id, key, upload_id, Lock::None).await?.map(|(_, u)| u))
    }

    async fn bucket_and_upload(&self, bucket: &str, key: &str, upload_id: &str) -> Result<(Bucket, Option<Upload>)> {
        // One statement, so one snapshot: the upload's columns (NULL when there is none), then
        // the bucket's.
        let client = self.client().await?;
        let sql = format!(
            "SELECT up.*, {BUCKET_COLUMNS} FROM buckets b JOIN users u ON u.id = b.owner_id
             LEFT JOIN LATERAL (SELECT {UPLOAD_COLUMNS} FROM uploads WHERE upload_id = $2 AND bucket_id = b.id AND key = $3) up ON true
             WHERE b.name = $1"
        );
        let statement = client.prepare_cached(&sql).await?;
        let row = client.query_opt(&statement, &[&bucket, &upload_id, &key.as_bytes()]).await?.ok_or(StorageError::NoSuchBucket)?;
        let upload = row.get::<_, Option<i64>>(0).map(|_| upload_from_row(&row).1);
        Ok((bucket_at(&row, UPLOAD_COLUMN_COUNT), upload))
    }

    async fn put_part(&self, upload: &Upload, part: Part, hash: Hash, stored: Body, crc32c: Option<u32>) -> Result<()> {
        let Body::Blobs(put) = stored else { return Err(StorageError::Corrupt("a part must be stored as a blob".into())) };
        transact!(self, |tx| {
            let (seq, _) = require_upload(&*tx, upload.bucket_id, &upload.key, &upload.upload_id, Lock::Shared).await?;
            replace_part(&*tx, seq, &part, &hash, &put).await?;
            note_blob_crc32c(&*tx, &hash, crc32c).await?
        })
    }

    async fn abort_upload(&self, bucket_id: i64, key: &str, upload_id: &str) -> Result<()> {
        transact!(self, |tx| {
            let (seq, _) = require_upload(&*tx, bucket_id, key, upload_id, Lock::Alone).await?;
            drop_uploads(&*tx, Uploads::One(seq)).await?
        })
    }

    async fn list_parts(&self, bucket_id: i64, key: &str, upload_id: &str, after: u32, max: usize) -> Result<(Upload, PartPage)> {
        in_snapshot!(self, |tx| {
            let (seq, upload) = require_upload(&*tx, bucket_id, key, upload_id, Lock::None).await?;
            let rows = tx
                .query(
                    &format!("SELECT {PART_COLUMNS} FROM parts WHERE upload_seq = $1 AND part_number > $2 ORDER BY part_number LIMIT $3"),
                    &[&seq, &i64::from(after), &(max as i64 + 1)],
                )
                .await?;
            let mut parts: Vec<Part> = rows.iter().map(|r| part_from_row(r).0).collect();
            let is_truncated = parts.len() > max;
            parts.truncate(max);
            (upload, PartPage { parts, is_truncated })
        })
    }

    async fn list_uploads(&self, bucket_id: i64, params: UploadListParams) -> Result<UploadPage> {
        in_snapshot!(self, |tx| {
            let mut scan = UploadScan::new(&params);
            if let Some((key, upload_id)) = scan.marker() {
                let row = tx.query_opt("SELECT seq FROM uploads WHERE bucket_id = $1 AND key = $2 AND upload_id = $3", &[&bucket_id, &key, &upload_id]).await?;
                scan.resume_after(row.map(|r| r.get(0)));
            }
            let sql = format!(
                "SELECT {UPLOAD_COLUMNS} FROM uploads
                 WHERE bucket_id = $1 AND key >= $2 AND (key, seq) > ($3, $4) AND ($5::bytea IS NULL OR key < $5::bytea)
                 ORDER BY key, seq LIMIT $6"
            );
            while let Some(b) = scan.next_batch() {
                let rows = tx.query(&sql, &[&bucket_id, &b.lower, &b.after_key, &b.after_seq, &b.upper, &b.limit]).await?;
                scan.take(rows.iter().map(upload_from_row).collect());
            }
            scan.page()
        })
    }

    async fn object_parts(&self, bucket_id: i64, key: &str, version_id: &str) -> Result<Option<Vec<Part>>> {
        let row = self
            .client()
            .await?
            .query_opt("SELECT parts FROM objects WHERE bucket_id = $1 AND key = $2 AND version_id = $3", &[&bucket_id, &key.as_bytes(), &version_id])
            .await?;
        let parts: Option<&str> = row.as_ref().and_then(|r| r.get(0));
        Ok(parts.map(serde_json::from_str).transpose()?)
    }

    async fn complete_upload(&self, bucket_id: i64, key: &str, upload_id: &str, req: CompleteRequest, tiers: Arc<TierSet>) -> Result<CompletedUpload> {
        transact!(self, |tx| complete_upload(&*tx, bucket_id, key, upload_id, &req, &tiers).await?)
    }
}

/// The row lock a transaction takes on the upload it reads.
#[derive(Clone, Copy)]
enum Lock {
    None,
    /// Part uploads: several at once, none while a Complete or Abort holds the upload.
    Shared,
    /// Complete and Abort, which end the upload: alone, after the part uploads in flight.
    Alone,
}

/// The upload `upload_id` of `key` in the bucket with its row number, if it is in progress,
/// locked as `lock` says. A lock that waited for a Complete or Abort finds no upload.
async fn find_upload(c: &impl GenericClient, bucket_id: i64, key: &str, upload_id: &str, lock: Lock) -> Result<Option<(i64, Upload)>> {
    let lock = match lock {
        Lock::None => "",
        Lock::Shared => "FOR SHARE",
        Lock::Alone => "FOR UPDATE",
    };
    let sql = format!("SELECT {UPLOAD_COLUMNS} FROM uploads WHERE upload_id = $1 AND bucket_id = $2 AND key = $3 {lock}");
    Ok(c.query_opt(&sql, &[&upload_id, &bucket_id, &key.as_bytes()]).await?.as_ref().map(upload_from_row))
}

async fn require_upload(c: &impl GenericClient, bucket_id: i64, key: &str, upload_id: &str, lock: Lock) -> Result<(i64, Upload)> {
    find_upload(c, bucket_id, key, upload_id, lock).await?.ok_or(StorageError::Multipart(MultipartError::NoSuchUpload))
}

/// An upload row (`UPLOAD_COLUMNS`): its row number, which its parts hang off, and the upload.
pub(crate) fn upload_from_row(r: &Row) -> (i64, Upload) {
    let key: &[u8] = r.get(3);
    let upload = Upload {
        upload_id: r.get(1),
        bucket_id: r.get(2),
        key: String::from_utf8_lossy(key).into_owned(),
        owner_id: r.get(4),
        initiated_ms: r.get(5),
        meta: decode_meta(r.get(6)),
        checksum: decode_upload_checksum(r.get(7)),
    };
    (r.get(0), upload)
}

/// A part row (`PART_COLUMNS`) and the hash of the blob holding its bytes.
fn part_from_row(r: &Row) -> (Part, Vec<u8>) {
    let number: i64 = r.get(0);
    let part = Part { number: number as u32, size: r.get::<_, i64>(1) as u64, etag: r.get(2), checksum: r.get(3), modified_ms: r.get(4) };
    (part, r.get(5))
}

/// A blob reference as `change_refs` takes it.
fn blob(hash: &[u8], len: u64) -> Segment {
    Segment::named(hex::encode(hash), len)
}

/// Stores a part row and takes a reference to its blob (`put`, as the writer put it); a part
/// with the same number is replaced and its reference released. Two nodes uploading one part
/// number take turns on the part's row, so the last to commit wins and each replaced blob is
/// released once.
async fn replace_part(c: &impl GenericClient, seq: i64, part: &Part, hash: &Hash, put: &[Segment]) -> Result<()> {
    let number = i64::from(part.number);
    let values: [&(dyn tokio_postgres::types::ToSql + Sync); 7] =
        [&seq, &number, &(part.size as i64), &part.etag, &part.checksum, &part.modified_ms, &&hash[..]];
    let inserted = c
        .execute(
            "INSERT INTO parts (upload_seq, part_number, size, etag, checksum, modified_ms, hash) VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (upload_seq, part_number) DO NOTHING",
            &values,
        )
        .await?;
    if inserted == 0 {
        // The row exists (it goes only with the upload, whose lock this transaction shares).
        let old: Vec<u8> = c.query_one("SELECT hash FROM parts WHERE upload_seq = $1 AND part_number = $2 FOR UPDATE", &[&seq, &number]).await?.get(0);
        c.execute("UPDATE parts SET size = $3, etag = $4, checksum = $5, modified_ms = $6, hash = $7 WHERE upload_seq = $1 AND part_number = $2", &values)
            .await?;
        change_refs(c, None, &[blob(&old, 0)], -1).await?;
    }
    change_refs(c, None, put, 1).await
}

/// Which uploads `drop_uploads` removes: one (by row number), or every one of a bucket.
enum Uploads {
    One(i64),
    OfBucket(i64),
}

/// Removes uploads with their parts, releasing each part's blob reference (the garbage
/// collector removes blobs nobody references). Part uploads in flight commit first (their
/// parts are released with the others); later ones find no upload.
async fn drop_uploads(c: &impl GenericClient, which: Uploads) -> Result<()> {
    let (pick, id) = match which {
        Uploads::One(seq) => ("seq = $1", seq),
        Uploads::OfBucket(bucket_id) => ("bucket_id = $1", bucket_id),
    };
    c.query(&format!("SELECT 1 FROM uploads WHERE {pick} FOR UPDATE"), &[&id]).await?;
    let of_uploads = format!("upload_seq IN (SELECT seq FROM uploads WHERE {pick})");
    c.execute(
        &format!("UPDATE blobs SET refs = refs - p.n FROM (SELECT hash, count(*) AS n FROM parts WHERE {of_uploads} GROUP BY hash) p WHERE blobs.hash = p.hash"),
        &[&id],
    )
    .await?;
    c.execute(&format!("DELETE FROM parts WHERE {of_uploads}"), &[&id]).await?;
    c.execute(&format!("DELETE FROM uploads WHERE {pick}"), &[&id]).await?;
    Ok(())
}

/// Aborts every upload of a bucket that is being deleted, and forgets its completed ones.
pub(crate) async fn drop_bucket_uploads(c: &impl GenericClient, bucket_id: i64) -> Result<()> {
    drop_uploads(c, Uploads::OfBucket(bucket_id)).await?;
    c.execute("DELETE FROM completed_uploads WHERE bucket_id = $1", &[&bucket_id]).await?;
    Ok(())
}

/// Completes an upload into a new version of its key, or answers an earlier completion's
/// result. Of a Complete and an Abort (or another Complete) of one upload, the first to lock
/// it ends it; the other then finds no upload.
async fn complete_upload(c: &impl GenericClient, bucket_id: i64, key: &str, upload_id: &str, req: &CompleteRequest, tiers: &TierSet) -> Result<CompletedUpload> {
    let Some((seq, upload)) = find_upload(c, bucket_id, key, upload_id, Lock::Alone).await? else {
        return previous_result(c, bucket_id, key, upload_id).await?.ok_or(MultipartError::NoSuchUpload.into());
    };
    let rows = c.query(&format!("SELECT {PART_COLUMNS} FROM parts WHERE upload_seq = $1 ORDER BY part_number"), &[&seq]).await?;
    let parts: Vec<(Part, Vec<u8>)> = rows.iter().map(part_from_row).collect();
    let plan = complete::plan(key, &upload, &parts, req)?;
    let stored = Stored { size: plan.size, etag: &plan.etag, body: &plan.body, tier: None };
    let record = match &req.replica_of {
        Some(of) => write_replica(c, bucket_id, &plan.new, &stored, of, tiers).await?,
        None => insert_version(c, bucket_id, &plan.new, &stored, &req.conditions, tiers).await?,
    };
    c.execute(
        "UPDATE objects SET parts = $4 WHERE bucket_id = $1 AND key = $2 AND version_id = $3",
        &[&bucket_id, &key.as_bytes(), &record.version_id, &serde_json::to_string(&plan.parts)?],
    )
    .await?;
    // The version now holds its own reference to each chosen blob; the parts' go, unused ones with them.
    drop_uploads(c, Uploads::One(seq)).await?;
    let result = plan.result(record);
    remember(c, bucket_id, key, upload_id, &result).await?;
    Ok(result)
}

async fn previous_result(c: &impl GenericClient, bucket_id: i64, key: &str, upload_id: &str) -> Result<Option<CompletedUpload>> {
    let row = c
        .query_opt("SELECT result FROM completed_uploads WHERE upload_id = $1 AND bucket_id = $2 AND key = $3", &[&upload_id, &bucket_id, &key.as_bytes()])
        .await?;
    Ok(row.map(|r| serde_json::from_str(r.get(0))).transpose()?)
}

/// Keeps the result for repeated Complete requests, and forgets results older than a day
/// (those another node's Complete is forgetting right now are left to it).
async fn remember(c: &impl GenericClient, bucket_id: i64, key: &str, upload_id: &str, result: &CompletedUpload) -> Result<()> {
    let now = now_ms();
    c.execute(
        "DELETE FROM completed_uploads WHERE upload_id IN (SELECT upload_id FROM completed_uploads WHERE completed_ms < $1 FOR UPDATE SKIP LOCKED)",
        &[&(now - COMPLETED_KEPT_MS)],
    )
    .await?;
    c.execute(
        "INSERT INTO completed_uploads (upload_id, bucket_id, key, completed_ms, result) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (upload_id) DO UPDATE SET bucket_id = excluded.bucket_id, key = excluded.key, completed_ms = excluded.completed_ms, result = excluded.result",
        &[&upload_id, &bucket_id, &key.as_bytes(), &now, &serde_json::to_string(result)?],
    )
    .await?;
    Ok(())
}

/// Writes a version replicated from another server into `bucket_id` under the identity it had
/// there; a replica already written (a retried delivery) is returned as it is. (A port of
/// SQLite's `write_replica` for Complete's replica path, until PostgreSQL's ReplicationIndex
/// brings its own.)
async fn write_replica(c: &impl GenericClient, bucket_id: i64, new: &NewObject, stored: &Stored<'_>, of: &ReplicaOf, tiers: &TierSet) -> Result<ObjectRecord> {
    if bucket_versioning(c, bucket_id).await? != Versioning::Enabled {
        return Err(StorageError::Replication("the destination bucket does not have versioning enabled".into()));
    }
    let key = new.key.as_bytes();
    lock_key(c, bucket_id, &new.key).await?;
    let sql = format!("SELECT {OBJECT_COLUMNS} FROM objects WHERE bucket_id = $1 AND key = $2 AND version_id = $3");
    if let Some(row) = c.query_opt(&sql, &[&bucket_id, &key, &of.version_id]).await? {
        return Ok(object_from_row(&row));
    }
    let mut replica = remote_replica(bucket_id, new, stored, of, tiers);
    let current = c.query_opt("SELECT seq, version_id, modified_ms FROM objects WHERE bucket_id = $1 AND key = $2 AND is_latest", &[&bucket_id, &key]).await?;
    let newer_there = current.as_ref().is_some_and(|r| newer_than_replica(r.get(1), &replica.version_id));
    match &current {
        Some(r) if !newer_there => {
            c.execute("UPDATE objects SET is_latest = false, noncurrent_ms = $2 WHERE seq = $1", &[&r.get::<_, i64>(0), &replica.modified_ms]).await?;
        }
        _ => {}
    }
    replica.is_latest = !newer_there;
    insert_row(c, &replica, Some(stored.body)).await?;
    if newer_there {
        let newer_ms: i64 = current.map(|r| r.get(2)).unwrap_or(replica.modified_ms);
        c.execute("UPDATE objects SET noncurrent_ms = $4 WHERE bucket_id = $1 AND key = $2 AND version_id = $3", &[&bucket_id, &key, &replica.version_id, &newer_ms])
            .await?;
    }
    Ok(replica)
}
