use super::*;
use crate::testutil::*;
use crate::*;

fn dir_tier(root: &std::path::Path, name: &str, class: &str, archive: bool) -> Tier {
    let path = root.join(name);
    let spec = TierSpec { name: name.into(), kind: TierKind::Dir { path: path.clone() }, storage_classes: vec![class.into()], archive };
    Tier { spec, backend: Arc::new(crate::blob_store::LocalBlobs::open(&path).unwrap()) }
}

async fn put_class(t: &TestStore, bucket: &Bucket, key: &str, data: &[u8], class: &str) -> ObjectRecord {
    let ingested = t.store.ingest(body(data), IngestOptions { checksums: vec![], max_size: u64::MAX, seal: None, hash_plaintext: false }).await.unwrap();
    let meta = ObjectMeta { storage_class: Some(class.into()), ..ObjectMeta::default() };
    let new = NewObject { key: key.into(), owner_id: t.owner.id.clone(), meta, origin: crate::testutil::put_origin() };
    t.store.put_object(bucket, new, ingested, WriteConditions::default()).await.unwrap()
}

async fn read(t: &TestStore, bucket: &Bucket, key: &str) -> Vec<u8> {
    let (rec, body) = t.store.object(bucket.id, key, None).await.unwrap();
    read_all(t, &rec, &body, 0, rec.size).await
}

fn blob_files(root: &std::path::Path) -> usize {
    walkdir::WalkDir::new(root).into_iter().filter_map(|e| e.ok()).filter(|e| e.file_type().is_file()).count()
}

#[tokio::test]
async fn versions_move_to_their_class_tier_and_back() {
    let t = store().await;
    let cold = tempfile::tempdir().unwrap();
    t.store.set_tiers(TierSet::new(vec![dir_tier(cold.path(), "cold", "STANDARD_IA", false)]));
    let b = t.store.create_bucket(&t.owner, "b", "us-east-1").await.unwrap();
    let data = vec![42u8; INLINE_MAX * 3];
    let rec = put_class(&t, &b, "k", &data, "STANDARD_IA").await;
    assert_eq!(rec.placement.moving_to, Some(Some("cold".into())));

    let seqs = t.store.due_moves(0, 10).await.unwrap();
    assert_eq!(seqs.len(), 1);
    assert_eq!(t.store.move_version(seqs[0]).await.unwrap(), Moved::To(Some("cold".into())));
    assert!(t.store.due_moves(0, 10).await.unwrap().is_empty());
    assert_eq!(blob_files(&cold.path().join("cold/blobs")), 1);
    // The local copy is garbage now; reads go through the tier.
    assert_eq!(t.store.collect_garbage().await.unwrap(), 1);
    assert_eq!(read(&t, &b, "k").await, data);
    let range = {
        let (rec, body) = t.store.object(b.id, "k", None).await.unwrap();
        read_all(&t, &rec, &body, 10, 5).await
    };
    assert_eq!(range, &data[10..15]);

    // A copy to STANDARD shares the tier's blob, then moves back to the local store.
    let (src, _) = t.store.object(b.id, "k", None).await.unwrap();
    let new = NewObject { key: "back".into(), owner_id: t.owner.id.clone(), meta: ObjectMeta::default(), origin: crate::testutil::put_origin() };
    let copy = t.store.copy_object(&src, b.id, new, WriteConditions::default()).await.unwrap();
    assert_eq!(copy.placement, Placement { tier: Some("cold".into()), moving_to: Some(None), restore: None });
    for seq in t.store.due_moves(0, 10).await.unwrap() {
        t.store.move_version(seq).await.unwrap();
    }
    assert_eq!(read(&t, &b, "back").await, data);

    // Deleting the tiered version leaves its tier blob unreferenced; the collector removes it.
    t.store.delete_object(b.id, "k", None, Default::default(), crate::DeleteOptions::default()).await.unwrap();
    assert_eq!(t.store.collect_tier_garbage(10).await.unwrap(), 1);
    assert_eq!(blob_files(&cold.path().join("cold/blobs")), 0);
    assert_eq!(read(&t, &b, "back").await, data);
}

#[tokio::test]
async fn archived_versions_are_read_only_once_restored_and_until_the_copy_expires() {
    let t = store().await;
    let vault = tempfile::tempdir().unwrap();
    t.store.set_tiers(TierSet::new(vec![dir_tier(vault.path(), "vault", "GLACIER", true)]));
    let b = t.store.create_bucket(&t.owner, "b", "us-east-1").await.unwrap();
    let hook = NotifyTarget { name: "hook".into(), kind: TargetKind::Webhook { url: "http://127.0.0.1:1/".into() }, max_backlog: 10 };
    t.store.put_notify_target(hook, None).await.unwrap();
    let routes = vec![NotifyRoute { config_id: "c".into(), target: "hook".into(), events: vec!["s3:ObjectRestore:*".into()], prefix: String::new(), suffix: String::new() }];
    t.store.set_bucket_config(b.id, NOTIFY_ROUTES_KIND, Some(serde_json::to_string(&routes).unwrap())).await.unwrap();
    let data = vec![7u8; INLINE_MAX * 2];
    let rec = put_class(&t, &b, "k", &data, "GLACIER").await;
    assert!(t.store.is_archived(&rec), "archived as soon as its class says so");
    for seq in t.store.due_moves(0, 10).await.unwrap() {
        t.store.move_version(seq).await.unwrap();
    }
    t.store.collect_garbage().await.unwrap();

    let far = now_ms() + 3_600_000;
    let (started, _) = t.store.request_restore(b.id, "k", None, 1, far, Default::default()).await.unwrap();
    assert_eq!(started, RestoreStarted::Started);
    let again = t.store.request_restore(b.id, "k", None, 1, far, Default::default()).await;
    assert!(matches!(again, Err(StorageError::Tier(TierError::RestoreInProgress))));
    let seqs = t.store.due_restores(0, 10).await.unwrap();
    assert!(t.store.restore_version(seqs[0], move |_, _| far).await.unwrap());
    let (rec, _) = t.store.object(b.id, "k", None).await.unwrap();
    assert!(!t.store.is_archived(&rec));
    assert_eq!(read(&t, &b, "k").await, data);
    // Asking again extends the copy.
    let (started, _) = t.store.request_restore(b.id, "k", None, 2, far + 1, Default::default()).await.unwrap();
    assert_eq!(started, RestoreStarted::Extended);

    // Once expired, the copy goes and the version is archived again.
    assert!(t.store.expired_restores(far, 10).await.unwrap().is_empty());
    let expired = t.store.expired_restores(far + 1, 10).await.unwrap();
    assert!(t.store.drop_restore(expired[0], far + 1).await.unwrap());
    assert_eq!(t.store.collect_garbage().await.unwrap(), 1);
    let (rec, _) = t.store.object(b.id, "k", None).await.unwrap();
    assert!(t.store.is_archived(&rec));
    let events: Vec<EventName> = t.store.queued_events("hook", 10).await.unwrap().into_iter().map(|e| e.facts.name).collect();
    use EventName::*;
    assert_eq!(events, [ObjectRestorePost, ObjectRestoreCompleted, ObjectRestorePost, ObjectRestoreDelete], "each restore step is an event");

    // Versions not on an archive tier cannot be restored.
    put_class(&t, &b, "plain", b"hot", "STANDARD").await;
    let refused = t.store.request_restore(b.id, "plain", None, 1, far, Default::default()).await;
    assert!(matches!(refused, Err(StorageError::Tier(TierError::NotArchived))));
}

#[tokio::test]
async fn a_move_whose_version_changed_meanwhile_switches_nothing() {
    let t = store().await;
    let cold = tempfile::tempdir().unwrap();
    t.store.set_tiers(TierSet::new(vec![dir_tier(cold.path(), "cold", "STANDARD_IA", false)]));
    let b = t.store.create_bucket(&t.owner, "b", "us-east-1").await.unwrap();
    put_class(&t, &b, "k", &vec![1u8; INLINE_MAX * 2], "STANDARD_IA").await;
    let seq = t.store.due_moves(0, 10).await.unwrap()[0];
    t.store.delete_object(b.id, "k", None, Default::default(), crate::DeleteOptions::default()).await.unwrap();
    assert_eq!(t.store.move_version(seq).await.unwrap(), Moved::Skipped);
    // Nothing was copied, and nothing is left behind.
    assert_eq!(t.store.collect_tier_garbage(10).await.unwrap(), 0);
    assert_eq!(blob_files(&cold.path().join("cold/blobs")), 0);
}

#[tokio::test]
async fn a_move_between_two_tiers_passes_through_local_staging_and_leaves_nothing_there() {
    let t = store().await;
    let roots = tempfile::tempdir().unwrap();
    t.store.set_tiers(TierSet::new(vec![dir_tier(roots.path(), "cold", "STANDARD_IA", false), dir_tier(roots.path(), "colder", "ONEZONE_IA", false)]));
    let b = t.store.create_bucket(&t.owner, "b", "us-east-1").await.unwrap();
    let data = vec![9u8; INLINE_MAX * 2];
    put_class(&t, &b, "k", &data, "STANDARD_IA").await;
    for seq in t.store.due_moves(0, 10).await.unwrap() {
        t.store.move_version(seq).await.unwrap();
    }
    let (src, _) = t.store.object(b.id, "k", None).await.unwrap();
    let meta = ObjectMeta { storage_class: Some("ONEZONE_IA".into()), ..ObjectMeta::default() };
    let copy = t.store.copy_object(&src, b.id, NewObject { key: "k".into(), owner_id: t.owner.id.clone(), meta, origin: crate::testutil::put_origin() }, WriteConditions::default()).await.unwrap();
    assert_eq!(copy.placement.moving_to, Some(Some("colder".into())));
    for seq in t.store.due_moves(0, 10).await.unwrap() {
        assert_eq!(t.store.move_version(seq).await.unwrap(), Moved::To(Some("colder".into())));
    }
    assert_eq!(blob_files(&roots.path().join("colder/blobs")), 1);
    assert_eq!(read(&t, &b, "k").await, data);
    assert_eq!(std::fs::read_dir(t.store.root().join("tmp")).unwrap().count(), 0, "the staging file is gone");
}
