//! SQLite's BucketIndex: buckets and their configuration documents, versioning state, usage counters and quotas.

use super::SqliteIndex;
use crate::meta::BucketIndex;

#[async_trait::async_trait]
impl BucketIndex for SqliteIndex {}
