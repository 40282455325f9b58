//! Tests of the PostgreSQL index against a real server: `COFFER_TEST_POSTGRES` names one
//! (a libpq URL of a role that may create databases; scripts/test.sh starts one). Each test
//! gets a database of its own. Without the variable these tests pass without running.

mod accounts;
mod blobs;
mod buckets;
mod events;
mod keyring;
mod lifecycle;
mod listing;
mod objects;
mod replication;
mod service;
mod uploads;

use super::PgIndex;
use crate::meta::ServiceIndex;
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

/// A server that takes no writes (a standby, or one made read-only) refuses a write with
/// "cannot execute ... in a read-only transaction": the index is unavailable (503, retried).
#[tokio::test]
async fn a_write_refused_as_read_only_is_unavailable() {
    let Some(db) = TestDb::create().await else { return };
    let index = PgIndex::connect(&db.url).await.unwrap();
    // The pool's one connection, which the next operation takes again.
    index.client().await.unwrap().batch_execute("SET default_transaction_read_only = on").await.unwrap();
    let owner = crate::model::User { id: "u1".into(), name: "alice".into() };
    let refused = crate::meta::BucketIndex::create_bucket(&index, owner, "photos", "us-east-1").await.unwrap_err();
    assert!(matches!(&refused, crate::error::StorageError::Unavailable(m) if m.contains("read-only")), "{refused}");
}

/// A rolling upgrade: another node changes a table's shape under statements this node prepared.
/// The next use prepares them again instead of failing, alone and inside a transaction.
#[tokio::test]
async fn statements_prepared_before_a_migration_are_prepared_again() {
    use super::GenericClient;
    let Some(db) = TestDb::create().await else { return };
    let index = PgIndex::connect(&db.url).await.unwrap();
    let other = index.client().await.unwrap();
    other.raw().batch_execute("CREATE TABLE probe (a INT); INSERT INTO probe VALUES (1)").await.unwrap();
    let select = "SELECT * FROM probe";
    {
        let c = index.client().await.unwrap();
        assert_eq!(c.query_one(select, &[]).await.unwrap().len(), 1);
    }
    let kept = other.raw().prepare(select).await.unwrap();
    let mut migrations = 0;
    for column in ["b", "c"] {
        other.raw().batch_execute(&format!("ALTER TABLE probe ADD COLUMN {column} INT")).await.unwrap();
        migrations += 1;
        let c = index.client().await.unwrap();
        assert_eq!(c.query_one(select, &[]).await.unwrap().len(), 1 + migrations, "alone, after {column}");
    }
    let stale = other.raw().query(&kept, &[]).await.unwrap_err();
    assert!(super::is_stale_statement(&stale), "{stale}");
    other.raw().batch_execute("ALTER TABLE probe ADD COLUMN d INT").await.unwrap();
    let width = async { crate::error::Result::Ok(super::transact!(index, |tx| tx.query_one(select, &[]).await?.len())?) };
    assert_eq!(width.await.unwrap(), 4, "inside a transaction");
}
