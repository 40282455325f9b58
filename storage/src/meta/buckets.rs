//! Buckets and their configuration documents, versioning state, usage counters and quotas.
//! The contract a metadata store implements for them; `crate::sqlite::buckets` is SQLite's.

#[async_trait::async_trait]
pub trait BucketIndex {}
