//! The replication outbox, its per-target outcomes, replicas written here, and resync.
//! The contract a metadata store implements for them; `crate::sqlite::replication` is SQLite's.

#[async_trait::async_trait]
pub trait ReplicationIndex {}
