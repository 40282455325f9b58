//! Users, their access keys and MFA devices: the identities that own buckets and sign requests.
//! Secrets arrive sealed by the server and are stored as opaque bytes.

use crate::error::Result;
use crate::model::{AccessKey, User};
use crate::Store;

/// The user a site's root keys belong to (`coffer serve` creates it): the only one who may
/// manage users, keys and the server over HTTP, or read /metrics with S3 credentials.
pub const ROOT_USER: &str = "root";

impl Store {
    /// Creates a user with one access key, whose secret the caller has sealed. Fails if the
    /// name or the key is taken.
    pub async fn create_user(&self, name: &str, access_key: &str, sealed_secret: Vec<u8>) -> Result<User> {
        let user = User { id: new_user_id(), name: name.to_string() };
        self.index().create_user(user, access_key, sealed_secret).await
    }

    /// Makes sure the user `name` exists and holds this access key with this (sealed) secret
    /// (used for the root user, whose keys may come from the environment). Returns the user.
    pub async fn ensure_user_with_key(&self, name: &str, access_key: &str, sealed_secret: Vec<u8>) -> Result<User> {
        self.index().ensure_user_with_key(name, &new_user_id(), access_key, sealed_secret).await
    }

    /// The user called `name`, if any.
    pub async fn user_by_name(&self, name: &str) -> Result<Option<User>> {
        self.index().user_by_name(name).await
    }

    /// Looks up an access key (one indexed row). A disabled key, and one whose secret was never
    /// sealed (see `seal_unsealed_secrets`), is not found.
    pub async fn access_key(&self, access_key: &str) -> Result<Option<AccessKey>> {
        self.index().access_key(access_key).await
    }

    /// The user with this canonical id, if any.
    pub async fn user_by_id(&self, id: &str) -> Result<Option<User>> {
        self.index().user_by_id(id).await
    }
}

/// A registered TOTP device; its secret was sealed by the caller and is opaque here.
#[derive(Clone, Debug)]
pub struct MfaDevice {
    pub user_id: String,
    pub serial: String,
    pub sealed_secret: Vec<u8>,
}

impl Store {
    /// Registers a new TOTP device for the user called `name`, replacing any earlier one.
    pub async fn enable_mfa(&self, name: &str, serial: &str, sealed_secret: Vec<u8>) -> Result<MfaDevice> {
        self.index().enable_mfa(name, serial, sealed_secret).await
    }

    /// The device with this serial number, if any (and if its secret is sealed).
    pub async fn mfa_device(&self, serial: &str) -> Result<Option<MfaDevice>> {
        self.index().mfa_device(serial).await
    }
}

/// A secret stored in the clear by an older Coffer, as handed to the sealing function.
#[derive(Debug)]
pub enum UnsealedSecret<'a> {
    AccessKey { access_key: &'a str, secret: &'a [u8] },
    Mfa { user_id: &'a str, serial: &'a str, secret: &'a [u8] },
}

impl Store {
    /// Replaces every secret still stored in the clear with `seal(secret)`, in one
    /// transaction, then overwrites what held the cleartext (the old cells with zeros, the
    /// write-ahead log by truncating it). Returns how many secrets were sealed.
    pub async fn seal_unsealed_secrets<F>(&self, seal: F) -> Result<usize>
    where
        F: Fn(&UnsealedSecret<'_>) -> Vec<u8> + Send + 'static,
    {
        self.index().seal_unsealed_secrets(Box::new(seal)).await
    }
}

/// Canonical user ids look like S3's: 64 hex digits.
fn new_user_id() -> String {
    let bytes: [u8; 32] = rand::random();
    hex::encode(bytes)
}
