//! Multipart uploads: creating one, its parts, listing, aborting and completing it into a version.
//! The contract a metadata store implements for them; `crate::sqlite::uploads` is SQLite's.

#[async_trait::async_trait]
pub trait UploadIndex {}
