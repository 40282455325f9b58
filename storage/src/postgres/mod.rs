//! The PostgreSQL index: a pool of connections to one database that several Coffer nodes
//! share. Every operation is one short transaction (PostgreSQL groups WAL flushes itself),
//! retried when PostgreSQL reports a serialization failure or a deadlock; a statement that
//! runs past the statement timeout becomes `Busy` (503 SlowDown).

mod accounts;
mod blobs;
mod buckets;
pub(crate) mod check;
mod deletes;
mod events;
mod lifecycle;
mod keyring;
mod listing;
mod objects;
mod replication;
mod rows;
mod schema;
mod service;
#[cfg(test)]
pub(crate) mod tests;
mod uploads;

use crate::error::{Result, StorageError};
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use std::sync::atomic::{AtomicU64, Ordering};
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;
use tokio_postgres::{NoTls, Row, Statement};

/// Connections kept per node.
const POOL_SIZE: usize = 16;
/// Attempts of a transaction PostgreSQL aborted for a conflict before giving up with `Busy`.
const ATTEMPTS: u32 = 8;
/// The statement timeout unless the URL sets its own `options`.
const STATEMENT_TIMEOUT: &str = "-c statement_timeout=10s";

pub(crate) struct PgIndex {
    pool: Pool,
    /// The database's size when last asked (`index_bytes` must not wait for a query).
    size: AtomicU64,
    /// This handle's name in leases it takes (see `events`), random per connect.
    node: String,
    /// The generations of blobs this node read or reserved lately (see `blobs`).
    generations: blobs::KnownGenerations,
    /// Whether this node's replication claims from before it started were released (on its
    /// first ask for due replications: a handle that never sends, such as an admin command
    /// run beside the node, leaves the running node's claims alone).
    claims_released: std::sync::atomic::AtomicBool,
    /// Where the connections' I/O runs (see `ConnectOnOwnRuntime`).
    _runtime: OwnRuntime,
}

/// A runtime of the index's own, shut down without waiting when the index goes (dropping a
/// runtime inside another one's task would panic).
struct OwnRuntime(Option<tokio::runtime::Runtime>);

impl Drop for OwnRuntime {
    fn drop(&mut self) {
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

/// Opens connections whose I/O tasks run on the index's own runtime, so that a caller that
/// must block (the `*_blocking` operations, asked from synchronous code on any thread) can
/// wait for a query without stalling the runtime that drives the query's connection.
struct ConnectOnOwnRuntime(tokio::runtime::Handle);

impl deadpool_postgres::Connect for ConnectOnOwnRuntime {
    fn connect(
        &self,
        config: &tokio_postgres::Config,
    ) -> futures::future::BoxFuture<'_, std::result::Result<(tokio_postgres::Client, tokio::task::JoinHandle<()>), tokio_postgres::Error>> {
        let config = config.clone();
        let connecting = self.0.spawn(async move {
            let (client, connection) = config.connect(NoTls).await?;
            let io = tokio::spawn(async move {
                if let Err(e) = connection.await {
                    tracing::warn!(error = %e, "PostgreSQL connection closed");
                }
            });
            Ok((client, io))
        });
        Box::pin(async move { connecting.await.expect("the index's runtime is running") })
    }
}

impl PgIndex {
    /// Connects to the database at `url` (a libpq URL or key=value string) and brings its
    /// schema up to date.
    #[cfg(test)]
    pub(crate) async fn connect(url: &str) -> Result<PgIndex> {
        PgIndex::connect_as(url, &format!("{:016x}", rand::random::<u64>())).await
    }

    /// Connects as `connect` does, naming this node `node` in the leases it takes: a node that
    /// restarts under the same name takes its leases straight back.
    pub(crate) async fn connect_as(url: &str, node: &str) -> Result<PgIndex> {
        let mut config: tokio_postgres::Config = url.parse().map_err(|e| StorageError::Index(Box::new(e)))?;
        if config.get_options().is_none() {
            config.options(STATEMENT_TIMEOUT);
        }
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).thread_name("coffer-postgres").enable_all().build()?;
        let connect = ConnectOnOwnRuntime(runtime.handle().clone());
        let manager = Manager::from_connect(config, connect, ManagerConfig { recycling_method: RecyclingMethod::Fast });
        let pool = Pool::builder(manager).max_size(POOL_SIZE).build().map_err(|e| StorageError::Index(Box::new(e)))?;
        let index = PgIndex { pool, size: AtomicU64::new(0), node: node.to_string(), generations: Default::default(), claims_released: Default::default(), _runtime: OwnRuntime(Some(runtime)) };
        let mut client = index.client().await?;
        schema::migrate(&mut client).await?;
        index.note_size(&client).await?;
        Ok(index)
    }

    async fn client(&self) -> Result<deadpool_postgres::Object> {
        self.pool.get().await.map_err(|e| match e {
            deadpool_postgres::PoolError::Backend(e) => e.into(),
            deadpool_postgres::PoolError::Timeout(_) => StorageError::Busy,
            other => StorageError::Index(Box::new(other)),
        })
    }

    /// Runs `work` to completion on the calling thread (which it blocks).
    fn block_on<R>(&self, work: impl std::future::Future<Output = Result<R>>) -> Result<R> {
        futures::executor::block_on(work)
    }

    async fn note_size(&self, client: &tokio_postgres::Client) -> Result<()> {
        let bytes: i64 = client.query_one("SELECT pg_database_size(current_database())", &[]).await?.get(0);
        self.size.store(bytes as u64, Ordering::Relaxed);
        Ok(())
    }
}

/// Opens the PostgreSQL index at `url` for a store, from synchronous code on any thread (the
/// connections run on the index's own runtime).
pub(crate) fn open(url: &str, node: &str) -> Result<std::sync::Arc<dyn crate::meta::Index>> {
    Ok(std::sync::Arc::new(futures::executor::block_on(PgIndex::connect_as(url, node))?))
}

/// Whether PostgreSQL aborted the transaction for a conflict with another one, so running it
/// again may succeed.
fn is_conflict(e: &StorageError) -> bool {
    matches!(e, StorageError::Index(inner) if inner
        .downcast_ref::<tokio_postgres::Error>()
        .is_some_and(|e| {
            let code = e.code();
            code == Some(&SqlState::T_R_SERIALIZATION_FAILURE) || code == Some(&SqlState::T_R_DEADLOCK_DETECTED) || is_stale_statement(e)
        }))
}

/// Whether PostgreSQL refused a statement this connection prepared earlier because the tables
/// under it changed shape since ("cached plan must not change result type"): a newer node
/// migrated the schema during a rolling upgrade. Preparing the SQL again fixes it.
fn is_stale_statement(e: &tokio_postgres::Error) -> bool {
    e.code() == Some(&SqlState::FEATURE_NOT_SUPPORTED) && e.as_db_error().is_some_and(|d| d.message().contains("cached plan"))
}

impl From<tokio_postgres::Error> for StorageError {
    fn from(e: tokio_postgres::Error) -> Self {
        match e.code() {
            Some(c) if *c == SqlState::DISK_FULL => StorageError::Full,
            Some(c) if *c == SqlState::QUERY_CANCELED || *c == SqlState::TOO_MANY_CONNECTIONS => StorageError::Busy,
            // Class 08 (connection exception) and 57P (the server shuts down or restarts, or an
            // operator ended the session), or no SQLSTATE at all because the connection is gone.
            Some(c) if c.code().starts_with("08") || c.code().starts_with("57P") => StorageError::Unavailable(with_cause(&e)),
            // "cannot execute INSERT in a read-only transaction": the server takes no writes (a
            // standby, a primary being failed over, or one an operator made read-only).
            Some(c) if *c == SqlState::READ_ONLY_SQL_TRANSACTION => StorageError::Unavailable(with_cause(&e)),
            None if is_lost_connection(&e) => StorageError::Unavailable(with_cause(&e)),
            _ => StorageError::Index(Box::new(e)),
        }
    }
}

/// The error with what caused it ("db error: FATAL: terminating connection due to administrator command").
fn with_cause(e: &tokio_postgres::Error) -> String {
    match std::error::Error::source(e) {
        Some(cause) => format!("{e}: {cause}"),
        None => e.to_string(),
    }
}

/// Whether the error is the connection's, not the statement's: closed, or failed on I/O
/// (refused while the server restarts, reset).
fn is_lost_connection(e: &tokio_postgres::Error) -> bool {
    use std::error::Error;
    e.is_closed() || e.source().is_some_and(|s| s.is::<std::io::Error>())
}

/// Runs `$run` with `$q`'s statement, and once more with it prepared afresh when the first
/// one had gone stale (`GenericClient::again_after`).
macro_rules! run_fresh {
    ($client:expr, $q:expr, |$s:ident| $run:expr) => {{
        let first = {
            let $s = &$client.statement($q).await?;
            $run.await
        };
        match first {
            Err(e) if $client.again_after($q, &e) => {
                let $s = &$client.statement($q).await?;
                $run.await
            }
            other => other,
        }
    }};
}

/// What the index's queries run on: a pooled connection or a transaction on one. It offers
/// tokio-postgres's query methods, but prepares each SQL text once per connection and reuses the
/// statement afterwards, so a statement costs one round trip instead of two (prepare, then run)
/// and PostgreSQL plans it once. SQL is built from constants only (never from data), so each
/// connection's cache stays small.
#[async_trait::async_trait]
pub(crate) trait GenericClient: Sync {
    /// The connection or transaction underneath.
    type Raw: tokio_postgres::GenericClient + Sync;
    fn raw(&self) -> &Self::Raw;

    /// The statement for `sql`, prepared on this connection's first use of it.
    async fn prepare(&self, sql: &str) -> std::result::Result<Statement, tokio_postgres::Error>;

    /// The prepared statements of the connection underneath.
    fn statement_cache(&self) -> &deadpool_postgres::StatementCache;

    /// Whether a statement that failed may simply run again (outside a transaction; inside one,
    /// PostgreSQL aborted it and `transact!` runs the whole transaction again).
    const RUNS_AGAIN: bool;

    async fn statement<Q: Query + ?Sized>(&self, q: &Q) -> std::result::Result<Statement, tokio_postgres::Error> {
        match q.as_query() {
            QueryRef::Sql(sql) => self.prepare(sql).await,
            QueryRef::Prepared(s) => Ok(s.clone()),
        }
    }

    /// After `e`: forgets every prepared statement if they went stale, and says whether to
    /// prepare `q` and run it once more.
    fn again_after<Q: Query + ?Sized>(&self, q: &Q, e: &tokio_postgres::Error) -> bool {
        if !is_stale_statement(e) {
            return false;
        }
        self.statement_cache().clear();
        Self::RUNS_AGAIN && matches!(q.as_query(), QueryRef::Sql(_))
    }

    async fn query<Q: Query + ?Sized>(&self, q: &Q, params: &[&(dyn ToSql + Sync)]) -> std::result::Result<Vec<Row>, tokio_postgres::Error> {
        run_fresh!(self, q, |s| tokio_postgres::GenericClient::query(self.raw(), s, params))
    }

    async fn query_one<Q: Query + ?Sized>(&self, q: &Q, params: &[&(dyn ToSql + Sync)]) -> std::result::Result<Row, tokio_postgres::Error> {
        run_fresh!(self, q, |s| tokio_postgres::GenericClient::query_one(self.raw(), s, params))
    }

    async fn query_opt<Q: Query + ?Sized>(&self, q: &Q, params: &[&(dyn ToSql + Sync)]) -> std::result::Result<Option<Row>, tokio_postgres::Error> {
        run_fresh!(self, q, |s| tokio_postgres::GenericClient::query_opt(self.raw(), s, params))
    }

    async fn execute<Q: Query + ?Sized>(&self, q: &Q, params: &[&(dyn ToSql + Sync)]) -> std::result::Result<u64, tokio_postgres::Error> {
        run_fresh!(self, q, |s| tokio_postgres::GenericClient::execute(self.raw(), s, params))
    }
}


#[async_trait::async_trait]
impl GenericClient for deadpool_postgres::ClientWrapper {
    type Raw = tokio_postgres::Client;
    fn raw(&self) -> &Self::Raw {
        self
    }
    async fn prepare(&self, sql: &str) -> std::result::Result<Statement, tokio_postgres::Error> {
        self.prepare_cached(sql).await
    }
    fn statement_cache(&self) -> &deadpool_postgres::StatementCache {
        &self.statement_cache
    }
    const RUNS_AGAIN: bool = true;
}

#[async_trait::async_trait]
impl<'a> GenericClient for deadpool_postgres::Transaction<'a> {
    type Raw = tokio_postgres::Transaction<'a>;
    fn raw(&self) -> &Self::Raw {
        self
    }
    async fn prepare(&self, sql: &str) -> std::result::Result<Statement, tokio_postgres::Error> {
        self.prepare_cached(sql).await
    }
    fn statement_cache(&self) -> &deadpool_postgres::StatementCache {
        &self.statement_cache
    }
    const RUNS_AGAIN: bool = false;
}

/// What `GenericClient`'s methods run: SQL text, or a statement already prepared from it.
pub(crate) trait Query: Sync {
    fn as_query(&self) -> QueryRef<'_>;
}

pub(crate) enum QueryRef<'a> {
    Sql(&'a str),
    Prepared(&'a Statement),
}

impl Query for str {
    fn as_query(&self) -> QueryRef<'_> {
        QueryRef::Sql(self)
    }
}

impl Query for String {
    fn as_query(&self) -> QueryRef<'_> {
        QueryRef::Sql(self)
    }
}

impl Query for Statement {
    fn as_query(&self) -> QueryRef<'_> {
        QueryRef::Prepared(self)
    }
}

/// The transaction `transact!` hands its body: `&*tx` is what helpers taking `&impl
/// GenericClient` want (the statement cache comes with it).
pub(crate) struct Tx<'a>(pub(crate) deadpool_postgres::Transaction<'a>);

impl<'a> std::ops::Deref for Tx<'a> {
    type Target = deadpool_postgres::Transaction<'a>;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl Tx<'_> {
    pub(crate) async fn commit(self) -> std::result::Result<(), tokio_postgres::Error> {
        self.0.commit().await
    }
}

/// Runs `$body` (an expression that may use `?`) inside a transaction `$tx` on a pooled
/// connection of `$index` and commits it; a conflict (serialization failure, deadlock, a
/// unique key taken by a concurrent commit is not one: each operation decides) runs it again, up to `ATTEMPTS` times.
/// (`@begin` names how the transaction starts, for `in_snapshot!`.)
macro_rules! transact {
    ($index:expr, |$tx:ident| $body:expr) => {
        $crate::postgres::transact!(@begin $index, |c| c.transaction(), |$tx| $body)
    };
    (@begin $index:expr, |$c:ident| $begin:expr, |$tx:ident| $body:expr) => {{
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut client = $index.client().await?;
            let outcome: $crate::error::Result<_> = async {
                let $c = &mut client;
                let $tx = $crate::postgres::Tx($begin.await?);
                let value = $body;
                $tx.commit().await?;
                Ok(value)
            }
            .await;
            match outcome {
                Err(e) if $crate::postgres::is_conflict(&e) && attempt < $crate::postgres::ATTEMPTS => continue,
                Err(e) if $crate::postgres::is_conflict(&e) => break Err($crate::error::StorageError::Busy),
                other => break other,
            }
        }
    }};
}
pub(crate) use transact;

/// Runs `$body` as `transact!` does, in a REPEATABLE READ READ ONLY transaction: every
/// statement of a read that takes several sees one snapshot.
macro_rules! in_snapshot {
    ($index:expr, |$tx:ident| $body:expr) => {
        $crate::postgres::transact!(@begin $index, |c| c
            .build_transaction()
            .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start(), |$tx| $body)
    };
}
pub(crate) use in_snapshot;
