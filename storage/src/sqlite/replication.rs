//! SQLite's ReplicationIndex: the replication outbox, its per-target outcomes, replicas written here, and resync.

use super::SqliteIndex;
use crate::meta::ReplicationIndex;

#[async_trait::async_trait]
impl ReplicationIndex for SqliteIndex {}
