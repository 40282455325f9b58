//! `coffer admin tier …` and `coffer admin remote …`: register, list and remove storage tiers
//! and the remote S3 endpoints they (and replication) use. Safe while the server runs: the
//! server picks changes up within seconds. A remote's secret key is stored sealed under the
//! master key, so the commands that touch remotes need it, as `coffer serve` does.

use crate::admin::{runtime, KeyedDir};
use crate::keys::secrets::{self, Secrets};
use coffer_storage::tiers::{RemoteSpec, TierKind, TierSpec};
use coffer_storage::Store;


async fn open(dir: &KeyedDir<'_>) -> Result<(Store, Secrets), String> {
    let secrets = dir.secrets()?;
    Ok((secrets::open_store(&dir.site(), &secrets).await?, secrets))
}

/// Registers a tier after checking it can be reached: a directory is created, a remote
/// bucket must answer.
pub fn add_tier(dir: KeyedDir<'_>, spec: TierSpec) -> Result<(), String> {
    runtime()?.block_on(async {
        let (store, secrets) = open(&dir).await?;
        crate::admin_ops::add_tier(&store, &secrets, &spec).await?;
        println!("tier {} added: storage classes {}", spec.name, spec.storage_classes.join(", "));
        Ok(())
    })
}

pub fn list_tiers(dir: KeyedDir<'_>, json: bool) -> Result<(), String> {
    runtime()?.block_on(async {
        let store = crate::admin::open_store(&dir.site())?;
        let specs = store.tier_specs().await.map_err(|e| e.to_string())?;
        crate::table::print(json, &specs, |specs| {
            let mut out = String::new();
            for spec in specs {
                let place = match &spec.kind {
                    TierKind::Dir { path } => format!("dir {}", path.display()),
                    TierKind::Remote { remote, bucket, prefix } => format!("remote {remote} bucket {bucket} prefix {prefix:?}"),
                };
                let archive = if spec.archive { " (archive)" } else { "" };
                out += &format!("{}\t{}\t{place}{archive}\n", spec.name, spec.storage_classes.join(","));
            }
            out
        })
    })
}

pub fn remove_tier(dir: KeyedDir<'_>, name: &str) -> Result<(), String> {
    runtime()?.block_on(async {
        let store = crate::admin::open_store(&dir.site())?;
        store.remove_tier(name).await.map_err(|e| e.to_string())?;
        println!("tier {name} removed");
        Ok(())
    })
}

pub fn add_remote(dir: KeyedDir<'_>, spec: RemoteSpec, secret_key: &str) -> Result<(), String> {
    runtime()?.block_on(async {
        let (store, secrets) = open(&dir).await?;
        crate::admin_ops::add_remote(&store, &secrets, &spec, secret_key).await?;
        println!("remote {} added: {}", spec.name, spec.endpoint);
        Ok(())
    })
}

pub fn list_remotes(dir: KeyedDir<'_>, json: bool) -> Result<(), String> {
    runtime()?.block_on(async {
        let store = crate::admin::open_store(&dir.site())?;
        let specs = crate::admin_ops::remotes(&store).await?;
        crate::table::print(json, &specs, |specs| {
            specs.iter().map(|s| format!("{}\t{}\tregion {}\taccess key {}\n", s.name, s.endpoint, s.region, s.access_key)).collect()
        })
    })
}

pub fn remove_remote(dir: KeyedDir<'_>, name: &str) -> Result<(), String> {
    runtime()?.block_on(async {
        let store = crate::admin::open_store(&dir.site())?;
        store.remove_remote(name).await.map_err(|e| e.to_string())?;
        println!("remote {name} removed");
        Ok(())
    })
}
