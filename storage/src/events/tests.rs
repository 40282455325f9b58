use super::*;
use crate::testutil::*;
use crate::*;

fn route(id: &str, target: &str, events: &[&str], prefix: &str, suffix: &str) -> NotifyRoute {
    NotifyRoute {
        config_id: id.into(),
        target: target.into(),
        events: events.iter().map(|e| e.to_string()).collect(),
        prefix: prefix.into(),
        suffix: suffix.into(),
    }
}

async fn with_target(t: &TestStore, name: &str, max_backlog: u64) {
    let target = NotifyTarget { name: name.into(), kind: TargetKind::Webhook { url: "http://127.0.0.1:1/".into() }, max_backlog };
    t.store.put_notify_target(target, None).await.unwrap();
}

async fn set_routes(t: &TestStore, bucket: &Bucket, routes: &[NotifyRoute]) {
    t.store.set_bucket_config(bucket.id, NOTIFY_ROUTES_KIND, Some(serde_json::to_string(routes).unwrap())).await.unwrap();
}

/// (event name, key, version id) of every queued event of `target`, in queue order.
async fn queued(t: &TestStore, target: &str) -> Vec<(EventName, String, Option<String>)> {
    let events = t.store.queued_events(target, 1000).await.unwrap();
    assert!(events.windows(2).all(|w| w[0].seq < w[1].seq), "queue order is commit order");
    events.into_iter().map(|e| (e.facts.name, e.facts.key, e.facts.version_id)).collect()
}

fn origin(event: EventName) -> Origin {
    Origin::new(event, Requester { principal_id: "p".into(), source_ip: "127.0.0.1".into(), request_id: "R".into() })
}

#[test]
fn routes_take_events_by_name_prefix_and_suffix() {
    let r = route("c", "t", &["s3:ObjectCreated:*", "s3:ObjectRemoved:Delete"], "img/", ".jpg");
    assert!(r.takes(EventName::ObjectCreatedCopy, "img/a.jpg"));
    assert!(r.takes(EventName::ObjectRemovedDelete, "img/a.jpg"));
    assert!(!r.takes(EventName::ObjectRemovedDeleteMarkerCreated, "img/a.jpg"));
    assert!(!r.takes(EventName::ObjectCreatedPut, "doc/a.jpg"));
    assert!(!r.takes(EventName::ObjectCreatedPut, "img/a.png"));
    assert!(route("c", "t", &["s3:ObjectTagging:*"], "", "").takes(EventName::ObjectTaggingDelete, "anything"));
}

#[tokio::test]
async fn every_change_queues_its_event_in_its_own_commit() {
    let t = store().await;
    let b = t.store.create_bucket(&t.owner, "b", "eu-west-1").await.unwrap();
    t.store.set_versioning(b.id, Versioning::Enabled).await.unwrap();
    put(&t, &b, "before", b"no routes yet").await.unwrap();
    with_target(&t, "hook", 100).await;
    let all = ["s3:ObjectCreated:*", "s3:ObjectRemoved:*", "s3:ObjectTagging:*"];
    set_routes(&t, &b, &[route("all", "hook", &all, "", ""), route("logs", "hook", &["s3:ObjectCreated:*"], "logs/", ".txt")]).await;

    let v1 = put(&t, &b, "k", b"one").await.unwrap();
    let copy = NewObject { key: "k2".into(), owner_id: t.owner.id.clone(), meta: ObjectMeta::default(), origin: origin(EventName::ObjectCreatedCopy) };
    let v2 = t.store.copy_object(&v1, b.id, copy, WriteConditions::default()).await.unwrap();
    t.store.set_object_tags(b.id, "k", None, vec![("a".into(), "b".into())], Requester::default()).await.unwrap();
    t.store.delete_object_tags(b.id, "k", Some(&v1.version_id), Requester::default()).await.unwrap();
    let marker = t.store.delete_object(b.id, "k", None, Requester::default(), crate::DeleteOptions::default()).await.unwrap();
    t.store.delete_object(b.id, "k2", Some(&v2.version_id), Requester::default(), crate::DeleteOptions::default()).await.unwrap();
    let log = put(&t, &b, "logs/x.txt", b"log").await.unwrap();
    let bin = put(&t, &b, "logs/x.bin", b"not a .txt").await.unwrap();
    // A write that does not happen has no event.
    let refused = WriteConditions { if_none_match: Some("*".into()), if_match: None };
    let ingested = t.store.ingest(body(b"x"), IngestOptions { checksums: vec![], max_size: 10, seal: None, hash_plaintext: false }).await.unwrap();
    let new = NewObject { key: "logs/x.txt".into(), owner_id: t.owner.id.clone(), meta: ObjectMeta::default(), origin: put_origin() };
    assert!(t.store.put_object(&b, new, ingested, refused).await.is_err());

    let v = |s: &str| Some(s.to_string());
    assert_eq!(
        queued(&t, "hook").await,
        vec![
            (EventName::ObjectCreatedPut, "k".into(), v(&v1.version_id)),
            (EventName::ObjectCreatedCopy, "k2".into(), v(&v2.version_id)),
            (EventName::ObjectTaggingPut, "k".into(), v(&v1.version_id)),
            (EventName::ObjectTaggingDelete, "k".into(), v(&v1.version_id)),
            (EventName::ObjectRemovedDeleteMarkerCreated, "k".into(), marker.version_id.clone()),
            (EventName::ObjectRemovedDelete, "k2".into(), v(&v2.version_id)),
            // Taken by both routes: the server refuses configurations whose events and filters
            // overlap, but the queue follows the routes it is given.
            (EventName::ObjectCreatedPut, "logs/x.txt".into(), v(&log.version_id)),
            (EventName::ObjectCreatedPut, "logs/x.txt".into(), v(&log.version_id)),
            (EventName::ObjectCreatedPut, "logs/x.bin".into(), v(&bin.version_id)),
        ]
    );
    let events = t.store.queued_events("hook", 100).await.unwrap();
    let first = &events[0].facts;
    assert_eq!((first.size, first.etag.as_deref(), first.bucket.as_str(), first.region.as_str()), (Some(3), Some(v1.etag.as_str()), "b", "eu-west-1"));
    assert_eq!((first.config_id.as_str(), first.bucket_owner.as_str()), ("all", t.owner.id.as_str()));
    let removal = &events[5].facts;
    assert_eq!((removal.size, removal.etag.as_ref()), (None, None));
    let ids: std::collections::HashSet<&str> = events.iter().map(|e| e.facts.id.as_str()).collect();
    assert_eq!(ids.len(), events.len() - 1, "each event has its own id (one event went to two routes)");
}

#[tokio::test]
async fn unversioned_deletes_lifecycle_and_multipart_events() {
    let t = store().await;
    let b = t.store.create_bucket(&t.owner, "b", "us-east-1").await.unwrap();
    with_target(&t, "q", 100).await;
    set_routes(&t, &b, &[route("c", "q", &["s3:ObjectCreated:*", "s3:ObjectRemoved:*", "s3:LifecycleExpiration:*"], "", "")]).await;
    put(&t, &b, "gone", b"x").await.unwrap();
    t.store.delete_object(b.id, "gone", None, Requester::default(), crate::DeleteOptions::default()).await.unwrap();
    // Nothing was there to delete: nothing to announce.
    t.store.delete_object(b.id, "never", None, Requester::default(), crate::DeleteOptions::default()).await.unwrap();
    put(&t, &b, "old", b"x").await.unwrap();
    let seq = t.store.lifecycle_keys(b.id, vec!["old".into()]).await.unwrap()[0][0].seq;
    t.store.lifecycle_apply(b.id, "old", seq, LifecycleAction::ExpireCurrent, |_| true).await.unwrap().unwrap();

    let up = t.store.create_upload(b.id, "mp", &t.owner.id, ObjectMeta::default(), None).await.unwrap();
    let part_body = t.store.ingest_part(body(b"part"), IngestOptions { checksums: vec![], max_size: 100, seal: None, hash_plaintext: false }).await.unwrap();
    let p = t.store.put_part(&up, 1, part_body).await.unwrap();
    let request = CompleteRequest {
        parts: vec![CompletePart { number: 1, etag: p.etag.clone(), checksum: None }],
        requester: Requester { principal_id: "uploader".into(), ..Default::default() },
        ..Default::default()
    };
    t.store.complete_upload(b.id, "mp", &up.upload_id, request).await.unwrap();

    let events = t.store.queued_events("q", 100).await.unwrap();
    let names: Vec<(EventName, &str)> = events.iter().map(|e| (e.facts.name, e.facts.key.as_str())).collect();
    assert_eq!(
        names,
        [
            (EventName::ObjectCreatedPut, "gone"),
            (EventName::ObjectRemovedDelete, "gone"),
            (EventName::ObjectCreatedPut, "old"),
            (EventName::LifecycleExpirationDelete, "old"),
            (EventName::ObjectCreatedCompleteMultipartUpload, "mp"),
        ]
    );
    assert!(events.iter().all(|e| e.facts.version_id.is_none()), "the null version is not named");
    assert_eq!(events[3].facts.requester.principal_id, COFFER_PRINCIPAL);
    assert_eq!(events[4].facts.requester.principal_id, "uploader");
}

#[tokio::test]
async fn a_full_backlog_drops_and_counts_and_delivery_makes_room() {
    let t = store().await;
    let b = t.store.create_bucket(&t.owner, "b", "us-east-1").await.unwrap();
    with_target(&t, "small", 2).await;
    with_target(&t, "idle", 5).await;
    set_routes(&t, &b, &[route("c", "small", &["s3:ObjectCreated:Put"], "", "")]).await;
    for k in ["a", "b", "c"] {
        put(&t, &b, k, b"x").await.unwrap();
    }
    let status = |name: &'static str| {
        let store = t.store.clone();
        async move { store.notify_status().await.unwrap().into_iter().find(|s| s.target.name == name).unwrap() }
    };
    let s = status("small").await;
    assert_eq!((s.queued, s.dropped, s.delivered), (2, 1, 0));
    assert!(s.oldest_ms.is_some());
    let events = t.store.queued_events("small", 10).await.unwrap();
    assert_eq!(events.iter().map(|e| e.facts.key.as_str()).collect::<Vec<_>>(), ["a", "b"]);

    t.store.event_delivery_failed(events[0].seq, "connection refused".into()).await.unwrap();
    let s = status("small").await;
    assert_eq!((s.attempts, s.last_error.as_deref()), (1, Some("connection refused")));
    assert_eq!(t.store.events_delivered("small", events[0].seq).await.unwrap(), 1);
    put(&t, &b, "d", b"x").await.unwrap();
    let s = status("small").await;
    assert_eq!((s.queued, s.dropped, s.delivered, s.attempts), (2, 1, 1, 0));
    let keys: Vec<String> = t.store.queued_events("small", 10).await.unwrap().into_iter().map(|e| e.facts.key).collect();
    assert_eq!(keys, ["b", "d"]);
    assert_eq!(status("idle").await.queued, 0);
}

#[tokio::test]
async fn targets_are_registered_changed_and_removed_when_unused() {
    let t = store().await;
    let b = t.store.create_bucket(&t.owner, "b", "us-east-1").await.unwrap();
    let amqp = TargetKind::Amqp { url: "amqp://127.0.0.1:5672/%2f".into(), exchange: "x".into(), routing_key: None };
    let target = NotifyTarget { name: "mq".into(), kind: amqp, max_backlog: 10 };
    assert_eq!(target.arn(), "arn:coffer:sqs::mq:amqp");
    assert!(!t.store.put_notify_target(target.clone(), Some(b"sealed".to_vec())).await.unwrap());
    assert!(t.store.put_notify_target(NotifyTarget { max_backlog: 20, ..target.clone() }, None).await.unwrap(), "changed in place");
    let bad = NotifyTarget { name: "no spaces".into(), ..target.clone() };
    assert!(matches!(t.store.put_notify_target(bad, None).await, Err(StorageError::Notify(NotifyError::Invalid(_)))));
    let listed = t.store.notify_targets().await.unwrap();
    assert_eq!((listed[0].0.max_backlog, listed[0].1.as_ref()), (20, None));

    set_routes(&t, &b, &[route("c", "mq", &["s3:ObjectCreated:*"], "", "")]).await;
    put(&t, &b, "k", b"x").await.unwrap();
    assert!(matches!(t.store.remove_notify_target("mq").await, Err(StorageError::Notify(NotifyError::InUse { .. }))));
    t.store.set_bucket_config(b.id, NOTIFY_ROUTES_KIND, None).await.unwrap();
    t.store.remove_notify_target("mq").await.unwrap();
    assert!(t.store.queued_events("mq", 10).await.unwrap().is_empty(), "its queue went with it");
    assert!(matches!(t.store.remove_notify_target("mq").await, Err(StorageError::Notify(NotifyError::Missing(_)))));
    // Events for a target that is gone are dropped quietly.
    set_routes(&t, &b, &[route("c", "mq", &["s3:ObjectCreated:*"], "", "")]).await;
    put(&t, &b, "k", b"y").await.unwrap();
    assert!(t.store.queued_events("mq", 10).await.unwrap().is_empty());
}
