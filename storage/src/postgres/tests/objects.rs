//! The version commit on PostgreSQL (ObjectIndex is still in progress).

use super::TestDb;
use crate::error::StorageError;
use crate::events::{EventName, Origin};
use crate::meta::BucketIndex;
use crate::model::{Body, ObjectMeta, Requester, Segment, User, Versioning, WriteConditions};
use crate::objects::{NewObject, Stored};
use crate::postgres::objects::insert_version;
use crate::postgres::{transact, PgIndex};
use crate::tiers::TierSet;

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
    let blob = |b: &str| Body::Blobs(vec![Segment { hash: b.repeat(32), len: 10 }, Segment { hash: b.repeat(32), len: 10 }]);
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
