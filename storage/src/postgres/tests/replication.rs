//! ReplicationIndex on PostgreSQL: the outbox filled by version commits, replicas written
//! here, outcomes, resync, and two nodes draining one outbox.

use super::TestDb;
use crate::events::{EventName, NotifyRoute, NotifyTarget, Origin, TargetKind, NOTIFY_ROUTES_KIND};
use crate::lifecycle::LifecycleAction;
use crate::meta::{BucketIndex, EventIndex, LifecycleIndex, NewBody, ReplicationIndex, ServiceIndex};
use crate::model::{Body, ObjectMeta, ObjectRecord, ReplicaOf, Requester, Segment, User, Versioning, WriteConditions};
use crate::objects::{DeleteOutcome, NewObject, Stored};
use crate::postgres::lifecycle::find_version;
use crate::postgres::objects::insert_version;
use crate::postgres::replication::CLAIM_MS;
use crate::postgres::{transact, PgIndex};
use crate::replication::{OutboxItem, Replicated, ReplicationRoute, ResyncCursor, ROUTES_KIND};
use crate::tiers::TierSet;
use crate::{now_ms, StorageError};
use std::collections::HashSet;
use std::sync::Arc;

/// A body of one blob whose hash is `fill` repeated.
pub(super) fn blob(fill: &str, len: u64) -> Body {
    Body::Blobs(vec![Segment::named(fill.repeat(64 / fill.len()), len)])
}

/// Commits a version of `key` as a PUT would, with `meta`, on `tiers`.
pub(super) async fn put_with(index: &PgIndex, bucket: i64, key: &str, body: &Body, meta: ObjectMeta, tiers: &TierSet) -> ObjectRecord {
    let size = match body {
        Body::Blobs(segments) => segments.iter().map(|s| s.len).sum(),
        Body::Inline { data, .. } => data.len() as u64,
    };
    let requester = Requester { principal_id: "u1".into(), source_ip: String::new(), request_id: String::new() };
    let new = NewObject { key: key.into(), owner_id: "u1".into(), meta, origin: Origin::new(EventName::ObjectCreatedPut, requester) };
    let stored = Stored { size, etag: "etag", body, tier: None };
    let commit = async { transact!(index, |tx| insert_version(&*tx, bucket, &new, &stored, &WriteConditions::default(), tiers).await?) };
    commit.await.unwrap()
}

pub(super) async fn put(index: &PgIndex, bucket: i64, key: &str, body: &Body) -> ObjectRecord {
    put_with(index, bucket, key, body, ObjectMeta::default(), &TierSet::new(Vec::new())).await
}

pub(super) fn inline(data: &'static [u8]) -> Body {
    Body::Inline { data: bytes::Bytes::from_static(data), sha256: None }
}

/// An index with user u1 and the versioned buckets `names`; returns their ids.
pub(super) async fn setup(db: &TestDb, names: &[&str]) -> (PgIndex, Vec<i64>) {
    let index = PgIndex::connect(&db.url).await.unwrap();
    index.client().await.unwrap().batch_execute("INSERT INTO users (id, name, created_ms) VALUES ('u1', 'alice', 0)").await.unwrap();
    let mut ids = Vec::new();
    for name in names {
        let id = index.create_bucket(User { id: "u1".into(), name: "alice".into() }, name, "r").await.unwrap().id;
        index.set_versioning(id, Versioning::Enabled).await.unwrap();
        ids.push(id);
    }
    (index, ids)
}

async fn route_to(index: &PgIndex, bucket: i64, prefix: &str, target: &str) {
    let route = ReplicationRoute {
        rule_id: "r".into(),
        prefixes: vec![prefix.into()],
        tags: vec![],
        delete_markers: true,
        target: target.into(),
        storage_class: None,
        replica_kms_key_id: None,
    };
    index.set_bucket_config(bucket, ROUTES_KIND, Some(serde_json::to_string(&vec![route]).unwrap())).await.unwrap();
}

/// Routes every event of the bucket to a registered webhook target "hook".
pub(super) async fn hook(index: &PgIndex, bucket: i64) {
    let target = NotifyTarget { name: "hook".into(), kind: TargetKind::Webhook { url: "http://127.0.0.1:1/".into() }, max_backlog: 100 };
    index.put_notify_target(target, None).await.unwrap();
    let events = ["ObjectCreated:*", "ObjectRestore:*", "LifecycleExpiration:*", "LifecycleTransition", "Replication:*"];
    let events = events.iter().map(|e| format!("s3:{e}")).collect();
    let route = NotifyRoute { config_id: "c".into(), target: "hook".into(), events, prefix: String::new(), suffix: String::new() };
    index.set_bucket_config(bucket, NOTIFY_ROUTES_KIND, Some(serde_json::to_string(&vec![route]).unwrap())).await.unwrap();
}

/// The events queued for "hook", oldest first.
pub(super) async fn hooked(index: &PgIndex) -> Vec<EventName> {
    index.queued_events("hook", 100).await.unwrap().into_iter().map(|e| e.facts.name).collect()
}

/// The row number of a key's latest version.
pub(super) async fn latest_seq(index: &PgIndex, bucket: i64, key: &str) -> i64 {
    index.lifecycle_keys(bucket, vec![key.into()]).await.unwrap().remove(0)[0].seq
}

/// Lifecycle `action` on the latest version of `key`, which must be done.
async fn act_on_latest(index: &PgIndex, bucket: i64, key: &str, action: LifecycleAction) -> DeleteOutcome {
    let seq = latest_seq(index, bucket, key).await;
    index.lifecycle_apply(bucket, key, seq, action, Box::new(|_| true), Arc::new(TierSet::new(Vec::new()))).await.unwrap().unwrap()
}

async fn version(index: &PgIndex, bucket: i64, key: &str, version_id: Option<&str>) -> Option<ObjectRecord> {
    find_version(&*index.client().await.unwrap(), bucket, key, version_id, false).await.unwrap().map(|(_, rec, _)| rec)
}

async fn refs(index: &PgIndex, fill: &str) -> i64 {
    let hash = hex::decode(fill.repeat(64 / fill.len())).unwrap();
    index.client().await.unwrap().query_one("SELECT refs FROM blobs WHERE hash = $1", &[&hash]).await.unwrap().get(0)
}

#[tokio::test]
async fn routed_versions_are_queued_in_their_commit_and_replicated_here_with_their_identity() {
    let Some(db) = TestDb::create().await else { return };
    let (index, ids) = setup(&db, &["src", "dst"]).await;
    let (src, dst) = (ids[0], ids[1]);
    route_to(&index, src, "docs/", "arn:aws:s3:::dst").await;

    let rec = put(&index, src, "docs/a", &blob("aa", 20)).await;
    assert_eq!(rec.replication.as_deref(), Some("PENDING"));
    assert_eq!(put(&index, src, "other", &inline(b"x")).await.replication, None);
    assert!(act_on_latest(&index, src, "docs/a", LifecycleAction::ExpireCurrent).await.delete_marker);
    let due = index.due_replications(now_ms(), 10).await.unwrap();
    assert_eq!(due.len(), 2, "the version and the delete marker");
    assert!(due.iter().all(|d| !d.check_first && d.target == "arn:aws:s3:::dst"));
    for item in &due {
        assert_eq!(index.replicate_here(item.clone(), dst).await.unwrap(), Replicated::Done);
    }
    assert_eq!(index.replication_backlog().await.unwrap(), 0);

    let copy = version(&index, dst, "docs/a", Some(&rec.version_id)).await.unwrap();
    assert_eq!((copy.etag.as_str(), copy.modified_ms, copy.replication.as_deref()), (rec.etag.as_str(), rec.modified_ms, Some("REPLICA")));
    assert!(version(&index, dst, "docs/a", None).await.unwrap().delete_marker, "the delete marker replicated and is the latest there too");
    assert_eq!(version(&index, src, "docs/a", Some(&rec.version_id)).await.unwrap().replication.as_deref(), Some("COMPLETED"));
    assert_eq!(refs(&index, "aa").await, 2, "the replica shares the source's blob");

    let status = index.replication_status(src).await.unwrap();
    assert_eq!((status.completed, status.pending, status.failed, status.oldest_pending_ms), (2, 0, 0, None));

    // A version removed before its turn is dropped from the outbox.
    let gone = put(&index, src, "docs/b", &inline(b"y")).await;
    assert_eq!(act_on_latest(&index, src, "docs/b", LifecycleAction::RemoveVersion).await.version_id, Some(gone.version_id));
    let item = index.due_replications(now_ms(), 10).await.unwrap().remove(0);
    assert_eq!(index.replicate_here(item, dst).await.unwrap(), Replicated::SourceGone);
    assert_eq!(index.replication_backlog().await.unwrap(), 0);
    // An unversioned destination is refused.
    let plain = index.create_bucket(User { id: "u1".into(), name: "alice".into() }, "plain", "r").await.unwrap().id;
    put(&index, src, "docs/c", &inline(b"z")).await;
    let item = index.due_replications(now_ms(), 10).await.unwrap().remove(0);
    assert!(matches!(index.replicate_here(item, plain).await, Err(StorageError::Replication(_))));
}

fn of(version: &str, ms: i64) -> ReplicaOf {
    ReplicaOf { version_id: version.into(), modified_ms: ms, etag: "remote".into() }
}

#[tokio::test]
async fn replicas_arriving_late_or_twice_keep_the_newest_latest() {
    let Some(db) = TestDb::create().await else { return };
    let (index, ids) = setup(&db, &["dst"]).await;
    let b = ids[0];
    let plain = index.create_bucket(User { id: "u1".into(), name: "alice".into() }, "plain", "r").await.unwrap().id;
    assert!(matches!(index.put_marker_replica(plain, "k", of("0002", 2000)).await, Err(StorageError::Replication(_))));
    assert!(matches!(index.put_marker_replica(9999, "k", of("0002", 2000)).await, Err(StorageError::NoSuchBucket)));
    let newer = index.put_marker_replica(b, "k", of("0002", 2000)).await.unwrap();
    assert!(newer.is_latest && newer.delete_marker && newer.replication.as_deref() == Some("REPLICA"));
    let older = index.put_marker_replica(b, "k", of("0001", 1000)).await.unwrap();
    assert!(!older.is_latest, "an older version arriving late is not the latest");
    assert_eq!(index.put_marker_replica(b, "k", of("0002", 2000)).await.unwrap().version_id, "0002");
    assert_eq!(version(&index, b, "k", None).await.unwrap().version_id, "0002");
    let page = index.replicated_versions(b, None, 10).await.unwrap();
    assert_eq!(page.len(), 2, "a retried delivery wrote nothing new");
    let k = index.lifecycle_keys(b, vec!["k".into()]).await.unwrap().remove(0);
    assert_eq!(k[0].successor_ms, Some(2000), "the late replica became noncurrent when the newer one was written");

    // A version from another server: written once, newest latest, its crc32c noted.
    let requester = Requester { principal_id: "u1".into(), source_ip: String::new(), request_id: String::new() };
    let new = || NewObject { key: "k".into(), owner_id: "u1".into(), meta: ObjectMeta::default(), origin: Origin::new(EventName::ObjectCreatedPut, requester.clone()) };
    let body = || NewBody { size: 20, etag: "ignored".into(), body: blob("cc", 20), crc32c: Some(7) };
    let tiers = Arc::new(TierSet::new(Vec::new()));
    let rec = index.put_replica(b, new(), body(), of("0003", 3000), tiers.clone()).await.unwrap();
    assert_eq!((rec.etag.as_str(), rec.is_latest, rec.replication.as_deref()), ("remote", true, Some("REPLICA")));
    index.put_replica(b, new(), body(), of("0003", 3000), tiers).await.unwrap();
    assert_eq!(refs(&index, "cc").await, 1, "a retried delivery takes no second reference");
    let crc: Option<i64> = index.client().await.unwrap().query_one("SELECT crc32c FROM blobs", &[]).await.unwrap().get(0);
    assert_eq!(crc, Some(7));
}

#[tokio::test]
async fn retries_failures_and_remote_outcomes_are_kept() {
    let Some(db) = TestDb::create().await else { return };
    let (index, ids) = setup(&db, &["src"]).await;
    let src = ids[0];
    route_to(&index, src, "", "arn:aws:s3:::far").await;
    let x = put(&index, src, "x", &inline(b"xx")).await;
    let y = put(&index, src, "y", &inline(b"yyy")).await;
    let z = put(&index, src, "z", &inline(b"zzzz")).await;
    let now = now_ms();
    let due = index.due_replications(now, 10).await.unwrap();
    assert_eq!(due.iter().map(|d| d.key.as_str()).collect::<Vec<_>>(), ["x", "y", "z"], "oldest due first");
    assert!(index.due_replications(now, 10).await.unwrap().is_empty(), "rows handed out are not handed out again meanwhile");
    let item = |key: &str| due.iter().find(|d| d.key == key).unwrap().clone();

    index.retry_replication(item("x").seq, "timed out".into(), now + 1000).await.unwrap();
    let again = index.due_replications(now + 1000, 10).await.unwrap();
    assert_eq!((again.len(), again[0].attempts), (1, 1));
    let status = index.replication_status(src).await.unwrap();
    assert_eq!((status.pending, status.pending_bytes, status.last_error.as_deref()), (3, 9, Some("timed out")));
    assert!(status.oldest_pending_ms.is_some_and(|t| t <= now_ms()));

    hook(&index, src).await;
    index.complete_replication(item("y"), Some("rv1".into())).await.unwrap();
    index.fail_replication(item("z"), "refused".into()).await.unwrap();
    assert_eq!(hooked(&index).await, [EventName::ReplicationOperationFailedReplication]);
    let outcome = |v: ObjectRecord| {
        let index = &index;
        async move { index.replication_outcome(src, &v.key, &v.version_id, "arn:aws:s3:::far").await.unwrap().unwrap() }
    };
    assert_eq!(outcome(y.clone()).await.remote_version_id.as_deref(), Some("rv1"));
    assert_eq!(outcome(z.clone()).await.error.as_deref(), Some("refused"));
    assert!(index.replication_outcome(src, "x", &x.version_id, "arn:aws:s3:::far").await.unwrap().is_none());
    let status = index.replication_status(src).await.unwrap();
    assert_eq!((status.pending, status.completed, status.failed, status.failed_bytes), (1, 1, 1, 4));

    let first = index.replicated_versions(src, None, 2).await.unwrap();
    assert_eq!(first.iter().map(|v| (v.key.as_str(), v.status.as_str())).collect::<Vec<_>>(), [("x", "PENDING"), ("y", "COMPLETED")]);
    assert!(first[0].outcome.is_none() && first[1].target.as_deref() == Some("arn:aws:s3:::far"));
    let rest = index.replicated_versions(src, Some(("y".into(), y.version_id.clone())), 10).await.unwrap();
    assert_eq!((rest.len(), rest[0].status.as_str()), (1, "FAILED"));

    index.forget_replication(item("x").seq).await.unwrap();
    index.forget_replication(item("x").seq).await.unwrap();
    assert_eq!(index.replication_backlog().await.unwrap(), 0);
}

#[tokio::test]
async fn a_resync_walks_in_pages_and_two_nodes_never_step_one_resync_at_once() {
    let Some(db) = TestDb::create().await else { return };
    let (index, ids) = setup(&db, &["src"]).await;
    let src = ids[0];
    for i in 0..7 {
        put(&index, src, &format!("k{i}"), &inline(b"x")).await;
    }
    put(&index, src, "other/skip", &inline(b"x")).await;
    route_to(&index, src, "k", "arn:aws:s3:::dst").await;
    assert!(index.due_replications(now_ms(), 100).await.unwrap().is_empty(), "versions from before the rule are not queued");
    let name = format!("replication-resync:{src}");
    let start = |failed_only| serde_json::to_string(&ResyncCursor { failed_only, after: None }).unwrap();
    index.set_worker_cursor(&name, Some(start(false))).await.unwrap();

    // While another node steps the resync (its cursor row locked), this one skips it.
    let mut other = index.client().await.unwrap();
    let tx = other.transaction().await.unwrap();
    tx.query_one("SELECT 1 FROM worker_cursors WHERE worker = $1 FOR UPDATE", &[&name]).await.unwrap();
    assert!(index.resync_step(3).await.unwrap().is_none());
    tx.rollback().await.unwrap();

    let first = index.resync_step(3).await.unwrap().unwrap();
    assert_eq!((first.bucket_id, first.walked, first.queued, first.finished), (src, 3, 3, false));
    let position: ResyncCursor = serde_json::from_str(&index.worker_cursor(&name).await.unwrap().unwrap()).unwrap();
    assert_eq!(position.after.unwrap().0, "k2");
    let steps = [index.resync_step(3).await.unwrap().unwrap(), index.resync_step(3).await.unwrap().unwrap()];
    assert_eq!(steps.iter().map(|s| s.queued).sum::<usize>(), 4, "k3..k6; other/skip is no route's");
    assert!(steps[1].finished && index.resync_step(3).await.unwrap().is_none());
    let due = index.due_replications(now_ms(), 100).await.unwrap();
    assert_eq!(due.len(), 7);
    assert!(due.iter().all(|d| d.check_first));

    // Only versions that failed are queued again; queued ones are left alone.
    index.fail_replication(due[0].clone(), "refused".into()).await.unwrap();
    index.set_worker_cursor(&name, Some(start(true))).await.unwrap();
    let step = index.resync_step(100).await.unwrap().unwrap();
    assert_eq!((step.queued, step.finished), (1, true));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_draining_one_outbox_take_each_entry_once() {
    let Some(db) = TestDb::create().await else { return };
    let (a, ids) = setup(&db, &["src"]).await;
    let src = ids[0];
    route_to(&a, src, "", "arn:aws:s3:::far").await;
    for i in 0..200 {
        put(&a, src, &format!("k{i:03}"), &inline(b"x")).await;
    }
    let nodes = [Arc::new(a), Arc::new(PgIndex::connect(&db.url).await.unwrap())];
    let taken = drain(&nodes, 3, 7).await;
    let per_node = [taken[0].len(), taken[1].len()];
    let all: Vec<i64> = taken.concat();
    let distinct: HashSet<i64> = all.iter().copied().collect();
    assert_eq!((all.len(), distinct.len()), (200, 200), "each entry taken exactly once");
    assert!(per_node.iter().all(|n| *n > 0), "both nodes took entries: {per_node:?}");
    assert_eq!(nodes[0].replication_status(src).await.unwrap().completed, 200);
    assert_eq!(nodes[1].replication_backlog().await.unwrap(), 0);

    // A node that took a row and stopped: the row is due again once the claim runs out.
    put(&nodes[0], src, "late", &inline(b"x")).await;
    let taken: Vec<OutboxItem> = nodes[0].due_replications(now_ms(), 10).await.unwrap();
    assert_eq!(taken.len(), 1);
    assert!(nodes[1].due_replications(now_ms(), 10).await.unwrap().is_empty());
    let again = nodes[1].due_replications(now_ms() + CLAIM_MS + 1000, 10).await.unwrap();
    assert_eq!(again.iter().map(|i| i.seq).collect::<Vec<_>>(), [taken[0].seq]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_node_that_starts_again_sends_what_it_had_taken_at_once() {
    let Some(db) = TestDb::create().await else { return };
    let (a, ids) = setup(&db, &["src"]).await;
    route_to(&a, ids[0], "", "arn:aws:s3:::far").await;
    put(&a, ids[0], "k", &inline(b"x")).await;
    let node = PgIndex::connect_as(&db.url, "node-1").await.unwrap();
    let taken = node.due_replications(now_ms(), 10).await.unwrap();
    assert_eq!(taken.len(), 1);
    drop(node); // killed before it settled the row
    let admin = PgIndex::connect_as(&db.url, "node-1").await.unwrap();
    let other = PgIndex::connect_as(&db.url, "node-2").await.unwrap();
    assert!(other.due_replications(now_ms(), 10).await.unwrap().is_empty(), "another node's start leaves the claim");
    drop(admin);
    assert!(other.due_replications(now_ms(), 10).await.unwrap().is_empty(), "a handle of the same name that sends nothing leaves it too");
    let restarted = PgIndex::connect_as(&db.url, "node-1").await.unwrap();
    let again = restarted.due_replications(now_ms(), 10).await.unwrap();
    assert_eq!(again.iter().map(|i| i.seq).collect::<Vec<_>>(), [taken[0].seq]);
}

/// Drains the outbox with `per_node` workers on each of two nodes, each taking `batch` rows at
/// a time and completing them; returns the rows each node took.
async fn drain(nodes: &[Arc<PgIndex>; 2], per_node: usize, batch: usize) -> [Vec<i64>; 2] {
    let workers: Vec<_> = (0..2 * per_node)
        .map(|w| {
            let node = nodes[w % 2].clone();
            tokio::spawn(async move {
                let mut taken: Vec<i64> = Vec::new();
                loop {
                    let due = node.due_replications(now_ms(), batch).await.unwrap();
                    if due.is_empty() {
                        break taken;
                    }
                    for item in due {
                        taken.push(item.seq);
                        node.complete_replication(item, Some("rv".into())).await.unwrap();
                    }
                }
            })
        })
        .collect();
    let mut out = [Vec::new(), Vec::new()];
    for (w, worker) in workers.into_iter().enumerate() {
        out[w % 2].extend(worker.await.unwrap());
    }
    out
}

/// How fast two nodes drain an outbox of 2,000 rows (4 workers each, 50 rows a claim).
/// `cargo test --release -p coffer-storage outbox_drain_rate -- --ignored --nocapture`
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore]
async fn outbox_drain_rate() {
    use futures::StreamExt;
    let Some(db) = TestDb::create().await else { return };
    let (a, ids) = setup(&db, &["src"]).await;
    let src = ids[0];
    route_to(&a, src, "", "arn:aws:s3:::far").await;
    let a = &a;
    futures::stream::iter(0..2000).for_each_concurrent(16, |i| async move { put(a, src, &format!("k{i}"), &inline(b"x")).await; }).await;
    let nodes = [Arc::new(PgIndex::connect(&db.url).await.unwrap()), Arc::new(PgIndex::connect(&db.url).await.unwrap())];
    let started = std::time::Instant::now();
    let taken = drain(&nodes, 4, 50).await;
    let secs = started.elapsed().as_secs_f64();
    assert_eq!(taken[0].len() + taken[1].len(), 2000);
    println!("outbox rows/s: {:.0} (nodes took {} and {})", 2000.0 / secs, taken[0].len(), taken[1].len());
}
