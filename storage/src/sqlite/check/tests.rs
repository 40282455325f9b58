use super::*;
use crate::testutil::*;
use crate::{IngestOptions, ObjectMeta, Store};
use std::time::SystemTime;

const NOW: CheckOptions = CheckOptions { verify_hashes: true, orphan_grace: Duration::ZERO, repair: false };

fn with(repair: bool, verify_hashes: bool) -> CheckOptions {
    CheckOptions { repair, verify_hashes, ..NOW }
}

fn index(store: &Store) -> Connection {
    Connection::open(store.root().join("index.sqlite")).unwrap()
}

/// A bucket with a large object, a copy of it, a small object and an upload with one part.
async fn populated() -> (TestStore, String) {
    let t = sqlite_store().await;
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
    let hash: Vec<u8> = index(&t.store).query_row("SELECT hash FROM blobs WHERE size = 200000", [], |r| r.get(0)).unwrap();
    (t, hex::encode(hash))
}

#[tokio::test]
async fn a_healthy_store_is_clean() {
    let (t, _) = populated().await;
    let report = check(t.store.root(), &*t.store.blob_store(), &NOW).unwrap();
    assert!(report.is_clean(), "{report}");
    assert_eq!((report.objects, report.inline_objects, report.parts), (2, 1, 1));
    assert_eq!((report.blobs_indexed, report.blob_files), (2, 2));
    assert_eq!(report.bytes_hashed, 200_100);
}

#[tokio::test]
async fn damaged_blobs_are_reported_with_their_objects_and_not_repaired() {
    let (t, large) = populated().await;
    let path = blob_file(&t.store, &large);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[1234] ^= 1;
    std::fs::write(&path, &bytes).unwrap();
    assert!(check(t.store.root(), &*t.store.blob_store(), &with(false, false)).unwrap().is_clean(), "a quick check sees only sizes");
    let report = check(t.store.root(), &*t.store.blob_store(), &with(true, true)).unwrap();
    assert_eq!(report.damaged.len(), 1, "{report}");
    assert!(matches!(report.damaged[0].damage, Damage::WrongHash { .. }));
    assert_eq!(report.damaged[0].used_by, ["b/large (version null)", "b/copy (version null)"]);

    std::fs::write(&path, &bytes[..10]).unwrap();
    let report = check(t.store.root(), &*t.store.blob_store(), &NOW).unwrap();
    assert_eq!(report.damaged[0].damage, Damage::WrongSize { expected: 200_000, actual: 10 });
    std::fs::remove_file(&path).unwrap();
    let report = check(t.store.root(), &*t.store.blob_store(), &NOW).unwrap();
    assert_eq!(report.damaged[0].damage, Damage::Missing);
    assert!(report.to_string().contains("lost: b/copy (version null)"), "{report}");
}

#[tokio::test]
async fn wrong_and_missing_reference_counts_are_repaired() {
    let (t, large) = populated().await;
    let db = index(&t.store);
    db.execute("UPDATE blobs SET refs = 7 WHERE size = 200000", []).unwrap();
    db.execute("DELETE FROM blobs WHERE size = 100", []).unwrap();
    let report = check(t.store.root(), &*t.store.blob_store(), &NOW).unwrap();
    assert_eq!(report.refcount_mismatches.len(), 2, "{report}");
    assert!(report.refcount_mismatches.contains(&RefcountMismatch { hash: large.clone(), recorded: Some(7), actual: 2 }));
    let repaired = check(t.store.root(), &*t.store.blob_store(), &with(true, true)).unwrap();
    assert!(repaired.is_clean(), "{repaired}");
    assert_eq!(repaired.repaired.refcounts.len(), 2);
    assert!(check(t.store.root(), &*t.store.blob_store(), &NOW).unwrap().is_clean());
    let part_row: (i64, i64) = db.query_row("SELECT size, refs FROM blobs WHERE size = 100", [], |r| Ok((r.get(0)?, r.get(1)?))).unwrap();
    assert_eq!(part_row, (100, 1));
}

#[tokio::test]
async fn orphans_wait_out_the_grace_period_then_repair_removes_them() {
    let (t, _) = populated().await;
    let data = b"left behind by a crash".repeat(1000);
    let hash = hex::encode(<[u8; 32]>::from(sha2::Sha256::digest(&data)));
    let path = blob_file(&t.store, &hash);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, &data).unwrap();
    let young = check(t.store.root(), &*t.store.blob_store(), &CheckOptions::default()).unwrap();
    assert!(young.is_clean() && young.in_flight == 1, "{young}");
    let report = check(t.store.root(), &*t.store.blob_store(), &NOW).unwrap();
    assert_eq!(report.orphans, [hash.clone()]);
    let repaired = check(t.store.root(), &*t.store.blob_store(), &with(true, true)).unwrap();
    assert_eq!(repaired.repaired.orphans_removed, [hash]);
    assert!(repaired.is_clean() && !path.exists());
}

#[tokio::test]
async fn a_writer_reusing_an_old_file_refreshes_its_age() {
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
