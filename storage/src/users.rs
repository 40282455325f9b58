//! Users, their access keys and MFA devices: the identities that own buckets and sign requests.
//! Secrets arrive sealed by the server and are stored as opaque bytes.

use crate::error::{Result, StorageError};
use crate::model::{AccessKey, User};
use crate::{now_ms, Store};
use rusqlite::{params, Connection, OptionalExtension};

impl Store {
    /// Creates a user with one access key, whose secret the caller has sealed. Fails if the
    /// name or the key is taken.
    pub async fn create_user(&self, name: &str, access_key: &str, sealed_secret: Vec<u8>) -> Result<User> {
        let (name, ak) = (name.to_string(), access_key.to_string());
        self.writer()
            .write(move |c| {
                let exists: bool = c.query_row("SELECT EXISTS(SELECT 1 FROM users WHERE name = ?1)", [&name], |r| r.get(0))?;
                if exists {
                    return Err(StorageError::UserExists);
                }
                let user = User { id: new_user_id(), name };
                c.execute("INSERT INTO users (id, name, created_ms) VALUES (?1, ?2, ?3)", params![user.id, user.name, now_ms()])?;
                insert_key(c, &user.id, &ak, &sealed_secret)?;
                Ok(user)
            })
            .await
    }

    /// Makes sure the user `name` exists and holds this access key with this (sealed) secret
    /// (used for the root user, whose keys may come from the environment). Returns the user.
    pub async fn ensure_user_with_key(&self, name: &str, access_key: &str, sealed_secret: Vec<u8>) -> Result<User> {
        let (name, ak) = (name.to_string(), access_key.to_string());
        self.writer()
            .write(move |c| {
                let user = match user_by_name(c, &name)? {
                    Some(u) => u,
                    None => {
                        let u = User { id: new_user_id(), name };
                        c.execute("INSERT INTO users (id, name, created_ms) VALUES (?1, ?2, ?3)", params![u.id, u.name, now_ms()])?;
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

    /// The user called `name`, if any.
    pub async fn user_by_name(&self, name: &str) -> Result<Option<User>> {
        let name = name.to_string();
        self.readers().read(move |c| user_by_name(c, &name)).await
    }

    /// Looks up an access key (on the calling thread: it is one indexed row). A disabled key,
    /// and one whose secret was never sealed (see `seal_unsealed_secrets`), is not found.
    pub fn access_key_blocking(&self, access_key: &str) -> Result<Option<AccessKey>> {
        self.readers().read_blocking(|c| {
            c.prepare_cached(
                "SELECT k.secret, u.id, u.name FROM access_keys k JOIN users u ON u.id = k.user_id
                 WHERE k.access_key = ?1 AND k.sealed = 1 AND k.enabled = 1",
            )?
            .query_row([access_key], |r| {
                Ok(AccessKey {
                    access_key: access_key.to_string(),
                    sealed_secret: r.get(0)?,
                    user: User { id: r.get(1)?, name: r.get(2)? },
                })
            })
            .optional()
            .map_err(Into::into)
        })
    }

    /// The user with this canonical id, if any.
    pub async fn user_by_id(&self, id: &str) -> Result<Option<User>> {
        let id = id.to_string();
        self.readers()
            .read(move |c| {
                c.query_row("SELECT id, name FROM users WHERE id = ?1", [&id], |r| Ok(User { id: r.get(0)?, name: r.get(1)? }))
                    .optional()
                    .map_err(Into::into)
            })
            .await
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
        let (name, serial) = (name.to_string(), serial.to_string());
        self.writer()
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

    /// The device with this serial number, if any (and if its secret is sealed).
    pub async fn mfa_device(&self, serial: &str) -> Result<Option<MfaDevice>> {
        let serial = serial.to_string();
        self.readers()
            .read(move |c| {
                Ok(c.query_row("SELECT user_id, serial, secret FROM mfa_devices WHERE serial = ?1 AND sealed = 1", [&serial], |r| {
                    Ok(MfaDevice { user_id: r.get(0)?, serial: r.get(1)?, sealed_secret: r.get(2)? })
                })
                .optional()?)
            })
            .await
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
        let sealed = self
            .writer()
            .write(move |c| {
                c.execute_batch("PRAGMA secure_delete = ON")?;
                let sealed = seal_rows(c, &seal);
                c.execute_batch("PRAGMA secure_delete = FAST")?;
                sealed
            })
            .await?;
        if sealed > 0 {
            self.truncate_wal().await?;
        }
        Ok(sealed)
    }

    /// Checkpoints the whole write-ahead log into the index file and truncates it to nothing.
    async fn truncate_wal(&self) -> Result<()> {
        let busy: i64 = self.readers().read(|c| Ok(c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))?)).await?;
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

fn user_by_name(c: &Connection, name: &str) -> Result<Option<User>> {
    Ok(c.query_row("SELECT id, name FROM users WHERE name = ?1", [name], |r| Ok(User { id: r.get(0)?, name: r.get(1)? }))
        .optional()?)
}

pub(crate) fn insert_key(c: &Connection, user_id: &str, ak: &str, sealed_secret: &[u8]) -> Result<()> {
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

/// Canonical user ids look like S3's: 64 hex digits.
fn new_user_id() -> String {
    let bytes: [u8; 32] = rand::random();
    hex::encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let c = Connection::open(root.join("index.sqlite")).unwrap();
        c.execute_batch("PRAGMA journal_mode = WAL").unwrap();
        crate::sqlite::schema::migrate_to(&c, 4).unwrap();
        c.execute("INSERT INTO users (id, name, created_ms) VALUES ('u1', 'root', 0)", []).unwrap();
        c.execute("INSERT INTO access_keys (access_key, secret_key, user_id, created_ms) VALUES ('AKOLD', ?1, 'u1', 0)", [OLD_SECRET])
            .unwrap();
        c.execute("INSERT INTO mfa_devices (user_id, serial, secret, created_ms) VALUES ('u1', 'mfa-root', ?1, 0)", [OLD_TOTP]).unwrap();
    }

    fn fake_seal(s: &UnsealedSecret<'_>) -> Vec<u8> {
        let (tag, secret) = match s {
            UnsealedSecret::AccessKey { access_key, secret } => (*access_key, *secret),
            UnsealedSecret::Mfa { serial, secret, .. } => (*serial, *secret),
        };
        let mut out = tag.as_bytes().to_vec();
        out.extend(secret.iter().map(|b| b ^ 0x5a));
        out
    }

    #[tokio::test]
    async fn secrets_from_before_sealing_are_sealed_once_and_their_cleartext_is_gone() {
        let dir = tempfile::tempdir().unwrap();
        legacy_index(dir.path());
        assert!(contains(&index_bytes(dir.path()), OLD_SECRET.as_bytes()));
        let store = Store::open(dir.path()).unwrap();
        // Unsealed rows are never handed out as if they were sealed.
        assert!(store.access_key_blocking("AKOLD").unwrap().is_none());
        assert!(store.mfa_device("mfa-root").await.unwrap().is_none());

        assert_eq!(store.seal_unsealed_secrets(fake_seal).await.unwrap(), 2);
        assert_eq!(store.seal_unsealed_secrets(fake_seal).await.unwrap(), 0);
        let key = store.access_key_blocking("AKOLD").unwrap().unwrap();
        assert_eq!(key.sealed_secret, fake_seal(&UnsealedSecret::AccessKey { access_key: "AKOLD", secret: OLD_SECRET.as_bytes() }));
        assert_eq!(key.user.name, "root");
        let device = store.mfa_device("mfa-root").await.unwrap().unwrap();
        assert_eq!(device.sealed_secret, fake_seal(&UnsealedSecret::Mfa { user_id: "u1", serial: "mfa-root", secret: OLD_TOTP }));
        let bytes = index_bytes(dir.path());
        assert!(!contains(&bytes, OLD_SECRET.as_bytes()), "the old secret key is still in the index files");
        assert!(!contains(&bytes, OLD_TOTP), "the old TOTP seed is still in the index files");
    }
}
