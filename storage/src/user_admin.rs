//! What the admin commands do to users beyond creating them: list, inspect and delete them,
//! and manage their access keys (several per user, each enabled or disabled, for rotation).

use crate::error::{Result, StorageError};
use crate::Store;
use rusqlite::{params, Connection, OptionalExtension};
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

const SUMMARY_SELECT: &str = "SELECT u.name, u.id, u.created_ms,
        (SELECT COUNT(*) FROM access_keys k WHERE k.user_id = u.id),
        (SELECT COUNT(*) FROM access_keys k WHERE k.user_id = u.id AND k.enabled = 1),
        (SELECT COUNT(*) FROM buckets b WHERE b.owner_id = u.id)
     FROM users u";

fn summary_from_row(r: &rusqlite::Row) -> rusqlite::Result<UserSummary> {
    Ok(UserSummary {
        name: r.get(0)?,
        id: r.get(1)?,
        created_ms: r.get(2)?,
        keys: r.get::<_, i64>(3)? as u64,
        enabled_keys: r.get::<_, i64>(4)? as u64,
        buckets: r.get::<_, i64>(5)? as u64,
    })
}

const KEY_SELECT: &str = "SELECT k.access_key, u.name, k.enabled, k.created_ms FROM access_keys k JOIN users u ON u.id = k.user_id";

fn key_from_row(r: &rusqlite::Row) -> rusqlite::Result<AccessKeyInfo> {
    Ok(AccessKeyInfo { access_key: r.get(0)?, user: r.get(1)?, enabled: r.get(2)?, created_ms: r.get(3)? })
}

fn keys_of(c: &Connection, user: Option<&str>) -> Result<Vec<AccessKeyInfo>> {
    let rows = match user {
        Some(name) => c
            .prepare(&format!("{KEY_SELECT} WHERE u.name = ?1 ORDER BY k.created_ms, k.access_key"))?
            .query_map([name], key_from_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?,
        None => c
            .prepare(&format!("{KEY_SELECT} ORDER BY u.name, k.created_ms, k.access_key"))?
            .query_map([], key_from_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?,
    };
    Ok(rows)
}

fn user_id(c: &Connection, name: &str) -> Result<String> {
    c.query_row("SELECT id FROM users WHERE name = ?1", [name], |r| r.get(0)).optional()?.ok_or(StorageError::NoSuchUser)
}

impl Store {
    /// Every user, by name.
    pub async fn list_users(&self) -> Result<Vec<UserSummary>> {
        self.readers()
            .read(|c| Ok(c.prepare(&format!("{SUMMARY_SELECT} ORDER BY u.name"))?.query_map([], summary_from_row)?.collect::<rusqlite::Result<_>>()?))
            .await
    }

    /// One user with its keys, buckets and MFA device.
    pub async fn user_info(&self, name: &str) -> Result<UserInfo> {
        let name = name.to_string();
        self.readers()
            .read(move |c| {
                let summary = c
                    .query_row(&format!("{SUMMARY_SELECT} WHERE u.name = ?1"), [&name], summary_from_row)
                    .optional()?
                    .ok_or(StorageError::NoSuchUser)?;
                let bucket_names = c
                    .prepare("SELECT name FROM buckets WHERE owner_id = ?1 ORDER BY name")?
                    .query_map([&summary.id], |r| r.get(0))?
                    .collect::<rusqlite::Result<_>>()?;
                let mfa_serial = c.query_row("SELECT serial FROM mfa_devices WHERE user_id = ?1", [&summary.id], |r| r.get(0)).optional()?;
                Ok(UserInfo { access_keys: keys_of(c, Some(&name))?, summary, bucket_names, mfa_serial })
            })
            .await
    }

    /// Deletes a user with its keys and MFA device; refused (`UserOwnsBuckets`) while the
    /// user owns a bucket.
    pub async fn delete_user(&self, name: &str) -> Result<()> {
        let name = name.to_string();
        self.writer()
            .write(move |c| {
                let id = user_id(c, &name)?;
                let buckets: Vec<String> =
                    c.prepare("SELECT name FROM buckets WHERE owner_id = ?1 ORDER BY name")?.query_map([&id], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?;
                if !buckets.is_empty() {
                    return Err(StorageError::UserOwnsBuckets(buckets));
                }
                c.execute_batch("PRAGMA secure_delete = ON")?;
                let deleted = (|| -> Result<()> {
                    c.execute("DELETE FROM access_keys WHERE user_id = ?1", [&id])?;
                    c.execute("DELETE FROM mfa_devices WHERE user_id = ?1", [&id])?;
                    c.execute("DELETE FROM users WHERE id = ?1", [&id])?;
                    Ok(())
                })();
                c.execute_batch("PRAGMA secure_delete = FAST")?;
                deleted
            })
            .await
    }

    /// Adds an access key (its secret sealed by the caller) to the user called `name`.
    pub async fn add_access_key(&self, name: &str, access_key: &str, sealed_secret: Vec<u8>) -> Result<AccessKeyInfo> {
        let (name, ak) = (name.to_string(), access_key.to_string());
        self.writer()
            .write(move |c| {
                let id = user_id(c, &name)?;
                crate::users::insert_key(c, &id, &ak, &sealed_secret)?;
                Ok(c.query_row(&format!("{KEY_SELECT} WHERE k.access_key = ?1"), [&ak], key_from_row)?)
            })
            .await
    }

    /// The access keys of one user (by name) or of everyone, without their secrets.
    pub async fn list_access_keys(&self, user: Option<&str>) -> Result<Vec<AccessKeyInfo>> {
        let user = user.map(str::to_string);
        self.readers()
            .read(move |c| {
                if let Some(name) = &user {
                    user_id(c, name)?;
                }
                keys_of(c, user.as_deref())
            })
            .await
    }

    /// Enables or disables an access key. A disabled key signs nothing: the server stops
    /// taking it within a second (see the server's credentials cache).
    pub async fn set_access_key_enabled(&self, access_key: &str, enabled: bool) -> Result<AccessKeyInfo> {
        let ak = access_key.to_string();
        self.writer()
            .write(move |c| {
                if c.execute("UPDATE access_keys SET enabled = ?2 WHERE access_key = ?1", params![ak, enabled])? == 0 {
                    return Err(StorageError::NoSuchAccessKey);
                }
                Ok(c.query_row(&format!("{KEY_SELECT} WHERE k.access_key = ?1"), [&ak], key_from_row)?)
            })
            .await
    }

    /// Deletes an access key and its sealed secret.
    pub async fn delete_access_key(&self, access_key: &str) -> Result<()> {
        let ak = access_key.to_string();
        self.writer()
            .write(move |c| match c.execute("DELETE FROM access_keys WHERE access_key = ?1", [&ak])? {
                0 => Err(StorageError::NoSuchAccessKey),
                _ => Ok(()),
            })
            .await
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
        assert!(t.store.access_key_blocking("AKBOB1").unwrap().is_none(), "a disabled key signs nothing");
        assert_eq!(t.store.access_key_blocking("AKBOB2").unwrap().unwrap().user.name, "bob");
        t.store.set_access_key_enabled("AKBOB1", true).await.unwrap();
        assert!(t.store.access_key_blocking("AKBOB1").unwrap().is_some());
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
        assert!(t.store.access_key_blocking("AKBOB2").unwrap().is_none());
        assert!(matches!(t.store.user_info("bob").await, Err(StorageError::NoSuchUser)));
    }
}
