//! Users, their access keys and MFA devices (secrets only ever sealed).
//! The contract a metadata store implements for them; `crate::sqlite::accounts` is SQLite's.

use crate::error::Result;
use crate::model::{AccessKey, User};
use crate::user_admin::{AccessKeyInfo, UserInfo, UserSummary};
use crate::users::{MfaDevice, UnsealedSecret};

/// Seals one secret an older Coffer stored in the clear (the server's master key does it).
pub type SealFn = Box<dyn Fn(&UnsealedSecret<'_>) -> Vec<u8> + Send>;

#[async_trait::async_trait]
pub trait AccountIndex {
    /// Creates `user` (a fresh id and its name) holding one access key with this sealed secret,
    /// all or nothing. `UserExists` if the name is taken, `AccessKeyExists` if the key is.
    async fn create_user(&self, user: User, access_key: &str, sealed_secret: Vec<u8>) -> Result<User>;

    /// Makes sure the user `name` exists (created with id `new_id` if not) and holds
    /// `access_key` with this sealed secret (replacing the key's secret if the user already
    /// holds it), all or nothing. `AccessKeyExists` if another user holds the key.
    async fn ensure_user_with_key(&self, name: &str, new_id: &str, access_key: &str, sealed_secret: Vec<u8>) -> Result<User>;

    /// The user called `name`, if any.
    async fn user_by_name(&self, name: &str) -> Result<Option<User>>;

    /// The user with this canonical id, if any.
    async fn user_by_id(&self, id: &str) -> Result<Option<User>>;

    /// An enabled access key whose secret is sealed, with its user; None for any other key.
    /// One indexed lookup (the server's credential cache asks on a miss).
    async fn access_key(&self, access_key: &str) -> Result<Option<AccessKey>>;

    /// Registers the TOTP device of the user called `name`, replacing any earlier one, in one
    /// step. `NoSuchUser` if there is no such user.
    async fn enable_mfa(&self, name: &str, serial: &str, sealed_secret: Vec<u8>) -> Result<MfaDevice>;

    /// The device with this serial number, if any and if its secret is sealed.
    async fn mfa_device(&self, serial: &str) -> Result<Option<MfaDevice>>;

    /// Replaces every secret still stored in the clear with `seal(secret)`, all in one
    /// transaction, and overwrites whatever held the cleartext where the store can (deleted
    /// cells, logs). Returns how many secrets were sealed.
    async fn seal_unsealed_secrets(&self, seal: SealFn) -> Result<usize>;

    /// Every user with its key and bucket counts, by name.
    async fn list_users(&self) -> Result<Vec<UserSummary>>;

    /// One user with its keys, bucket names and MFA serial, read together. `NoSuchUser`.
    async fn user_info(&self, name: &str) -> Result<UserInfo>;

    /// Deletes a user with its keys and MFA device, overwriting their secrets where the store
    /// can; all or nothing. `NoSuchUser`; `UserOwnsBuckets` (with their names) while it owns any.
    async fn delete_user(&self, name: &str) -> Result<()>;

    /// Adds an enabled access key with this sealed secret to the user called `name`.
    /// `NoSuchUser`, `AccessKeyExists`.
    async fn add_access_key(&self, name: &str, access_key: &str, sealed_secret: Vec<u8>) -> Result<AccessKeyInfo>;

    /// The access keys of the user called `user` (by creation) or of everyone (by user name),
    /// without secrets. `NoSuchUser` for an unknown user.
    async fn list_access_keys(&self, user: Option<&str>) -> Result<Vec<AccessKeyInfo>>;

    /// Enables or disables an access key and returns it. `NoSuchAccessKey`.
    async fn set_access_key_enabled(&self, access_key: &str, enabled: bool) -> Result<AccessKeyInfo>;

    /// Deletes an access key and its sealed secret. `NoSuchAccessKey`.
    async fn delete_access_key(&self, access_key: &str) -> Result<()>;
}
