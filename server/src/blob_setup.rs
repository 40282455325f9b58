//! The blob store a data dir uses: the one its index records, or, for a data dir without
//! blobs yet, the one `--blobs` names (the data dir itself, a shared directory, or a bucket
//! on a registered remote), put in use before anything reads or writes a blob.

use crate::admin_site::KeyedDir;
use crate::keys::secrets::Secrets;
use crate::tier_set::blob_store;
use coffer_storage::blob_store::{BlobLocation, BlobStore};
use coffer_storage::tiers::TierKind;
use coffer_storage::{Metadata, Store};
use std::collections::HashMap;
use std::sync::Arc;

/// Puts the store's blob store in use: `wanted` (recorded for next time), or what the index
/// records. Refuses a `wanted` place other than the one the existing blobs are in.
pub async fn install(store: Store, secrets: &Secrets, wanted: Option<&BlobLocation>) -> Result<Store, String> {
    let location = match wanted {
        Some(wanted) => match store.record_blob_location(wanted).await.map_err(|e| e.to_string())? {
            Ok(()) => wanted.clone(),
            Err(recorded) => {
                return Err(format!("this data dir keeps its blobs in {recorded}, not {wanted}; start it with --blobs {recorded} (or leave --blobs out)"))
            }
        },
        None => store.recorded_blob_location().await.map_err(|e| e.to_string())?.unwrap_or_default(),
    };
    let Some(blobs) = build(&store, secrets, &location).await? else { return Ok(store) };
    tracing::info!(blobs = %blobs.location(), "blobs kept in {location}");
    store.use_blob_store(blobs).map_err(|e| e.to_string())
}

/// The blob store of `location` (None for the data dir's own, which the store opens itself).
async fn build(store: &Store, secrets: &Secrets, location: &BlobLocation) -> Result<Option<Arc<dyn BlobStore>>, String> {
    let kind = match location {
        BlobLocation::DataDir => return Ok(None),
        BlobLocation::Dir { path } => TierKind::Dir { path: path.clone() },
        BlobLocation::S3 { remote, bucket, prefix } => TierKind::Remote { remote: remote.clone(), bucket: bucket.clone(), prefix: prefix.clone() },
    };
    let remotes = store.remotes().await.map_err(|e| e.to_string())?;
    if let TierKind::Remote { remote, bucket, .. } = &kind {
        let (spec, sealed) = remotes.iter().find(|(r, _)| &r.name == remote).ok_or_else(|| format!("blobs: no remote is named {remote:?} (add it with `coffer admin remote add`)"))?;
        let secret = secrets.open_remote_secret(remote, sealed).map_err(|e| format!("remote {remote}: {e}"))?;
        spec.check_bucket(&secret, bucket).await.map_err(|e| format!("blobs: {e}"))?;
    }
    let by_name: HashMap<&str, _> = remotes.iter().map(|r| (r.0.name.as_str(), r)).collect();
    blob_store(&kind, &by_name, secrets).map(Some)
}

/// The store of `dir` and its blob store, for `coffer admin check` (which reads the index on
/// its own): the data dir's own blobs need no master key, a shared directory's or a remote's
/// open with it.
pub async fn for_check(dir: &KeyedDir<'_>) -> Result<(Store, Arc<dyn BlobStore>), String> {
    let site = dir.site();
    let index = site.data_dir.join("index.sqlite");
    if site.metadata == Metadata::DataDir && !index.is_file() {
        return Err(format!("no index at {}", index.display()));
    }
    let store = Store::open_at(&site).map_err(|e| format!("opening the store in {} ({}): {e}", site.data_dir.display(), site.metadata))?;
    let location = store.recorded_blob_location().await.map_err(|e| e.to_string())?.unwrap_or_default();
    if location == BlobLocation::DataDir {
        let blobs = store.blob_store();
        return Ok((store, blobs));
    }
    let blobs = build(&store, &dir.secrets()?, &location).await?.expect("not the data dir's own");
    Ok((store, blobs))
}
