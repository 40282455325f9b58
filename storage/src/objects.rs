//! Object versions: writing a new version atomically (with conditions and S3's versioning
//! rules), reading one, copying without copying bytes, and deleting.

use crate::sqlite::buckets::bucket_by_name;
use crate::error::{Result, StorageError};
use crate::events::{self, Change, EventName, Origin, Remover, Requester};
use crate::ingest::Ingested;
use crate::publish::{note_crc32c, Published};
use crate::model::*;
use crate::refs;
use crate::tiers::TierSet;
use crate::rows::{body_from_row, decode_manifest, encode_manifest, object_from_row, BODY_COLUMNS, AFTER_OBJECT_COLUMNS, OBJECT_COLUMNS};
use crate::{now_ms, Store};
use rusqlite::{params, Connection, OptionalExtension};

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

impl Store {
    /// Names `body` as a new version of `new.key`. The bytes are durable before the index
    /// commit, and the commit is the moment the version exists.
    pub async fn put_object(&self, bucket: &Bucket, new: NewObject, body: Ingested, cond: WriteConditions) -> Result<ObjectRecord> {
        let etag = hex::encode(body.md5);
        let (bucket_id, tiers) = (bucket.id, self.tiers());
        self.commit_body(body, move |c, size, stored| {
            insert_version(c, bucket_id, &new, &Stored { size, etag: &etag, body: stored, tier: None }, &cond, &tiers)
        })
        .await
    }

    /// Publishes `body` and names it in the index with `commit` (given its size and where it
    /// is stored); the blob is unpublished again if the commit fails.
    pub(crate) async fn commit_body<F>(&self, body: Ingested, commit: F) -> Result<ObjectRecord>
    where
        F: FnOnce(&Connection, u64, &Body) -> Result<ObjectRecord> + Send + 'static,
    {
        let size = body.size;
        let Published { body: stored, pin, crc32c } = self.publish(body).await?;
        let written = {
            let stored = stored.clone();
            self.writer()
                .write(move |c| {
                    let record = commit(c, size, &stored)?;
                    note_crc32c(c, &stored, crc32c)?;
                    Ok(record)
                })
                .await
        };
        self.unpublish_if_failed(&written, &stored, pin).await;
        written
    }

    /// Copies a version to a new one, sharing its bytes. The source is read inside the same
    /// transaction, so the copy is of one whole version.
    pub async fn copy_object(
        &self,
        source: &ObjectRecord,
        dest_bucket_id: i64,
        new: NewObject,
        cond: WriteConditions,
    ) -> Result<ObjectRecord> {
        let (src_bucket, src_key, src_version) = (source.bucket_id, source.key.clone(), source.version_id.clone());
        let (size, etag) = (source.size, source.etag.clone());
        let tiers = self.tiers();
        self.writer()
            .write(move |c| {
                let (src, body) = version_row(c, src_bucket, &src_key, Some(&src_version))?;
                let stored = Stored { size, etag: &etag, body: &body, tier: src.placement.tier.as_deref() };
                insert_version(c, dest_bucket_id, &new, &stored, &cond, &tiers)
            })
            .await
    }

    /// The latest version of a key (possibly a delete marker), or a given version.
    pub async fn object(&self, bucket_id: i64, key: &str, version_id: Option<&str>) -> Result<(ObjectRecord, Body)> {
        let key = key.to_string();
        let version_id = version_id.map(str::to_string);
        self.readers().read(move |c| version_row(c, bucket_id, &key, version_id.as_deref())).await
    }

    /// Looks up the bucket and the object in one read: the hot path of GET and HEAD.
    pub async fn bucket_and_object(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
    ) -> Result<(Bucket, Result<(ObjectRecord, Body)>)> {
        let (bucket, key) = (bucket.to_string(), key.to_string());
        let version_id = version_id.map(str::to_string);
        self.readers()
            .read(move |c| {
                let b = bucket_by_name(c, &bucket)?.ok_or(StorageError::NoSuchBucket)?;
                let o = version_row(c, b.id, &key, version_id.as_deref());
                Ok((b, o))
            })
            .await
    }

    /// Replaces the tags of the latest version (or of a given one) for `by`
    /// (PutObjectTagging); returns its version id.
    pub async fn set_object_tags(&self, bucket_id: i64, key: &str, version_id: Option<&str>, tags: Vec<(String, String)>, by: Requester) -> Result<String> {
        let origin = Origin::new(EventName::ObjectTaggingPut, by);
        self.update_meta(bucket_id, key, version_id, origin, move |m| m.tags = tags).await
    }

    /// Removes the tags of the latest version (or of a given one) for `by`
    /// (DeleteObjectTagging); returns its version id.
    pub async fn delete_object_tags(&self, bucket_id: i64, key: &str, version_id: Option<&str>, by: Requester) -> Result<String> {
        let origin = Origin::new(EventName::ObjectTaggingDelete, by);
        self.update_meta(bucket_id, key, version_id, origin, move |m| m.tags.clear()).await
    }

    /// Replaces the ACL grants of the latest version (or of a given one) for `by`; returns its
    /// version id.
    pub async fn set_object_acl(&self, bucket_id: i64, key: &str, version_id: Option<&str>, acl: Option<Vec<Grant>>, by: Requester) -> Result<String> {
        let origin = Origin::new(EventName::ObjectAclPut, by);
        self.update_meta(bucket_id, key, version_id, origin, move |m| m.acl = acl).await
    }

    /// Changes the metadata of one version in place (tags and ACLs are not new versions), and
    /// queues the event of `origin` in the same transaction.
    async fn update_meta(
        &self,
        bucket_id: i64,
        key: &str,
        version_id: Option<&str>,
        origin: Origin,
        change: impl FnOnce(&mut ObjectMeta) + Send + 'static,
    ) -> Result<String> {
        let key = key.to_string();
        let version_id = version_id.map(str::to_string);
        self.writer()
            .write(move |c| {
                let (mut rec, _) = version_row(c, bucket_id, &key, version_id.as_deref())?;
                if rec.delete_marker {
                    return Err(if version_id.is_some() { StorageError::NoSuchVersion } else { StorageError::NoSuchKey });
                }
                change(&mut rec.meta);
                c.prepare_cached("UPDATE objects SET meta = ?1 WHERE bucket_id = ?2 AND key = ?3 AND version_id = ?4")?
                    .execute(params![serde_json::to_string(&rec.meta)?, bucket_id, key.as_bytes(), rec.version_id])?;
                events::record_version(c, origin.event, &rec, &origin.requester)?;
                Ok(rec.version_id)
            })
            .await
    }

    /// Deletes the latest version (or places a delete marker) or one given version, for `by`.
    /// A version protected by Object Lock is not deleted (`ObjectLocked`); a delete marker
    /// can always be placed.
    pub async fn delete_object(&self, bucket_id: i64, key: &str, version_id: Option<&str>, by: Requester, options: DeleteOptions) -> Result<DeleteOutcome> {
        let key = key.to_string();
        let version_id = version_id.map(str::to_string);
        self.writer()
            .write(move |c| delete_one(c, bucket_id, &key, version_id.as_deref(), Remover::Request(&by, options)))
            .await
    }

    /// Deletes many (key, version) pairs in one transaction, for `by`; each has its own outcome.
    pub async fn delete_objects(
        &self,
        bucket_id: i64,
        items: Vec<(String, Option<String>)>,
        by: Requester,
        options: DeleteOptions,
    ) -> Result<Vec<Result<DeleteOutcome>>> {
        self.writer()
            .write(move |c| Ok(items.iter().map(|(k, v)| delete_one(c, bucket_id, k, v.as_deref(), Remover::Request(&by, options))).collect()))
            .await
    }
}

/// Savepoint-per-item runner for batch deletes: one item failing leaves the others standing.
fn delete_one(c: &Connection, bucket_id: i64, key: &str, version_id: Option<&str>, by: Remover) -> Result<DeleteOutcome> {
    c.execute_batch("SAVEPOINT item")?;
    let result = match version_id {
        Some(v) => delete_version(c, bucket_id, key, v, by),
        None => delete_latest(c, bucket_id, key, by),
    };
    match &result {
        Ok(_) => c.execute_batch("RELEASE item")?,
        Err(_) => c.execute_batch("ROLLBACK TO item; RELEASE item")?,
    }
    result
}

pub(crate) fn bucket_versioning(c: &Connection, bucket_id: i64) -> Result<Versioning> {
    let state: Option<String> =
        c.prepare_cached("SELECT versioning FROM buckets WHERE id = ?1")?.query_row([bucket_id], |r| r.get(0)).optional()?;
    state.map(|s| Versioning::parse(&s)).ok_or(StorageError::NoSuchBucket)
}

pub(crate) fn version_row(c: &Connection, bucket_id: i64, key: &str, version_id: Option<&str>) -> Result<(ObjectRecord, Body)> {
    let found = match version_id {
        None => c
            .prepare_cached(&format!(
                "SELECT {OBJECT_COLUMNS}, {BODY_COLUMNS} FROM objects WHERE bucket_id = ?1 AND key = ?2 AND is_latest = 1"
            ))?
            .query_row(params![bucket_id, key.as_bytes()], |r| Ok((object_from_row(r)?, body_from_row(r, AFTER_OBJECT_COLUMNS)?)))
            .optional()?,
        Some(v) => c
            .prepare_cached(&format!(
                "SELECT {OBJECT_COLUMNS}, {BODY_COLUMNS} FROM objects WHERE bucket_id = ?1 AND key = ?2 AND version_id = ?3"
            ))?
            .query_row(params![bucket_id, key.as_bytes(), v], |r| Ok((object_from_row(r)?, body_from_row(r, AFTER_OBJECT_COLUMNS)?)))
            .optional()?,
    };
    match found {
        Some((rec, body)) => Ok((rec, body?)),
        None if version_id.is_some() => Err(StorageError::NoSuchVersion),
        None => Err(StorageError::NoSuchKey),
    }
}

/// A version by its row number, with its body.
pub(crate) fn version_by_seq(c: &Connection, seq: i64) -> Result<Option<(ObjectRecord, Body)>> {
    let found = c
        .prepare_cached(&format!("SELECT {OBJECT_COLUMNS}, {BODY_COLUMNS} FROM objects WHERE seq = ?1"))?
        .query_row([seq], |r| Ok((object_from_row(r)?, body_from_row(r, AFTER_OBJECT_COLUMNS)?)))
        .optional()?;
    found.map(|(rec, body)| Ok((rec, body?))).transpose()
}

struct Latest {
    seq: i64,
    delete_marker: bool,
    etag: String,
}

fn latest(c: &Connection, bucket_id: i64, key: &str) -> Result<Option<Latest>> {
    Ok(c.prepare_cached("SELECT seq, delete_marker, etag FROM objects WHERE bucket_id = ?1 AND key = ?2 AND is_latest = 1")?
        .query_row(params![bucket_id, key.as_bytes()], |r| Ok(Latest { seq: r.get(0)?, delete_marker: r.get(1)?, etag: r.get(2)? }))
        .optional()?)
}

fn check_conditions(current: Option<&Latest>, cond: &WriteConditions) -> Result<()> {
    let live = current.filter(|l| !l.delete_marker);
    if let (Some(list), Some(l)) = (&cond.if_none_match, live) {
        if etag_list_matches(list, &l.etag) {
            return Err(StorageError::PreconditionFailed);
        }
    }
    if let Some(list) = &cond.if_match {
        match live {
            None => return Err(StorageError::NoSuchKey),
            Some(l) if !etag_list_matches(list, &l.etag) => return Err(StorageError::PreconditionFailed),
            Some(_) => {}
        }
    }
    Ok(())
}

/// A fresh version id: time-ordered so ids of one key sort by age, and random after that.
fn new_version_id() -> String {
    let micros = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_micros()).unwrap_or(0);
    format!("{:014x}{:018x}", micros as u64, rand::random::<u64>() >> 8)
}

/// The bytes a new version names: where they are, how many, and their ETag.
pub(crate) struct Stored<'a> {
    pub size: u64,
    pub etag: &'a str,
    pub body: &'a Body,
    /// The tier holding the body (a copy shares its source's); None for the local store.
    pub tier: Option<&'a str>,
}

/// Writes a new version row according to the bucket's versioning state; a version whose
/// storage class belongs on another tier than its bytes is on gets a move. Runs in the writer.
pub(crate) fn insert_version(
    c: &Connection,
    bucket_id: i64,
    new: &NewObject,
    stored: &Stored,
    cond: &WriteConditions,
    tiers: &TierSet,
) -> Result<ObjectRecord> {
    let versioning = bucket_versioning(c, bucket_id)?;
    let current = latest(c, bucket_id, &new.key)?;
    check_conditions(current.as_ref(), cond)?;
    let version_id = match versioning {
        Versioning::Enabled => new_version_id(),
        _ => NULL_VERSION.to_string(),
    };
    let now = now_ms();
    let wants = tiers.tier_for_class(new.meta.storage_class.as_deref());
    let placement = Placement {
        tier: stored.tier.map(str::to_string),
        moving_to: (wants != stored.tier).then(|| wants.map(str::to_string)),
        restore: None,
    };
    let record = ObjectRecord {
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
    };
    crate::sqlite::buckets::within_quota(c, bucket_id, || {
        retire_latest(c, bucket_id, &new.key, current.as_ref(), versioning, now)?;
        insert_row(c, &record, Some(stored.body))
    })?;
    events::record_version(c, new.origin.event, &record, &new.origin.requester)?;
    let replication = crate::replication::queue::enqueue_new(c, &record)?;
    let record = ObjectRecord { replication, ..record };
    Ok(record)
}

/// Makes room for a new latest version: unversioned and suspended buckets replace the `null`
/// version; every other latest version just stops being latest at `now` (the new version's
/// creation time).
fn retire_latest(c: &Connection, bucket_id: i64, key: &str, current: Option<&Latest>, versioning: Versioning, now: i64) -> Result<()> {
    if versioning != Versioning::Enabled {
        let null_seq: Option<i64> = c
            .prepare_cached("SELECT seq FROM objects WHERE bucket_id = ?1 AND key = ?2 AND version_id = 'null'")?
            .query_row(params![bucket_id, key.as_bytes()], |r| r.get(0))
            .optional()?;
        if let Some(seq) = null_seq {
            remove_row(c, seq)?;
        }
    }
    if let Some(l) = current {
        mark_noncurrent(c, l.seq, now)?;
    }
    Ok(())
}

/// Version row `seq` stops being the latest at `since_ms` (when its successor was written).
pub(crate) fn mark_noncurrent(c: &Connection, seq: i64, since_ms: i64) -> Result<()> {
    c.prepare_cached("UPDATE objects SET is_latest = 0, noncurrent_ms = ?2 WHERE seq = ?1")?.execute(params![seq, since_ms])?;
    Ok(())
}

pub(crate) fn insert_row(c: &Connection, r: &ObjectRecord, body: Option<&Body>) -> Result<()> {
    let (inline, manifest): (Option<(&[u8], Option<&[u8]>)>, Option<String>) = match body {
        Some(Body::Inline { data, sha256 }) => (Some((data.as_ref(), sha256.as_ref().map(|h| &h[..]))), None),
        Some(Body::Blobs(segs)) => (None, Some(encode_manifest(segs))),
        None => (None, None),
    };
    c.prepare_cached(
        "INSERT INTO objects (bucket_id, key, version_id, is_latest, delete_marker, size, etag, modified_ms, owner_id, meta, manifest, tier, move_to, replication)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
    )?
    .execute(params![
        r.bucket_id,
        r.key.as_bytes(),
        r.version_id,
        r.is_latest,
        r.delete_marker,
        r.size as i64,
        r.etag,
        r.modified_ms,
        r.owner_id,
        serde_json::to_string(&r.meta)?,
        manifest,
        r.placement.tier,
        r.placement.moving_to.as_ref().map(|to| to.clone().unwrap_or_default()),
        r.replication,
    ])?;
    if let Some((data, sha256)) = inline {
        c.prepare_cached("INSERT INTO inline_bodies (seq, data, sha256) VALUES (?1, ?2, ?3)")?
            .execute(params![c.last_insert_rowid(), data, sha256])?;
    }
    if let Some(Body::Blobs(segs)) = body {
        refs::retain_all(c, r.placement.tier.as_deref(), segs)?;
    }
    Ok(())
}

/// Deletes a version row and releases its blobs, and those of its restored copy (GC removes
/// blobs nobody references).
fn remove_row(c: &Connection, seq: i64) -> Result<()> {
    let row: Option<(Option<String>, Option<String>, Option<i64>)> = c
        .prepare_cached("SELECT manifest, tier, restore_done_ms FROM objects WHERE seq = ?1")?
        .query_row([seq], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?;
    if let Some((Some(m), tier, restored)) = row {
        let segments = decode_manifest(&m)?;
        refs::release_all(c, tier.as_deref(), &segments)?;
        if restored.is_some() {
            refs::release_all(c, None, &segments)?;
        }
    }
    c.prepare_cached("DELETE FROM inline_bodies WHERE seq = ?1")?.execute([seq])?;
    c.prepare_cached(
        "DELETE FROM replication_outcomes WHERE (bucket_id, key, version_id) = (SELECT bucket_id, key, version_id FROM objects WHERE seq = ?1)",
    )?
    .execute([seq])?;
    c.prepare_cached("DELETE FROM objects WHERE seq = ?1")?.execute([seq])?;
    Ok(())
}

/// Deletes the latest version of an unversioned bucket's key, or places a delete marker; the
/// event (from `by` and what was done) is queued with it.
pub(crate) fn delete_latest(c: &Connection, bucket_id: i64, key: &str, by: Remover) -> Result<DeleteOutcome> {
    let versioning = bucket_versioning(c, bucket_id)?;
    let current = latest(c, bucket_id, key)?;
    if versioning == Versioning::Unversioned {
        if let Some(l) = current {
            remove_row(c, l.seq)?;
            let requester = by.requester();
            events::record(c, &Change { event: by.event(false), bucket_id, key, version_id: None, object: None, requester: &requester })?;
        }
        return Ok(DeleteOutcome::default());
    }
    let version_id = match versioning {
        Versioning::Enabled => new_version_id(),
        _ => NULL_VERSION.to_string(),
    };
    let now = now_ms();
    retire_latest(c, bucket_id, key, current.as_ref(), versioning, now)?;
    let marker = ObjectRecord {
        bucket_id,
        key: key.to_string(),
        version_id: version_id.clone(),
        is_latest: true,
        delete_marker: true,
        size: 0,
        etag: String::new(),
        modified_ms: now,
        owner_id: String::new(),
        meta: ObjectMeta::default(),
        placement: Placement::default(),
        replication: None,
    };
    insert_row(c, &marker, None)?;
    events::record_version(c, by.event(true), &marker, &by.requester())?;
    crate::replication::queue::enqueue_new(c, &marker)?;
    Ok(DeleteOutcome { version_id: Some(version_id), delete_marker: true })
}

/// Removes one version (or delete marker) for good; the event (from `by`) is queued with it.
pub(crate) fn delete_version(c: &Connection, bucket_id: i64, key: &str, version_id: &str, by: Remover) -> Result<DeleteOutcome> {
    bucket_versioning(c, bucket_id)?;
    let row: Option<(i64, bool, bool, String)> = c
        .prepare_cached("SELECT seq, is_latest, delete_marker, meta FROM objects WHERE bucket_id = ?1 AND key = ?2 AND version_id = ?3")?
        .query_row(params![bucket_id, key.as_bytes(), version_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .optional()?;
    let Some((seq, was_latest, delete_marker, meta)) = row else {
        return Ok(DeleteOutcome { version_id: Some(version_id.to_string()), delete_marker: false });
    };
    let meta: ObjectMeta = serde_json::from_str(&meta)?;
    if let Some(why) = meta.lock.protects(now_ms(), by.bypass_governance()) {
        return Err(StorageError::ObjectLocked(why));
    }
    remove_row(c, seq)?;
    let requester = by.requester();
    let version = Some(version_id).filter(|v| *v != NULL_VERSION);
    events::record(c, &Change { event: by.event(false), bucket_id, key, version_id: version, object: None, requester: &requester })?;
    if was_latest {
        c.prepare_cached(
            "UPDATE objects SET is_latest = 1, noncurrent_ms = NULL WHERE seq = (SELECT MAX(seq) FROM objects WHERE bucket_id = ?1 AND key = ?2)",
        )?
        .execute(params![bucket_id, key.as_bytes()])?;
    }
    Ok(DeleteOutcome { version_id: Some(version_id.to_string()), delete_marker })
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
