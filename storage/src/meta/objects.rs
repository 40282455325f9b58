//! Object versions: writing one under conditions and versioning rules, reading, copying, tagging, deleting, listing, locks, tier placement and restores of one version.
//! The contract a metadata store implements for them; `crate::sqlite::objects` is SQLite's.

#[async_trait::async_trait]
pub trait ObjectIndex {}
