//! Object versions: writing a new version atomically (with conditions and S3's versioning
//! rules), reading one, copying without copying bytes, and deleting.

use crate::error::{Result, StorageError};
use crate::events::{EventName, Origin, Requester};
use crate::ingest::Ingested;
use crate::meta::{MetaChange, NewBody, VersionRef};
use crate::model::*;
use crate::publish::Published;
use crate::Store;
use std::future::Future;

/// What a new version is, apart from its bytes.
#[derive(Clone, Debug)]
pub struct NewObject {
    pub key: String,
    pub owner_id: String,
    pub meta: ObjectMeta,
    /// The S3 operation that writes it (ObjectCreated:Put, :Post, :Copy or
    /// :CompleteMultipartUpload) and who asked: what its event notification says.
    pub origin: Origin,
}

/// What a DELETE did.
#[derive(Clone, Debug, Default)]
pub struct DeleteOutcome {
    /// The version removed or the delete marker created, when the bucket has versions.
    pub version_id: Option<String>,
    /// Whether a delete marker was created or removed.
    pub delete_marker: bool,
}

/// The bytes a new version names: where they are, how many, and their ETag.
pub(crate) struct Stored<'a> {
    pub size: u64,
    pub etag: &'a str,
    pub body: &'a Body,
    /// The tier holding the body (a copy shares its source's); None for the local store.
    pub tier: Option<&'a str>,
}

impl Store {
    /// Names `body` as a new version of `new.key`. The bytes are durable before the index
    /// commit, and the commit is the moment the version exists.
    pub async fn put_object(&self, bucket: &Bucket, new: NewObject, body: Ingested, cond: WriteConditions) -> Result<ObjectRecord> {
        let (bucket_id, tiers) = (bucket.id, self.tiers());
        self.commit_body(body, |body| self.index().put_version(bucket_id, new, body, cond, tiers)).await
    }

    /// Publishes `body` and names it in the index with `commit`; the blob is unpublished again
    /// if the commit fails.
    pub(crate) async fn commit_body<'a, F, Fut>(&'a self, body: Ingested, commit: F) -> Result<ObjectRecord>
    where
        F: FnOnce(NewBody) -> Fut,
        Fut: Future<Output = Result<ObjectRecord>> + 'a,
    {
        let (size, etag) = (body.size, hex::encode(body.md5));
        let Published { body: stored, pin, crc32c } = self.publish(body).await?;
        let written = commit(NewBody { size, etag, body: stored.clone(), crc32c }).await;
        self.unpublish_if_failed(&written, &stored, pin).await;
        written
    }

    /// Copies a version to a new one, sharing its bytes. The source is read inside the same
    /// transaction, so the copy is of one whole version.
    pub async fn copy_object(&self, source: &ObjectRecord, dest_bucket_id: i64, new: NewObject, cond: WriteConditions) -> Result<ObjectRecord> {
        let source = VersionRef { bucket_id: source.bucket_id, key: source.key.clone(), version_id: source.version_id.clone() };
        self.index().copy_version(source, dest_bucket_id, new, cond, self.tiers()).await
    }

    /// The latest version of a key (possibly a delete marker), or a given version.
    pub async fn object(&self, bucket_id: i64, key: &str, version_id: Option<&str>) -> Result<(ObjectRecord, Body)> {
        self.index().version(bucket_id, key, version_id).await
    }

    /// Looks up the bucket and the object in one read: the hot path of GET.
    pub async fn bucket_and_object(&self, bucket: &str, key: &str, version_id: Option<&str>) -> Result<(Bucket, Result<(ObjectRecord, Body)>)> {
        let found = self.index().bucket_and_version(bucket, key, version_id).await?;
        self.inner.configs.observe(found.0.id, found.0.config_gen);
        Ok(found)
    }

    /// As `bucket_and_object` without the object's bytes: the hot path of HEAD.
    pub async fn bucket_and_record(&self, bucket: &str, key: &str, version_id: Option<&str>) -> Result<(Bucket, Result<ObjectRecord>)> {
        let found = self.index().bucket_and_record(bucket, key, version_id).await?;
        self.inner.configs.observe(found.0.id, found.0.config_gen);
        Ok(found)
    }

    /// Replaces the tags of the latest version (or of a given one) for `by`
    /// (PutObjectTagging); returns its version id.
    pub async fn set_object_tags(&self, bucket_id: i64, key: &str, version_id: Option<&str>, tags: Vec<(String, String)>, by: Requester) -> Result<String> {
        let origin = Origin::new(EventName::ObjectTaggingPut, by);
        self.index().change_version_meta(bucket_id, key, version_id, MetaChange::Tags(tags), origin).await
    }

    /// Removes the tags of the latest version (or of a given one) for `by`
    /// (DeleteObjectTagging); returns its version id.
    pub async fn delete_object_tags(&self, bucket_id: i64, key: &str, version_id: Option<&str>, by: Requester) -> Result<String> {
        let origin = Origin::new(EventName::ObjectTaggingDelete, by);
        self.index().change_version_meta(bucket_id, key, version_id, MetaChange::Tags(Vec::new()), origin).await
    }

    /// Replaces the ACL grants of the latest version (or of a given one) for `by`; returns its
    /// version id.
    pub async fn set_object_acl(&self, bucket_id: i64, key: &str, version_id: Option<&str>, acl: Option<Vec<Grant>>, by: Requester) -> Result<String> {
        let origin = Origin::new(EventName::ObjectAclPut, by);
        self.index().change_version_meta(bucket_id, key, version_id, MetaChange::Acl(acl), origin).await
    }

    /// Deletes the latest version (or places a delete marker) or one given version, for `by`.
    /// A version protected by Object Lock is not deleted (`ObjectLocked`); a delete marker
    /// can always be placed.
    pub async fn delete_object(&self, bucket_id: i64, key: &str, version_id: Option<&str>, by: Requester, options: DeleteOptions) -> Result<DeleteOutcome> {
        let item = vec![(key.to_string(), version_id.map(str::to_string))];
        let mut outcomes = self.index().delete_versions(bucket_id, item, by, options).await?;
        outcomes.pop().unwrap_or_else(|| Err(StorageError::Corrupt("a delete without an outcome".into())))
    }

    /// Deletes many (key, version) pairs in one transaction, for `by`; each has its own outcome.
    pub async fn delete_objects(&self, bucket_id: i64, items: Vec<(String, Option<String>)>, by: Requester, options: DeleteOptions) -> Result<Vec<Result<DeleteOutcome>>> {
        self.index().delete_versions(bucket_id, items, by, options).await
    }

    /// A page of the latest versions (ListObjects / ListObjectsV2).
    pub async fn list_objects(&self, bucket_id: i64, p: ListParams) -> Result<ListPage> {
        self.index().list_objects(bucket_id, p).await
    }

    /// A page of every version and delete marker (ListObjectVersions).
    pub async fn list_versions(&self, bucket_id: i64, p: VersionListParams) -> Result<VersionPage> {
        self.index().list_versions(bucket_id, p).await
    }
}

/// Whether a write with `cond` may replace a key whose latest version has ETag `live_etag`
/// (None: no version, or a delete marker).
pub(crate) fn check_conditions(live_etag: Option<&str>, cond: &WriteConditions) -> Result<()> {
    if let (Some(list), Some(l)) = (&cond.if_none_match, live_etag) {
        if etag_list_matches(list, l) {
            return Err(StorageError::PreconditionFailed);
        }
    }
    if let Some(list) = &cond.if_match {
        match live_etag {
            None => return Err(StorageError::NoSuchKey),
            Some(l) if !etag_list_matches(list, l) => return Err(StorageError::PreconditionFailed),
            Some(_) => {}
        }
    }
    Ok(())
}

/// The row of a new latest version of `new` written at `now` in a bucket whose versioning is
/// `versioning`: the `null` version unless versioning is Enabled; a version whose storage
/// class belongs on another tier than its bytes are on gets a move.
pub(crate) fn new_version_record(bucket_id: i64, new: &NewObject, stored: &Stored, versioning: Versioning, tiers: &crate::tiers::TierSet, now: i64) -> ObjectRecord {
    let version_id = version_id_for(versioning);
    let wants = tiers.tier_for_class(new.meta.storage_class.as_deref());
    let placement = Placement {
        tier: stored.tier.map(str::to_string),
        moving_to: (wants != stored.tier).then(|| wants.map(str::to_string)),
        restore: None,
    };
    ObjectRecord {
        bucket_id,
        key: new.key.clone(),
        version_id,
        is_latest: true,
        delete_marker: false,
        size: stored.size,
        etag: stored.etag.to_string(),
        modified_ms: now,
        owner_id: new.owner_id.clone(),
        meta: new.meta.clone(),
        placement,
        replication: None,
    }
}

/// The delete marker a DELETE without a version places on `key` at `now` in a bucket whose
/// versioning is `versioning` (not Unversioned).
pub(crate) fn new_delete_marker(bucket_id: i64, key: &str, versioning: Versioning, now: i64) -> ObjectRecord {
    ObjectRecord {
        bucket_id,
        key: key.to_string(),
        version_id: version_id_for(versioning),
        is_latest: true,
        delete_marker: true,
        size: 0,
        etag: String::new(),
        modified_ms: now,
        owner_id: String::new(),
        meta: ObjectMeta::default(),
        placement: Placement::default(),
        replication: None,
    }
}

/// The id of a new latest version: the `null` version unless versioning is Enabled.
fn version_id_for(versioning: Versioning) -> String {
    match versioning {
        Versioning::Enabled => new_version_id(),
        _ => NULL_VERSION.to_string(),
    }
}

/// The blob whose CRC32C a write of `body` records for verified reads: `crc32c` is the whole
/// body's, so only a body of one blob has one.
pub(crate) fn single_blob_crc32c(body: &Body, crc32c: Option<u32>) -> Result<Option<(crate::blob::Hash, u32)>> {
    match (body, crc32c) {
        (Body::Blobs(segments), Some(crc)) if segments.len() == 1 => {
            let hash = crate::blob::parse_hash(&segments[0].hash).ok_or_else(|| StorageError::Corrupt("segment hash".into()))?;
            Ok(Some((hash, crc)))
        }
        _ => Ok(None),
    }
}

/// A fresh version id: time-ordered so ids of one key sort by age, and random after that.
pub(crate) fn new_version_id() -> String {
    let micros = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_micros()).unwrap_or(0);
    format!("{:014x}{:018x}", micros as u64, rand::random::<u64>() >> 8)
}

#[cfg(test)]
mod tests {
    use crate::testutil::*;
    use crate::*;

    fn blob_files(t: &TestStore) -> usize {
        t.store.inner.blobs.list_all().unwrap().len()
    }

    #[tokio::test]
    async fn small_and_large_objects_round_trip() {
        let t = store().await;
        let b = t.store.create_bucket(&t.owner, "b", "us-east-1").await.unwrap();
        let small = b"hello".to_vec();
        let large: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let r = put(&t, &b, "s", &small).await.unwrap();
        assert_eq!(r.etag, "5d41402abc4b2a76b9719d911017c592");
        put(&t, &b, "l", &large).await.unwrap();
        let (rec, body) = t.store.object(b.id, "l", None).await.unwrap();
        assert_eq!(rec.size, large.len() as u64);
        assert!(matches!(body, Body::Blobs(_)));
        assert_eq!(read_all(&t, &rec, &body, 0, rec.size).await, large);
        assert_eq!(read_all(&t, &rec, &body, 1000, 5).await, &large[1000..1005]);
        let (_, body) = t.store.object(b.id, "s", Some("null")).await.unwrap();
        assert_eq!(read_all(&t, &rec, &body, 1, 3).await, b"ell");
    }

    #[tokio::test]
    async fn a_lookup_without_the_body_finds_the_same_record_and_errors_as_one_with_it() {
        let t = store().await;
        let b = t.store.create_bucket(&t.owner, "b", "us-east-1").await.unwrap();
        t.store.set_versioning(b.id, Versioning::Enabled).await.unwrap();
        let first = put(&t, &b, "small", b"hello").await.unwrap();
        put(&t, &b, "small", b"hello again").await.unwrap();
        put(&t, &b, "large", &vec![7u8; 300_000]).await.unwrap();
        for (key, version) in [("small", None), ("small", Some(first.version_id.as_str())), ("large", None)] {
            let (bucket, with_body) = t.store.bucket_and_object("b", key, version).await.unwrap();
            let (same, record) = t.store.bucket_and_record("b", key, version).await.unwrap();
            let (with_body, record) = (with_body.unwrap().0, record.unwrap());
            assert_eq!((same.id, same.name), (bucket.id, bucket.name));
            assert_eq!(
                (&record.version_id, record.size, &record.etag, record.is_latest),
                (&with_body.version_id, with_body.size, &with_body.etag, with_body.is_latest),
                "{key} {version:?}"
            );
        }
        assert_eq!(t.store.bucket_and_record("b", "small", Some(&first.version_id)).await.unwrap().1.unwrap().size, 5);
        assert!(matches!(t.store.bucket_and_record("b", "none", None).await.unwrap().1, Err(StorageError::NoSuchKey)));
        assert!(matches!(t.store.bucket_and_record("b", "small", Some("v9")).await.unwrap().1, Err(StorageError::NoSuchVersion)));
        assert!(matches!(t.store.bucket_and_record("nope", "small", None).await, Err(StorageError::NoSuchBucket)));
    }

    #[tokio::test]
    async fn a_batch_of_deletes_decides_each_item_in_order() {
        let t = store().await;
        let b = t.store.create_bucket(&t.owner, "b", "us-east-1").await.unwrap();
        t.store.set_versioning(b.id, Versioning::Enabled).await.unwrap();
        let mut items = Vec::new();
        for i in 0..300 {
            let key = format!("k{:03}", 299 - i);
            let rec = put(&t, &b, &key, format!("body {i}").as_bytes()).await.unwrap();
            if i % 10 == 3 {
                t.store.change_version_lock(b.id, &key, None, LockChange::LegalHold(true), DeleteOptions::default()).await.unwrap();
            }
            // Every item names its version; a version that is not there is deleted already.
            let version = if i == 7 { "no-such-version".to_string() } else { rec.version_id };
            items.push((key, Some(version)));
        }
        let out = t.store.delete_objects(b.id, items.clone(), Default::default(), DeleteOptions::default()).await.unwrap();
        assert_eq!(out.len(), 300);
        for (i, (o, (_, version))) in out.iter().zip(&items).enumerate() {
            match o {
                Err(StorageError::ObjectLocked(_)) => assert_eq!(i % 10, 3, "item {i}"),
                Ok(d) => assert_eq!((i % 10 != 3, d.version_id.as_ref()), (true, version.as_ref()), "item {i}"),
                Err(other) => panic!("item {i}: {other:?}"),
            }
        }
        let left = t.store.list_versions(b.id, VersionListParams { max_keys: 1000, ..Default::default() }).await.unwrap();
        assert_eq!(left.items.len(), 31, "the 30 held versions are left, and item 7's, which named another version");
        // A missing bucket refuses every item.
        let gone = t.store.delete_objects(b.id + 1000, items[..3].to_vec(), Default::default(), DeleteOptions::default()).await.unwrap();
        assert!(gone.iter().all(|o| matches!(o, Err(StorageError::NoSuchBucket))), "{gone:?}");
    }

    #[tokio::test]
    async fn overwrite_and_delete_free_blobs_after_gc() {
        let t = store().await;
        let b = t.store.create_bucket(&t.owner, "b", "us-east-1").await.unwrap();
        let one = vec![1u8; 100_000];
        let two = vec![2u8; 100_000];
        put(&t, &b, "k", &one).await.unwrap();
        put(&t, &b, "dup", &one).await.unwrap();
        assert_eq!(blob_files(&t), 1, "identical bytes are stored once");
        put(&t, &b, "k", &two).await.unwrap();
        assert_eq!(t.store.collect_garbage().await.unwrap(), 0, "first blob is still named by dup");
        t.store.delete_object(b.id, "dup", None, Default::default(), crate::DeleteOptions::default()).await.unwrap();
        assert_eq!(t.store.collect_garbage().await.unwrap(), 1);
        assert_eq!(blob_files(&t), 1);
        assert!(matches!(t.store.object(b.id, "dup", None).await, Err(StorageError::NoSuchKey)));
    }

    #[tokio::test]
    async fn conditional_writes() {
        let t = store().await;
        let b = t.store.create_bucket(&t.owner, "b", "us-east-1").await.unwrap();
        let first = put(&t, &b, "k", b"v1").await.unwrap();
        let ingest = |d: &'static [u8]| t.store.ingest(body(d), IngestOptions { checksums: vec![], max_size: 100, seal: None, hash_plaintext: false });
        let new = || NewObject { key: "k".into(), owner_id: t.owner.id.clone(), meta: ObjectMeta::default(), origin: crate::testutil::put_origin() };
        let none_match = WriteConditions { if_none_match: Some("*".into()), if_match: None };
        let err = t.store.put_object(&b, new(), ingest(b"v2").await.unwrap(), none_match).await.unwrap_err();
        assert!(matches!(err, StorageError::PreconditionFailed));
        let wrong = WriteConditions { if_none_match: None, if_match: Some("\"nope\"".into()) };
        assert!(matches!(t.store.put_object(&b, new(), ingest(b"v2").await.unwrap(), wrong).await, Err(StorageError::PreconditionFailed)));
        let right = WriteConditions { if_none_match: Some("\"other\"".into()), if_match: Some(format!("\"{}\"", first.etag)) };
        t.store.put_object(&b, new(), ingest(b"v2").await.unwrap(), right).await.unwrap();
        let too_big = t.store.ingest(body(&[0u8; 200]), IngestOptions { checksums: vec![], max_size: 100, seal: None, hash_plaintext: false }).await;
        assert!(matches!(too_big, Err(StorageError::TooLarge(100))));
    }

    #[tokio::test]
    async fn failed_ingest_leaves_no_staging_file() {
        let t = store().await;
        let data = vec![7u8; 200_000];
        let mut chunks: Vec<std::io::Result<bytes::Bytes>> = data.chunks(65536).map(|c| Ok(bytes::Bytes::copy_from_slice(c))).collect();
        chunks.push(Err(std::io::Error::other("client went away")));
        let err = t.store.ingest(futures::stream::iter(chunks), IngestOptions { checksums: vec![], max_size: u64::MAX, seal: None, hash_plaintext: false }).await;
        assert!(matches!(err, Err(StorageError::Body(_))));
        let staged = std::fs::read_dir(t.store.root().join("tmp")).unwrap().count();
        assert_eq!(staged, 0);
    }

    #[tokio::test]
    async fn bucket_rules() {
        let t = store().await;
        let other = t.store.create_user("other", "AK2", b"sealed".to_vec()).await.unwrap();
        let b = t.store.create_bucket(&t.owner, "b", "us-east-1").await.unwrap();
        assert!(matches!(t.store.create_bucket(&t.owner, "b", "us-east-1").await, Err(StorageError::BucketAlreadyOwnedByYou)));
        assert!(matches!(t.store.create_bucket(&other, "b", "us-east-1").await, Err(StorageError::BucketAlreadyExists)));
        put(&t, &b, "k", b"x").await.unwrap();
        assert!(matches!(t.store.delete_bucket("b").await, Err(StorageError::BucketNotEmpty)));
        t.store.delete_object(b.id, "k", Some("null"), Default::default(), crate::DeleteOptions::default()).await.unwrap();
        t.store.delete_bucket("b").await.unwrap();
        assert!(matches!(t.store.bucket("b").await, Err(StorageError::NoSuchBucket)));
    }
}
