use super::*;
use crate::blob::Hash;
use crate::testutil::{blob_file, put, sqlite_store, store, TestStore};
use sha2::{Digest, Sha256};

/// Puts `n` objects of 100 KiB (each a blob file) and returns their blobs' hashes, sorted.
async fn blobs(t: &TestStore, n: u8) -> Vec<Hash> {
    let b = t.store.create_bucket(&t.owner, "b", "us-east-1").await.unwrap();
    let mut hashes = Vec::new();
    for i in 0..n {
        let data = vec![i; 100 * 1024];
        put(t, &b, &format!("k{i}"), &data).await.unwrap();
        hashes.push(Sha256::digest(&data).into());
    }
    hashes.sort();
    hashes
}

fn flip_byte(path: &std::path::Path, at: u64) {
    use std::os::unix::fs::FileExt;
    let f = std::fs::OpenOptions::new().read(true).write(true).open(path).unwrap();
    let mut b = [0u8; 1];
    f.read_exact_at(&mut b, at).unwrap();
    f.write_all_at(&[b[0] ^ 0x01], at).unwrap();
}

#[tokio::test]
async fn walks_referenced_blobs_in_hash_order_from_a_cursor() {
    let t = store().await;
    let all = blobs(&t, 5).await;
    let first: Vec<Hash> = t.store.blobs_after(None, 2).await.unwrap().into_iter().map(|(h, _)| h).collect();
    assert_eq!(first, all[..2]);
    let rest: Vec<(Hash, u64)> = t.store.blobs_after(Some(all[1]), 10).await.unwrap();
    assert_eq!(rest.iter().map(|(h, _)| *h).collect::<Vec<_>>(), all[2..]);
    assert!(rest.iter().all(|(_, size)| *size == 100 * 1024));
    assert!(t.store.blobs_after(Some(all[4]), 10).await.unwrap().is_empty());
    // An unreferenced blob (awaiting collection) is not scrubbed.
    let b = t.store.bucket("b").await.unwrap();
    t.store.delete_object(b.id, "k0", None, Default::default(), crate::DeleteOptions::default()).await.unwrap();
    assert_eq!(t.store.blobs_after(None, 10).await.unwrap().len(), 4);
}

#[tokio::test]
async fn a_blob_check_finds_flipped_bytes_wrong_sizes_and_missing_files_in_small_steps() {
    let t = store().await;
    let all = blobs(&t, 3).await;
    let size = 100 * 1024;
    // Intact, hashed 10 KiB at a time.
    let mut check = t.store.blob_check(all[0], size);
    let mut steps = 0;
    let verdict = loop {
        steps += 1;
        if let Some(v) = check.advance(10 * 1024) {
            break v;
        }
    };
    assert_eq!(verdict, BlobVerdict::Intact);
    assert_eq!((steps, check.bytes_read()), (10, size));

    flip_byte(&blob_file(&t.store, &hex::encode(all[1])), 5000);
    assert!(matches!(t.store.blob_check(all[1], size).advance(u64::MAX), Some(BlobVerdict::WrongHash { .. })));
    assert_eq!(t.store.blob_check(all[2], size + 1).advance(u64::MAX), Some(BlobVerdict::WrongSize { actual: size }));
    std::fs::remove_file(blob_file(&t.store, &hex::encode(all[2]))).unwrap();
    assert_eq!(t.store.blob_check(all[2], size).advance(u64::MAX), Some(BlobVerdict::Missing));
    assert!(t.store.blob_is_referenced(all[2]).await.unwrap());
    let names = t.store.objects_naming_blob(all[1], 10).await.unwrap();
    assert_eq!(names.len(), 1);
    assert!(names[0].starts_with("b/k"), "{names:?}");
}

#[tokio::test]
async fn inline_bodies_are_checked_against_their_recorded_sha256() {
    let t = sqlite_store().await;
    let b = t.store.create_bucket(&t.owner, "b", "us-east-1").await.unwrap();
    put(&t, &b, "small", b"hello inline").await.unwrap();
    put(&t, &b, "old", b"written before hashes were kept").await.unwrap();
    let good: Hash = Sha256::digest(b"hello inline").into();
    // Rows from before the hash was kept have none.
    let db = rusqlite::Connection::open(t.store.root().join("index.sqlite")).unwrap();
    db.execute("UPDATE inline_bodies SET sha256 = NULL WHERE seq = (SELECT MAX(seq) FROM inline_bodies)", []).unwrap();
    let checked = t.store.scrub_inline_after(0, 10).await.unwrap();
    assert_eq!(checked.len(), 1, "rows without a recorded hash are skipped");
    assert!(checked[0].intact);
    db.execute("UPDATE inline_bodies SET data = X'68656c6c6f20696e6c696e66' WHERE sha256 IS NOT NULL", []).unwrap();
    let checked = t.store.scrub_inline_after(0, 10).await.unwrap();
    assert!(!checked[0].intact);
    assert_eq!(checked[0].sha256, good);
    assert_eq!(t.store.object_name_at(checked[0].seq).await.unwrap().as_deref().map(|n| n.starts_with("b/small ")), Some(true));
    assert!(t.store.scrub_inline_after(checked[0].seq, 10).await.unwrap().is_empty());
    assert_eq!(t.store.scrub_bytes_total().await.unwrap(), 12);
}

#[tokio::test]
async fn state_and_corrupt_blobs_are_durable_and_readable_offline() {
    let t = sqlite_store().await;
    assert_eq!(scrub_status(t.store.root()).unwrap().state, ScrubState::default());
    let mut pass = ScrubPass::new(1000);
    pass.position = ScrubPosition::Blobs { after: Some("ab".repeat(32)) };
    pass.blobs = 3;
    let state = ScrubState { current: Some(pass), last: None };
    t.store.save_scrub_state(&state).await.unwrap();
    t.store.record_corrupt_blob([7; 32], "scrub").await.unwrap();
    t.store.record_corrupt_blob([7; 32], "read").await.unwrap();
    assert_eq!(t.store.scrub_state().await.unwrap(), state);
    let status = scrub_status(t.store.root()).unwrap();
    assert_eq!(status.state, state);
    assert_eq!(status.corrupt.len(), 1, "each blob is recorded once");
    assert_eq!((status.corrupt[0].hash.as_str(), status.corrupt[0].source.as_str()), (hex::encode([7u8; 32]).as_str(), "scrub"));
    assert!(scrub_status(&t.store.root().join("nowhere")).is_err());
}
