//! The storage tiers the server uses: those registered in the index (`coffer admin tier add`,
//! changeable while the server runs) and those of the configuration file's `[[tier]]` tables,
//! built into the storage layer's `TierSet` with each remote's secret opened in memory.

use crate::keys::secrets::Secrets;
use coffer_storage::blob_store::{BlobStore, LocalBlobs, S3Blobs};
use coffer_storage::tiers::{RemoteSpec, Tier, TierKind, TierSet, TierSpec};
use coffer_storage::Store;
use std::collections::HashMap;
use std::sync::Arc;

/// What the tiers were built from, to tell when they need building again.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TierSources {
    pub specs: Vec<TierSpec>,
    pub remotes: Vec<(RemoteSpec, Vec<u8>)>,
}

impl TierSources {
    /// The registered tiers and remotes, after the configured tiers (a registered tier with a
    /// configured tier's name is ignored, with a warning).
    pub async fn read(store: &Store, configured: &[TierSpec]) -> Result<TierSources, String> {
        let mut specs = configured.to_vec();
        for spec in store.tier_specs().await.map_err(|e| e.to_string())? {
            match specs.iter().any(|c| c.name == spec.name) {
                true => tracing::warn!(tier = %spec.name, "a tier of the configuration file has this name; the registered one is ignored"),
                false => specs.push(spec),
            }
        }
        Ok(TierSources { specs, remotes: store.remotes().await.map_err(|e| e.to_string())? })
    }

    /// Builds the tiers (call from inside the runtime: remote tiers keep its handle).
    /// A tier that cannot be set up is left out, and its error returned with the set.
    pub fn build(&self, secrets: &Secrets) -> (TierSet, Vec<String>) {
        let remotes: HashMap<&str, &(RemoteSpec, Vec<u8>)> = self.remotes.iter().map(|r| (r.0.name.as_str(), r)).collect();
        let mut tiers = Vec::new();
        let mut errors = Vec::new();
        for spec in &self.specs {
            match backend(spec, &remotes, secrets) {
                Ok(backend) => tiers.push(Tier { spec: spec.clone(), backend }),
                Err(e) => errors.push(format!("tier {}: {e}", spec.name)),
            }
        }
        (TierSet::new(tiers), errors)
    }
}

fn backend(spec: &TierSpec, remotes: &HashMap<&str, &(RemoteSpec, Vec<u8>)>, secrets: &Secrets) -> Result<Arc<dyn BlobStore>, String> {
    spec.validate()?;
    blob_store(&spec.kind, remotes, secrets)
}

/// The blob store of a directory, or of a bucket on a registered remote (whose secret is
/// opened with `secrets`). Call from inside the runtime: a remote store keeps its handle.
pub fn blob_store(kind: &TierKind, remotes: &HashMap<&str, &(RemoteSpec, Vec<u8>)>, secrets: &Secrets) -> Result<Arc<dyn BlobStore>, String> {
    match kind {
        TierKind::Dir { path } => Ok(Arc::new(LocalBlobs::open(path).map_err(|e| format!("{}: {e}", path.display()))?)),
        TierKind::Remote { remote, bucket, prefix } => {
            let (remote_spec, sealed) = remotes.get(remote.as_str()).ok_or_else(|| format!("no remote is named {remote:?}"))?;
            let secret = secrets.open_remote_secret(remote, sealed).map_err(|e| format!("remote {remote}: {e}"))?;
            let client = remote_spec.client(&secret);
            Ok(Arc::new(S3Blobs::new(client, bucket, prefix, tokio::runtime::Handle::current())))
        }
    }
}

/// Reads and builds the tiers and puts them in use; returns what they were built from.
pub async fn install(store: &Store, secrets: &Secrets, configured: &[TierSpec]) -> Result<TierSources, String> {
    let sources = TierSources::read(store, configured).await?;
    let (set, errors) = sources.build(secrets);
    for e in errors {
        tracing::error!("{e}; versions on it cannot be read or moved until this is fixed");
    }
    let names: Vec<String> = set.iter().map(|t| t.spec.name.clone()).collect();
    if !names.is_empty() {
        tracing::info!(tiers = ?names, "storage tiers in use");
    }
    store.set_tiers(set);
    Ok(sources)
}
