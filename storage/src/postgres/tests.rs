//! Tests of the PostgreSQL index against a real server: `COFFER_TEST_POSTGRES` names one
//! (a libpq URL of a role that may create databases; scripts/test.sh starts one). Each test
//! gets a database of its own. Without the variable these tests pass without running.

use super::PgIndex;
use crate::blob_store::BlobLocation;
use crate::meta::ServiceIndex;
use crate::tiers::{RemoteSpec, TierKind, TierSpec};
use tokio_postgres::NoTls;

/// A fresh database on the test server, dropped when the test's value goes.
pub(crate) struct TestDb {
    pub url: String,
    admin: String,
    name: String,
}

impl TestDb {
    pub(crate) async fn create() -> Option<TestDb> {
        let admin = std::env::var("COFFER_TEST_POSTGRES").ok()?;
        let name = format!("coffer_test_{:016x}", rand::random::<u64>());
        let (client, conn) = tokio_postgres::connect(&admin, NoTls).await.expect("connect to COFFER_TEST_POSTGRES");
        tokio::spawn(conn);
        client.batch_execute(&format!("CREATE DATABASE {name}")).await.unwrap();
        let config: tokio_postgres::Config = admin.parse().unwrap();
        let mut url = config.clone();
        url.dbname(&name);
        Some(TestDb { url: to_url(&url), admin, name })
    }
}

/// The key=value form of `config` (tokio-postgres parses both forms).
fn to_url(config: &tokio_postgres::Config) -> String {
    let mut parts = Vec::new();
    for host in config.get_hosts() {
        if let tokio_postgres::config::Host::Tcp(h) = host {
            parts.push(format!("host={h}"));
        }
    }
    if let Some(port) = config.get_ports().first() {
        parts.push(format!("port={port}"));
    }
    if let Some(user) = config.get_user() {
        parts.push(format!("user={user}"));
    }
    if let Some(db) = config.get_dbname() {
        parts.push(format!("dbname={db}"));
    }
    parts.join(" ")
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let (admin, name) = (self.admin.clone(), self.name.clone());
        // A thread of its own: the test's runtime is shutting down.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async {
                if let Ok((client, conn)) = tokio_postgres::connect(&admin, NoTls).await {
                    tokio::spawn(conn);
                    let _ = client.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await;
                }
            })
        })
        .join();
    }
}

#[tokio::test]
async fn nodes_starting_together_migrate_once() {
    let Some(db) = TestDb::create().await else { return };
    let (a, b, c) = tokio::join!(PgIndex::connect(&db.url), PgIndex::connect(&db.url), PgIndex::connect(&db.url));
    let (a, _b, _c) = (a.unwrap(), b.unwrap(), c.unwrap());
    let client = a.client().await.unwrap();
    let versions: i64 = client.query_one("SELECT count(*) FROM coffer_schema", &[]).await.unwrap().get(0);
    assert_eq!(versions, super::schema::MIGRATIONS.len() as i64);
    a.ping().await.unwrap();
    assert!(a.index_bytes() > 0);
}

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
}
