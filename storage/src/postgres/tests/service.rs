//! ServiceIndex on PostgreSQL.

use super::TestDb;
use crate::blob_store::BlobLocation;
use crate::meta::ServiceIndex;
use crate::postgres::PgIndex;
use crate::tiers::{RemoteSpec, TierKind, TierSpec};

#[tokio::test]
async fn worker_cursors_and_the_access_log_queue() {
    let Some(db) = TestDb::create().await else { return };
    let index = PgIndex::connect(&db.url).await.unwrap();
    assert_eq!(index.worker_cursor("scrub").await.unwrap(), None);
    index.set_worker_cursor("scrub", Some("ab".into())).await.unwrap();
    index.set_worker_cursor("scrub", Some("cd".into())).await.unwrap();
    assert_eq!(index.worker_cursor("scrub").await.unwrap().as_deref(), Some("cd"));
    for name in ["lc:1:old:a", "lc:1:new:a", "lc:2:old:a"] {
        index.set_worker_cursor(name, Some("x".into())).await.unwrap();
    }
    index.forget_worker_cursors("lc:1:", "lc:1:new:").await.unwrap();
    assert_eq!(index.worker_cursor("lc:1:old:a").await.unwrap(), None);
    assert!(index.worker_cursor("lc:1:new:a").await.unwrap().is_some());
    index.set_worker_cursor("scrub", None).await.unwrap();
    assert_eq!(index.worker_cursor("scrub").await.unwrap(), None);

    let rec = |d: &str, l: &str| (d.to_string(), l.to_string());
    index.queue_access_records(vec![rec("logs/a/", "one"), rec("logs/b/", "x"), rec("logs/a/", "two")]).await.unwrap();
    let backlog = index.access_log_backlog().await.unwrap();
    assert_eq!(backlog.iter().map(|b| (b.destination.as_str(), b.records)).collect::<Vec<_>>(), vec![("logs/a/", 2), ("logs/b/", 1)]);
    let first = index.queued_access_records("logs/a/", 1).await.unwrap();
    assert_eq!(first.lines, vec!["one"]);
    assert_eq!(index.forget_access_records("logs/a/", first.through_seq).await.unwrap(), 1);
    let rest = index.queued_access_records("logs/a/", 10).await.unwrap();
    assert_eq!(rest.lines, vec!["two"]);
}

#[tokio::test]
async fn tiers_remotes_and_the_blob_location() {
    let Some(db) = TestDb::create().await else { return };
    let index = PgIndex::connect(&db.url).await.unwrap();
    let remote: RemoteSpec = serde_json::from_value(serde_json::json!({"name": "garage", "endpoint": "http://127.0.0.1:3900", "region": "us-east-1", "access_key": "AK"})).unwrap();
    let kind = TierKind::Remote { remote: "garage".into(), bucket: "b".into(), prefix: String::new() };
    let tier = TierSpec { name: "cold".into(), kind, storage_classes: vec!["GLACIER".into()], archive: true };
    assert!(index.add_tier(tier.clone()).await.is_err(), "its remote is not registered yet");
    index.add_remote(remote.clone(), b"sealed".to_vec()).await.unwrap();
    assert!(index.add_remote(remote, b"sealed".to_vec()).await.is_err(), "registered twice");
    index.add_tier(tier).await.unwrap();
    assert_eq!(index.tier_specs().await.unwrap().len(), 1);
    assert!(index.remove_remote("garage").await.is_err(), "a tier uses it");
    index.remove_tier("cold").await.unwrap();
    assert!(index.remove_tier("cold").await.is_err());

    assert_eq!(index.recorded_blob_location().await.unwrap(), None);
    let s3 = BlobLocation::S3 { remote: "garage".into(), bucket: "blobs".into(), prefix: String::new() };
    index.record_blob_location(&s3).await.unwrap().unwrap();
    assert_eq!(index.recorded_blob_location().await.unwrap(), Some(s3));
    assert!(index.remove_remote("garage").await.is_err(), "the blobs are there");
    let usage = index.store_usage().await.unwrap();
    assert_eq!((usage.buckets.len(), usage.blobs), (0, 0));
    assert_eq!(index.backlogs().await.unwrap(), Default::default());
    assert_eq!(index.index_counts().await.unwrap(), Default::default());
}

#[tokio::test]
async fn one_node_holds_a_lease_until_it_lapses() {
    let Some(db) = TestDb::create().await else { return };
    let (a, b) = (PgIndex::connect(&db.url).await.unwrap(), PgIndex::connect(&db.url).await.unwrap());
    let short = std::time::Duration::from_millis(300);
    assert!(a.hold_lease("gc", short).await.unwrap());
    assert!(!b.hold_lease("gc", short).await.unwrap(), "a running lease is the holder's");
    assert!(b.hold_lease("scrub", short).await.unwrap(), "leases are per name");
    assert!(a.hold_lease("gc", short).await.unwrap(), "the holder renews");
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    assert!(b.hold_lease("gc", short).await.unwrap(), "a lapsed lease goes to whoever asks");
    assert!(!a.hold_lease("gc", short).await.unwrap());
}
