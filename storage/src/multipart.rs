//! Multipart uploads: an upload collects parts, each a blob its part row holds one reference
//! to; uploads are listed and aborted here, and completed into an object version in `complete`.

mod complete;

use crate::blob::parse_hash;
use crate::error::{MultipartError, Result, StorageError};
use crate::ingest::{ingest_to_blob, IngestOptions, Ingested};
use crate::keys::{common_prefix, prefix_end};
use crate::model::*;
use crate::publish::Published;
use crate::sqlite::objects::note_crc32c;
use crate::{now_ms, Store};
use coffer_crypto::checksum::ChecksumAlgorithm;
use rusqlite::{params, Connection, OptionalExtension, Row};

/// Rows fetched per query while listing uploads.
const SCAN_BATCH: usize = 1000;

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

/// The checksum column's form: algorithm and type separated by a space.
fn encode_upload_checksum(c: Option<UploadChecksum>) -> Option<String> {
    c.map(|c| format!("{} {}", c.algorithm.as_str(), c.kind.as_str()))
}

fn decode_upload_checksum(s: Option<&str>) -> Option<UploadChecksum> {
    let (alg, kind) = s?.split_once(' ')?;
    Some(UploadChecksum { algorithm: ChecksumAlgorithm::parse(alg)?, kind: ChecksumType::parse(kind)? })
}

/// A fresh upload id: random, opaque and URL-safe.
fn new_upload_id() -> String {
    hex::encode(rand::random::<[u8; 24]>())
}

/// The upload `upload_id` of `key` in the bucket, if it is in progress.
pub(crate) fn find_upload(c: &Connection, bucket_id: i64, key: &str, upload_id: &str) -> Result<Option<(i64, Upload)>> {
    Ok(c.prepare_cached(&format!("SELECT {UPLOAD_COLUMNS} FROM uploads WHERE upload_id = ?1 AND bucket_id = ?2 AND key = ?3"))?
        .query_row(params![upload_id, bucket_id, key.as_bytes()], upload_from_row)
        .optional()?)
}

fn require_upload(c: &Connection, bucket_id: i64, key: &str, upload_id: &str) -> Result<(i64, Upload)> {
    find_upload(c, bucket_id, key, upload_id)?.ok_or(StorageError::Multipart(MultipartError::NoSuchUpload))
}

/// Takes one reference to a local blob (creating its row on first use).
pub(crate) fn retain_blob(c: &Connection, hash: &[u8], size: u64) -> Result<()> {
    crate::sqlite::refs::retain(c, None, hash, size)
}

/// Drops one reference to a local blob; the garbage collector removes blobs nobody references.
pub(crate) fn release_blob(c: &Connection, hash: &[u8]) -> Result<()> {
    crate::sqlite::refs::release(c, None, hash)
}

/// Removes an upload with its parts, releasing the parts' blobs.
pub(crate) fn drop_upload(c: &Connection, seq: i64) -> Result<()> {
    let hashes: Vec<Vec<u8>> = c
        .prepare_cached("SELECT hash FROM parts WHERE upload_seq = ?1")?
        .query_map([seq], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    for h in hashes {
        release_blob(c, &h)?;
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
pub(crate) fn upload_parts(c: &Connection, seq: i64) -> Result<Vec<(Part, Vec<u8>)>> {
    let mut stmt = c.prepare_cached(&format!("SELECT {PART_COLUMNS} FROM parts WHERE upload_seq = ?1 ORDER BY part_number"))?;
    let rows = stmt.query_map([seq], part_from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Stores a part row, replacing (and releasing) any part with the same number.
fn replace_part(c: &Connection, seq: i64, part: &Part, hash: &[u8]) -> Result<()> {
    let old: Option<Vec<u8>> = c
        .prepare_cached("SELECT hash FROM parts WHERE upload_seq = ?1 AND part_number = ?2")?
        .query_row(params![seq, part.number], |r| r.get(0))
        .optional()?;
    if let Some(old) = old {
        release_blob(c, &old)?;
    }
    c.prepare_cached(
        "INSERT OR REPLACE INTO parts (upload_seq, part_number, size, etag, checksum, modified_ms, hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![seq, part.number, part.size as i64, part.etag, part.checksum, part.modified_ms, hash])?;
    retain_blob(c, hash, part.size)
}

impl Store {
    /// Starts an upload of `key`; the completed object will carry `meta`.
    pub async fn create_upload(
        &self,
        bucket_id: i64,
        key: &str,
        owner_id: &str,
        meta: ObjectMeta,
        checksum: Option<UploadChecksum>,
    ) -> Result<Upload> {
        let upload = Upload {
            upload_id: new_upload_id(),
            bucket_id,
            key: key.to_string(),
            owner_id: owner_id.to_string(),
            initiated_ms: now_ms(),
            meta,
            checksum,
        };
        let row = upload.clone();
        self.writer()
            .write(move |c| {
                c.prepare_cached(
                    "INSERT INTO uploads (upload_id, bucket_id, key, owner_id, initiated_ms, meta, checksum)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )?
                .execute(params![
                    row.upload_id,
                    row.bucket_id,
                    row.key.as_bytes(),
                    row.owner_id,
                    row.initiated_ms,
                    serde_json::to_string(&row.meta)?,
                    encode_upload_checksum(row.checksum)
                ])?;
                Ok(())
            })
            .await?;
        Ok(upload)
    }

    /// The upload `upload_id` of `key`, or `NoSuchUpload`.
    pub async fn upload(&self, bucket_id: i64, key: &str, upload_id: &str) -> Result<Upload> {
        let (key, upload_id) = (key.to_string(), upload_id.to_string());
        self.readers().read(move |c| Ok(require_upload(c, bucket_id, &key, &upload_id)?.1)).await
    }

    /// Receives a part's body into a staged file, hashing it in the same pass.
    pub async fn ingest_part<S>(&self, body: S, opts: IngestOptions) -> Result<Ingested>
    where
        S: futures::Stream<Item = std::io::Result<bytes::Bytes>> + Unpin,
    {
        ingest_to_blob(&self.inner.blobs, body, opts).await
    }

    /// Publishes a part's bytes as a blob and records the part, replacing any part with the
    /// same number. The body must come from `ingest_part` and carry the upload's checksum.
    pub async fn put_part(&self, upload: &Upload, number: u32, body: Ingested) -> Result<Part> {
        let checksum = upload.checksum.and_then(|u| body.checksum(u.algorithm)).map(|c| c.to_base64());
        let part = Part { number, size: body.size, etag: hex::encode(body.md5), checksum, modified_ms: now_ms() };
        let Published { body: stored, pin, crc32c } = self.publish(body).await?;
        let hash = match &stored {
            Body::Blobs(segments) if segments.len() == 1 => parse_hash(&segments[0].hash),
            _ => None,
        }
        .ok_or_else(|| StorageError::Corrupt("a part must be staged as one blob".into()))?;
        let (bucket_id, key, upload_id, row) = (upload.bucket_id, upload.key.clone(), upload.upload_id.clone(), part.clone());
        let named = stored.clone();
        let written = self
            .writer()
            .write(move |c| {
                let (seq, _) = require_upload(c, bucket_id, &key, &upload_id)?;
                replace_part(c, seq, &row, &hash)?;
                note_crc32c(c, &named, crc32c)
            })
            .await;
        self.unpublish_if_failed(&written, &stored, pin).await;
        written.map(|()| part)
    }

    /// Abandons an upload and releases its parts' space.
    pub async fn abort_upload(&self, bucket_id: i64, key: &str, upload_id: &str) -> Result<()> {
        let (key, upload_id) = (key.to_string(), upload_id.to_string());
        self.writer()
            .write(move |c| {
                let (seq, _) = require_upload(c, bucket_id, &key, &upload_id)?;
                drop_upload(c, seq)
            })
            .await
    }

    /// The upload and one page of its parts: numbers after `after`, at most `max`.
    pub async fn list_parts(&self, bucket_id: i64, key: &str, upload_id: &str, after: u32, max: usize) -> Result<(Upload, PartPage)> {
        let (key, upload_id) = (key.to_string(), upload_id.to_string());
        self.readers()
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

    /// One page of the uploads in progress, by key and then by initiation.
    pub async fn list_uploads(&self, bucket_id: i64, p: UploadListParams) -> Result<UploadPage> {
        self.readers().read(move |c| scan_uploads(c, bucket_id, &p)).await
    }

    /// The parts an object version was completed from; `None` if it was not uploaded in parts.
    pub async fn object_parts(&self, bucket_id: i64, key: &str, version_id: &str) -> Result<Option<Vec<Part>>> {
        let (key, version_id) = (key.to_string(), version_id.to_string());
        self.readers()
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
}

/// Where a listing of uploads resumes: after this key, or after this upload of the key.
fn upload_scan_start(c: &Connection, bucket_id: i64, p: &UploadListParams) -> Result<(Vec<u8>, i64)> {
    let Some(key) = p.key_marker.as_deref().filter(|k| !k.is_empty()) else {
        return Ok((Vec::new(), i64::MAX));
    };
    // A marker that is a common prefix (the last entry of a folded page) resumes past it.
    if let Some(cp) = common_prefix(key, &p.prefix, p.delimiter.as_deref()) {
        return Ok(match prefix_end(cp.as_bytes()) {
            Some(end) => (end, i64::MIN),
            None => (key.as_bytes().to_vec(), i64::MAX),
        });
    }
    let seq = match p.upload_id_marker.as_deref() {
        Some(id) => c
            .prepare_cached("SELECT seq FROM uploads WHERE bucket_id = ?1 AND key = ?2 AND upload_id = ?3")?
            .query_row(params![bucket_id, key.as_bytes(), id], |r| r.get(0))
            .optional()?
            .unwrap_or(i64::MAX),
        None => i64::MAX,
    };
    Ok((key.as_bytes().to_vec(), seq))
}

fn scan_uploads(c: &Connection, bucket_id: i64, p: &UploadListParams) -> Result<UploadPage> {
    let mut page = UploadPage::default();
    if p.max_uploads == 0 {
        return Ok(page);
    }
    let upper = prefix_end(p.prefix.as_bytes());
    let (mut after_key, mut after_seq) = upload_scan_start(c, bucket_id, p)?;
    let mut lower = p.prefix.as_bytes().to_vec();
    let mut stmt = c.prepare_cached(&format!(
        "SELECT {UPLOAD_COLUMNS} FROM uploads
         WHERE bucket_id = ?1 AND key >= ?2 AND (key, seq) > (?3, ?4) AND (?5 IS NULL OR key < ?5)
         ORDER BY key, seq LIMIT ?6"
    ))?;
    'scan: loop {
        let rows: Vec<(i64, Upload)> = stmt
            .query_map(params![bucket_id, lower, after_key, after_seq, upper, SCAN_BATCH as i64], upload_from_row)?
            .collect::<rusqlite::Result<_>>()?;
        let exhausted = rows.len() < SCAN_BATCH;
        for (seq, upload) in rows {
            if page.items.len() == p.max_uploads {
                page.is_truncated = true;
                break 'scan;
            }
            if let Some(cp) = common_prefix(&upload.key, &p.prefix, p.delimiter.as_deref()) {
                let next = prefix_end(cp.as_bytes());
                page.items.push(UploadListItem::Prefix(cp.to_string()));
                match next {
                    // Skip the rest of the prefix's keys; none of them is listed.
                    Some(end) => {
                        lower = end;
                        continue 'scan;
                    }
                    None => break 'scan,
                }
            }
            after_key = upload.key.as_bytes().to_vec();
            after_seq = seq;
            page.items.push(UploadListItem::Upload(upload));
        }
        if exhausted {
            break;
        }
    }
    Ok(page)
}

#[cfg(test)]
mod tests {
    use crate::testutil::*;
    use crate::*;
    use coffer_crypto::checksum::{Checksum, ChecksumAlgorithm};

    const MIN: u64 = 100_000;

    async fn part(t: &TestStore, upload: &Upload, number: u32, data: &[u8]) -> Part {
        let algs = upload.checksum.map(|c| vec![c.algorithm]).unwrap_or_default();
        let body = t.store.ingest_part(body(data), IngestOptions { checksums: algs, max_size: u64::MAX, seal: None, hash_plaintext: false }).await.unwrap();
        t.store.put_part(upload, number, body).await.unwrap()
    }

    fn listed(parts: &[&Part]) -> Vec<CompletePart> {
        parts.iter().map(|p| CompletePart { number: p.number, etag: format!("\"{}\"", p.etag), checksum: p.checksum.clone() }).collect()
    }

    fn request(parts: Vec<CompletePart>) -> CompleteRequest {
        CompleteRequest { parts, min_part_size: MIN, ..Default::default() }
    }

    fn blob_files(t: &TestStore) -> usize {
        t.store.inner.blobs.list_all().unwrap().len()
    }

    #[tokio::test]
    async fn complete_names_the_parts_blobs_and_frees_the_rest() {
        let t = store().await;
        let b = t.store.create_bucket(&t.owner, "b", "us-east-1").await.unwrap();
        let up = t.store.create_upload(b.id, "k", &t.owner.id, ObjectMeta::default(), None).await.unwrap();
        let (one, two) = (vec![1u8; MIN as usize], vec![2u8; 10]);
        let p1 = part(&t, &up, 1, &one).await;
        part(&t, &up, 2, b"replaced").await;
        let p2 = part(&t, &up, 2, &two).await;
        part(&t, &up, 3, b"never listed").await;
        assert_eq!(blob_files(&t), 4);

        let done = t.store.complete_upload(b.id, "k", &up.upload_id, request(listed(&[&p1, &p2]))).await.unwrap();
        assert!(done.etag.ends_with("-2"));
        assert_eq!(t.store.collect_garbage().await.unwrap(), 2, "the replaced part and the unlisted one");
        let (rec, body) = t.store.object(b.id, "k", None).await.unwrap();
        assert_eq!((rec.size, rec.etag.as_str()), (MIN + 10, done.etag.as_str()));
        assert_eq!(read_all(&t, &rec, &body, 0, rec.size).await, [one, two].concat());
        let parts = t.store.object_parts(b.id, "k", "null").await.unwrap().unwrap();
        assert_eq!(parts.iter().map(|p| (p.number, p.size)).collect::<Vec<_>>(), [(1, MIN), (2, 10)]);

        // Completing again answers the same; the upload itself is gone.
        let again = t.store.complete_upload(b.id, "k", &up.upload_id, request(vec![])).await.unwrap();
        assert_eq!(again, done);
        assert!(matches!(t.store.upload(b.id, "k", &up.upload_id).await, Err(StorageError::Multipart(MultipartError::NoSuchUpload))));
    }

    #[tokio::test]
    async fn complete_refuses_bad_part_lists() {
        let t = store().await;
        let b = t.store.create_bucket(&t.owner, "b", "us-east-1").await.unwrap();
        let up = t.store.create_upload(b.id, "k", &t.owner.id, ObjectMeta::default(), None).await.unwrap();
        let small = part(&t, &up, 1, b"small").await;
        let last = part(&t, &up, 2, b"last").await;
        let complete = |parts| t.store.complete_upload(b.id, "k", &up.upload_id, request(parts));
        let err = |r: Result<CompletedUpload>| match r {
            Err(StorageError::Multipart(m)) => m,
            other => panic!("{other:?}"),
        };
        assert!(matches!(err(complete(listed(&[&small, &last])).await), MultipartError::EntityTooSmall { number: 1, .. }));
        assert!(matches!(err(complete(listed(&[&last, &small])).await), MultipartError::InvalidPartOrder));
        let mut wrong = listed(&[&last]);
        wrong[0].etag = "\"0000\"".into();
        assert!(matches!(err(complete(wrong).await), MultipartError::InvalidPart(2)));
        t.store.abort_upload(b.id, "k", &up.upload_id).await.unwrap();
        assert!(matches!(err(complete(listed(&[&last])).await), MultipartError::NoSuchUpload));
        assert_eq!(t.store.collect_garbage().await.unwrap(), 2, "aborting frees every part");
    }

    #[tokio::test]
    async fn checksums_composite_and_full_object() {
        let t = store().await;
        let b = t.store.create_bucket(&t.owner, "b", "us-east-1").await.unwrap();
        let (one, two) = (vec![7u8; MIN as usize], b"end".to_vec());
        for kind in [ChecksumType::Composite, ChecksumType::FullObject] {
            let checksum = Some(UploadChecksum { algorithm: ChecksumAlgorithm::Crc32c, kind });
            let up = t.store.create_upload(b.id, "c", &t.owner.id, ObjectMeta::default(), checksum).await.unwrap();
            let (p1, p2) = (part(&t, &up, 1, &one).await, part(&t, &up, 2, &two).await);
            let done = t.store.complete_upload(b.id, "c", &up.upload_id, request(listed(&[&p1, &p2]))).await.unwrap();
            let value = done.checksum.unwrap().value;
            let expected = match kind {
                ChecksumType::FullObject => Checksum::compute(ChecksumAlgorithm::Crc32c, &[one.clone(), two.clone()].concat()).to_base64(),
                ChecksumType::Composite => {
                    let sums = [&one, &two].map(|d| Checksum::compute(ChecksumAlgorithm::Crc32c, d).bytes).concat();
                    format!("{}-2", Checksum::compute(ChecksumAlgorithm::Crc32c, &sums).to_base64())
                }
            };
            assert_eq!(value, expected, "{kind:?}");
        }
    }

    #[tokio::test]
    async fn list_uploads_in_order_with_prefixes_and_markers() {
        let t = store().await;
        let b = t.store.create_bucket(&t.owner, "b", "us-east-1").await.unwrap();
        let mut ids = Vec::new();
        for key in ["a/1", "a/2", "b", "b", "c"] {
            ids.push(t.store.create_upload(b.id, key, &t.owner.id, ObjectMeta::default(), None).await.unwrap().upload_id);
        }
        let names = |page: &UploadPage| {
            page.items
                .iter()
                .map(|i| match i {
                    UploadListItem::Upload(u) => u.upload_id.clone(),
                    UploadListItem::Prefix(p) => p.clone(),
                })
                .collect::<Vec<_>>()
        };
        let all = t.store.list_uploads(b.id, UploadListParams { max_uploads: 10, ..Default::default() }).await.unwrap();
        assert_eq!(names(&all), ids);
        let folded = UploadListParams { delimiter: Some("/".into()), max_uploads: 2, ..Default::default() };
        let page = t.store.list_uploads(b.id, folded).await.unwrap();
        assert_eq!(names(&page), ["a/".to_string(), ids[2].clone()]);
        assert!(page.is_truncated);
        let after = UploadListParams {
            key_marker: Some("b".into()),
            upload_id_marker: Some(ids[2].clone()),
            max_uploads: 10,
            ..Default::default()
        };
        assert_eq!(names(&t.store.list_uploads(b.id, after).await.unwrap()), ids[3..].to_vec());
        // A page that ended on a common prefix resumes after every key under it.
        let after_prefix = UploadListParams {
            delimiter: Some("/".into()),
            key_marker: Some("a/".into()),
            max_uploads: 1,
            ..Default::default()
        };
        assert_eq!(names(&t.store.list_uploads(b.id, after_prefix).await.unwrap()), [ids[2].clone()]);
    }
}
