//! `coffer admin tier …` and `coffer admin remote …`: register, list and remove storage tiers
//! and the remote S3 endpoints they (and replication) use. Safe while the server runs: the
//! server picks changes up within seconds. A remote's secret key is stored sealed under the
//! master key, so the commands that touch remotes need it, as `coffer serve` does.

use crate::admin::{runtime, KeyedDir};
use crate::keys::secrets::{self, Secrets};
use crate::request::object_headers::STORAGE_CLASSES;
use coffer_storage::blob_store::LocalBlobs;
use coffer_storage::tiers::{RemoteSpec, TierKind, TierSpec};
use coffer_storage::Store;


async fn open(dir: &KeyedDir<'_>) -> Result<(Store, Secrets), String> {
    let secrets = dir.secrets()?;
    Ok((secrets::open_store(&dir.site(), &secrets).await?, secrets))
}

/// Registers a tier after checking it can be reached: a directory is created, a remote
/// bucket must answer.
pub fn add_tier(dir: KeyedDir<'_>, spec: TierSpec) -> Result<(), String> {
    for class in &spec.storage_classes {
        if !STORAGE_CLASSES.contains(&class.as_str()) {
            return Err(format!("{class} is not an S3 storage class (one of {})", STORAGE_CLASSES[1..].join(", ")));
        }
    }
    spec.validate()?;
    runtime()?.block_on(async {
        let (store, secrets) = open(&dir).await?;
        match &spec.kind {
            TierKind::Dir { path } => {
                if path.is_relative() {
                    return Err(format!("{}: give the tier's directory as an absolute path", path.display()));
                }
                LocalBlobs::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
            }
            TierKind::Remote { remote, bucket, .. } => {
                let remotes = store.remotes().await.map_err(|e| e.to_string())?;
                let (remote_spec, sealed) = remotes.iter().find(|(r, _)| r.name == *remote).ok_or_else(|| format!("no remote is named {remote:?}; add it with `coffer admin remote add`"))?;
                let secret = secrets.open_remote_secret(remote, sealed).map_err(|e| e.to_string())?;
                remote_spec.check_bucket(&secret, bucket).await?;
            }
        }
        store.add_tier(spec.clone()).await.map_err(|e| e.to_string())?;
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
    if !spec.endpoint.starts_with("http://") && !spec.endpoint.starts_with("https://") {
        return Err(format!("{}: the endpoint is a URL (http:// or https://)", spec.endpoint));
    }
    runtime()?.block_on(async {
        let (store, secrets) = open(&dir).await?;
        let sealed = secrets.seal_remote_secret(&spec.name, secret_key);
        store.add_remote(spec.clone(), sealed).await.map_err(|e| e.to_string())?;
        println!("remote {} added: {}", spec.name, spec.endpoint);
        Ok(())
    })
}

pub fn list_remotes(dir: KeyedDir<'_>, json: bool) -> Result<(), String> {
    runtime()?.block_on(async {
        let store = crate::admin::open_store(&dir.site())?;
        let specs: Vec<_> = store.remotes().await.map_err(|e| e.to_string())?.into_iter().map(|(spec, _)| spec).collect();
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
