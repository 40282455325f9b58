//! SQLite's EventIndex: event notification targets and the outbox of events queued for them.

use super::SqliteIndex;
use crate::meta::EventIndex;

#[async_trait::async_trait]
impl EventIndex for SqliteIndex {}
