//! SQLite's UploadIndex: multipart uploads: creating one, its parts, listing, aborting and completing it into a version.

use super::SqliteIndex;
use crate::meta::UploadIndex;

#[async_trait::async_trait]
impl UploadIndex for SqliteIndex {}
