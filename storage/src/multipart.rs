//! Multipart uploads: an upload collects parts, each a blob its part row holds one reference
//! to; uploads are listed and aborted here, and completed into an object version in `complete`.

pub(crate) mod complete;
pub(crate) mod listing;

use crate::blob::parse_hash;
use crate::error::{MultipartError, Result, StorageError};
use crate::ingest::{ingest_to_blob, IngestOptions, Ingested};
use crate::model::*;
use crate::publish::Published;
use crate::{now_ms, Store};

/// A fresh upload id: random, opaque and URL-safe.
fn new_upload_id() -> String {
    hex::encode(rand::random::<[u8; 24]>())
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
        self.index().create_upload(upload.clone()).await?;
        Ok(upload)
    }

    /// The upload `upload_id` of `key`, or `NoSuchUpload`.
    pub async fn upload(&self, bucket_id: i64, key: &str, upload_id: &str) -> Result<Upload> {
        self.index().upload(bucket_id, key, upload_id).await?.ok_or(StorageError::Multipart(MultipartError::NoSuchUpload))
    }

    /// The bucket named `bucket` (`NoSuchBucket`) and its upload `upload_id` of `key` (or
    /// `NoSuchUpload`), looked up in one read: the hot path of UploadPart.
    pub async fn bucket_and_upload(&self, bucket: &str, key: &str, upload_id: &str) -> Result<(Bucket, Result<Upload>)> {
        let (bucket, upload) = self.index().bucket_and_upload(bucket, key, upload_id).await?;
        self.inner.configs.observe(bucket.id, bucket.config_gen);
        Ok((bucket, upload.ok_or(StorageError::Multipart(MultipartError::NoSuchUpload))))
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
        let written = self.index().put_part(upload, part.clone(), hash, stored.clone(), crc32c).await;
        self.unpublish_if_failed(&written, &stored, pin).await;
        written.map(|()| part)
    }

    /// Abandons an upload and releases its parts' space.
    pub async fn abort_upload(&self, bucket_id: i64, key: &str, upload_id: &str) -> Result<()> {
        self.index().abort_upload(bucket_id, key, upload_id).await
    }

    /// The upload and one page of its parts: numbers after `after`, at most `max`.
    pub async fn list_parts(&self, bucket_id: i64, key: &str, upload_id: &str, after: u32, max: usize) -> Result<(Upload, PartPage)> {
        self.index().list_parts(bucket_id, key, upload_id, after, max).await
    }

    /// One page of the uploads in progress, by key and then by initiation.
    pub async fn list_uploads(&self, bucket_id: i64, p: UploadListParams) -> Result<UploadPage> {
        self.index().list_uploads(bucket_id, p).await
    }

    /// The parts an object version was completed from; `None` if it was not uploaded in parts.
    pub async fn object_parts(&self, bucket_id: i64, key: &str, version_id: &str) -> Result<Option<Vec<Part>>> {
        self.index().object_parts(bucket_id, key, version_id).await
    }
}

#[cfg(test)]
mod tests {
    use crate::testutil::*;
    use crate::*;
    use coffer_crypto::checksum::ChecksumAlgorithm;

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

    /// A body is published as soon as its SHA-256 is known (always for a sealed one), before
    /// the request's checks; dropped unnamed, its blob goes at the next collection, and a blob
    /// that something names stays.
    #[tokio::test]
    async fn a_body_dropped_before_its_commit_leaves_no_blob_after_the_next_collection() {
        let t = store().await;
        let b = t.store.create_bucket(&t.owner, "b", "us-east-1").await.unwrap();
        let up = t.store.create_upload(b.id, "k", &t.owner.id, ObjectMeta::default(), None).await.unwrap();
        let kept = vec![4u8; 300_000];
        part(&t, &up, 1, &kept).await;
        for seal in [None, Some(coffer_crypto::envelope::Key256::from_bytes([9u8; 32]))] {
            for data in [vec![5u8; 300_000], kept.clone()] {
                let opts = IngestOptions { checksums: vec![], max_size: u64::MAX, seal: seal.clone(), hash_plaintext: false };
                drop(t.store.ingest_part(body(&data), opts).await.unwrap());
                t.store.collect_garbage().await.unwrap();
                assert_eq!(blob_files(&t), 1, "only the stored part's blob is left");
            }
        }
    }

    #[tokio::test]
    async fn the_bucket_and_its_upload_are_found_in_one_read() {
        let t = store().await;
        let b = t.store.create_bucket(&t.owner, "b", "us-east-1").await.unwrap();
        let other = t.store.create_bucket(&t.owner, "other", "us-east-1").await.unwrap();
        let checksum = Some(UploadChecksum { algorithm: coffer_crypto::checksum::ChecksumAlgorithm::Crc32c, kind: ChecksumType::FullObject });
        let up = t.store.create_upload(b.id, "k", &t.owner.id, ObjectMeta::default(), checksum).await.unwrap();
        let (bucket, found) = t.store.bucket_and_upload("b", "k", &up.upload_id).await.unwrap();
        let found = found.unwrap();
        assert_eq!((bucket.id, bucket.name.as_str()), (b.id, "b"));
        assert_eq!((found.upload_id, found.key, found.bucket_id, found.checksum), (up.upload_id.clone(), "k".to_string(), b.id, checksum));
        let no_upload = |found: Result<Upload>| matches!(found, Err(StorageError::Multipart(MultipartError::NoSuchUpload)));
        // Another key, another bucket, or no id at all finds no upload, but finds the bucket.
        for (bucket, key, id) in [("b", "other-key", up.upload_id.as_str()), ("other", "k", &up.upload_id), ("b", "k", ""), ("b", "k", "nope")] {
            let (found_bucket, found) = t.store.bucket_and_upload(bucket, key, id).await.unwrap();
            assert_eq!(found_bucket.id, if bucket == "b" { b.id } else { other.id });
            assert!(no_upload(found), "{bucket} {key} {id:?}");
        }
        assert!(matches!(t.store.bucket_and_upload("nope", "k", &up.upload_id).await, Err(StorageError::NoSuchBucket)));
        t.store.abort_upload(b.id, "k", &up.upload_id).await.unwrap();
        assert!(no_upload(t.store.bucket_and_upload("b", "k", &up.upload_id).await.unwrap().1));
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
            assert_eq!(value, crc32c_of_parts(kind, &[&one, &two]), "{kind:?}");
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
        let all = t.store.list_uploads(b.id, UploadListParams { max_uploads: 10, ..Default::default() }).await.unwrap();
        assert_eq!(upload_names(&all), ids);
        let folded = UploadListParams { delimiter: Some("/".into()), max_uploads: 2, ..Default::default() };
        let page = t.store.list_uploads(b.id, folded).await.unwrap();
        assert_eq!(upload_names(&page), ["a/".to_string(), ids[2].clone()]);
        assert!(page.is_truncated);
        let after = UploadListParams {
            key_marker: Some("b".into()),
            upload_id_marker: Some(ids[2].clone()),
            max_uploads: 10,
            ..Default::default()
        };
        assert_eq!(upload_names(&t.store.list_uploads(b.id, after).await.unwrap()), ids[3..].to_vec());
        // A page that ended on a common prefix resumes after every key under it.
        let after_prefix = UploadListParams {
            delimiter: Some("/".into()),
            key_marker: Some("a/".into()),
            max_uploads: 1,
            ..Default::default()
        };
        assert_eq!(upload_names(&t.store.list_uploads(b.id, after_prefix).await.unwrap()), [ids[2].clone()]);
    }
}
