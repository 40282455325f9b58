use super::*;
use crate::testutil::*;
use crate::site::{Metadata, Site};
use crate::{IngestOptions, ObjectMeta};
use std::time::SystemTime;

const NOW: CheckOptions = CheckOptions { verify_hashes: true, orphan_grace: Duration::ZERO, repair: false };

fn with(repair: bool, verify_hashes: bool) -> CheckOptions {
    CheckOptions { repair, verify_hashes, ..NOW }
}

/// The check of the test store, whichever index it has.
fn check_now(t: &TestStore, opts: &CheckOptions) -> CheckReport {
    let metadata = t._db.as_ref().map_or(Metadata::DataDir, |db| Metadata::Postgres(db.url.clone()));
    check(&Site { data_dir: t.store.root().to_path_buf(), metadata }, &*t.store.blob_store(), opts).unwrap()
}

/// Runs `sql` on the test store's index, whichever it is (to tamper with it); returns the
/// first column of the first row, if any, as bytes.
async fn sql(t: &TestStore, sql: &str) -> Option<Vec<u8>> {
    match &t._db {
        None => {
            let c = rusqlite::Connection::open(t.store.root().join("index.sqlite")).unwrap();
            let mut stmt = c.prepare(sql).unwrap();
            let mut rows = stmt.query([]).unwrap();
            rows.next().unwrap().map(|r| r.get(0).unwrap())
        }
        Some(db) => {
            let (client, conn) = tokio_postgres::connect(&db.url, tokio_postgres::NoTls).await.unwrap();
            tokio::spawn(conn);
            client.query(sql, &[]).await.unwrap().first().map(|r| r.get(0))
        }
    }
}

/// A bucket with a large object, a copy of it, a small object and an upload with one part.
async fn populated() -> (TestStore, String) {
    let t = store().await;
    let b = t.store.create_bucket(&t.owner, "b", "us-east-1").await.unwrap();
    put(&t, &b, "large", &vec![5u8; 200_000]).await.unwrap();
    put(&t, &b, "small", b"tiny").await.unwrap();
    let (src, _) = t.store.object(b.id, "large", None).await.unwrap();
    let copy = crate::NewObject { key: "copy".into(), owner_id: t.owner.id.clone(), meta: ObjectMeta::default(), origin: crate::testutil::put_origin() };
    t.store.copy_object(&src, b.id, copy, Default::default()).await.unwrap();
    let up = t.store.create_upload(b.id, "mp", &t.owner.id, ObjectMeta::default(), None).await.unwrap();
    let opts = IngestOptions { checksums: vec![], max_size: u64::MAX, seal: None, hash_plaintext: false };
    let part = t.store.ingest_part(body(&[9u8; 100]), opts).await.unwrap();
    t.store.put_part(&up, 1, part).await.unwrap();
    let hash = sql(&t, "SELECT hash FROM blobs WHERE size = 200000").await.unwrap();
    (t, hex::encode(hash))
}

#[tokio::test]
async fn a_healthy_store_is_clean() {
    let (t, _) = populated().await;
    let report = check_now(&t, &NOW);
    assert!(report.is_clean(), "{report}");
    assert_eq!((report.objects, report.inline_objects, report.parts), (2, 1, 1));
    assert_eq!((report.blobs_indexed, report.blob_files), (2, 2));
    assert_eq!(report.bytes_hashed, 200_104, "both blobs and the inline body");
}

#[tokio::test]
async fn damaged_blobs_are_reported_with_their_objects_and_not_repaired() {
    let (t, large) = populated().await;
    let path = blob_file(&t.store, &large);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[1234] ^= 1;
    std::fs::write(&path, &bytes).unwrap();
    assert!(check_now(&t, &with(false, false)).is_clean(), "a quick check sees only sizes");
    let report = check_now(&t, &with(true, true));
    assert_eq!(report.damaged.len(), 1, "{report}");
    assert!(matches!(report.damaged[0].damage, Damage::WrongHash { .. }));
    assert_eq!(report.damaged[0].used_by, ["b/large (version null)", "b/copy (version null)"]);

    std::fs::write(&path, &bytes[..10]).unwrap();
    let report = check_now(&t, &NOW);
    assert_eq!(report.damaged[0].damage, Damage::WrongSize { expected: 200_000, actual: 10 });
    std::fs::remove_file(&path).unwrap();
    let report = check_now(&t, &NOW);
    assert_eq!(report.damaged[0].damage, Damage::Missing);
    assert!(report.to_string().contains("lost: b/copy (version null)"), "{report}");
}

#[tokio::test]
async fn wrong_and_missing_reference_counts_are_repaired() {
    let (t, large) = populated().await;
    sql(&t, "UPDATE blobs SET refs = 7 WHERE size = 200000").await;
    sql(&t, "DELETE FROM blobs WHERE size = 100").await;
    let report = check_now(&t, &NOW);
    assert_eq!(report.refcount_mismatches.len(), 2, "{report}");
    assert!(report.refcount_mismatches.contains(&RefcountMismatch { hash: large.clone(), recorded: Some(7), actual: 2 }));
    let repaired = check_now(&t, &with(true, true));
    assert!(repaired.is_clean(), "{repaired}");
    assert_eq!(repaired.repaired.refcounts.len(), 2);
    assert!(check_now(&t, &NOW).is_clean());
    assert!(sql(&t, "SELECT hash FROM blobs WHERE size = 100 AND refs = 1").await.is_some(), "the part's row is back with its one reference");
}

#[tokio::test]
async fn an_inline_body_that_does_not_match_its_hash_is_torn() {
    let (t, _) = populated().await;
    sql(&t, "UPDATE inline_bodies SET sha256 = data").await;
    assert!(check_now(&t, &with(false, false)).is_clean(), "a quick check hashes nothing");
    let report = check_now(&t, &NOW);
    assert_eq!(report.torn.len(), 1, "{report}");
    assert_eq!((report.torn[0].key.as_str(), report.torn[0].reason.as_str()), ("small", "its inline bytes do not hash to their recorded SHA-256"));
}

#[tokio::test]
async fn orphans_wait_out_the_grace_period_then_repair_removes_them() {
    let (t, _) = populated().await;
    let data = b"left behind by a crash".repeat(1000);
    let hash = hex::encode(<[u8; 32]>::from(sha2::Sha256::digest(&data)));
    // No index row names it: its plain name.
    let path = crate::blob_store::local::blob_path(&t.store.root().join("blobs"), &crate::blob_store::BlobKey::parse(&hash).unwrap());
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, &data).unwrap();
    let young = check_now(&t, &CheckOptions::default());
    assert!(young.is_clean() && young.in_flight == 1, "{young}");
    let report = check_now(&t, &NOW);
    assert_eq!(report.orphans, [hash.clone()]);
    let repaired = check_now(&t, &with(true, true));
    assert_eq!(repaired.repaired.orphans_removed, [hash]);
    assert!(repaired.is_clean() && !path.exists());
}

#[tokio::test]
async fn a_writer_reusing_an_old_file_refreshes_its_age() {
    // SQLite's protocol (a plain name, refreshed); a shared index puts bytes again under a fresh generation.
    let t = sqlite_store().await;
    let b = t.store.create_bucket(&t.owner, "b", "us-east-1").await.unwrap();
    let data = vec![3u8; 100_000];
    put(&t, &b, "k", &data).await.unwrap();
    let hash = hex::encode(<[u8; 32]>::from(sha2::Sha256::digest(&data)));
    let path = blob_file(&t.store, &hash);
    let old = SystemTime::now() - Duration::from_secs(3600);
    std::fs::File::open(&path).unwrap().set_modified(old).unwrap();
    put(&t, &b, "again", &data).await.unwrap();
    let stat = t.store.blob_store().stat(&crate::blob::parse_hash(&hash).unwrap().into()).unwrap().unwrap();
    assert!(stat.older_than(Duration::from_secs(60)).not(), "publishing the same bytes touches the file");
}

use sha2::Digest;
use std::ops::Not;
