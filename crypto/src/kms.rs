//! What SSE-KMS needs from a key management service, as a trait: the built-in keyring
//! implements it, and an external KMS can later do the same.

use crate::envelope::Key256;
use serde::{Deserialize, Serialize};

/// A data key encrypted by a KMS key, as stored with the object.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WrappedDataKey {
    /// The KMS key's canonical id (not an alias).
    pub key_id: String,
    /// Which version of that key wrapped it (keys rotate; old versions still decrypt).
    pub version: u32,
    /// The encrypted data key, base64.
    pub ciphertext: String,
}

/// A KMS key as clients see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KmsKeyInfo {
    /// Canonical key id.
    pub key_id: String,
    /// `arn:aws:kms:<region>:<account>:key/<key_id>`, what S3 returns in
    /// x-amz-server-side-encryption-aws-kms-key-id.
    pub arn: String,
    pub enabled: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum KmsError {
    /// No key answers to this reference (id, alias/NAME, NAME or ARN).
    #[error("key '{0}' does not exist")]
    NotFound(String),
    /// The key exists but is disabled.
    #[error("key '{0}' is disabled")]
    Disabled(String),
    /// The wrapped data key does not decrypt (wrong context, altered bytes).
    #[error("the data key could not be decrypted")]
    InvalidCiphertext,
    /// The KMS itself could not be used (unreadable keyring, missing master key, ...).
    #[error("KMS unavailable: {0}")]
    Unavailable(String),
}

/// A key management service that creates and opens data keys.
pub trait KeyProvider: Send + Sync {
    /// Looks a key up by any of its names: the id, `alias/NAME`, `NAME`, or an ARN of
    /// either form.
    fn describe(&self, key_ref: &str) -> Result<KmsKeyInfo, KmsError>;

    /// A fresh random data key and its form wrapped by the current version of `key_ref`,
    /// bound to `context` (the encryption context, which `decrypt` must be given again).
    /// Fails for unknown or disabled keys.
    fn generate_data_key(&self, key_ref: &str, context: &[u8]) -> Result<(Key256, WrappedDataKey), KmsError>;

    /// Opens a data key wrapped earlier (by any version of its key). Fails for unknown or
    /// disabled keys.
    fn decrypt(&self, wrapped: &WrappedDataKey, context: &[u8]) -> Result<Key256, KmsError>;

    /// The key of SSE-KMS requests that name none, like S3's AWS-managed `aws/s3` key:
    /// its id, the key being made on first use.
    fn default_key(&self) -> Result<String, KmsError>;
}
