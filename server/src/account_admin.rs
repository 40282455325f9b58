//! `coffer admin user list|info|delete` and `coffer admin key create|list|disable|enable|delete`:
//! users and their access keys (several per user, so a key can be rotated out with no downtime).
//! Safe while the server runs; it sees key changes within a second.

use crate::admin::{runtime, KeyedDir};
use crate::admin_ops::{self, AdminError};
use crate::keys::secrets;
use crate::table::{self, Table};
use coffer_storage::{AccessKeyInfo, Store, StorageError, UserSummary};
use futures::future::BoxFuture;

/// What `coffer admin user` is asked to do (besides `create`).
pub enum UserAction {
    List,
    Info(String),
    Delete(String),
    /// Disable (false) or enable (true) every key of the user.
    SetEnabled(String, bool),
}

/// What `coffer admin key` is asked to do.
pub enum KeyAction {
    Create(String),
    List(Option<String>),
    Disable(String),
    Enable(String),
    Delete(String),
    /// A new key for the key's user, the old one disabled.
    Rotate(String),
}

fn open(dir: &KeyedDir<'_>) -> Result<Store, String> {
    crate::admin::open_store(&dir.site())
}

/// Storage errors as the admin commands word them.
fn explain(e: StorageError, subject: &str) -> String {
    AdminError::storage(e, subject).to_string()
}

fn users_table(users: &Vec<UserSummary>) -> String {
    let mut t = Table::new(&["NAME", "KEYS", "ENABLED KEYS", "BUCKETS", "CREATED", "ID"]);
    for u in users {
        t.row(vec![u.name.clone(), u.keys.to_string(), u.enabled_keys.to_string(), u.buckets.to_string(), table::time(u.created_ms), u.id.clone()]);
    }
    t.render()
}

fn keys_table(keys: &Vec<AccessKeyInfo>) -> String {
    let mut t = Table::new(&["ACCESS KEY", "USER", "STATUS", "CREATED"]);
    for k in keys {
        t.row(vec![k.access_key.clone(), k.user.clone(), status(k.enabled).to_string(), table::time(k.created_ms)]);
    }
    t.render()
}

fn status(enabled: bool) -> &'static str {
    if enabled {
        "enabled"
    } else {
        "disabled"
    }
}

pub fn user(dir: KeyedDir<'_>, action: UserAction, json: bool) -> Result<(), String> {
    let store = open(&dir)?;
    runtime()?.block_on(async {
        match action {
            UserAction::List => table::print(json, &store.list_users().await.map_err(|e| e.to_string())?, users_table),
            UserAction::Info(name) => {
                let info = store.user_info(&name).await.map_err(|e| explain(e, &name))?;
                table::print(json, &info, |i| {
                    let s = &i.summary;
                    let mut out = table::fields(&[
                        ("user", s.name.clone()),
                        ("user id", s.id.clone()),
                        ("created", table::time(s.created_ms)),
                        ("buckets", if i.bucket_names.is_empty() { "(none)".into() } else { i.bucket_names.join(", ") }),
                        ("mfa device", i.mfa_serial.clone().unwrap_or_else(|| "(none)".into())),
                    ]);
                    out.push('\n');
                    out + &keys_table(&i.access_keys)
                })
            }
            UserAction::Delete(name) => {
                admin_ops::delete_user(&store, &name).await?;
                table::print(json, &serde_json::json!({ "deleted": name }), |_| format!("user {name} deleted\n"))
            }
            UserAction::SetEnabled(name, enabled) => table::print(json, &admin_ops::set_user_enabled(&store, &name, enabled).await?, keys_table),
        }
    })
}

pub fn key(dir: KeyedDir<'_>, action: KeyAction, json: bool) -> Result<(), String> {
    let store = match action {
        KeyAction::Create(user) => return with_new_key(dir, json, |store, secrets| Box::pin(async move { admin_ops::create_key(store, secrets, &user).await })),
        KeyAction::Rotate(old) => return with_new_key(dir, json, |store, secrets| Box::pin(async move { admin_ops::rotate_key(store, secrets, &old).await })),
        _ => open(&dir)?,
    };
    runtime()?.block_on(async {
        match action {
            KeyAction::List(user) => {
                let keys = store.list_access_keys(user.as_deref()).await.map_err(|e| explain(e, user.as_deref().unwrap_or("")))?;
                table::print(json, &keys, keys_table)
            }
            KeyAction::Disable(ak) => set_enabled(&store, &ak, false, json).await,
            KeyAction::Enable(ak) => set_enabled(&store, &ak, true, json).await,
            KeyAction::Delete(ak) => {
                store.delete_access_key(&ak).await.map_err(|e| explain(e, &ak))?;
                table::print(json, &serde_json::json!({ "deleted": ak }), |_| format!("access key {ak} deleted\n"))
            }
            KeyAction::Create(_) | KeyAction::Rotate(_) => Ok(()),
        }
    })
}

async fn set_enabled(store: &Store, ak: &str, enabled: bool, json: bool) -> Result<(), String> {
    let key = store.set_access_key_enabled(ak, enabled).await.map_err(|e| explain(e, ak))?;
    table::print(json, &key, |k| format!("access key {} of {}: {}\n", k.access_key, k.user, status(k.enabled)))
}

/// Runs `make` (which makes a key, with the master key at hand to seal its secret) and prints
/// the new key with its secret, shown only now.
fn with_new_key(
    dir: KeyedDir<'_>,
    json: bool,
    make: impl for<'s> FnOnce(&'s Store, &'s secrets::Secrets) -> BoxFuture<'s, Result<admin_ops::NewKey, AdminError>>,
) -> Result<(), String> {
    let secrets = dir.secrets()?;
    runtime()?.block_on(async {
        let store = secrets::open_store(&dir.site(), &secrets).await?;
        let key = make(&store, &secrets).await?;
        table::print(json, &key, |k| table::fields(&[("user", k.user.clone()), ("access key", k.access_key.clone()), ("secret key", k.secret_key.clone())]))
    })
}
