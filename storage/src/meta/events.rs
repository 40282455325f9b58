//! Event notification targets and the outbox of events queued for them.
//! The contract a metadata store implements for them; `crate::sqlite::events` is SQLite's.

#[async_trait::async_trait]
pub trait EventIndex {}
