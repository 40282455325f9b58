//! What the lifecycle, tiering and restore workers scan and apply.
//! The contract a metadata store implements for them; `crate::sqlite::lifecycle` is SQLite's.

#[async_trait::async_trait]
pub trait LifecycleIndex {}
