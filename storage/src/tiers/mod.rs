//! Storage tiers: places other than the local store where a version's bytes can live (a
//! second local directory, a bucket on a remote S3 endpoint), which storage classes map to
//! them, and the blob operations moves, restores and reads need from them.
//!
//! A tier holds blobs under their content address, exactly as the local store does, and is
//! either online (reads go through it) or an archive (reads wait for a restore). The set of
//! tiers in use is built by the server from `catalog` rows and its configuration file.

mod catalog;
mod remote;

pub use remote::RemoteSpec;

use crate::blob_store::BlobStore;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::io;
use std::path::PathBuf;
use std::sync::Arc;

/// What a tier is, as registered by `coffer admin tier add` or the configuration file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TierSpec {
    pub name: String,
    #[serde(flatten)]
    pub kind: TierKind,
    /// Storage classes whose versions live on this tier.
    pub storage_classes: Vec<String>,
    /// Archived versions are not readable until restored (GLACIER-like).
    #[serde(default)]
    pub archive: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum TierKind {
    /// A directory on this machine (a large, slow disk, say).
    Dir { path: PathBuf },
    /// A bucket on a registered remote S3 endpoint, blobs named `prefix` + hex hash.
    Remote { remote: String, bucket: String, #[serde(default)] prefix: String },
}

impl TierSpec {
    /// Checks the name and classes; the message says what is wrong.
    pub fn validate(&self) -> Result<(), String> {
        if self.name.is_empty() || !self.name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
            return Err(format!("tier name {:?}: use letters, digits, '-' and '_'", self.name));
        }
        if self.storage_classes.is_empty() {
            return Err(format!("tier {}: name at least one storage class", self.name));
        }
        for class in &self.storage_classes {
            if class == "STANDARD" {
                return Err("STANDARD is the local store's class; a tier cannot take it".into());
            }
            if !class.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_') || class.is_empty() {
                return Err(format!("storage class {class:?}: use upper-case letters, digits and '_'"));
            }
        }
        Ok(())
    }
}

/// A tier in use: what it is and how to reach it.
pub struct Tier {
    pub spec: TierSpec,
    pub backend: Arc<dyn BlobStore>,
}

/// The tiers in use, by name, and which tier each storage class maps to. Classes no tier
/// names live on the local store, so clients that send them keep working.
#[derive(Default)]
pub struct TierSet {
    tiers: BTreeMap<String, Arc<Tier>>,
    by_class: HashMap<String, String>,
}

impl TierSet {
    /// The set of `tiers`; a class claimed twice goes to the first tier that names it.
    pub fn new(tiers: Vec<Tier>) -> TierSet {
        let mut set = TierSet::default();
        for tier in tiers {
            for class in &tier.spec.storage_classes {
                set.by_class.entry(class.clone()).or_insert_with(|| tier.spec.name.clone());
            }
            set.tiers.insert(tier.spec.name.clone(), Arc::new(tier));
        }
        set
    }

    pub fn get(&self, name: &str) -> Option<&Arc<Tier>> {
        self.tiers.get(name)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<Tier>> {
        self.tiers.values()
    }

    /// The tier a storage class lives on; None for the local store.
    pub fn tier_for_class(&self, class: Option<&str>) -> Option<&str> {
        class.and_then(|c| self.by_class.get(c)).map(String::as_str)
    }

    /// Whether versions on tier `name` must be restored before they are read.
    pub fn is_archive(&self, name: Option<&str>) -> bool {
        name.and_then(|n| self.tiers.get(n)).is_some_and(|t| t.spec.archive)
    }

    /// The backend of tier `name`, or an error naming the missing tier.
    pub fn backend(&self, name: &str) -> io::Result<Arc<dyn BlobStore>> {
        self.tiers
            .get(name)
            .map(|t| t.backend.clone())
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("storage tier {name:?} is not configured")))
    }
}

#[cfg(test)]
mod tests;
