//! SQLite's ObjectIndex: object versions: writing one under conditions and versioning rules, reading, copying, tagging, deleting, listing, locks, tier placement and restores of one version.

use super::SqliteIndex;
use crate::meta::ObjectIndex;

#[async_trait::async_trait]
impl ObjectIndex for SqliteIndex {}
