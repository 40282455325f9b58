//! SQLite's AccountIndex: users, their access keys and MFA devices (secrets only ever sealed).

use super::SqliteIndex;
use crate::error::{Result, StorageError};
use crate::meta::{AccountIndex, SealFn};
use crate::model::{AccessKey, User};
use crate::now_ms;
use crate::user_admin::{AccessKeyInfo, UserInfo, UserSummary};
use crate::users::{MfaDevice, UnsealedSecret};
use rusqlite::{params, Connection, OptionalExtension};

#[async_trait::async_trait]
impl AccountIndex for SqliteIndex {
    async fn create_user(&self, user: User, access_key: &str, sealed_secret: Vec<u8>) -> Result<User> {
        let ak = access_key.to_string();
        self.writer
            .write(move |c| {
                let exists: bool = c.query_row("SELECT EXISTS(SELECT 1 FROM users WHERE name = ?1)", [&user.name], |r| r.get(0))?;
                if exists {
                    return Err(StorageError::UserExists);
                }
                insert_user(c, &user)?;
                insert_key(c, &user.id, &ak, &sealed_secret)?;
                Ok(user)
            })
            .await
    }

    async fn ensure_user_with_key(&self, name: &str, new_id: &str, access_key: &str, sealed_secret: Vec<u8>) -> Result<User> {
        let (name, new_id, ak) = (name.to_string(), new_id.to_string(), access_key.to_string());
        self.writer
            .write(move |c| {
                let user = match user_by_name(c, &name)? {
                    Some(u) => u,
                    None => {
                        let u = User { id: new_id, name };
                        insert_user(c, &u)?;
                        u
                    }
                };
                let owner: Option<String> =
                    c.query_row("SELECT user_id FROM access_keys WHERE access_key = ?1", [&ak], |r| r.get(0)).optional()?;
                match owner {
                    Some(o) if o != user.id => return Err(StorageError::AccessKeyExists),
                    Some(_) => {
                        c.execute("UPDATE access_keys SET secret = ?2, sealed = 1 WHERE access_key = ?1", params![ak, sealed_secret])?;
                    }
                    None => insert_key(c, &user.id, &ak, &sealed_secret)?,
                }
                Ok(user)
            })
            .await
    }

    async fn user_by_name(&self, name: &str) -> Result<Option<User>> {
        let name = name.to_string();
        self.readers.read(move |c| user_by_name(c, &name)).await
    }

    async fn user_by_id(&self, id: &str) -> Result<Option<User>> {
        let id = id.to_string();
        self.readers
            .read(move |c| {
                c.query_row("SELECT id, name FROM users WHERE id = ?1", [&id], |r| Ok(User { id: r.get(0)?, name: r.get(1)? }))
                    .optional()
                    .map_err(Into::into)
            })
            .await
    }

    async fn access_key(&self, access_key: &str) -> Result<Option<AccessKey>> {
        let access_key = access_key.to_string();
        self.readers.read(move |c| {
            c.prepare_cached(
                "SELECT k.secret, u.id, u.name FROM access_keys k JOIN users u ON u.id = k.user_id
                 WHERE k.access_key = ?1 AND k.sealed = 1 AND k.enabled = 1",
            )?
            .query_row([&access_key], |r| {
                Ok(AccessKey {
                    access_key: access_key.clone(),
                    sealed_secret: r.get(0)?,
                    user: User { id: r.get(1)?, name: r.get(2)? },
                })
            })
            .optional()
            .map_err(Into::into)
        })
        .await
    }

    async fn enable_mfa(&self, name: &str, serial: &str, sealed_secret: Vec<u8>) -> Result<MfaDevice> {
        let (name, serial) = (name.to_string(), serial.to_string());
        self.writer
            .write(move |c| {
                let user = user_by_name(c, &name)?.ok_or(StorageError::NoSuchUser)?;
                c.execute("DELETE FROM mfa_devices WHERE user_id = ?1", [&user.id])?;
                c.execute(
                    "INSERT INTO mfa_devices (user_id, serial, secret, sealed, created_ms) VALUES (?1, ?2, ?3, 1, ?4)",
                    params![user.id, serial, sealed_secret, now_ms()],
                )?;
                Ok(MfaDevice { user_id: user.id, serial, sealed_secret })
            })
            .await
    }

    async fn mfa_device(&self, serial: &str) -> Result<Option<MfaDevice>> {
        let serial = serial.to_string();
        self.readers
            .read(move |c| {
                Ok(c.query_row("SELECT user_id, serial, secret FROM mfa_devices WHERE serial = ?1 AND sealed = 1", [&serial], |r| {
                    Ok(MfaDevice { user_id: r.get(0)?, serial: r.get(1)?, sealed_secret: r.get(2)? })
                })
                .optional()?)
            })
            .await
    }

    async fn seal_unsealed_secrets(&self, seal: SealFn) -> Result<usize> {
        let sealed = self
            .writer
            .write(move |c| {
                c.execute_batch("PRAGMA secure_delete = ON")?;
                let sealed = seal_rows(c, &*seal);
                c.execute_batch("PRAGMA secure_delete = FAST")?;
                sealed
            })
            .await?;
        if sealed > 0 {
            self.truncate_wal().await?;
        }
        Ok(sealed)
    }

    async fn list_users(&self) -> Result<Vec<UserSummary>> {
        self.readers
            .read(|c| Ok(c.prepare(&format!("{SUMMARY_SELECT} ORDER BY u.name"))?.query_map([], summary_from_row)?.collect::<rusqlite::Result<_>>()?))
            .await
    }

    async fn user_info(&self, name: &str) -> Result<UserInfo> {
        let name = name.to_string();
        self.readers
            .read(move |c| {
                let summary = c
                    .query_row(&format!("{SUMMARY_SELECT} WHERE u.name = ?1"), [&name], summary_from_row)
                    .optional()?
                    .ok_or(StorageError::NoSuchUser)?;
                let bucket_names = owned_bucket_names(c, &summary.id)?;
                let mfa_serial = c.query_row("SELECT serial FROM mfa_devices WHERE user_id = ?1", [&summary.id], |r| r.get(0)).optional()?;
                Ok(UserInfo { access_keys: keys_of(c, Some(&name))?, summary, bucket_names, mfa_serial })
            })
            .await
    }

    async fn delete_user(&self, name: &str) -> Result<()> {
        let name = name.to_string();
        self.writer
            .write(move |c| {
                let id = user_id(c, &name)?;
                let buckets = owned_bucket_names(c, &id)?;
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

    async fn add_access_key(&self, name: &str, access_key: &str, sealed_secret: Vec<u8>) -> Result<AccessKeyInfo> {
        let (name, ak) = (name.to_string(), access_key.to_string());
        self.writer
            .write(move |c| {
                let id = user_id(c, &name)?;
                insert_key(c, &id, &ak, &sealed_secret)?;
                key_info(c, &ak)
            })
            .await
    }

    async fn list_access_keys(&self, user: Option<&str>) -> Result<Vec<AccessKeyInfo>> {
        let user = user.map(str::to_string);
        self.readers
            .read(move |c| {
                if let Some(name) = &user {
                    user_id(c, name)?;
                }
                keys_of(c, user.as_deref())
            })
            .await
    }

    async fn set_access_key_enabled(&self, access_key: &str, enabled: bool) -> Result<AccessKeyInfo> {
        let ak = access_key.to_string();
        self.writer
            .write(move |c| {
                if c.execute("UPDATE access_keys SET enabled = ?2 WHERE access_key = ?1", params![ak, enabled])? == 0 {
                    return Err(StorageError::NoSuchAccessKey);
                }
                key_info(c, &ak)
            })
            .await
    }

    async fn delete_access_key(&self, access_key: &str) -> Result<()> {
        let ak = access_key.to_string();
        self.writer
            .write(move |c| match c.execute("DELETE FROM access_keys WHERE access_key = ?1", [&ak])? {
                0 => Err(StorageError::NoSuchAccessKey),
                _ => Ok(()),
            })
            .await
    }
}

impl SqliteIndex {
    /// Checkpoints the whole write-ahead log into the index file and truncates it to nothing.
    async fn truncate_wal(&self) -> Result<()> {
        let busy: i64 = self.readers.read(|c| Ok(c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))?)).await?;
        if busy != 0 {
            tracing::warn!("the index's write-ahead log could not be truncated now (busy); old pages stay in it until a later checkpoint");
        }
        Ok(())
    }
}

fn seal_rows(c: &Connection, seal: &dyn Fn(&UnsealedSecret<'_>) -> Vec<u8>) -> Result<usize> {
    let keys: Vec<(String, Vec<u8>)> = c
        .prepare("SELECT access_key, secret FROM access_keys WHERE sealed = 0")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    for (access_key, secret) in &keys {
        let sealed = seal(&UnsealedSecret::AccessKey { access_key, secret });
        c.execute("UPDATE access_keys SET secret = ?2, sealed = 1 WHERE access_key = ?1", params![access_key, sealed])?;
    }
    let devices: Vec<(String, String, Vec<u8>)> = c
        .prepare("SELECT user_id, serial, secret FROM mfa_devices WHERE sealed = 0")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<rusqlite::Result<_>>()?;
    for (user_id, serial, secret) in &devices {
        let sealed = seal(&UnsealedSecret::Mfa { user_id, serial, secret });
        c.execute("UPDATE mfa_devices SET secret = ?2, sealed = 1 WHERE user_id = ?1", params![user_id, sealed])?;
    }
    Ok(keys.len() + devices.len())
}

fn insert_user(c: &Connection, user: &User) -> Result<()> {
    c.execute("INSERT INTO users (id, name, created_ms) VALUES (?1, ?2, ?3)", params![user.id, user.name, now_ms()])?;
    Ok(())
}

fn user_by_name(c: &Connection, name: &str) -> Result<Option<User>> {
    Ok(c.query_row("SELECT id, name FROM users WHERE name = ?1", [name], |r| Ok(User { id: r.get(0)?, name: r.get(1)? }))
        .optional()?)
}

/// The id of the user called `name`, or `NoSuchUser`.
fn user_id(c: &Connection, name: &str) -> Result<String> {
    c.query_row("SELECT id FROM users WHERE name = ?1", [name], |r| r.get(0)).optional()?.ok_or(StorageError::NoSuchUser)
}

/// Names of the buckets the user with this id owns, by name.
fn owned_bucket_names(c: &Connection, user_id: &str) -> Result<Vec<String>> {
    Ok(c.prepare("SELECT name FROM buckets WHERE owner_id = ?1 ORDER BY name")?.query_map([user_id], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?)
}

/// Adds an enabled access key with a sealed secret to a user; `AccessKeyExists` if it is taken.
fn insert_key(c: &Connection, user_id: &str, ak: &str, sealed_secret: &[u8]) -> Result<()> {
    let taken: bool = c.query_row("SELECT EXISTS(SELECT 1 FROM access_keys WHERE access_key = ?1)", [ak], |r| r.get(0))?;
    if taken {
        return Err(StorageError::AccessKeyExists);
    }
    c.execute(
        "INSERT INTO access_keys (access_key, secret, sealed, user_id, created_ms) VALUES (?1, ?2, 1, ?3, ?4)",
        params![ak, sealed_secret, user_id, now_ms()],
    )?;
    Ok(())
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

/// One access key without its secret.
fn key_info(c: &Connection, ak: &str) -> Result<AccessKeyInfo> {
    Ok(c.query_row(&format!("{KEY_SELECT} WHERE k.access_key = ?1"), [ak], key_from_row)?)
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

#[cfg(test)]
mod tests {
    use crate::testutil::fake_seal;
    use crate::users::UnsealedSecret;
    use crate::Store;

    const OLD_SECRET: &str = "OLD-PLAINTEXT-SECRET-KEY-0123456789abcdef";
    const OLD_TOTP: &[u8] = b"OLD-TOTP-SEED-BYTES!";

    /// The index file and its write-ahead log, as one byte string.
    fn index_bytes(root: &std::path::Path) -> Vec<u8> {
        let mut out = std::fs::read(root.join("index.sqlite")).unwrap();
        out.extend(std::fs::read(root.join("index.sqlite-wal")).unwrap_or_default());
        out
    }

    fn contains(hay: &[u8], needle: &[u8]) -> bool {
        hay.windows(needle.len()).any(|w| w == needle)
    }

    /// An index as Coffer wrote it before secrets were sealed: migration 4, secrets in the clear.
    fn legacy_index(root: &std::path::Path) {
        let c = rusqlite::Connection::open(root.join("index.sqlite")).unwrap();
        c.execute_batch("PRAGMA journal_mode = WAL").unwrap();
        crate::sqlite::schema::migrate_to(&c, 4).unwrap();
        c.execute("INSERT INTO users (id, name, created_ms) VALUES ('u1', 'root', 0)", []).unwrap();
        c.execute("INSERT INTO access_keys (access_key, secret_key, user_id, created_ms) VALUES ('AKOLD', ?1, 'u1', 0)", [OLD_SECRET])
            .unwrap();
        c.execute("INSERT INTO mfa_devices (user_id, serial, secret, created_ms) VALUES ('u1', 'mfa-root', ?1, 0)", [OLD_TOTP]).unwrap();
    }

    #[tokio::test]
    async fn secrets_from_before_sealing_are_sealed_once_and_their_cleartext_is_gone() {
        let dir = tempfile::tempdir().unwrap();
        legacy_index(dir.path());
        assert!(contains(&index_bytes(dir.path()), OLD_SECRET.as_bytes()));
        let store = Store::open(dir.path()).unwrap();
        // Unsealed rows are never handed out as if they were sealed.
        assert!(store.access_key("AKOLD").await.unwrap().is_none());
        assert!(store.mfa_device("mfa-root").await.unwrap().is_none());

        assert_eq!(store.seal_unsealed_secrets(fake_seal).await.unwrap(), 2);
        assert_eq!(store.seal_unsealed_secrets(fake_seal).await.unwrap(), 0);
        let key = store.access_key("AKOLD").await.unwrap().unwrap();
        assert_eq!(key.sealed_secret, fake_seal(&UnsealedSecret::AccessKey { access_key: "AKOLD", secret: OLD_SECRET.as_bytes() }));
        assert_eq!(key.user.name, "root");
        let device = store.mfa_device("mfa-root").await.unwrap().unwrap();
        assert_eq!(device.sealed_secret, fake_seal(&UnsealedSecret::Mfa { user_id: "u1", serial: "mfa-root", secret: OLD_TOTP }));
        let bytes = index_bytes(dir.path());
        assert!(!contains(&bytes, OLD_SECRET.as_bytes()), "the old secret key is still in the index files");
        assert!(!contains(&bytes, OLD_TOTP), "the old TOTP seed is still in the index files");
    }
}
