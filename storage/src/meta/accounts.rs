//! Users, their access keys and MFA devices (secrets only ever sealed).
//! The contract a metadata store implements for them; `crate::sqlite::accounts` is SQLite's.

#[async_trait::async_trait]
pub trait AccountIndex {}
