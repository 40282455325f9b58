//! Administrative commands and credential helpers: users, MFA devices, KMS keys and the consistency
//! check (also while the server runs, through the index's own locking and the keyring's lock file) and the root user's keys.
//! Commands that store or read secrets take the master key, as the server does: secrets are sealed.

use crate::keys::secrets::{self, Secrets};
use crate::keys::{kms, master_key};
use coffer_storage::{Metadata, Store, StorageError};

pub(crate) use coffer_storage::ROOT_USER;
pub use crate::admin_ops::generate_keys;
pub use crate::admin_site::{sqlite_data_dir, KeyedDir};
pub(crate) use crate::admin_site::{open_store, runtime};

pub fn create_user(dir: KeyedDir<'_>, name: &str, access_key: Option<String>, secret_key: Option<String>, json: bool) -> Result<(), String> {
    let secrets = dir.secrets()?;
    runtime()?.block_on(async {
        let store = secrets::open_store(&dir.site(), &secrets).await?;
        let new = crate::admin_ops::create_user(&store, &secrets, name, access_key, secret_key).await?;
        crate::table::print(json, &new, |n| format!("user: {}\nuser id: {}\naccess key: {}\nsecret key: {}\n", n.user, n.user_id, n.access_key, n.secret_key))
    })
}

/// Registers a TOTP device for `name` and prints its serial, secret and otpauth URL.
pub fn enable_mfa(dir: KeyedDir<'_>, name: &str) -> Result<(), String> {
    let secret = coffer_crypto::totp::new_secret();
    let serial = format!("coffer-mfa-{name}");
    let secrets = dir.secrets()?;
    runtime()?.block_on(async {
        let store = secrets::open_store(&dir.site(), &secrets).await?;
        let user = store.user_by_name(name).await.map_err(|e| e.to_string())?.ok_or_else(|| format!("no user called {name}"))?;
        match store.enable_mfa(name, &serial, secrets.seal_totp_secret(&user.id, &serial, &secret)).await {
            Ok(device) => {
                let b32 = coffer_crypto::totp::secret_base32(&secret);
                println!("user: {name}\nserial: {}\nsecret: {b32}", device.serial);
                println!("otpauth URL: otpauth://totp/Coffer:{name}?secret={b32}&issuer=Coffer&algorithm=SHA1&digits=6&period=30");
                println!("send as: x-amz-mfa: {} <6-digit code>", device.serial);
                Ok(())
            }
            Err(StorageError::NoSuchUser) => Err(format!("no user called {name}")),
            Err(e) => Err(e.to_string()),
        }
    })
}

/// What `coffer admin kms` is asked to do.
pub enum KmsAction {
    Create(String),
    List,
    Rotate(String),
    Disable(String),
    Enable(String),
}

/// Runs a `coffer admin kms` command on the keyring of `data_dir`, with the master key from
/// COFFER_MASTER_KEY, else `master_key_file`, else the data dir (as `coffer serve` does).
pub fn kms(dir: KeyedDir<'_>, region: &str, action: KmsAction, json: bool) -> Result<(), String> {
    let master = master_key::load(&dir.site(), dir.master_key_file)?;
    let runtime = runtime()?;
    let home = match dir.metadata {
        // Only a shared index keeps the keyring; a data dir's file needs no store opened.
        Metadata::DataDir => kms::Home::in_data_dir(dir.data_dir),
        Metadata::Postgres(_) => kms::Home::Index(runtime.block_on(secrets::open_store(&dir.site(), &Secrets::new(master.clone())))?),
    };
    let keyring = kms::open(home, master, region)?;
    match action {
        KmsAction::Create(name) => {
            let key = keyring.create(&name)?;
            println!("name: {}\nid: {}\narn: {}\nversion: {}", key.name, key.id, key.arn, key.version);
        }
        KmsAction::List => crate::table::print(json, &keyring.list()?, |keys| keys_table(keys))?,
        KmsAction::Rotate(name) => {
            let key = keyring.rotate(&name)?;
            println!("{}: rotated to version {} (id {})", key.name, key.version, key.id);
        }
        KmsAction::Disable(name) => {
            let key = keyring.set_enabled(&name, false)?;
            println!("{}: disabled (id {})", key.name, key.id);
        }
        KmsAction::Enable(name) => {
            let key = keyring.set_enabled(&name, true)?;
            println!("{}: enabled (id {})", key.name, key.id);
        }
    }
    Ok(())
}

/// Runs `coffer admin check` on the store of `dir` (either index) and prints its report (as
/// JSON if asked); fails while problems remain.
pub fn check(dir: KeyedDir<'_>, options: &coffer_storage::check::CheckOptions, json: bool) -> Result<(), String> {
    // A multi-threaded runtime: a remote blob store's blocking calls wait on it from here.
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().map_err(|e| e.to_string())?;
    let (store, blobs) = runtime.block_on(crate::blob_setup::for_check(&dir))?;
    let report = coffer_storage::check::check(&dir.site(), &*blobs, options).map_err(|e| e.to_string())?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?);
    } else {
        println!("{report}");
        // What the scrubber and verified reads found and recorded, as `scrub status` shows it.
        let recorded = runtime.block_on(store.corrupt_blobs()).map_err(|e| e.to_string())?;
        println!("recorded corrupt blobs (scrubber, verified reads): {}", recorded.len());
        for blob in recorded {
            println!("  {}  found by {}", blob.hash, blob.source);
        }
    }
    match report.problems() {
        0 => Ok(()),
        n => Err(format!("{n} problems remain")),
    }
}

fn keys_table(keys: &[kms::KeySummary]) -> String {
    let mut table = crate::table::Table::new(&["NAME", "ID", "ENABLED", "VERSION", "CREATED"]);
    for k in keys {
        let enabled = if k.enabled { "yes" } else { "no" };
        table.row(vec![k.name.clone(), k.id.clone(), enabled.to_string(), k.version.to_string(), k.created.clone()]);
    }
    table.render()
}

/// Makes sure the root user exists with usable keys: the ones in the environment when set,
/// otherwise the stored ones, otherwise new ones that are printed this once.
pub async fn ensure_root(store: &Store, secrets: &Secrets) -> Result<(), String> {
    let env_ak = std::env::var("COFFER_ROOT_ACCESS_KEY").ok().filter(|s| !s.is_empty());
    let env_sk = std::env::var("COFFER_ROOT_SECRET_KEY").ok().filter(|s| !s.is_empty());
    match (env_ak, env_sk) {
        (Some(ak), Some(sk)) => {
            let sealed = secrets.seal_access_secret(&ak, &sk);
            store.ensure_user_with_key(ROOT_USER, &ak, sealed).await.map_err(|e| format!("setting root keys: {e}"))?;
            Ok(())
        }
        (None, None) => {
            if store.user_by_name(ROOT_USER).await.map_err(|e| e.to_string())?.is_some() {
                return Ok(());
            }
            let (ak, sk) = generate_keys();
            store.create_user(ROOT_USER, &ak, secrets.seal_access_secret(&ak, &sk)).await.map_err(|e| e.to_string())?;
            eprintln!("Generated root credentials (shown only now; they are kept in the data dir):");
            eprintln!("  access key: {ak}");
            eprintln!("  secret key: {sk}");
            Ok(())
        }
        _ => Err("set both COFFER_ROOT_ACCESS_KEY and COFFER_ROOT_SECRET_KEY, or neither".into()),
    }
}
