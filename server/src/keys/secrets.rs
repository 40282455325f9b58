//! Secrets the index keeps for the server (access keys' secret keys, TOTP seeds): sealed under
//! the master key and bound to their row before they are stored, opened again only in memory.

use coffer_crypto::envelope::{open_value, seal_value, Key256, OpenError};
use coffer_storage::{AccessKey, Metadata, MfaDevice, Site, Store, UnsealedSecret};
use zeroize::Zeroizing;

const ACCESS_KEY_CONTEXT: &[u8] = b"coffer access key secret";
const TOTP_CONTEXT: &[u8] = b"coffer totp secret";
const REMOTE_CONTEXT: &[u8] = b"coffer remote secret";
const NOTIFY_CONTEXT: &[u8] = b"coffer notification target secret";

/// Why a stored secret could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("the sealed secret does not open with this master key (or was altered)")]
    Sealed(#[from] OpenError),
    #[error("the secret key is not UTF-8")]
    NotText,
}

/// Seals and opens stored secrets with the master key.
#[derive(Clone)]
pub struct Secrets {
    master: Key256,
}

/// The context a secret is bound to: its kind and the ids of its row, so a sealed value
/// moved to another row (or kind) no longer opens.
fn context(kind: &[u8], ids: &[&str]) -> Vec<u8> {
    let mut out = kind.to_vec();
    for id in ids {
        out.push(0);
        out.extend_from_slice(id.as_bytes());
    }
    out
}

impl Secrets {
    pub fn new(master: Key256) -> Secrets {
        Secrets { master }
    }

    pub fn seal_access_secret(&self, access_key: &str, secret: &str) -> Vec<u8> {
        seal_value(&self.master, secret.as_bytes(), &context(ACCESS_KEY_CONTEXT, &[access_key]))
    }

    /// The secret key of a stored access key, in the clear.
    pub fn open_access_secret(&self, key: &AccessKey) -> Result<String, SecretError> {
        let plain = open_value(&self.master, &key.sealed_secret, &context(ACCESS_KEY_CONTEXT, &[&key.access_key]))?;
        String::from_utf8(plain.to_vec()).map_err(|_| SecretError::NotText)
    }

    pub fn seal_totp_secret(&self, user_id: &str, serial: &str, secret: &[u8]) -> Vec<u8> {
        seal_value(&self.master, secret, &context(TOTP_CONTEXT, &[user_id, serial]))
    }

    /// The TOTP seed of a stored device, in the clear.
    pub fn open_totp_secret(&self, device: &MfaDevice) -> Result<Zeroizing<Vec<u8>>, SecretError> {
        Ok(open_value(&self.master, &device.sealed_secret, &context(TOTP_CONTEXT, &[&device.user_id, &device.serial]))?)
    }

    /// Seals the secret key of remote `name` (a registered S3 endpoint).
    pub fn seal_remote_secret(&self, name: &str, secret: &str) -> Vec<u8> {
        seal_value(&self.master, secret.as_bytes(), &context(REMOTE_CONTEXT, &[name]))
    }

    /// The secret key of remote `name`, in the clear.
    pub fn open_remote_secret(&self, name: &str, sealed: &[u8]) -> Result<Zeroizing<String>, SecretError> {
        let plain = open_value(&self.master, sealed, &context(REMOTE_CONTEXT, &[name]))?;
        String::from_utf8(plain.to_vec()).map(Zeroizing::new).map_err(|_| SecretError::NotText)
    }

    /// Seals the secret of notification target `name` (a webhook's token, an AMQP URL).
    pub fn seal_notify_secret(&self, name: &str, secret: &str) -> Vec<u8> {
        seal_value(&self.master, secret.as_bytes(), &context(NOTIFY_CONTEXT, &[name]))
    }

    /// The secret of notification target `name`, in the clear.
    pub fn open_notify_secret(&self, name: &str, sealed: &[u8]) -> Result<Zeroizing<String>, SecretError> {
        let plain = open_value(&self.master, sealed, &context(NOTIFY_CONTEXT, &[name]))?;
        String::from_utf8(plain.to_vec()).map(Zeroizing::new).map_err(|_| SecretError::NotText)
    }

    fn seal_unsealed(&self, secret: &UnsealedSecret<'_>) -> Vec<u8> {
        match *secret {
            UnsealedSecret::AccessKey { access_key, secret } => {
                seal_value(&self.master, secret, &context(ACCESS_KEY_CONTEXT, &[access_key]))
            }
            UnsealedSecret::Mfa { user_id, serial, secret } => self.seal_totp_secret(user_id, serial, secret),
        }
    }
}

/// Opens the store of `site` and seals the secrets an older Coffer stored there in the clear
/// (once: later opens find none). A store whose index other nodes share must have been used
/// with this master key, or with none yet (see `master_key::check_recorded`).
pub async fn open_store(site: &Site, secrets: &Secrets) -> Result<Store, String> {
    let store = crate::admin_site::open_store(site)?;
    if site.metadata != Metadata::DataDir {
        super::master_key::check_recorded(&store, &secrets.master).await?;
    }
    let sealer = secrets.clone();
    let sealed = store
        .seal_unsealed_secrets(move |s| sealer.seal_unsealed(s))
        .await
        .map_err(|e| format!("sealing the stored secrets: {e}"))?;
    if sealed > 0 {
        tracing::info!("sealed {sealed} secrets (access keys, TOTP seeds) that were stored in the clear under the master key");
    }
    Ok(store)
}

impl crate::admin_site::KeyedDir<'_> {
    /// Loads the master key (COFFER_MASTER_KEY, else the key file, as `coffer serve` does).
    pub(crate) fn secrets(&self) -> Result<Secrets, String> {
        Ok(Secrets::new(super::master_key::load(&self.site(), self.master_key_file)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use coffer_storage::User;

    #[test]
    fn sealed_secrets_open_only_in_their_own_row() {
        let secrets = Secrets::new(Key256::generate());
        let user = User { id: "u1".into(), name: "alice".into() };
        let key = AccessKey { access_key: "AK1".into(), sealed_secret: secrets.seal_access_secret("AK1", "s3cret-key"), user };
        assert_eq!(secrets.open_access_secret(&key).unwrap(), "s3cret-key");
        let moved = AccessKey { access_key: "AK2".into(), ..key.clone() };
        assert!(secrets.open_access_secret(&moved).is_err());
        assert!(Secrets::new(Key256::generate()).open_access_secret(&key).is_err());

        let device = MfaDevice { user_id: "u1".into(), serial: "mfa-1".into(), sealed_secret: secrets.seal_totp_secret("u1", "mfa-1", b"seed") };
        assert_eq!(secrets.open_totp_secret(&device).unwrap().as_slice(), b"seed");
        let other_user = MfaDevice { user_id: "u2".into(), ..device.clone() };
        assert!(secrets.open_totp_secret(&other_user).is_err());
        // An access key's sealed secret is not a TOTP seed, even with matching ids.
        let crossed = MfaDevice { user_id: "AK1".into(), serial: String::new(), sealed_secret: key.sealed_secret.clone() };
        assert!(secrets.open_totp_secret(&crossed).is_err());
        // A remote's secret is not a notification target's of the same name.
        let token = secrets.seal_notify_secret("hook", "token");
        assert_eq!(secrets.open_notify_secret("hook", &token).unwrap().as_str(), "token");
        assert!(secrets.open_remote_secret("hook", &token).is_err() && secrets.open_notify_secret("other", &token).is_err());
    }

    #[tokio::test]
    async fn secrets_round_trip_through_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let secrets = Secrets::new(Key256::generate());
        let store = open_store(&Site::data_dir(dir.path()), &secrets).await.unwrap();
        store.create_user("bob", "AKBOB", secrets.seal_access_secret("AKBOB", "bob-secret")).await.unwrap();
        let key = store.access_key("AKBOB").await.unwrap().unwrap();
        assert_eq!(secrets.open_access_secret(&key).unwrap(), "bob-secret");
    }
}
