//! SQLite's LifecycleIndex: what the lifecycle, tiering and restore workers scan and apply.

use super::SqliteIndex;
use crate::meta::LifecycleIndex;

#[async_trait::async_trait]
impl LifecycleIndex for SqliteIndex {}
