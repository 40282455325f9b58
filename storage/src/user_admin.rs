//! What the admin commands do to users beyond creating them: list, inspect and delete them,
//! and manage their access keys (several per user, each enabled or disabled, for rotation).

use crate::error::Result;
use crate::Store;
use serde::Serialize;

/// A user as `coffer admin user list` shows it.
#[derive(Clone, Debug, Serialize)]
pub struct UserSummary {
    pub name: String,
    pub id: String,
    pub created_ms: i64,
    /// Access keys, and how many of them are enabled.
    pub keys: u64,
    pub enabled_keys: u64,
    pub buckets: u64,
}

/// An access key without its secret.
#[derive(Clone, Debug, Serialize)]
pub struct AccessKeyInfo {
    pub access_key: String,
    pub user: String,
    pub enabled: bool,
    pub created_ms: i64,
}

/// A user as `coffer admin user info` shows it.
#[derive(Clone, Debug, Serialize)]
pub struct UserInfo {
    #[serde(flatten)]
    pub summary: UserSummary,
    pub access_keys: Vec<AccessKeyInfo>,
    pub bucket_names: Vec<String>,
    /// The serial of the user's MFA device, if one is registered.
    pub mfa_serial: Option<String>,
}

impl Store {
    /// Every user, by name.
    pub async fn list_users(&self) -> Result<Vec<UserSummary>> {
        self.index().list_users().await
    }

    /// One user with its keys, buckets and MFA device.
    pub async fn user_info(&self, name: &str) -> Result<UserInfo> {
        self.index().user_info(name).await
    }

    /// Deletes a user with its keys and MFA device; refused (`UserOwnsBuckets`) while the
    /// user owns a bucket.
    pub async fn delete_user(&self, name: &str) -> Result<()> {
        self.index().delete_user(name).await
    }

    /// Adds an access key (its secret sealed by the caller) to the user called `name`.
    pub async fn add_access_key(&self, name: &str, access_key: &str, sealed_secret: Vec<u8>) -> Result<AccessKeyInfo> {
        self.index().add_access_key(name, access_key, sealed_secret).await
    }

    /// The access keys of one user (by name) or of everyone, without their secrets.
    pub async fn list_access_keys(&self, user: Option<&str>) -> Result<Vec<AccessKeyInfo>> {
        self.index().list_access_keys(user).await
    }

    /// Enables or disables an access key. A disabled key signs nothing: the server stops
    /// taking it within a second (see the server's credentials cache).
    pub async fn set_access_key_enabled(&self, access_key: &str, enabled: bool) -> Result<AccessKeyInfo> {
        self.index().set_access_key_enabled(access_key, enabled).await
    }

    /// Deletes an access key and its sealed secret.
    pub async fn delete_access_key(&self, access_key: &str) -> Result<()> {
        self.index().delete_access_key(access_key).await
    }
}

#[cfg(test)]
mod tests {
    use crate::testutil::*;
    use crate::StorageError;

    #[tokio::test]
    async fn keys_rotate_and_users_with_buckets_stay() {
        let t = store().await;
        let bob = t.store.create_user("bob", "AKBOB1", b"s1".to_vec()).await.unwrap();
        t.store.add_access_key("bob", "AKBOB2", b"s2".to_vec()).await.unwrap();
        assert!(matches!(t.store.add_access_key("bob", "AK", b"x".to_vec()).await, Err(StorageError::AccessKeyExists)));
        assert_eq!(t.store.list_access_keys(Some("bob")).await.unwrap().len(), 2);
        assert_eq!(t.store.list_access_keys(None).await.unwrap().len(), 3);
        let off = t.store.set_access_key_enabled("AKBOB1", false).await.unwrap();
        assert!(!off.enabled);
        assert!(t.store.access_key("AKBOB1").await.unwrap().is_none(), "a disabled key signs nothing");
        assert_eq!(t.store.access_key("AKBOB2").await.unwrap().unwrap().user.name, "bob");
        t.store.set_access_key_enabled("AKBOB1", true).await.unwrap();
        assert!(t.store.access_key("AKBOB1").await.unwrap().is_some());
        t.store.delete_access_key("AKBOB1").await.unwrap();
        assert!(matches!(t.store.delete_access_key("AKBOB1").await, Err(StorageError::NoSuchAccessKey)));
        let users = t.store.list_users().await.unwrap();
        assert_eq!(users.iter().map(|u| (u.name.as_str(), u.keys)).collect::<Vec<_>>(), [("bob", 1), ("root", 1)]);

        t.store.create_bucket(&bob, "bobs", "us-east-1").await.unwrap();
        let info = t.store.user_info("bob").await.unwrap();
        assert_eq!((info.bucket_names, info.access_keys.len()), (vec!["bobs".to_string()], 1));
        assert!(matches!(t.store.delete_user("bob").await, Err(StorageError::UserOwnsBuckets(b)) if b == ["bobs"]));
        t.store.delete_bucket("bobs").await.unwrap();
        t.store.delete_user("bob").await.unwrap();
        assert!(t.store.access_key("AKBOB2").await.unwrap().is_none());
        assert!(matches!(t.store.user_info("bob").await, Err(StorageError::NoSuchUser)));
    }
}
