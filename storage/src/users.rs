//! Users and their access keys: the identities that own buckets and sign requests.

use crate::error::{Result, StorageError};
use crate::model::{Credentials, User};
use crate::{now_ms, Store};
use rusqlite::{params, Connection, OptionalExtension};

impl Store {
    /// Creates a user with one access key. Fails if the name or the key is taken.
    pub async fn create_user(&self, name: &str, access_key: &str, secret_key: &str) -> Result<Credentials> {
        let (name, ak, sk) = (name.to_string(), access_key.to_string(), secret_key.to_string());
        self.writer()
            .write(move |c| {
                let exists: bool = c.query_row("SELECT EXISTS(SELECT 1 FROM users WHERE name = ?1)", [&name], |r| r.get(0))?;
                if exists {
                    return Err(StorageError::UserExists);
                }
                let user = User { id: new_user_id(), name };
                c.execute("INSERT INTO users (id, name, created_ms) VALUES (?1, ?2, ?3)", params![user.id, user.name, now_ms()])?;
                insert_key(c, &user.id, &ak, &sk)?;
                Ok(Credentials { access_key: ak, secret_key: sk, user })
            })
            .await
    }

    /// Makes sure the user `name` exists and holds exactly this key pair (used for the root user,
    /// whose keys may come from the environment). Returns the user.
    pub async fn ensure_user_with_key(&self, name: &str, access_key: &str, secret_key: &str) -> Result<User> {
        let (name, ak, sk) = (name.to_string(), access_key.to_string(), secret_key.to_string());
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
                        c.execute("UPDATE access_keys SET secret_key = ?2 WHERE access_key = ?1", params![ak, sk])?;
                    }
                    None => insert_key(c, &user.id, &ak, &sk)?,
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

    /// Looks up an access key (on the calling thread: it is one indexed row).
    pub fn credentials_blocking(&self, access_key: &str) -> Result<Option<Credentials>> {
        self.readers().read_blocking(|c| {
            c.prepare_cached(
                "SELECT k.secret_key, u.id, u.name FROM access_keys k JOIN users u ON u.id = k.user_id
                 WHERE k.access_key = ?1",
            )?
            .query_row([access_key], |r| {
                Ok(Credentials {
                    access_key: access_key.to_string(),
                    secret_key: r.get(0)?,
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

/// A registered TOTP device.
#[derive(Clone, Debug)]
pub struct MfaDevice {
    pub user_id: String,
    pub serial: String,
    pub secret: Vec<u8>,
}

impl Store {
    /// Registers a new TOTP device for the user called `name`, replacing any earlier one.
    pub async fn enable_mfa(&self, name: &str, serial: &str, secret: Vec<u8>) -> Result<MfaDevice> {
        let (name, serial) = (name.to_string(), serial.to_string());
        self.writer()
            .write(move |c| {
                let user = user_by_name(c, &name)?.ok_or(StorageError::NoSuchUser)?;
                c.execute("DELETE FROM mfa_devices WHERE user_id = ?1", [&user.id])?;
                c.execute(
                    "INSERT INTO mfa_devices (user_id, serial, secret, created_ms) VALUES (?1, ?2, ?3, ?4)",
                    params![user.id, serial, secret, now_ms()],
                )?;
                Ok(MfaDevice { user_id: user.id, serial, secret })
            })
            .await
    }

    /// The device with this serial number, if any.
    pub async fn mfa_device(&self, serial: &str) -> Result<Option<MfaDevice>> {
        let serial = serial.to_string();
        self.readers()
            .read(move |c| {
                Ok(c.query_row("SELECT user_id, serial, secret FROM mfa_devices WHERE serial = ?1", [&serial], |r| {
                    Ok(MfaDevice { user_id: r.get(0)?, serial: r.get(1)?, secret: r.get(2)? })
                })
                .optional()?)
            })
            .await
    }
}

fn user_by_name(c: &Connection, name: &str) -> Result<Option<User>> {
    Ok(c.query_row("SELECT id, name FROM users WHERE name = ?1", [name], |r| Ok(User { id: r.get(0)?, name: r.get(1)? }))
        .optional()?)
}

fn insert_key(c: &Connection, user_id: &str, ak: &str, sk: &str) -> Result<()> {
    let taken: bool = c.query_row("SELECT EXISTS(SELECT 1 FROM access_keys WHERE access_key = ?1)", [ak], |r| r.get(0))?;
    if taken {
        return Err(StorageError::AccessKeyExists);
    }
    c.execute(
        "INSERT INTO access_keys (access_key, secret_key, user_id, created_ms) VALUES (?1, ?2, ?3, ?4)",
        params![ak, sk, user_id, now_ms()],
    )?;
    Ok(())
}

/// Canonical user ids look like S3's: 64 hex digits.
fn new_user_id() -> String {
    let bytes: [u8; 32] = rand::random();
    hex::encode(bytes)
}
