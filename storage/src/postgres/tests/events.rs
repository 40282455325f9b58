//! EventIndex on PostgreSQL, and `record`/`record_version` as object writes call them.

use super::TestDb;
use crate::error::{NotifyError, StorageError};
use crate::events::{Change, EventName, NotifyRoute, NotifyTarget, TargetKind, NOTIFY_ROUTES_KIND};
use crate::meta::EventIndex;
use crate::model::{ObjectRecord, Requester};
use crate::postgres::events::{record, record_version};
use crate::postgres::PgIndex;

fn target(name: &str, max_backlog: u64) -> NotifyTarget {
    NotifyTarget { name: name.into(), kind: TargetKind::Webhook { url: "http://127.0.0.1:1/".into() }, max_backlog }
}

fn route(id: &str, target: &str, events: &[&str], prefix: &str) -> NotifyRoute {
    NotifyRoute { config_id: id.into(), target: target.into(), events: events.iter().map(|e| e.to_string()).collect(), prefix: prefix.into(), suffix: String::new() }
}

fn requester() -> Requester {
    Requester { principal_id: "p".into(), source_ip: "127.0.0.1".into(), request_id: "R".into() }
}

/// A user and bucket "b" whose notification routes are `routes`; returns the bucket's id.
async fn bucket_with_routes(index: &PgIndex, routes: &[NotifyRoute]) -> i64 {
    let c = index.client().await.unwrap();
    c.execute("INSERT INTO users (id, name, created_ms) VALUES ('u1', 'owner', 0)", &[]).await.unwrap();
    let id: i64 = c
        .query_one("INSERT INTO buckets (name, owner_id, region, created_ms) VALUES ('b', 'u1', 'us-east-1', 0) RETURNING id", &[])
        .await
        .unwrap()
        .get(0);
    let doc = serde_json::to_string(routes).unwrap();
    c.execute("INSERT INTO bucket_configs (bucket_id, kind, document) VALUES ($1, $2, $3)", &[&id, &NOTIFY_ROUTES_KIND, &doc]).await.unwrap();
    id
}

/// Records a Put of `key` in its own transaction, as an object write would.
async fn put(index: &PgIndex, bucket_id: i64, key: &str) {
    let mut c = index.client().await.unwrap();
    let tx = c.transaction().await.unwrap();
    let requester = requester();
    let change = Change { event: EventName::ObjectCreatedPut, bucket_id, key, version_id: None, object: Some((1, "etag")), requester: &requester };
    record(&tx, &change).await.unwrap();
    tx.commit().await.unwrap();
}

fn keys(events: &[crate::events::QueuedEvent]) -> Vec<&str> {
    events.iter().map(|e| e.facts.key.as_str()).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn changes_queue_by_route_and_a_full_backlog_drops_and_counts() {
    let Some(db) = TestDb::create().await else { return };
    let index = PgIndex::connect(&db.url).await.unwrap();
    assert!(!index.put_notify_target(target("small", 2), None).await.unwrap());
    assert!(!index.put_notify_target(target("idle", 5), None).await.unwrap());
    let routes = [route("c", "small", &["s3:ObjectCreated:Put"], ""), route("logs", "idle", &["s3:ObjectRemoved:*"], "logs/")];
    let b = bucket_with_routes(&index, &routes).await;
    for k in ["a", "b", "c"] {
        put(&index, b, k).await;
    }
    let status = |name: &'static str| {
        let index = &index;
        async move { index.notify_status().await.unwrap().into_iter().find(|s| s.target.name == name).unwrap() }
    };
    let s = status("small").await;
    assert_eq!((s.queued, s.dropped, s.delivered), (2, 1, 0));
    assert!(s.oldest_ms.is_some());
    let events = index.queued_events("small", 10).await.unwrap();
    assert_eq!(keys(&events), ["a", "b"]);
    let facts = &events[0].facts;
    assert_eq!((facts.bucket.as_str(), facts.bucket_owner.as_str(), facts.config_id.as_str(), facts.size), ("b", "u1", "c", Some(1)));

    index.event_delivery_failed(events[0].seq, "connection refused".into()).await.unwrap();
    let s = status("small").await;
    assert_eq!((s.attempts, s.last_error.as_deref()), (1, Some("connection refused")));
    assert_eq!(index.queued_events("small", 10).await.unwrap()[0].attempts, 1);
    assert_eq!(index.events_delivered("small", events[0].seq).await.unwrap(), 1);
    put(&index, b, "d").await;
    let s = status("small").await;
    assert_eq!((s.queued, s.dropped, s.delivered, s.attempts), (2, 1, 1, 0));
    assert_eq!(keys(&index.queued_events("small", 10).await.unwrap()), ["b", "d"]);

    // record_version: a delete marker under logs/ goes to "idle" only, without size or ETag.
    let marker = ObjectRecord {
        bucket_id: b,
        key: "logs/x".into(),
        version_id: "v1".into(),
        is_latest: true,
        delete_marker: true,
        size: 0,
        etag: String::new(),
        modified_ms: 0,
        owner_id: "u1".into(),
        meta: Default::default(),
        placement: Default::default(),
        replication: None,
    };
    let mut c = index.client().await.unwrap();
    let tx = c.transaction().await.unwrap();
    record_version(&tx, EventName::ObjectRemovedDeleteMarkerCreated, &marker, &requester()).await.unwrap();
    tx.commit().await.unwrap();
    let idle = index.queued_events("idle", 10).await.unwrap();
    assert_eq!((keys(&idle), idle[0].facts.size, idle[0].facts.version_id.as_deref()), (vec!["logs/x"], None, Some("v1")));
    assert_eq!(status("small").await.queued, 2);
    // A change that rolls back queues nothing.
    let tx = c.transaction().await.unwrap();
    record_version(&tx, EventName::ObjectRemovedDeleteMarkerCreated, &marker, &requester()).await.unwrap();
    drop(tx);
    assert_eq!(status("idle").await.queued, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn targets_are_registered_changed_and_removed_when_unused() {
    let Some(db) = TestDb::create().await else { return };
    let index = PgIndex::connect(&db.url).await.unwrap();
    let amqp = TargetKind::Amqp { url: "amqp://127.0.0.1:5672/%2f".into(), exchange: "x".into(), routing_key: None };
    let mq = NotifyTarget { name: "mq".into(), kind: amqp, max_backlog: 10 };
    assert!(!index.put_notify_target(mq.clone(), Some(b"sealed".to_vec())).await.unwrap());
    assert!(index.put_notify_target(NotifyTarget { max_backlog: 20, ..mq.clone() }, None).await.unwrap(), "changed in place");
    index.put_notify_target(target("a-first", 1), None).await.unwrap();
    let listed = index.notify_targets().await.unwrap();
    assert_eq!(listed.iter().map(|(t, _)| t.name.as_str()).collect::<Vec<_>>(), ["a-first", "mq"]);
    assert_eq!((listed[1].0.max_backlog, listed[1].1.as_ref(), &listed[1].0.kind), (20, None, &mq.kind));

    let b = bucket_with_routes(&index, &[route("c", "mq", &["s3:ObjectCreated:*"], "")]).await;
    put(&index, b, "k").await;
    let in_use = index.remove_notify_target("mq").await;
    assert!(matches!(&in_use, Err(StorageError::Notify(NotifyError::InUse { buckets, .. })) if buckets == "b"), "{in_use:?}");
    let c = index.client().await.unwrap();
    c.execute("DELETE FROM bucket_configs WHERE bucket_id = $1", &[&b]).await.unwrap();
    index.remove_notify_target("mq").await.unwrap();
    assert!(index.queued_events("mq", 10).await.unwrap().is_empty(), "its queue went with it");
    assert!(matches!(index.remove_notify_target("mq").await, Err(StorageError::Notify(NotifyError::Missing(_)))));
    // Events for a target that is gone are dropped quietly.
    let doc = serde_json::to_string(&[route("c", "mq", &["s3:ObjectCreated:*"], "")]).unwrap();
    c.execute("INSERT INTO bucket_configs (bucket_id, kind, document) VALUES ($1, $2, $3)", &[&b, &NOTIFY_ROUTES_KIND, &doc]).await.unwrap();
    put(&index, b, "k").await;
    let left: i64 = c.query_one("SELECT count(*) FROM notify_queue", &[]).await.unwrap().get(0);
    assert_eq!(left, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn two_nodes_never_deliver_one_queue_at_once_and_share_its_backlog() {
    let Some(db) = TestDb::create().await else { return };
    let (a, b) = (PgIndex::connect(&db.url).await.unwrap(), PgIndex::connect(&db.url).await.unwrap());
    a.put_notify_target(target("hook", 30), None).await.unwrap();
    let bucket = bucket_with_routes(&a, &[route("c", "hook", &["s3:ObjectCreated:*"], "")]).await;
    // 40 changes committed by both nodes at once: exactly the backlog's 30 are queued, in
    // row order, and the rest counted as dropped.
    let writes = (0..40).map(|i| {
        let node = if i % 2 == 0 { &a } else { &b };
        async move { put(node, bucket, &format!("k{i}")).await }
    });
    futures::future::join_all(writes).await;
    let s = &a.notify_status().await.unwrap()[0];
    assert_eq!((s.queued, s.dropped), (30, 10));

    // Both nodes' workers poll the queue at once: one of them gets it, the other nothing.
    let (x, y) = tokio::join!(a.queued_events("hook", 100), b.queued_events("hook", 100));
    let (x, y) = (x.unwrap(), y.unwrap());
    assert!(x.is_empty() != y.is_empty(), "exactly one node reads the queue ({} and {} events)", x.len(), y.len());
    let (holder, other, events) = if x.is_empty() { (&b, &a, y) } else { (&a, &b, x) };
    assert_eq!(events.len(), 30);
    assert!(events.windows(2).all(|w| w[0].seq < w[1].seq));
    assert!(other.queued_events("hook", 100).await.unwrap().is_empty(), "the lease holds between polls");
    assert_eq!(holder.events_delivered("hook", events[9].seq).await.unwrap(), 10);
    assert_eq!(holder.queued_events("hook", 100).await.unwrap().len(), 20);

    // The holder stops (its lease runs out): the other node goes on from the queue's head.
    a.client().await.unwrap().execute("UPDATE notify_leases SET until_ms = 0", &[]).await.unwrap();
    let rest = other.queued_events("hook", 100).await.unwrap();
    assert_eq!(rest.first().map(|e| e.seq), Some(events[10].seq));
    assert!(holder.queued_events("hook", 100).await.unwrap().is_empty(), "the old holder now waits");
    let s = &a.notify_status().await.unwrap()[0];
    assert_eq!((s.queued, s.delivered), (20, 10));
}
