//! Blob references: what names a blob, garbage the collector may remove, scrub positions, corrupt blobs, where the blobs live.
//! The contract a metadata store implements for them; `crate::sqlite::blobs` is SQLite's.

#[async_trait::async_trait]
pub trait BlobIndex {}
