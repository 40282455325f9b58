//! LifecycleIndex on PostgreSQL: scans, actions re-checked in their transaction, restores,
//! tier moves and garbage, and two nodes running one bucket's lifecycle.

use super::replication::{blob, hook, hooked, inline, latest_seq, put, put_with, setup};
use super::TestDb;
use crate::blob::parse_hash;
use crate::error::TierError;
use crate::lifecycle::{AgeScan, LifecycleAction, LifecycleVersion};
use crate::meta::{BucketIndex, LifecycleIndex};
use crate::model::{Body, ObjectMeta, User};
use crate::placement::Moved;
use crate::postgres::PgIndex;
use crate::restore::RestoreStarted;
use crate::tiers::{Tier, TierKind, TierSet, TierSpec};
use crate::{now_ms, StorageError};
use std::sync::Arc;

fn no_tiers() -> Arc<TierSet> {
    Arc::new(TierSet::new(Vec::new()))
}

async fn apply(index: &PgIndex, bucket: i64, key: &str, seq: i64, action: LifecycleAction, due: impl FnOnce(&LifecycleVersion) -> bool + Send + 'static) -> Option<bool> {
    index.lifecycle_apply(bucket, key, seq, action, Box::new(due), no_tiers()).await.unwrap().map(|o| o.delete_marker)
}

#[tokio::test]
async fn batches_group_versions_and_actions_recheck_in_the_transaction() {
    let Some(db) = TestDb::create().await else { return };
    let (index, ids) = setup(&db, &["b"]).await;
    let b = ids[0];
    for key in ["a/1", "a/2", "a/2", "a/2", "b/1"] {
        put(&index, b, key, &inline(b"x")).await;
    }
    let first = index.lifecycle_batch(b, b"a/".to_vec(), Some(b"a0".to_vec()), 1).await.unwrap();
    assert_eq!((first.len(), first[0][0].record.key.as_str()), (1, "a/1"));
    let rest = index.lifecycle_batch(b, b"a/1\0".to_vec(), Some(b"a0".to_vec()), 10).await.unwrap();
    assert_eq!(rest.len(), 1);
    let a2 = &rest[0];
    assert_eq!(a2.len(), 3);
    assert!(a2[0].record.is_latest && a2[0].successor_ms.is_none());
    assert_eq!(a2[2].successor_ms, Some(a2[1].record.modified_ms));
    assert_eq!((a2[1].newer_noncurrent, a2[2].newer_noncurrent, a2[2].versions), (0, 1, 3));
    assert_eq!(index.lifecycle_batch(b, Vec::new(), None, 10).await.unwrap().len(), 3);

    // A check that fails inside the transaction leaves the version alone.
    let oldest = a2[2].seq;
    assert_eq!(apply(&index, b, "a/2", oldest, LifecycleAction::RemoveVersion, |_| false).await, None);
    assert_eq!(apply(&index, b, "a/2", oldest, LifecycleAction::RemoveVersion, |v| !v.record.is_latest).await, Some(false));
    // Expiring the current version of a versioned bucket adds a delete marker.
    let current = a2[0].seq;
    assert_eq!(apply(&index, b, "a/2", current, LifecycleAction::ExpireCurrent, |_| true).await, Some(true));
    // The former current version is no longer current: expiring it again does nothing.
    assert_eq!(apply(&index, b, "a/2", current, LifecycleAction::ExpireCurrent, |_| true).await, None);
    let after = index.lifecycle_keys(b, vec!["a/2".into(), "none".into()]).await.unwrap();
    assert_eq!((after[0].len(), after[1].len()), (3, 0));
    assert!(after[0][0].record.delete_marker);
    // Removing the marker makes the newest remaining version the latest again.
    assert_eq!(apply(&index, b, "a/2", after[0][0].seq, LifecycleAction::RemoveVersion, |_| true).await, Some(true));
    let now = index.lifecycle_keys(b, vec!["a/2".into()]).await.unwrap().remove(0);
    assert!(now[0].record.is_latest && now[0].seq == current && now[0].successor_ms.is_none());
    let (usage, _) = index.bucket_usage(b).await.unwrap();
    assert_eq!((usage.objects, usage.versions, usage.delete_markers), (3, 4, 0));

    // An unversioned bucket's expired version is removed.
    let plain = index.create_bucket(User { id: "u1".into(), name: "alice".into() }, "plain", "r").await.unwrap().id;
    put(&index, plain, "k", &blob("ab", 10)).await;
    let seq = latest_seq(&index, plain, "k").await;
    assert_eq!(apply(&index, plain, "k", seq, LifecycleAction::ExpireCurrent, |_| true).await, Some(false));
    assert!(index.lifecycle_keys(plain, vec!["k".into()]).await.unwrap()[0].is_empty());
    assert_eq!(index.bucket_usage(plain).await.unwrap().0.versions, 0);
}

#[tokio::test]
async fn age_scans_find_versions_by_the_time_they_crossed_and_resume() {
    let Some(db) = TestDb::create().await else { return };
    let (index, ids) = setup(&db, &["b"]).await;
    let b = ids[0];
    for key in ["a", "b", "a", "c"] {
        put(&index, b, key, &inline(b"x")).await;
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    apply(&index, b, "c", latest_seq(&index, b, "c").await, LifecycleAction::ExpireCurrent, |_| true).await.unwrap();
    let all = |scan| index.lifecycle_aged(b, scan, (i64::MIN, 0), i64::MAX, 10);
    let current = all(AgeScan::Current).await.unwrap();
    assert_eq!(current.keys, ["b", "a", "c"]);
    assert!(current.exhausted);
    assert_eq!(all(AgeScan::Noncurrent).await.unwrap().keys, ["a", "c"]);
    assert_eq!(all(AgeScan::DeleteMarkers).await.unwrap().keys, ["c"]);
    // A version's noncurrent time is its successor's creation.
    let a = index.lifecycle_keys(b, vec!["a".into()]).await.unwrap().remove(0);
    assert_eq!(a[1].successor_ms, Some(a[0].record.modified_ms));
    // Batches continue after the cursor and stop at the bound.
    let first = index.lifecycle_aged(b, AgeScan::Current, (i64::MIN, 0), i64::MAX, 1).await.unwrap();
    assert_eq!((first.keys.as_slice(), first.exhausted), (&["b".to_string()][..], false));
    let rest = index.lifecycle_aged(b, AgeScan::Current, first.last.unwrap(), i64::MAX, 10).await.unwrap();
    assert_eq!(rest.keys, ["a", "c"]);
    let none = index.lifecycle_aged(b, AgeScan::Current, (i64::MIN, 0), first.last.unwrap().0 - 1, 10).await.unwrap();
    assert!(none.keys.is_empty() && none.last.is_none() && none.exhausted);
    let configs = index.bucket_configs_of_kind("lifecycle").await.unwrap();
    assert!(configs.is_empty());
    index.set_bucket_config(b, "lifecycle", Some("<rules/>".into())).await.unwrap();
    assert_eq!(index.bucket_configs_of_kind("lifecycle").await.unwrap(), [(b, "<rules/>".to_string())]);
}

#[tokio::test]
async fn uploads_started_before_a_time() {
    let Some(db) = TestDb::create().await else { return };
    let (index, ids) = setup(&db, &["b"]).await;
    let b = ids[0];
    index
        .client()
        .await
        .unwrap()
        .execute(
            "INSERT INTO uploads (upload_id, bucket_id, key, owner_id, initiated_ms, meta, checksum) VALUES ('up1', $1, 'k', 'u1', 1000, '{}', 'CRC32C COMPOSITE')",
            &[&b],
        )
        .await
        .unwrap();
    assert!(index.uploads_started_before(b, 999, 0, 10).await.unwrap().is_empty());
    let found = index.uploads_started_before(b, 1000, 0, 10).await.unwrap();
    assert_eq!((found[0].1.upload_id.as_str(), found[0].1.key.as_str(), found[0].1.initiated_ms), ("up1", "k", 1000));
    let checksum = found[0].1.checksum.expect("the checksum column decodes");
    assert_eq!(checksum.kind, crate::model::ChecksumType::Composite);
    assert!(index.uploads_started_before(b, 1000, found[0].0, 10).await.unwrap().is_empty());
}

fn vault(root: &std::path::Path) -> Arc<TierSet> {
    let path = root.join("vault");
    let spec = TierSpec { name: "vault".into(), kind: TierKind::Dir { path: path.clone() }, storage_classes: vec!["GLACIER".into()], archive: true };
    Arc::new(TierSet::new(vec![Tier { spec, backend: Arc::new(crate::blob_store::LocalBlobs::open(&path).unwrap()) }]))
}

async fn refs(index: &PgIndex, table: &str, fill: &str) -> Option<i64> {
    let hash = hex::decode(fill.repeat(32)).unwrap();
    let row = index.client().await.unwrap().query_opt(&format!("SELECT refs FROM {table} WHERE hash = $1"), &[&hash]).await.unwrap();
    row.map(|r| r.get(0))
}

#[tokio::test]
async fn versions_move_to_an_archive_tier_and_are_restored_until_their_copy_expires() {
    let Some(db) = TestDb::create().await else { return };
    let (index, ids) = setup(&db, &["b"]).await;
    let b = ids[0];
    let dir = tempfile::tempdir().unwrap();
    let tiers = vault(dir.path());
    let body = blob("cd", 20);
    let Body::Blobs(segments) = body.clone() else { unreachable!() };
    let glacier = ObjectMeta { storage_class: Some("GLACIER".into()), ..ObjectMeta::default() };
    put_with(&index, b, "k", &body, glacier, &tiers).await;
    let seq = latest_seq(&index, b, "k").await;
    assert_eq!(index.due_moves(0, 10).await.unwrap(), [seq]);
    assert_eq!(index.tiering_backlog().await.unwrap(), (1, 0));

    let hash = parse_hash(&segments[0].hash).unwrap();
    index.note_tier_blobs("vault".into(), vec![(hash, 20)]).await.unwrap();
    index.note_tier_blobs("vault".into(), vec![(hash, 20)]).await.unwrap();
    assert_eq!(index.tier_garbage(10).await.unwrap().len(), 1, "noted but not yet referenced");
    let stale = index.switch_placement(seq, None, Some(None), Some("vault".into()), segments.clone()).await.unwrap();
    assert_eq!(stale, Moved::Skipped, "a move that is not the one due switches nothing");
    let moved = index.switch_placement(seq, None, Some(Some("vault".into())), Some("vault".into()), segments.clone()).await.unwrap();
    assert_eq!(moved, Moved::To(Some("vault".into())));
    assert_eq!((refs(&index, "blobs", "cd").await, refs(&index, "tier_blobs", "cd").await), (Some(0), Some(1)));
    assert_eq!(index.tiering_backlog().await.unwrap(), (0, 0));

    hook(&index, b).await;
    let far = now_ms() + 3_600_000;
    let by = crate::model::Requester::coffer();
    let restore = |days, expiry| index.request_restore(b, "k", None, days, expiry, by.clone(), tiers.clone());
    assert_eq!(restore(1, far).await.unwrap().0, RestoreStarted::Started);
    assert!(matches!(restore(1, far).await, Err(StorageError::Tier(TierError::RestoreInProgress))));
    assert_eq!(index.tiering_backlog().await.unwrap(), (0, 1));
    assert_eq!(index.due_restores(0, 10).await.unwrap(), [seq]);
    assert!(!index.complete_restore(seq, None, segments.clone(), Box::new(move |_, _| far)).await.unwrap(), "not on that tier");
    assert!(index.complete_restore(seq, Some("vault".into()), segments.clone(), Box::new(move |_, _| far)).await.unwrap());
    assert_eq!(refs(&index, "blobs", "cd").await, Some(1), "the restored copy is referenced");
    assert!(index.due_restores(0, 10).await.unwrap().is_empty());
    assert_eq!(restore(2, far + 1).await.unwrap().0, RestoreStarted::Extended);

    assert!(index.expired_restores(far, 10).await.unwrap().is_empty());
    assert_eq!(index.expired_restores(far + 1, 10).await.unwrap(), [seq]);
    assert!(!index.drop_restore(seq, far).await.unwrap());
    assert!(index.drop_restore(seq, far + 1).await.unwrap());
    assert_eq!(refs(&index, "blobs", "cd").await, Some(0));
    let (rec, _) = index.version_at(seq).await.unwrap().unwrap();
    assert!(rec.placement.restore.is_none() && rec.placement.tier.as_deref() == Some("vault"));

    use crate::events::EventName::*;
    assert_eq!(hooked(&index).await, [ObjectRestorePost, ObjectRestoreCompleted, ObjectRestorePost, ObjectRestoreDelete], "each restore step is an event");

    // Versions not on an archive tier cannot be restored; missing ones are missing.
    put(&index, b, "plain", &inline(b"hot")).await;
    let refused = index.request_restore(b, "plain", None, 1, far, by.clone(), tiers.clone()).await;
    assert!(matches!(refused, Err(StorageError::Tier(TierError::NotArchived))));
    let missing = index.request_restore(b, "k", Some("nope".into()), 1, far, by.clone(), tiers.clone()).await;
    assert!(matches!(missing, Err(StorageError::NoSuchVersion)));

    // A transition gives the class and the move; removing the version leaves its tier blob to
    // the tier collector, unless a backup holds garbage collection.
    let plain = latest_seq(&index, b, "plain").await;
    let moved = index.lifecycle_apply(b, "plain", plain, LifecycleAction::Transition("GLACIER".into()), Box::new(|_| true), tiers.clone());
    assert!(moved.await.unwrap().is_some());
    let (rec, _) = index.version_at(plain).await.unwrap().unwrap();
    assert_eq!((rec.meta.storage_class.as_deref(), rec.placement.moving_to), (Some("GLACIER"), Some(Some("vault".into()))));
    assert_eq!(index.due_moves(0, 10).await.unwrap(), [plain]);
    index.lifecycle_apply(b, "k", seq, LifecycleAction::RemoveVersion, Box::new(|_| true), tiers.clone()).await.unwrap().unwrap();
    assert_eq!(hooked(&index).await[4..], [ObjectCreatedPut, LifecycleTransition, LifecycleExpirationDelete]);
    let c = index.client().await.unwrap();
    c.execute("INSERT INTO worker_cursors (worker, cursor, updated_ms) VALUES ('gc-hold', $1, 0)", &[&far.to_string()]).await.unwrap();
    assert!(index.tier_garbage(10).await.unwrap().is_empty());
    c.execute("DELETE FROM worker_cursors WHERE worker = 'gc-hold'", &[]).await.unwrap();
    let garbage = index.tier_garbage(10).await.unwrap();
    assert_eq!(garbage, [("vault".to_string(), hash.to_vec())]);
    index.forget_tier_blob("vault".into(), hash.to_vec()).await.unwrap();
    assert!(index.tier_garbage(10).await.unwrap().is_empty());
}

/// One node's lifecycle pass over the bucket: an age scan of current versions in batches,
/// expiring every one it finds. Returns how many it expired.
async fn expire_all(node: &PgIndex, bucket: i64) -> usize {
    let (mut after, mut expired) = ((i64::MIN, 0), 0);
    loop {
        let batch = node.lifecycle_aged(bucket, AgeScan::Current, after, i64::MAX, 10).await.unwrap();
        for versions in node.lifecycle_keys(bucket, batch.keys).await.unwrap() {
            for v in versions.into_iter().filter(|v| v.record.is_latest && !v.record.delete_marker) {
                let due = |now: &LifecycleVersion| now.record.is_latest && !now.record.delete_marker;
                expired += apply(node, bucket, &v.record.key, v.seq, LifecycleAction::ExpireCurrent, due).await.is_some() as usize;
            }
        }
        match batch.last {
            Some(last) if !batch.exhausted => after = last,
            _ => return expired,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_running_one_buckets_lifecycle_expire_each_version_once() {
    let Some(db) = TestDb::create().await else { return };
    let (a, ids) = setup(&db, &["b", "race"]).await;
    let (b, race) = (ids[0], ids[1]);
    for i in 0..60 {
        put(&a, b, &format!("k{i:02}"), &blob("ef", 5)).await;
        put(&a, race, &format!("k{i:02}"), &blob("ef", 5)).await;
    }
    let (a, other) = (Arc::new(a), Arc::new(PgIndex::connect(&db.url).await.unwrap()));

    // Both nodes run the bucket's pass at once: the lease gives it to one of them.
    let passes: Vec<_> = [a.clone(), other.clone()].into_iter().map(|node| tokio::spawn(async move { expire_all(&node, b).await })).collect();
    let mut done = Vec::new();
    for pass in passes {
        done.push(pass.await.unwrap());
    }
    done.sort();
    assert_eq!(done, [0, 60], "one node expired every version, the other found the bucket taken");
    let (usage, _) = a.bucket_usage(b).await.unwrap();
    assert_eq!((usage.objects, usage.versions, usage.delete_markers, usage.logical_bytes), (0, 60, 60, 300), "usage counted once");

    // Passes that overlap anyway (a lease that ran out mid-batch) still act on each version
    // once: both nodes apply to the same versions at the same time.
    let versions: Vec<(String, i64)> = other
        .lifecycle_batch(race, Vec::new(), None, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|v| (v[0].record.key.clone(), v[0].seq))
        .collect();
    let versions = Arc::new(versions);
    let racers: Vec<_> = (0..4)
        .map(|w| {
            let (node, versions) = (if w % 2 == 0 { a.clone() } else { other.clone() }, versions.clone());
            tokio::spawn(async move {
                let mut n = 0;
                for (key, seq) in versions.iter() {
                    let due = |now: &LifecycleVersion| now.record.is_latest && !now.record.delete_marker;
                    n += apply(&node, race, key, *seq, LifecycleAction::ExpireCurrent, due).await.is_some() as usize;
                }
                n
            })
        })
        .collect();
    let mut total = 0;
    for racer in racers {
        total += racer.await.unwrap();
    }
    assert_eq!(total, 60, "each version expired exactly once");
    let (usage, _) = a.bucket_usage(race).await.unwrap();
    assert_eq!((usage.objects, usage.versions, usage.delete_markers), (0, 60, 60));

    // A node that stops loses the bucket once its lease runs out.
    let holder: String = a.client().await.unwrap().query_one("SELECT node FROM leases WHERE name = $1", &[&format!("lifecycle {b}")]).await.unwrap().get(0);
    let (holder, waiter) = if holder == a.node { (a.clone(), other.clone()) } else { (other.clone(), a.clone()) };
    put(&a, b, "new", &inline(b"x")).await;
    let scan = |node: Arc<PgIndex>| async move { node.lifecycle_aged(b, AgeScan::Current, (i64::MIN, 0), i64::MAX, 100).await.unwrap().keys };
    assert!(scan(waiter.clone()).await.is_empty(), "the bucket is the holder's");
    a.client().await.unwrap().execute("UPDATE leases SET until_ms = 0 WHERE name = $1", &[&format!("lifecycle {b}")]).await.unwrap();
    assert!(scan(waiter).await.contains(&"new".to_string()));
    assert!(scan(holder).await.is_empty(), "now the other node has it");
}
