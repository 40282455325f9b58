//! SQLite's BlobIndex: blob references: what names a blob, garbage the collector may remove, scrub positions, corrupt blobs, where the blobs live.

use super::SqliteIndex;
use crate::meta::BlobIndex;

#[async_trait::async_trait]
impl BlobIndex for SqliteIndex {}
