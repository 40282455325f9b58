//! SQLite's AccountIndex: users, their access keys and MFA devices (secrets only ever sealed).

use super::SqliteIndex;
use crate::meta::AccountIndex;

#[async_trait::async_trait]
impl AccountIndex for SqliteIndex {}
