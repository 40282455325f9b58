//! ObjectIndex on PostgreSQL: the version commit, reads, copies, metadata and lock changes,
//! deletes (a batch of 1000), the queueing of events and replication, and races between nodes.

use super::TestDb;
use crate::error::StorageError;
use crate::events::{EventName, NotifyRoute, NotifyTarget, Origin, TargetKind, NOTIFY_ROUTES_KIND};
use crate::meta::{BucketIndex, EventIndex, MetaChange, NewBody, ObjectIndex, VersionRef};
use crate::model::*;
use crate::objects::{DeleteOutcome, NewObject, Stored};
use crate::postgres::objects::insert_version;
use crate::postgres::{transact, PgIndex};
use crate::replication::ReplicationRoute;
use crate::tiers::TierSet;
use crate::LockChange;
use std::sync::Arc;

async fn put(index: &PgIndex, bucket: i64, key: &str, body: &Body, size: u64, cond: WriteConditions) -> crate::error::Result<String> {
    let new = NewObject {
        key: key.into(),
        owner_id: "u1".into(),
        meta: ObjectMeta::default(),
        origin: Origin::new(EventName::ObjectCreatedPut, Requester { principal_id: "u1".into(), source_ip: String::new(), request_id: String::new() }),
    };
    let etag = format!("e{size}");
    let stored = Stored { size, etag: &etag, body, tier: None };
    let tiers = TierSet::new(Vec::new());
    let record = transact!(index, |tx| insert_version(&*tx, bucket, &new, &stored, &cond, &tiers).await?)?;
    Ok(record.version_id)
}

async fn setup(db: &TestDb) -> (PgIndex, i64) {
    let index = PgIndex::connect(&db.url).await.unwrap();
    index.client().await.unwrap().batch_execute("INSERT INTO users (id, name, created_ms) VALUES ('u1', 'alice', 0)").await.unwrap();
    let bucket = index.create_bucket(User { id: "u1".into(), name: "alice".into() }, "b", "r").await.unwrap().id;
    (index, bucket)
}

#[tokio::test]
async fn a_commit_replaces_the_null_version_and_keeps_blob_references() {
    let Some(db) = TestDb::create().await else { return };
    let (index, bucket) = setup(&db).await;
    let blob = |b: &str| Body::Blobs(vec![Segment::named(b.repeat(32), 10), Segment::named(b.repeat(32), 10)]);
    let inline = Body::Inline { data: bytes::Bytes::from_static(b"abc"), sha256: None };
    put(&index, bucket, "k", &blob("aa"), 20, WriteConditions::default()).await.unwrap();
    put(&index, bucket, "k", &blob("bb"), 20, WriteConditions::default()).await.unwrap();
    let c = index.client().await.unwrap();
    let refs = |b: &'static str| {
        let c = &c;
        async move { c.query_one("SELECT refs FROM blobs WHERE hash = $1", &[&hex::decode(b.repeat(32)).unwrap()]).await.unwrap().get::<_, i64>(0) }
    };
    assert_eq!((refs("aa").await, refs("bb").await), (0, 2), "the replaced version's references are dropped");
    index.set_versioning(bucket, Versioning::Enabled).await.unwrap();
    let v = put(&index, bucket, "k", &inline, 3, WriteConditions::default()).await.unwrap();
    assert_ne!(v, "null");
    let (usage, _) = index.bucket_usage(bucket).await.unwrap();
    assert_eq!((usage.objects, usage.versions, usage.logical_bytes), (1, 2, 23));
    let miss = WriteConditions { if_match: Some("\"e9\"".into()), if_none_match: None };
    assert!(matches!(put(&index, bucket, "k", &inline, 3, miss).await, Err(StorageError::PreconditionFailed)));
    let none = WriteConditions { if_match: Some("*".into()), if_none_match: None };
    assert!(matches!(put(&index, bucket, "new", &inline, 3, none).await, Err(StorageError::NoSuchKey)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn of_two_nodes_racing_a_conditional_put_exactly_one_wins() {
    let Some(db) = TestDb::create().await else { return };
    let (a, bucket) = setup(&db).await;
    let b = std::sync::Arc::new(PgIndex::connect(&db.url).await.unwrap());
    let a = std::sync::Arc::new(a);
    for round in 0..5 {
        let key = format!("k{round}");
        let tasks: Vec<_> = (0..8)
            .map(|i| {
                let (node, key) = (if i % 2 == 0 { a.clone() } else { b.clone() }, key.clone());
                tokio::spawn(async move {
                    let body = Body::Inline { data: bytes::Bytes::from_static(b"x"), sha256: None };
                    let cond = WriteConditions { if_none_match: Some("*".into()), if_match: None };
                    put(&node, bucket, &key, &body, 1, cond).await
                })
            })
            .collect();
        let mut won = 0;
        for task in tasks {
            match task.await.unwrap() {
                Ok(_) => won += 1,
                Err(StorageError::PreconditionFailed) => {}
                Err(other) => panic!("{other:?}"),
            }
        }
        assert_eq!(won, 1, "round {round}");
    }
    let rows: i64 = a.client().await.unwrap().query_one("SELECT count(*) FROM objects", &[]).await.unwrap().get(0);
    assert_eq!(rows, 5);
}

/// What the quota turn costs: 2,000 small commits, 16 in flight, to different keys of one
/// bucket, without and with a quota.
/// `cargo test --release -p coffer-storage commit_rate -- --ignored --nocapture`
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore]
async fn commit_rate() {
    use futures::StreamExt;
    let Some(db) = TestDb::create().await else { return };
    let (index, bucket) = setup(&db).await;
    let index = &index;
    let rate = |prefix: &'static str| async move {
        let started = std::time::Instant::now();
        futures::stream::iter(0..2000)
            .for_each_concurrent(16, |i| async move {
                let body = Body::Inline { data: bytes::Bytes::from_static(b"x"), sha256: None };
                put(index, bucket, &format!("{prefix}{i}"), &body, 1, WriteConditions::default()).await.unwrap();
            })
            .await;
        2000.0 / started.elapsed().as_secs_f64()
    };
    let free = rate("free").await;
    index.set_bucket_quota(bucket, crate::usage::Quota { max_bytes: Some(1 << 40), max_objects: Some(1 << 40) }).await.unwrap();
    let limited = rate("quota").await;
    println!("commits/s: {free:.0} without a quota, {limited:.0} with one");
}

fn requester() -> Requester {
    Requester { principal_id: "u1".into(), source_ip: "127.0.0.1".into(), request_id: "R".into() }
}

fn new_object(key: &str, meta: ObjectMeta) -> NewObject {
    NewObject { key: key.into(), owner_id: "u1".into(), meta, origin: Origin::new(EventName::ObjectCreatedPut, requester()) }
}

fn inline(data: &'static [u8]) -> Body {
    Body::Inline { data: bytes::Bytes::from_static(data), sha256: None }
}

/// A body of one blob whose hash is `b` (two hex digits) repeated.
fn blob(b: &str, len: u64) -> Body {
    Body::Blobs(vec![Segment::named(b.repeat(32), len)])
}

fn tiers() -> Arc<TierSet> {
    Arc::new(TierSet::new(Vec::new()))
}

/// Writes `body` as the new latest version of `key` through the trait.
async fn put_version(index: &PgIndex, bucket: i64, key: &str, body: Body, meta: ObjectMeta, cond: WriteConditions) -> crate::error::Result<ObjectRecord> {
    let size = match &body {
        Body::Inline { data, .. } => data.len() as u64,
        Body::Blobs(s) => s.iter().map(|s| s.len).sum(),
    };
    let body = NewBody { size, etag: format!("etag-{key}-{size}"), body, crc32c: Some(0xfeed_beef) };
    index.put_version(bucket, new_object(key, meta), body, cond, tiers()).await
}

async fn refs(index: &PgIndex, b: &str) -> i64 {
    let hash = hex::decode(b.repeat(32)).unwrap();
    index.client().await.unwrap().query_one("SELECT refs FROM blobs WHERE hash = $1", &[&hash]).await.unwrap().get(0)
}

async fn count(index: &PgIndex, sql: &str) -> i64 {
    index.client().await.unwrap().query_one(sql, &[]).await.unwrap().get(0)
}

fn no_options() -> DeleteOptions {
    DeleteOptions::default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versions_are_read_back_with_their_bodies_and_their_bucket() {
    let Some(db) = TestDb::create().await else { return };
    let (index, bucket) = setup(&db).await;
    let meta = ObjectMeta { content_type: Some("text/plain".into()), ..Default::default() };
    let small = put_version(&index, bucket, "small", inline(b"hello"), meta, WriteConditions::default()).await.unwrap();
    assert_eq!((small.version_id.as_str(), small.size, small.replication.as_deref()), ("null", 5, None));
    put_version(&index, bucket, "large", blob("ab", 300), ObjectMeta::default(), WriteConditions::default()).await.unwrap();

    let (rec, body) = index.version(bucket, "small", None).await.unwrap();
    assert_eq!((rec.etag.as_str(), rec.meta.content_type.as_deref(), rec.is_latest), ("etag-small-5", Some("text/plain"), true));
    assert!(matches!(body, Body::Inline { ref data, .. } if &data[..] == b"hello"));
    let (rec, body) = index.version(bucket, "large", Some("null")).await.unwrap();
    assert_eq!(rec.size, 300);
    assert!(matches!(body, Body::Blobs(ref s) if s.len() == 1 && s[0].hash == "ab".repeat(32)));
    assert!(matches!(index.version(bucket, "none", None).await, Err(StorageError::NoSuchKey)));
    assert!(matches!(index.version(bucket, "small", Some("v9")).await, Err(StorageError::NoSuchVersion)));

    let (b, found) = index.bucket_and_version("b", "large", None).await.unwrap();
    assert_eq!((b.id, b.name.as_str(), b.owner.name.as_str(), b.region.as_str()), (bucket, "b", "alice", "r"));
    assert_eq!(found.unwrap().0.size, 300);
    let (b, missing) = index.bucket_and_version("b", "none", None).await.unwrap();
    assert_eq!(b.id, bucket);
    assert!(matches!(missing, Err(StorageError::NoSuchKey)));
    assert!(matches!(index.bucket_and_version("b", "small", Some("v9")).await.unwrap().1, Err(StorageError::NoSuchVersion)));
    assert!(matches!(index.bucket_and_version("b", "small", Some("null")).await.unwrap().1, Ok((ref r, _)) if r.size == 5));
    assert!(matches!(index.bucket_and_version("nope", "small", None).await, Err(StorageError::NoSuchBucket)));

    // The CRC32C of a body of one blob is noted once, for verified reads.
    let hash: crate::blob::Hash = hex::decode("ab".repeat(32)).unwrap().try_into().unwrap();
    let crc = tokio::task::block_in_place(|| index.blob_crc32c_blocking(&hash)).unwrap();
    assert_eq!(crc, Some(0xfeed_beef));
    let other: crate::blob::Hash = [7; 32];
    assert_eq!(tokio::task::block_in_place(|| index.blob_crc32c_blocking(&other)).unwrap(), None);
}

#[tokio::test]
async fn a_copy_shares_the_source_bytes_and_follows_the_conditions() {
    let Some(db) = TestDb::create().await else { return };
    let (index, bucket) = setup(&db).await;
    index.set_versioning(bucket, Versioning::Enabled).await.unwrap();
    let src = put_version(&index, bucket, "src", blob("cd", 100), ObjectMeta::default(), WriteConditions::default()).await.unwrap();
    let from = |v: &str| VersionRef { bucket_id: bucket, key: "src".into(), version_id: v.into() };
    let tags = ObjectMeta { tags: vec![("t".into(), "1".into())], ..Default::default() };
    let copy = index.copy_version(from(&src.version_id), bucket, new_object("dst", tags.clone()), WriteConditions::default(), tiers()).await.unwrap();
    assert_eq!((copy.size, copy.etag.as_str(), copy.key.as_str()), (100, src.etag.as_str(), "dst"));
    assert_ne!(copy.version_id, src.version_id);
    assert_eq!(refs(&index, "cd").await, 2, "the copy references the same blob");
    let (rec, body) = index.version(bucket, "dst", None).await.unwrap();
    assert_eq!(rec.meta.tags, tags.tags);
    assert!(matches!(body, Body::Blobs(ref s) if s[0].hash == "cd".repeat(32)));
    // A copy onto its own key (a metadata replace) makes a new latest version of it.
    let again = index.copy_version(from(&src.version_id), bucket, new_object("src", tags.clone()), WriteConditions::default(), tiers()).await.unwrap();
    assert_eq!(index.version(bucket, "src", None).await.unwrap().0.version_id, again.version_id);
    assert!(!index.version(bucket, "src", Some(&src.version_id)).await.unwrap().0.is_latest);
    assert_eq!(refs(&index, "cd").await, 3);
    let missing = index.copy_version(from("nope"), bucket, new_object("x", ObjectMeta::default()), WriteConditions::default(), tiers()).await;
    assert!(matches!(missing, Err(StorageError::NoSuchVersion)));
    let refused = WriteConditions { if_none_match: Some("*".into()), if_match: None };
    let refused = index.copy_version(from(&src.version_id), bucket, new_object("dst", ObjectMeta::default()), refused, tiers()).await;
    assert!(matches!(refused, Err(StorageError::PreconditionFailed)));
    assert_eq!(refs(&index, "cd").await, 3, "a refused copy takes no reference");
    // A source on a tier: the copy is on that tier too and references the tier's blob.
    let c = index.client().await.unwrap();
    c.execute("UPDATE objects SET tier = 'cold' WHERE key = 'dst'::bytea", &[]).await.unwrap();
    let dst = index.version(bucket, "dst", None).await.unwrap().0;
    let from_dst = VersionRef { bucket_id: bucket, key: "dst".into(), version_id: dst.version_id };
    let cold = index.copy_version(from_dst, bucket, new_object("cold", ObjectMeta::default()), WriteConditions::default(), tiers()).await.unwrap();
    assert_eq!(cold.placement.tier.as_deref(), Some("cold"));
    let tier_refs: i64 = c.query_one("SELECT refs FROM tier_blobs WHERE tier = 'cold'", &[]).await.unwrap().get(0);
    assert_eq!((tier_refs, refs(&index, "cd").await), (1, 3));
}

#[tokio::test]
async fn tags_and_acls_change_in_place_and_delete_markers_have_none() {
    let Some(db) = TestDb::create().await else { return };
    let (index, bucket) = setup(&db).await;
    index.set_versioning(bucket, Versioning::Enabled).await.unwrap();
    let v1 = put_version(&index, bucket, "k", inline(b"1"), ObjectMeta::default(), WriteConditions::default()).await.unwrap();
    let v2 = put_version(&index, bucket, "k", inline(b"2"), ObjectMeta::default(), WriteConditions::default()).await.unwrap();
    let origin = |e| Origin::new(e, requester());
    let tags = vec![("a".to_string(), "b".to_string())];
    let changed = index.change_version_meta(bucket, "k", None, MetaChange::Tags(tags.clone()), origin(EventName::ObjectTaggingPut)).await.unwrap();
    assert_eq!(changed, v2.version_id);
    let changed = index.change_version_meta(bucket, "k", Some(&v1.version_id), MetaChange::Tags(tags.clone()), origin(EventName::ObjectTaggingPut)).await.unwrap();
    assert_eq!(changed, v1.version_id);
    let grants = Some(vec![Grant { grantee: Grantee::AllUsers, permission: Permission::Read }]);
    index.change_version_meta(bucket, "k", None, MetaChange::Acl(grants.clone()), origin(EventName::ObjectAclPut)).await.unwrap();
    index.change_version_meta(bucket, "k", Some(&v1.version_id), MetaChange::Tags(Vec::new()), origin(EventName::ObjectTaggingDelete)).await.unwrap();
    let latest = index.version(bucket, "k", None).await.unwrap().0;
    assert_eq!((latest.meta.tags.clone(), latest.meta.acl.clone()), (tags, grants));
    assert!(index.version(bucket, "k", Some(&v1.version_id)).await.unwrap().0.meta.tags.is_empty());
    assert_eq!(index.version(bucket, "k", None).await.unwrap().0.size, 1, "only metadata changed");

    let marker = index.delete_versions(bucket, vec![("k".into(), None)], requester(), no_options()).await.unwrap().pop().unwrap().unwrap();
    let marker_id = marker.version_id.unwrap();
    let tag = |v: Option<String>| {
        let index = &index;
        async move { index.change_version_meta(bucket, "k", v.as_deref(), MetaChange::Tags(Vec::new()), origin(EventName::ObjectTaggingDelete)).await }
    };
    assert!(matches!(tag(None).await, Err(StorageError::NoSuchKey)));
    assert!(matches!(tag(Some(marker_id.clone())).await, Err(StorageError::NoSuchVersion)));
    assert!(matches!(tag(Some("nope".into())).await, Err(StorageError::NoSuchVersion)));
    let never = index.change_version_meta(bucket, "never", None, MetaChange::Tags(Vec::new()), origin(EventName::ObjectTaggingDelete)).await;
    assert!(matches!(never, Err(StorageError::NoSuchKey)));
    assert_eq!(count(&index, "SELECT count(*) FROM object_keys WHERE key = 'never'::bytea").await, 0, "a miss leaves no key row");
    let lock = index.change_version_lock(bucket, "k", Some(&marker_id), LockChange::LegalHold(true), no_options()).await;
    assert!(matches!(lock, Err(StorageError::NoSuchVersion)));
}

#[tokio::test]
async fn object_lock_needs_versioning_and_protects_versions_from_deletion() {
    let Some(db) = TestDb::create().await else { return };
    let (index, bucket) = setup(&db).await;
    assert!(matches!(index.set_bucket_lock(bucket, "{}".into()).await, Err(StorageError::InvalidBucketState(_))));
    assert!(matches!(index.set_bucket_lock(bucket + 100, "{}".into()).await, Err(StorageError::NoSuchBucket)));
    index.set_versioning(bucket, Versioning::Enabled).await.unwrap();
    index.set_bucket_lock(bucket, "{\"a\":1}".into()).await.unwrap();
    index.set_bucket_lock(bucket, "{\"a\":2}".into()).await.unwrap();
    assert_eq!(index.bucket_config(bucket, LOCK_KIND).await.unwrap().as_deref(), Some("{\"a\":2}"));
    assert!(matches!(index.set_versioning(bucket, Versioning::Suspended).await, Err(StorageError::InvalidBucketState(_))));

    let future = crate::now_ms() + 3_600_000;
    let held = ObjectMeta { lock: VersionLock { retention: Some((LockMode::Governance, future)), legal_hold: false }, ..Default::default() };
    let g = put_version(&index, bucket, "g", inline(b"g"), held, WriteConditions::default()).await.unwrap();
    let c = put_version(&index, bucket, "c", inline(b"c"), ObjectMeta::default(), WriteConditions::default()).await.unwrap();
    let h = put_version(&index, bucket, "h", inline(b"h"), ObjectMeta::default(), WriteConditions::default()).await.unwrap();
    // Retention: COMPLIANCE only extends; GOVERNANCE yields to a bypass.
    let set = |key: &'static str, change, bypass| {
        let index = &index;
        async move { index.change_version_lock(bucket, key, None, change, DeleteOptions { bypass_governance: bypass }).await }
    };
    assert_eq!(set("c", LockChange::Retention(Some((LockMode::Compliance, future))), false).await.unwrap(), c.version_id);
    assert!(matches!(set("c", LockChange::Retention(None), true).await, Err(StorageError::ObjectLocked(_))));
    set("c", LockChange::Retention(Some((LockMode::Compliance, future + 1))), false).await.unwrap();
    assert!(matches!(set("g", LockChange::Retention(None), false).await, Err(StorageError::ObjectLocked(_))));
    assert_eq!(index.version(bucket, "g", None).await.unwrap().0.meta.lock.retention, Some((LockMode::Governance, future)), "a refused change writes nothing");
    set("h", LockChange::LegalHold(true), false).await.unwrap();
    assert!(matches!(index.change_version_lock(bucket, "none", None, LockChange::LegalHold(true), no_options()).await, Err(StorageError::NoSuchKey)));

    let items = |v: &[(&str, &ObjectRecord)]| v.iter().map(|(k, r)| (k.to_string(), Some(r.version_id.clone()))).collect::<Vec<_>>();
    let all = items(&[("g", &g), ("c", &c), ("h", &h)]);
    let out = index.delete_versions(bucket, all.clone(), requester(), no_options()).await.unwrap();
    assert!(out.iter().all(|o| matches!(o, Err(StorageError::ObjectLocked(_)))), "{out:?}");
    let out = index.delete_versions(bucket, all.clone(), requester(), DeleteOptions { bypass_governance: true }).await.unwrap();
    assert!(matches!(out[0], Ok(ref o) if o.version_id.as_deref() == Some(g.version_id.as_str())));
    assert!(matches!((&out[1], &out[2]), (Err(StorageError::ObjectLocked(_)), Err(StorageError::ObjectLocked(_)))));
    // A delete marker can always be placed.
    let marker = index.delete_versions(bucket, vec![("h".into(), None)], requester(), no_options()).await.unwrap().pop().unwrap().unwrap();
    assert!(marker.delete_marker);
    set("h", LockChange::LegalHold(false), false).await.unwrap_err();
    index.change_version_lock(bucket, "h", Some(&h.version_id), LockChange::LegalHold(false), no_options()).await.unwrap();
    let out = index.delete_versions(bucket, items(&[("h", &h)]), requester(), no_options()).await.unwrap();
    assert!(out[0].is_ok());
    assert_eq!(count(&index, "SELECT count(*) FROM objects").await, 2, "c, and h's delete marker");
}

#[tokio::test]
async fn deletes_follow_the_versioning_state() {
    let Some(db) = TestDb::create().await else { return };
    let (index, bucket) = setup(&db).await;
    // Unversioned: the version goes and its blob reference with it; a missing key is no error.
    put_version(&index, bucket, "k", blob("ee", 10), ObjectMeta::default(), WriteConditions::default()).await.unwrap();
    let out = index.delete_versions(bucket, vec![("k".into(), None), ("never".into(), None)], requester(), no_options()).await.unwrap();
    assert!(out.iter().all(|o| matches!(o, Ok(DeleteOutcome { version_id: None, delete_marker: false }))), "{out:?}");
    assert_eq!(refs(&index, "ee").await, 0);
    assert!(matches!(index.version(bucket, "k", None).await, Err(StorageError::NoSuchKey)));
    assert_eq!(count(&index, "SELECT count(*) FROM object_keys WHERE key = 'never'::bytea").await, 0);

    // Enabled: a delete places a marker; deleting the latest version brings back the previous.
    index.set_versioning(bucket, Versioning::Enabled).await.unwrap();
    let v1 = put_version(&index, bucket, "k", inline(b"1"), ObjectMeta::default(), WriteConditions::default()).await.unwrap();
    let v2 = put_version(&index, bucket, "k", inline(b"22"), ObjectMeta::default(), WriteConditions::default()).await.unwrap();
    let one = |key: &str, v: Option<&str>| vec![(key.to_string(), v.map(str::to_string))];
    let marker = index.delete_versions(bucket, one("k", None), requester(), no_options()).await.unwrap().pop().unwrap().unwrap();
    assert!(marker.delete_marker);
    let (latest, _) = index.version(bucket, "k", None).await.unwrap();
    assert!(latest.delete_marker && latest.version_id == *marker.version_id.as_ref().unwrap());
    let removed = index.delete_versions(bucket, one("k", marker.version_id.as_deref()), requester(), no_options()).await.unwrap().pop().unwrap().unwrap();
    assert!(removed.delete_marker, "removing a marker says so");
    assert_eq!(index.version(bucket, "k", None).await.unwrap().0.version_id, v2.version_id);
    index.delete_versions(bucket, one("k", Some(&v2.version_id)), requester(), no_options()).await.unwrap().pop().unwrap().unwrap();
    let (back, _) = index.version(bucket, "k", None).await.unwrap();
    assert_eq!((back.version_id.as_str(), back.is_latest), (v1.version_id.as_str(), true));
    let gone = index.delete_versions(bucket, one("k", Some("nope")), requester(), no_options()).await.unwrap().pop().unwrap().unwrap();
    assert_eq!((gone.version_id.as_deref(), gone.delete_marker), (Some("nope"), false));
    // A marker on a key that never existed; two deletes of one key in a batch place two.
    let out = index.delete_versions(bucket, vec![("new".into(), None), ("new".into(), None)], requester(), no_options()).await.unwrap();
    assert!(out.iter().all(|o| matches!(o, Ok(DeleteOutcome { delete_marker: true, .. }))));
    assert_eq!(count(&index, "SELECT count(*) FROM objects WHERE key = 'new'::bytea").await, 2);

    // Suspended: the marker is the null version, replacing the null version.
    index.set_versioning(bucket, Versioning::Suspended).await.unwrap();
    put_version(&index, bucket, "s", inline(b"s"), ObjectMeta::default(), WriteConditions::default()).await.unwrap();
    let m = index.delete_versions(bucket, one("s", None), requester(), no_options()).await.unwrap().pop().unwrap().unwrap();
    assert_eq!(m.version_id.as_deref(), Some("null"));
    assert_eq!(count(&index, "SELECT count(*) FROM objects WHERE key = 's'::bytea").await, 1);
    let (usage, _) = index.bucket_usage(bucket).await.unwrap();
    assert_eq!((usage.objects, usage.versions, usage.delete_markers), (1, 1, 3));

    let missing = index.delete_versions(bucket + 100, one("k", None), requester(), no_options()).await.unwrap();
    assert!(matches!(missing[0], Err(StorageError::NoSuchBucket)));
}

#[tokio::test]
async fn a_write_queues_its_event_and_its_replication_in_its_commit() {
    let Some(db) = TestDb::create().await else { return };
    let (index, bucket) = setup(&db).await;
    index.set_versioning(bucket, Versioning::Enabled).await.unwrap();
    let target = NotifyTarget { name: "hook".into(), kind: TargetKind::Webhook { url: "http://127.0.0.1:1/".into() }, max_backlog: 100 };
    index.put_notify_target(target, None).await.unwrap();
    let events = ["s3:ObjectCreated:*", "s3:ObjectRemoved:*", "s3:ObjectTagging:*"];
    let route = NotifyRoute { config_id: "c".into(), target: "hook".into(), events: events.iter().map(|e| e.to_string()).collect(), prefix: String::new(), suffix: String::new() };
    index.set_bucket_config(bucket, NOTIFY_ROUTES_KIND, Some(serde_json::to_string(&[route]).unwrap())).await.unwrap();
    let rule = ReplicationRoute {
        rule_id: "r".into(),
        prefixes: vec!["rep/".into()],
        tags: Vec::new(),
        delete_markers: true,
        target: "arn:aws:s3:::dest".into(),
        storage_class: None,
        replica_kms_key_id: None,
    };
    index.set_bucket_config(bucket, crate::ROUTES_KIND, Some(serde_json::to_string(&[rule]).unwrap())).await.unwrap();

    let kept = put_version(&index, bucket, "local", inline(b"x"), ObjectMeta::default(), WriteConditions::default()).await.unwrap();
    assert_eq!(kept.replication, None);
    let sent = put_version(&index, bucket, "rep/a", inline(b"y"), ObjectMeta::default(), WriteConditions::default()).await.unwrap();
    assert_eq!(sent.replication.as_deref(), Some("PENDING"));
    assert_eq!(index.version(bucket, "rep/a", None).await.unwrap().0.replication.as_deref(), Some("PENDING"));
    let refused = WriteConditions { if_none_match: Some("*".into()), if_match: None };
    assert!(put_version(&index, bucket, "rep/a", inline(b"z"), ObjectMeta::default(), refused).await.is_err());
    let copy = index
        .copy_version(VersionRef { bucket_id: bucket, key: "local".into(), version_id: kept.version_id.clone() }, bucket, new_object("rep/copy", ObjectMeta::default()), WriteConditions::default(), tiers())
        .await
        .unwrap();
    index.change_version_meta(bucket, "rep/a", None, MetaChange::Tags(vec![("a".into(), "b".into())]), Origin::new(EventName::ObjectTaggingPut, requester())).await.unwrap();
    let marker = index.delete_versions(bucket, vec![("rep/a".into(), None)], requester(), no_options()).await.unwrap().pop().unwrap().unwrap();
    index.delete_versions(bucket, vec![("local".into(), Some(kept.version_id.clone()))], requester(), no_options()).await.unwrap();

    let queued = index.queued_events("hook", 100).await.unwrap();
    let names: Vec<(EventName, &str, Option<&str>)> = queued.iter().map(|e| (e.facts.name, e.facts.key.as_str(), e.facts.version_id.as_deref())).collect();
    assert_eq!(
        names,
        [
            (EventName::ObjectCreatedPut, "local", Some(kept.version_id.as_str())),
            (EventName::ObjectCreatedPut, "rep/a", Some(sent.version_id.as_str())),
            (EventName::ObjectCreatedPut, "rep/copy", Some(copy.version_id.as_str())),
            (EventName::ObjectTaggingPut, "rep/a", Some(sent.version_id.as_str())),
            (EventName::ObjectRemovedDeleteMarkerCreated, "rep/a", marker.version_id.as_deref()),
            (EventName::ObjectRemovedDelete, "local", Some(kept.version_id.as_str())),
        ]
    );
    let c = index.client().await.unwrap();
    let outbox = c.query("SELECT key, version_id, target, kind FROM outbox ORDER BY seq", &[]).await.unwrap();
    let outbox: Vec<(Vec<u8>, String, String)> = outbox.iter().map(|r| (r.get(0), r.get(1), r.get(2))).collect();
    let row = |k: &str, v: &str| (k.as_bytes().to_vec(), v.to_string(), "arn:aws:s3:::dest".to_string());
    assert_eq!(outbox, [row("rep/a", &sent.version_id), row("rep/copy", &copy.version_id), row("rep/a", marker.version_id.as_deref().unwrap())]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_of_1000_deletes_decides_each_item_without_savepoints() {
    use futures::StreamExt;
    let Some(db) = TestDb::create().await else { return };
    let (index, bucket) = setup(&db).await;
    index.set_versioning(bucket, Versioning::Enabled).await.unwrap();
    let held = ObjectMeta { lock: VersionLock { retention: None, legal_hold: true }, ..Default::default() };
    let index = &index;
    let written: Vec<(usize, ObjectRecord)> = futures::stream::iter(0..1000usize)
        .map(|i| {
            let meta = if i % 10 == 3 { held.clone() } else { ObjectMeta::default() };
            async move { (i, put_version(index, bucket, &format!("k{:04}", 999 - i), blob("aa", 10), meta, WriteConditions::default()).await.unwrap()) }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    let mut written = written;
    written.sort_by_key(|(i, _)| *i);
    assert_eq!(refs(index, "aa").await, 1000);
    // Items in an order that is not key order, each naming its version.
    let items: Vec<(String, Option<String>)> = written.iter().map(|(_, r)| (r.key.clone(), Some(r.version_id.clone()))).collect();
    let started = std::time::Instant::now();
    let out = index.delete_versions(bucket, items, requester(), no_options()).await.unwrap();
    println!("1000 deletes in one batch: {:?}", started.elapsed());
    assert_eq!(out.len(), 1000);
    for (i, o) in out.iter().enumerate() {
        match o {
            Err(StorageError::ObjectLocked(_)) => assert_eq!(i % 10, 3, "item {i}"),
            Ok(d) => assert_eq!((i % 10 != 3, d.version_id.as_deref()), (true, Some(written[i].1.version_id.as_str()))),
            Err(other) => panic!("item {i}: {other:?}"),
        }
    }
    assert_eq!(count(index, "SELECT count(*) FROM objects").await, 100);
    assert_eq!(refs(index, "aa").await, 100);
    let (usage, _) = index.bucket_usage(bucket).await.unwrap();
    assert_eq!((usage.objects, usage.versions), (100, 100));
}

/// Of a DELETE of a key's latest version and a conditional PUT of it from another node, the
/// outcome is that of one serial order: the PUT (If-None-Match: *) wins only if the DELETE
/// went first, and the key ends with the PUT's version then, or with none (a delete marker).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_delete_and_a_conditional_put_from_two_nodes_end_in_a_serial_order() {
    let Some(db) = TestDb::create().await else { return };
    let (a, bucket) = setup(&db).await;
    let a = Arc::new(a);
    let b = Arc::new(PgIndex::connect(&db.url).await.unwrap());
    for versioning in [Versioning::Unversioned, Versioning::Enabled] {
        if versioning == Versioning::Enabled {
            a.set_versioning(bucket, versioning).await.unwrap();
        }
        let keys: Vec<String> = (0..40).map(|i| format!("{versioning:?}/{i}")).collect();
        for key in &keys {
            put_version(&a, bucket, key, inline(b"old"), ObjectMeta::default(), WriteConditions::default()).await.unwrap();
        }
        let mut tasks = Vec::new();
        for (i, key) in keys.iter().enumerate() {
            let (deleter, putter) = if i % 2 == 0 { (a.clone(), b.clone()) } else { (b.clone(), a.clone()) };
            let k = key.clone();
            let delete = tokio::spawn(async move { deleter.delete_versions(bucket, vec![(k, None)], requester(), no_options()).await });
            let k = key.clone();
            let put = tokio::spawn(async move {
                let cond = WriteConditions { if_none_match: Some("*".into()), if_match: None };
                put_version(&putter, bucket, &k, inline(b"new"), ObjectMeta::default(), cond).await
            });
            tasks.push((key.clone(), delete, put));
        }
        let (mut put_won, mut delete_won) = (0, 0);
        for (key, delete, put) in tasks {
            let deleted = delete.await.unwrap().unwrap().pop().unwrap();
            assert!(deleted.is_ok(), "{key}: {deleted:?}");
            let put = put.await.unwrap();
            let latest = a.version(bucket, &key, None).await;
            match put {
                Ok(rec) => {
                    put_won += 1;
                    assert_eq!(latest.unwrap().0.version_id, rec.version_id, "{key}: the PUT came last");
                }
                Err(StorageError::PreconditionFailed) => {
                    delete_won += 1;
                    match latest {
                        Err(StorageError::NoSuchKey) => assert_eq!(versioning, Versioning::Unversioned),
                        Ok((rec, _)) => assert!(rec.delete_marker, "{key}: the DELETE came last"),
                        Err(other) => panic!("{key}: {other:?}"),
                    }
                }
                Err(other) => panic!("{key}: {other:?}"),
            }
        }
        println!("{versioning:?}: the PUT won {put_won} races, the DELETE {delete_won}");
    }
    // Batches of overlapping keys in opposite orders from two nodes, racing PUTs of those keys:
    // key locks in key order, so nothing deadlocks for good and no unique violation surfaces.
    let keys: Vec<String> = (0..50).map(|i| format!("batch/{i:02}")).collect();
    let mut tasks = Vec::new();
    for round in 0..6 {
        let mut items: Vec<(String, Option<String>)> = keys.iter().map(|k| (k.clone(), None)).collect();
        if round % 2 == 1 {
            items.reverse();
        }
        let node = if round % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move { node.delete_versions(bucket, items, requester(), no_options()).await.map(|o| o.len()) }));
        let (node, keys) = (if round % 2 == 0 { b.clone() } else { a.clone() }, keys.clone());
        tasks.push(tokio::spawn(async move {
            for k in keys.iter().rev() {
                put_version(&node, bucket, k, inline(b"p"), ObjectMeta::default(), WriteConditions::default()).await?;
            }
            Ok(keys.len())
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap(), 50);
    }
    let latest: i64 = count(&a, "SELECT count(*) FROM objects WHERE key >= 'batch/'::bytea AND is_latest").await;
    assert_eq!(latest, 50, "each key has exactly one latest version");
}

/// What a GET's index read costs: 4,000 `bucket_and_version` reads, 16 in flight.
/// `cargo test --release -p coffer-storage read_rate -- --ignored --nocapture`
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore]
async fn read_rate() {
    use futures::StreamExt;
    let Some(db) = TestDb::create().await else { return };
    let (index, bucket) = setup(&db).await;
    for i in 0..100 {
        put_version(&index, bucket, &format!("k{i}"), inline(b"x"), ObjectMeta::default(), WriteConditions::default()).await.unwrap();
    }
    let index = &index;
    let started = std::time::Instant::now();
    futures::stream::iter(0..4000)
        .for_each_concurrent(16, |i| async move {
            index.bucket_and_version("b", &format!("k{}", i % 100), None).await.unwrap().1.unwrap();
        })
        .await;
    println!("bucket_and_version: {:.0}/s", 4000.0 / started.elapsed().as_secs_f64());
}
