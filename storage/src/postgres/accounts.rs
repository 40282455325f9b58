//! PostgreSQL's AccountIndex: users, their access keys and MFA devices (secrets only ever sealed).
//! Names and keys are claimed by unique constraints, so two nodes creating one user race fairly.

use super::{in_snapshot, transact, PgIndex};
use crate::error::{Result, StorageError};
use crate::meta::{AccountIndex, SealFn};
use crate::model::{AccessKey, User};
use crate::now_ms;
use crate::user_admin::{AccessKeyInfo, UserInfo, UserSummary};
use crate::users::{MfaDevice, UnsealedSecret};
use super::GenericClient;
use tokio_postgres::Row;

#[async_trait::async_trait]
impl AccountIndex for PgIndex {
    async fn create_user(&self, user: User, access_key: &str, sealed_secret: Vec<u8>) -> Result<User> {
        transact!(self, |tx| {
            let added = tx
                .execute("INSERT INTO users (id, name, created_ms) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING", &[&user.id, &user.name, &now_ms()])
                .await?;
            if added == 0 {
                return Err(StorageError::UserExists);
            }
            insert_key(&*tx, &user.id, access_key, &sealed_secret).await?;
            user.clone()
        })
    }

    async fn ensure_user_with_key(&self, name: &str, new_id: &str, access_key: &str, sealed_secret: Vec<u8>) -> Result<User> {
        transact!(self, |tx| {
            tx.execute("INSERT INTO users (id, name, created_ms) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING", &[&new_id, &name, &now_ms()])
                .await?;
            // FOR SHARE: the user cannot be deleted before the key is in.
            let user = user_by(&*tx, "name", name, " FOR SHARE").await?.ok_or(StorageError::NoSuchUser)?;
            let held = tx
                .execute(
                    "INSERT INTO access_keys (access_key, secret, sealed, user_id, created_ms) VALUES ($1, $2, TRUE, $3, $4)
                     ON CONFLICT (access_key) DO UPDATE SET secret = excluded.secret, sealed = TRUE
                     WHERE access_keys.user_id = excluded.user_id",
                    &[&access_key, &sealed_secret, &user.id, &now_ms()],
                )
                .await?;
            if held == 0 {
                return Err(StorageError::AccessKeyExists);
            }
            user
        })
    }

    async fn user_by_name(&self, name: &str) -> Result<Option<User>> {
        user_by(&*self.client().await?, "name", name, "").await
    }

    async fn user_by_id(&self, id: &str) -> Result<Option<User>> {
        user_by(&*self.client().await?, "id", id, "").await
    }

    async fn access_key(&self, access_key: &str) -> Result<Option<AccessKey>> {
        let row = self
            .client()
            .await?
            .query_opt(
                "SELECT k.secret, u.id, u.name FROM access_keys k JOIN users u ON u.id = k.user_id
                 WHERE k.access_key = $1 AND k.sealed AND k.enabled",
                &[&access_key],
            )
            .await?;
        Ok(row.map(|r| AccessKey { access_key: access_key.to_string(), sealed_secret: r.get(0), user: User { id: r.get(1), name: r.get(2) } }))
    }

    async fn enable_mfa(&self, name: &str, serial: &str, sealed_secret: Vec<u8>) -> Result<MfaDevice> {
        transact!(self, |tx| {
            // The user's row lock orders two registrations of its device.
            let user = user_by(&*tx, "name", name, " FOR UPDATE").await?.ok_or(StorageError::NoSuchUser)?;
            tx.execute("DELETE FROM mfa_devices WHERE user_id = $1", &[&user.id]).await?;
            tx.execute(
                "INSERT INTO mfa_devices (user_id, serial, secret, sealed, created_ms) VALUES ($1, $2, $3, TRUE, $4)",
                &[&user.id, &serial, &sealed_secret, &now_ms()],
            )
            .await?;
            MfaDevice { user_id: user.id, serial: serial.to_string(), sealed_secret: sealed_secret.clone() }
        })
    }

    async fn mfa_device(&self, serial: &str) -> Result<Option<MfaDevice>> {
        let row = self.client().await?.query_opt("SELECT user_id, serial, secret FROM mfa_devices WHERE serial = $1 AND sealed", &[&serial]).await?;
        Ok(row.map(|r| MfaDevice { user_id: r.get(0), serial: r.get(1), sealed_secret: r.get(2) }))
    }

    /// On PostgreSQL an UPDATE writes a new row version and leaves the old one, cleartext
    /// included, as a dead tuple in the table's pages (and in the WAL until it is recycled);
    /// there is no secure_delete. VACUUM (autovacuum, or a plain `VACUUM access_keys,
    /// mfa_devices` an operator runs) marks that space free for reuse, and later writes
    /// overwrite it, but nothing zeroes it at once. Coffer runs no VACUUM FULL (it locks the
    /// tables and needs their size again on disk): this seals the rows and leaves the dead
    /// versions to VACUUM.
    async fn seal_unsealed_secrets(&self, seal: SealFn) -> Result<usize> {
        // A Mutex makes the sealing function shareable by the transaction's future.
        let seal = std::sync::Mutex::new(seal);
        transact!(self, |tx| {
            let keys = tx.query("SELECT access_key, secret FROM access_keys WHERE NOT sealed FOR UPDATE", &[]).await?;
            let devices = tx.query("SELECT user_id, serial, secret FROM mfa_devices WHERE NOT sealed FOR UPDATE", &[]).await?;
            let (sealed_keys, sealed_devices) = {
                let seal = seal.lock().expect("the sealing function does not panic");
                let keys: Vec<(String, Vec<u8>)> = keys
                    .iter()
                    .map(|r| (r.get(0), seal(&UnsealedSecret::AccessKey { access_key: r.get(0), secret: r.get(1) })))
                    .collect();
                let devices: Vec<(String, Vec<u8>)> = devices
                    .iter()
                    .map(|r| (r.get(0), seal(&UnsealedSecret::Mfa { user_id: r.get(0), serial: r.get(1), secret: r.get(2) })))
                    .collect();
                (keys, devices)
            };
            for (access_key, sealed) in &sealed_keys {
                tx.execute("UPDATE access_keys SET secret = $2, sealed = TRUE WHERE access_key = $1", &[access_key, sealed]).await?;
            }
            for (user_id, sealed) in &sealed_devices {
                tx.execute("UPDATE mfa_devices SET secret = $2, sealed = TRUE WHERE user_id = $1", &[user_id, sealed]).await?;
            }
            sealed_keys.len() + sealed_devices.len()
        })
    }

    async fn list_users(&self) -> Result<Vec<UserSummary>> {
        let rows = self.client().await?.query(&format!("{SUMMARY_SELECT} ORDER BY u.name COLLATE \"C\""), &[]).await?;
        Ok(rows.iter().map(summary_from_row).collect())
    }

    async fn user_info(&self, name: &str) -> Result<UserInfo> {
        in_snapshot!(self, |tx| {
            let summary = tx.query_opt(&format!("{SUMMARY_SELECT} WHERE u.name = $1"), &[&name]).await?.ok_or(StorageError::NoSuchUser)?;
            let summary = summary_from_row(&summary);
            let bucket_names = owned_bucket_names(&*tx, &summary.id).await?;
            let mfa_serial = tx.query_opt("SELECT serial FROM mfa_devices WHERE user_id = $1", &[&summary.id]).await?.map(|r| r.get(0));
            UserInfo { access_keys: keys_of(&*tx, Some(name)).await?, summary, bucket_names, mfa_serial }
        })
    }

    /// The dead row versions of the deleted secrets stay until VACUUM reclaims them (see
    /// `seal_unsealed_secrets`).
    async fn delete_user(&self, name: &str) -> Result<()> {
        transact!(self, |tx| {
            // FOR UPDATE conflicts with the key share a new bucket's owner reference takes, so
            // no bucket appears for this user between the check and the delete.
            let user = user_by(&*tx, "name", name, " FOR UPDATE").await?.ok_or(StorageError::NoSuchUser)?;
            let buckets = owned_bucket_names(&*tx, &user.id).await?;
            if !buckets.is_empty() {
                return Err(StorageError::UserOwnsBuckets(buckets));
            }
            tx.execute("DELETE FROM access_keys WHERE user_id = $1", &[&user.id]).await?;
            tx.execute("DELETE FROM mfa_devices WHERE user_id = $1", &[&user.id]).await?;
            tx.execute("DELETE FROM users WHERE id = $1", &[&user.id]).await?;
        })
    }

    async fn add_access_key(&self, name: &str, access_key: &str, sealed_secret: Vec<u8>) -> Result<AccessKeyInfo> {
        transact!(self, |tx| {
            let user = user_by(&*tx, "name", name, " FOR SHARE").await?.ok_or(StorageError::NoSuchUser)?;
            insert_key(&*tx, &user.id, access_key, &sealed_secret).await?;
            key_info(&*tx, access_key).await?.ok_or(StorageError::NoSuchAccessKey)?
        })
    }

    async fn list_access_keys(&self, user: Option<&str>) -> Result<Vec<AccessKeyInfo>> {
        in_snapshot!(self, |tx| {
            if let Some(name) = user {
                user_by(&*tx, "name", name, "").await?.ok_or(StorageError::NoSuchUser)?;
            }
            keys_of(&*tx, user).await?
        })
    }

    async fn set_access_key_enabled(&self, access_key: &str, enabled: bool) -> Result<AccessKeyInfo> {
        let row = self
            .client()
            .await?
            .query_opt(
                "UPDATE access_keys k SET enabled = $2 FROM users u WHERE u.id = k.user_id AND k.access_key = $1
                 RETURNING k.access_key, u.name, k.enabled, k.created_ms",
                &[&access_key, &enabled],
            )
            .await?;
        row.as_ref().map(key_from_row).ok_or(StorageError::NoSuchAccessKey)
    }

    async fn delete_access_key(&self, access_key: &str) -> Result<()> {
        match self.client().await?.execute("DELETE FROM access_keys WHERE access_key = $1", &[&access_key]).await? {
            0 => Err(StorageError::NoSuchAccessKey),
            _ => Ok(()),
        }
    }
}

/// The user whose `column` ("id" or "name") is `value`, read with `lock` (a locking clause or "").
async fn user_by(c: &impl GenericClient, column: &str, value: &str, lock: &str) -> Result<Option<User>> {
    let row = c.query_opt(&format!("SELECT id, name FROM users WHERE {column} = $1{lock}"), &[&value]).await?;
    Ok(row.map(|r| User { id: r.get(0), name: r.get(1) }))
}

/// Names of the buckets the user with this id owns, by name.
async fn owned_bucket_names(c: &impl GenericClient, user_id: &str) -> Result<Vec<String>> {
    Ok(c.query("SELECT name FROM buckets WHERE owner_id = $1 ORDER BY name COLLATE \"C\"", &[&user_id]).await?.iter().map(|r| r.get(0)).collect())
}

/// Adds an enabled access key with a sealed secret to a user; `AccessKeyExists` if it is taken
/// (also by a concurrent transaction, which this one waits for).
async fn insert_key(c: &impl GenericClient, user_id: &str, access_key: &str, sealed_secret: &[u8]) -> Result<()> {
    let added = c
        .execute(
            "INSERT INTO access_keys (access_key, secret, sealed, user_id, created_ms) VALUES ($1, $2, TRUE, $3, $4)
             ON CONFLICT (access_key) DO NOTHING",
            &[&access_key, &sealed_secret, &user_id, &now_ms()],
        )
        .await?;
    if added == 0 {
        return Err(StorageError::AccessKeyExists);
    }
    Ok(())
}

const SUMMARY_SELECT: &str = "SELECT u.name, u.id, u.created_ms,
        (SELECT COUNT(*) FROM access_keys k WHERE k.user_id = u.id),
        (SELECT COUNT(*) FROM access_keys k WHERE k.user_id = u.id AND k.enabled),
        (SELECT COUNT(*) FROM buckets b WHERE b.owner_id = u.id)
     FROM users u";

fn summary_from_row(r: &Row) -> UserSummary {
    UserSummary {
        name: r.get(0),
        id: r.get(1),
        created_ms: r.get(2),
        keys: r.get::<_, i64>(3) as u64,
        enabled_keys: r.get::<_, i64>(4) as u64,
        buckets: r.get::<_, i64>(5) as u64,
    }
}

const KEY_SELECT: &str = "SELECT k.access_key, u.name, k.enabled, k.created_ms FROM access_keys k JOIN users u ON u.id = k.user_id";

fn key_from_row(r: &Row) -> AccessKeyInfo {
    AccessKeyInfo { access_key: r.get(0), user: r.get(1), enabled: r.get(2), created_ms: r.get(3) }
}

/// One access key without its secret.
async fn key_info(c: &impl GenericClient, access_key: &str) -> Result<Option<AccessKeyInfo>> {
    Ok(c.query_opt(&format!("{KEY_SELECT} WHERE k.access_key = $1"), &[&access_key]).await?.as_ref().map(key_from_row))
}

/// The keys of the user called `user` (by creation) or of everyone (by user name).
async fn keys_of(c: &impl GenericClient, user: Option<&str>) -> Result<Vec<AccessKeyInfo>> {
    let rows = match user {
        Some(name) => c.query(&format!("{KEY_SELECT} WHERE u.name = $1 ORDER BY k.created_ms, k.access_key COLLATE \"C\""), &[&name]).await?,
        None => c.query(&format!("{KEY_SELECT} ORDER BY u.name COLLATE \"C\", k.created_ms, k.access_key COLLATE \"C\""), &[]).await?,
    };
    Ok(rows.iter().map(key_from_row).collect())
}
