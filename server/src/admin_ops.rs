//! What `coffer admin` and the HTTP admin API (`admin_api`) both do to users, access keys,
//! remotes and tiers: the checks, the sealing of secrets and the storage calls, with typed errors.

use coffer_storage::ROOT_USER;
use crate::keys::kms::KeyringError;
use crate::keys::secrets::Secrets;
use crate::request::object_headers::STORAGE_CLASSES;
use coffer_storage::blob_store::LocalBlobs;
use coffer_storage::tiers::{RemoteSpec, TierKind, TierSpec};
use coffer_storage::{AccessKeyInfo, StorageError, Store, TierError};
use serde::Serialize;

/// Why an admin operation was refused or failed; each kind is one HTTP status in the API.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// No user, key, remote, tier or KMS key by that name (404).
    #[error("{0}")]
    NotFound(String),
    /// The name is taken, or the thing is still in use (409).
    #[error("{0}")]
    Conflict(String),
    /// The request asks for something that cannot be (400).
    #[error("{0}")]
    Invalid(String),
    /// The storage or a remote endpoint failed (500; 503 when the index is busy).
    #[error("{0}")]
    Failed(String),
    /// The index cannot answer now; the client may try again (503).
    #[error("{0}")]
    Unavailable(String),
}

impl AdminError {
    /// A storage error, worded for `subject` (the user, key or name it was about).
    pub fn storage(e: StorageError, subject: &str) -> AdminError {
        match e {
            StorageError::NoSuchUser => AdminError::NotFound(format!("no user called {subject}")),
            StorageError::NoSuchAccessKey => AdminError::NotFound(format!("no access key {subject}")),
            StorageError::UserExists => AdminError::Conflict(format!("user {subject} already exists")),
            StorageError::AccessKeyExists => AdminError::Conflict("that access key is already in use".into()),
            StorageError::UserOwnsBuckets(buckets) => AdminError::Conflict(format!(
                "user {subject} still owns {} bucket(s): {}; delete them or give them to another user first",
                buckets.len(),
                buckets.join(", ")
            )),
            StorageError::Tier(TierError::Missing { .. }) => AdminError::NotFound(e.to_string()),
            StorageError::Tier(TierError::Exists { .. } | TierError::InUse { .. }) => AdminError::Conflict(e.to_string()),
            StorageError::Tier(TierError::Invalid(_)) => AdminError::Invalid(e.to_string()),
            StorageError::Busy | StorageError::Unavailable(_) => AdminError::Unavailable(e.to_string()),
            other => AdminError::Failed(other.to_string()),
        }
    }
}

impl From<KeyringError> for AdminError {
    fn from(e: KeyringError) -> AdminError {
        match e {
            KeyringError::NotFound(_) => AdminError::NotFound(e.to_string()),
            KeyringError::Exists(_) => AdminError::Conflict(e.to_string()),
            KeyringError::InvalidName(_) => AdminError::Invalid(e.to_string()),
            KeyringError::Failed(_) => AdminError::Failed(e.to_string()),
        }
    }
}

impl From<AdminError> for String {
    fn from(e: AdminError) -> String {
        e.to_string()
    }
}

/// A user just created, with the secret of its first key (shown this once).
#[derive(Debug, Serialize)]
pub struct NewUser {
    pub user: String,
    pub user_id: String,
    pub access_key: String,
    pub secret_key: String,
}

/// A key just created, with its secret (shown this once).
#[derive(Debug, Serialize)]
pub struct NewKey {
    pub user: String,
    pub access_key: String,
    pub secret_key: String,
}

const KEY_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const SECRET_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
/// IAM's longest user name.
const MAX_USER_NAME: usize = 64;

fn random_string(alphabet: &[u8], len: usize) -> String {
    (0..len).map(|_| alphabet[rand::random_range(0..alphabet.len())] as char).collect()
}

/// A new access key id (20 characters, like AWS's) and secret (40 characters).
pub fn generate_keys() -> (String, String) {
    (format!("CF{}", random_string(KEY_ALPHABET, 18)), random_string(SECRET_ALPHABET, 40))
}

/// Checks a new user's name: 1 to 64 of the characters IAM allows in user names.
pub fn check_user_name(name: &str) -> Result<(), AdminError> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c);
    if name.is_empty() || name.len() > MAX_USER_NAME || !name.chars().all(allowed) {
        return Err(AdminError::Invalid(format!("a user name is 1 to {MAX_USER_NAME} letters, digits and + = , . @ _ - (not {name:?})")));
    }
    Ok(())
}

/// Creates the user `name` with one key: the one given, or a generated one.
pub async fn create_user(store: &Store, secrets: &Secrets, name: &str, access_key: Option<String>, secret_key: Option<String>) -> Result<NewUser, AdminError> {
    check_user_name(name)?;
    let (gen_ak, gen_sk) = generate_keys();
    let (ak, sk) = (access_key.unwrap_or(gen_ak), secret_key.unwrap_or(gen_sk));
    if ak.len() < 3 || sk.len() < 8 {
        return Err(AdminError::Invalid("access key must be at least 3 characters and secret key at least 8".into()));
    }
    let user = store.create_user(name, &ak, secrets.seal_access_secret(&ak, &sk)).await.map_err(|e| AdminError::storage(e, name))?;
    Ok(NewUser { user: user.name, user_id: user.id, access_key: ak, secret_key: sk })
}

/// Deletes the user `name` with its keys; the root user cannot be deleted.
pub async fn delete_user(store: &Store, name: &str) -> Result<(), AdminError> {
    if name == ROOT_USER {
        return Err(AdminError::Conflict("root is the server's own user and cannot be deleted (rotate its keys instead)".into()));
    }
    store.delete_user(name).await.map_err(|e| AdminError::storage(e, name))
}

/// Enables or disables every key of the user `name` (a user signs nothing while none of its
/// keys is enabled); the root user cannot be disabled. Returns the keys as they are now.
pub async fn set_user_enabled(store: &Store, name: &str, enabled: bool) -> Result<Vec<AccessKeyInfo>, AdminError> {
    if name == ROOT_USER && !enabled {
        return Err(AdminError::Conflict("the root user cannot be disabled (disable or rotate its keys one by one)".into()));
    }
    let keys = store.list_access_keys(Some(name)).await.map_err(|e| AdminError::storage(e, name))?;
    let mut now = Vec::with_capacity(keys.len());
    for key in keys {
        now.push(store.set_access_key_enabled(&key.access_key, enabled).await.map_err(|e| AdminError::storage(e, &key.access_key))?);
    }
    Ok(now)
}

/// Adds a generated key to the user `name`.
pub async fn create_key(store: &Store, secrets: &Secrets, name: &str) -> Result<NewKey, AdminError> {
    let (access_key, secret_key) = generate_keys();
    store.add_access_key(name, &access_key, secrets.seal_access_secret(&access_key, &secret_key)).await.map_err(|e| AdminError::storage(e, name))?;
    Ok(NewKey { user: name.to_string(), access_key, secret_key })
}

/// Replaces the key `access_key`: a new key for the same user, and the old one disabled (delete
/// it once nothing uses it; enabling it again undoes the rotation).
pub async fn rotate_key(store: &Store, secrets: &Secrets, access_key: &str) -> Result<NewKey, AdminError> {
    let keys = store.list_access_keys(None).await.map_err(|e| AdminError::storage(e, access_key))?;
    let old = keys.into_iter().find(|k| k.access_key == access_key).ok_or_else(|| AdminError::NotFound(format!("no access key {access_key}")))?;
    let new = create_key(store, secrets, &old.user).await?;
    store.set_access_key_enabled(access_key, false).await.map_err(|e| AdminError::storage(e, access_key))?;
    Ok(new)
}

/// Registers a tier after checking it: S3 storage classes only, a directory given as an
/// absolute path (created if missing), a remote bucket that answers.
pub async fn add_tier(store: &Store, secrets: &Secrets, spec: &TierSpec) -> Result<(), AdminError> {
    for class in &spec.storage_classes {
        if !STORAGE_CLASSES.contains(&class.as_str()) {
            return Err(AdminError::Invalid(format!("{class} is not an S3 storage class (one of {})", STORAGE_CLASSES[1..].join(", "))));
        }
    }
    spec.validate().map_err(AdminError::Invalid)?;
    match &spec.kind {
        TierKind::Dir { path } => {
            if path.is_relative() {
                return Err(AdminError::Invalid(format!("{}: give the tier's directory as an absolute path", path.display())));
            }
            LocalBlobs::open(path).map_err(|e| AdminError::Invalid(format!("{}: {e}", path.display())))?;
        }
        TierKind::Remote { remote, bucket, .. } => {
            let remotes = store.remotes().await.map_err(|e| AdminError::storage(e, remote))?;
            let (remote_spec, sealed) = remotes
                .iter()
                .find(|(r, _)| r.name == *remote)
                .ok_or_else(|| AdminError::Invalid(format!("no remote is named {remote:?}; add it first")))?;
            let secret = secrets.open_remote_secret(remote, sealed).map_err(|e| AdminError::Failed(e.to_string()))?;
            remote_spec.check_bucket(&secret, bucket).await.map_err(AdminError::Invalid)?;
        }
    }
    store.add_tier(spec.clone()).await.map_err(|e| AdminError::storage(e, &spec.name))
}

/// Registers a remote S3 endpoint, its secret key sealed under the master key.
pub async fn add_remote(store: &Store, secrets: &Secrets, spec: &RemoteSpec, secret_key: &str) -> Result<(), AdminError> {
    if !spec.endpoint.starts_with("http://") && !spec.endpoint.starts_with("https://") {
        return Err(AdminError::Invalid(format!("{}: the endpoint is a URL (http:// or https://)", spec.endpoint)));
    }
    if spec.name.is_empty() || spec.access_key.is_empty() || secret_key.is_empty() {
        return Err(AdminError::Invalid("a remote needs a name, an access key and a secret key".into()));
    }
    let sealed = secrets.seal_remote_secret(&spec.name, secret_key);
    store.add_remote(spec.clone(), sealed).await.map_err(|e| AdminError::storage(e, &spec.name))
}

/// The registered remotes, without their secrets.
pub async fn remotes(store: &Store) -> Result<Vec<RemoteSpec>, AdminError> {
    Ok(store.remotes().await.map_err(|e| AdminError::storage(e, "remotes"))?.into_iter().map(|(spec, _)| spec).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_names_are_iam_like() {
        for ok in ["alice", "ops-team", "a.b@example", "x_1+2=3,4"] {
            assert!(check_user_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "with space", "slash/y", "ü", &"a".repeat(65)] {
            assert!(matches!(check_user_name(bad), Err(AdminError::Invalid(_))), "{bad}");
        }
    }

    #[test]
    fn generated_keys_look_like_aws_keys() {
        let (ak, sk) = generate_keys();
        assert!(ak.starts_with("CF") && ak.len() == 20 && ak.bytes().all(|b| KEY_ALPHABET.contains(&b) || b == b'F' || b == b'C'));
        assert_eq!(sk.len(), 40);
        assert_ne!(generate_keys().0, ak);
    }

    #[test]
    fn storage_errors_keep_their_kind() {
        assert!(matches!(AdminError::storage(StorageError::NoSuchUser, "bob"), AdminError::NotFound(m) if m == "no user called bob"));
        assert!(matches!(AdminError::storage(StorageError::UserOwnsBuckets(vec!["b1".into()]), "bob"), AdminError::Conflict(m) if m.contains("b1")));
        let missing = StorageError::Tier(TierError::Missing { kind: "tier", name: "cold".into() });
        assert!(matches!(AdminError::storage(missing, "cold"), AdminError::NotFound(_)));
        assert!(matches!(AdminError::storage(StorageError::Busy, "x"), AdminError::Unavailable(_)));
    }
}
