//! BucketIndex on PostgreSQL (versions are written as rows here until ObjectIndex exists).

use super::TestDb;
use crate::error::StorageError;
use crate::meta::BucketIndex;
use crate::model::{User, Versioning, LOCK_KIND};
use crate::postgres::buckets::{fold_usage, QuotaTurn};
use crate::postgres::{transact, PgIndex};
use crate::usage::{Quota, Usage};

async fn with_users(db: &TestDb) -> (PgIndex, User, User) {
    let index = PgIndex::connect(&db.url).await.unwrap();
    index
        .client()
        .await
        .unwrap()
        .batch_execute("INSERT INTO users (id, name, created_ms) VALUES ('u1', 'alice', 0), ('u2', 'bob', 0)")
        .await
        .unwrap();
    let user = |id: &str, name: &str| User { id: id.into(), name: name.into() };
    (index, user("u1", "alice"), user("u2", "bob"))
}

/// Writes a version row (what ObjectIndex will do), `manifest` naming blobs or None.
async fn version(c: &impl tokio_postgres::GenericClient, bucket: i64, key: &str, id: &str, latest: bool, size: i64, manifest: Option<&str>) {
    c.execute(
        "INSERT INTO objects (bucket_id, key, version_id, is_latest, delete_marker, size, etag, modified_ms, owner_id, meta, manifest)
         VALUES ($1, $2, $3, $4, $5, $6, '', 0, 'u1', '{}', $7)",
        &[&bucket, &key.as_bytes(), &id, &latest, &(size < 0), &size.max(0), &manifest],
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn buckets_their_documents_and_versioning() {
    let Some(db) = TestDb::create().await else { return };
    let (index, alice, bob) = with_users(&db).await;
    let b = index.create_bucket(alice.clone(), "photos", "us-east-1").await.unwrap();
    assert_eq!((b.name.as_str(), b.versioning), ("photos", Versioning::Unversioned));
    assert!(matches!(index.create_bucket(alice.clone(), "photos", "r").await, Err(StorageError::BucketAlreadyOwnedByYou)));
    assert!(matches!(index.create_bucket(bob.clone(), "photos", "r").await, Err(StorageError::BucketAlreadyExists)));
    index.create_bucket(bob.clone(), "logs", "eu").await.unwrap();
    index.create_bucket(alice.clone(), "art", "eu").await.unwrap();
    let found = index.bucket_by_name("photos").await.unwrap().unwrap();
    assert_eq!((found.id, found.owner.name.as_str(), found.region.as_str()), (b.id, "alice", "us-east-1"));
    assert!(index.bucket_by_name("none").await.unwrap().is_none());
    let names = |v: Vec<crate::Bucket>| v.into_iter().map(|b| b.name).collect::<Vec<_>>();
    assert_eq!(names(index.list_buckets("u1").await.unwrap()), ["art", "photos"]);
    assert_eq!(names(index.all_buckets().await.unwrap()), ["art", "logs", "photos"]);

    index.set_bucket_config(b.id, "tagging", Some("<a/>".into())).await.unwrap();
    index.set_bucket_config(b.id, "cors", Some("<c/>".into())).await.unwrap();
    index.set_bucket_config(b.id, "cors", Some("<d/>".into())).await.unwrap();
    assert_eq!(index.bucket_config_kinds(b.id).await.unwrap(), ["cors", "tagging"]);
    assert_eq!(index.bucket_config(b.id, "cors").await.unwrap().as_deref(), Some("<d/>"));
    assert_eq!(index.buckets_with_config("cors").await.unwrap(), [(b.id, "photos".to_string())]);
    index.set_bucket_config(b.id, "tagging", None).await.unwrap();
    assert_eq!(index.bucket_config(b.id, "tagging").await.unwrap(), None);

    index.set_versioning(b.id, Versioning::Enabled).await.unwrap();
    index.set_bucket_config(b.id, LOCK_KIND, Some("{}".into())).await.unwrap();
    assert!(matches!(index.set_versioning(b.id, Versioning::Suspended).await, Err(StorageError::InvalidBucketState(_))));
    index.set_versioning(b.id, Versioning::Enabled).await.unwrap();
    assert_eq!(index.bucket_by_name("photos").await.unwrap().unwrap().versioning, Versioning::Enabled);
    assert!(matches!(index.set_versioning(9999, Versioning::Enabled).await, Err(StorageError::NoSuchBucket)));
}

#[tokio::test]
async fn deleting_a_bucket_needs_it_empty_and_drops_its_uploads() {
    let Some(db) = TestDb::create().await else { return };
    let (index, alice, _) = with_users(&db).await;
    let b = index.create_bucket(alice.clone(), "b", "r").await.unwrap();
    let c = index.client().await.unwrap();
    version(&**c, b.id, "k", "null", true, 3, None).await;
    assert!(matches!(index.delete_bucket("b").await, Err(StorageError::BucketNotEmpty)));
    c.execute("DELETE FROM objects WHERE bucket_id = $1", &[&b.id]).await.unwrap();
    // The key's lock row, which the version commit left behind.
    c.execute("INSERT INTO object_keys (bucket_id, key) VALUES ($1, 'k')", &[&b.id]).await.unwrap();
    index.set_bucket_config(b.id, "cors", Some("<c/>".into())).await.unwrap();
    // The lease of the bucket's last lifecycle pass.
    c.execute("INSERT INTO leases (name, node, until_ms) VALUES ($1, 'n', 0)", &[&crate::postgres::lifecycle::bucket_lease(b.id)]).await.unwrap();
    c.execute("INSERT INTO blobs (hash, size, refs, gen) VALUES ($1, 5, 2, 1)", &[&vec![7u8; 32]]).await.unwrap();
    let seq: i64 = c
        .query_one("INSERT INTO uploads (upload_id, bucket_id, key, owner_id, initiated_ms, meta) VALUES ('up', $1, 'k', 'u1', 0, '{}') RETURNING seq", &[&b.id])
        .await
        .unwrap()
        .get(0);
    c.execute("INSERT INTO parts (upload_seq, part_number, size, etag, modified_ms, hash) VALUES ($1, 1, 5, '', 0, $2)", &[&seq, &vec![7u8; 32]])
        .await
        .unwrap();
    assert_eq!(index.delete_bucket("b").await.unwrap(), b.id);
    let refs: i64 = c.query_one("SELECT refs FROM blobs", &[]).await.unwrap().get(0);
    assert_eq!(refs, 1, "the part's reference is released");
    let left: i64 = c
        .query_one("SELECT (SELECT count(*) FROM uploads) + (SELECT count(*) FROM bucket_configs) + (SELECT count(*) FROM bucket_usage) + (SELECT count(*) FROM object_keys) + (SELECT count(*) FROM leases)", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(left, 0);
    assert!(matches!(index.delete_bucket("b").await, Err(StorageError::NoSuchBucket)));
    assert_eq!(index.bucket_usage(b.id).await.unwrap(), (Usage::default(), Quota::default()));
}

#[tokio::test]
async fn usage_is_the_base_row_plus_deltas_and_folding_keeps_it() {
    let Some(db) = TestDb::create().await else { return };
    let (index, alice, _) = with_users(&db).await;
    let b = index.create_bucket(alice.clone(), "b", "r").await.unwrap();
    let other = index.create_bucket(alice, "other", "r").await.unwrap();
    let c = index.client().await.unwrap();
    let manifest = |byte: &str| format!(r#"[{{"hash":"{}","len":100}}]"#, byte.repeat(32));
    version(&**c, b.id, "a", "v1", false, 100, Some(&manifest("aa"))).await;
    version(&**c, b.id, "a", "v2", true, 100, Some(&manifest("aa"))).await;
    version(&**c, b.id, "b", "v3", false, 5, None).await;
    version(&**c, b.id, "b", "v4", true, -1, None).await;
    version(&**c, other.id, "x", "null", true, 7, None).await;
    c.execute("INSERT INTO inline_bodies (seq, data) SELECT seq, '\\x0102030405' FROM objects WHERE version_id = 'v3'", &[]).await.unwrap();
    let expected = Usage { objects: 1, versions: 3, delete_markers: 1, logical_bytes: 205 };
    assert_eq!(index.bucket_usage(b.id).await.unwrap().0, expected);
    let space = index.bucket_space(b.id).await.unwrap();
    assert_eq!((space.usage, space.stored_bytes), (expected, 105), "the shared blob counts once, the inline body by its length");

    // The latest version of "a" becomes noncurrent, then goes.
    c.execute("UPDATE objects SET is_latest = false WHERE version_id = 'v2'", &[]).await.unwrap();
    c.execute("DELETE FROM objects WHERE version_id = 'v1'", &[]).await.unwrap();
    let expected = Usage { objects: 0, versions: 2, delete_markers: 1, logical_bytes: 105 };
    assert_eq!(index.bucket_usage(b.id).await.unwrap().0, expected);
    assert!(fold_usage(&**c, b.id).await.unwrap());
    let deltas = |id: i64| {
        let c = &c;
        async move { c.query_one("SELECT count(*) FROM bucket_usage_deltas WHERE bucket_id = $1", &[&id]).await.unwrap().get::<_, i64>(0) }
    };
    assert_eq!(deltas(b.id).await, 0);
    assert_eq!(deltas(other.id).await, 1, "folding one bucket leaves the others");
    c.execute("UPDATE objects SET is_latest = false WHERE version_id = 'v4'", &[]).await.unwrap();
    assert_eq!(deltas(b.id).await, 0, "a change that counts nothing adds no delta");
    assert_eq!(index.bucket_usage(b.id).await.unwrap().0, expected);

    // Readers fold once enough deltas gather.
    for i in 0..300 {
        version(&**c, b.id, &format!("k{i}"), "null", true, 1, None).await;
    }
    let expected = Usage { objects: 300, versions: 302, delete_markers: 1, logical_bytes: 405 };
    assert_eq!(index.bucket_usage(b.id).await.unwrap().0, expected);
    assert_eq!(deltas(b.id).await, 0);
    assert_eq!(index.bucket_usage(b.id).await.unwrap().0, expected);
    let total = index.total_usage().await.unwrap();
    assert_eq!((total.objects, total.logical_bytes), (301, 412));
}

#[tokio::test]
async fn byte_quota_for_put_reads_what_an_overwrite_replaces() {
    let Some(db) = TestDb::create().await else { return };
    let (index, alice, _) = with_users(&db).await;
    let b = index.create_bucket(alice, "b", "r").await.unwrap();
    let c = index.client().await.unwrap();
    version(&**c, b.id, "a", "null", true, 6, None).await;
    assert_eq!(index.byte_quota_for_put(b.id, "a").await.unwrap(), None, "no byte quota");
    let quota = Quota { max_bytes: Some(10), max_objects: None };
    index.set_bucket_quota(b.id, quota).await.unwrap();
    let (usage, got, replaced) = index.byte_quota_for_put(b.id, "a").await.unwrap().unwrap();
    assert_eq!((usage.logical_bytes, got, replaced), (6, quota, 6));
    assert_eq!(index.byte_quota_for_put(b.id, "new").await.unwrap().unwrap().2, 0);
    index.set_versioning(b.id, Versioning::Enabled).await.unwrap();
    assert_eq!(index.byte_quota_for_put(b.id, "a").await.unwrap().unwrap().2, 0, "versioning keeps the null version");
    index.set_bucket_quota(b.id, Quota::default()).await.unwrap();
    assert_eq!(index.bucket_usage(b.id).await.unwrap(), (Usage { objects: 1, versions: 1, delete_markers: 0, logical_bytes: 6 }, Quota::default()));
}

/// Writes version `key` of a bucket with a quota the way a version commit does: a turn, the
/// row, the check, in one transaction.
async fn put_within_quota(index: &PgIndex, bucket: i64, key: String) -> crate::error::Result<()> {
    transact!(index, |tx| {
        let turn = QuotaTurn::take(&*tx, bucket).await?;
        version(&*tx, bucket, &key, "null", true, 1, None).await;
        turn.check(&*tx, bucket).await?;
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_racing_to_fill_a_quota_store_exactly_its_limit() {
    let Some(db) = TestDb::create().await else { return };
    let (a, alice, _) = with_users(&db).await;
    let b = PgIndex::connect(&db.url).await.unwrap();
    let bucket = a.create_bucket(alice, "b", "r").await.unwrap().id;
    a.set_bucket_quota(bucket, Quota { max_bytes: None, max_objects: Some(7) }).await.unwrap();
    let (a, b) = (std::sync::Arc::new(a), std::sync::Arc::new(b));
    let tasks: Vec<_> = (0..40)
        .map(|i| {
            let node = if i % 2 == 0 { a.clone() } else { b.clone() };
            tokio::spawn(async move { put_within_quota(&node, bucket, format!("k{i}")).await })
        })
        .collect();
    let mut stored = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(()) => stored += 1,
            Err(StorageError::QuotaExceeded(_)) => {}
            Err(other) => panic!("{other:?}"),
        }
    }
    assert_eq!(stored, 7);
    let rows: i64 = a.client().await.unwrap().query_one("SELECT count(*) FROM objects", &[]).await.unwrap().get(0);
    assert_eq!(rows, 7);
    assert_eq!(b.bucket_usage(bucket).await.unwrap().0.objects, 7);
}
