//! The site's key records: the master key's fingerprint and the KMS keyring (key material
//! sealed by the master key), which every node sharing the index must agree on. The contract a
//! metadata store implements for them; `crate::sqlite::keyring` is SQLite's.

use crate::error::Result;

/// The names of the two documents in the index.
pub(crate) const KMS_KEYRING: &str = "kms_keyring";
pub(crate) const MASTER_KEY_FINGERPRINT: &str = "master_key_fingerprint";

/// A document of the index with the version that counts its replacements (1 for the first).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Versioned {
    pub version: u64,
    pub value: String,
}

#[async_trait::async_trait]
pub trait KeyringIndex {
    /// The KMS keyring document, if one was stored. Blocks the calling thread: the keyring
    /// answers synchronous callers.
    fn kms_keyring_blocking(&self) -> Result<Option<Versioned>>;

    /// Stores `value` as the keyring document if its version is still `seen` (0: none stored
    /// yet), blocking the calling thread. Returns the new version, or None when another
    /// writer's document came first (read it again and redo the change on it).
    fn replace_kms_keyring_blocking(&self, seen: u64, value: &str) -> Result<Option<u64>>;

    /// Records `fingerprint` as the master key's unless one is recorded already, and returns
    /// the recorded one: of nodes starting at once, the first to commit records its key's and
    /// the others are compared with it.
    async fn master_key_fingerprint(&self, fingerprint: &str) -> Result<String>;
}
