//! Storage tiers: places other than the local store where a version's bytes can live (a
//! second local directory, a bucket on a remote S3 endpoint), which storage classes map to
//! them, and the blob operations moves, restores and reads need from them.
//!
//! A tier holds blobs under their content address, exactly as the local store does, and is
//! either online (reads go through it) or an archive (reads wait for a restore). The set of
//! tiers in use is built by the server from `catalog` rows and its configuration file.

mod catalog;
mod dir;
mod remote;

pub use dir::DirTier;
pub use remote::{RemoteSpec, RemoteTier};

use crate::blob::Hash;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use sha2::{Digest, Sha256};
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Reads `src` to its end into `sink`, failing if the bytes do not hash to `hash`. (Segment
/// lengths are plaintext lengths; the stored bytes of a sealed blob are longer, so the name
/// is the check.)
pub(crate) fn copy_verified(src: &mut dyn Read, hash: &Hash, mut sink: impl FnMut(&[u8]) -> io::Result<()>) -> io::Result<()> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = src.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        sink(&buf[..n])?;
    }
    if <[u8; 32]>::from(hasher.finalize()) != *hash {
        return Err(io::Error::new(io::ErrorKind::InvalidData, format!("blob {} does not match its name after the copy", hex::encode(hash))));
    }
    Ok(())
}

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

/// The blob operations of one tier. They block (run them on the blocking pool); every blob
/// is named by the SHA-256 of its bytes, and `put` refuses bytes that do not hash to it.
pub trait TierBackend: Send + Sync {
    /// Stores the bytes of the local file `src` as blob `hash`.
    fn put_file(&self, hash: &Hash, src: &Path) -> io::Result<()>;
    /// Whether the tier holds blob `hash`.
    fn contains(&self, hash: &Hash) -> io::Result<bool>;
    /// Reads blob `hash` from byte `offset` to its end.
    fn open_at(&self, hash: &Hash, offset: u64) -> io::Result<Box<dyn Read + Send>>;
    /// Removes blob `hash` (absent is fine).
    fn delete(&self, hash: &Hash) -> io::Result<()>;
}

/// A tier in use: what it is and how to reach it.
pub struct Tier {
    pub spec: TierSpec,
    pub backend: Arc<dyn TierBackend>,
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
    pub fn backend(&self, name: &str) -> io::Result<Arc<dyn TierBackend>> {
        self.tiers
            .get(name)
            .map(|t| t.backend.clone())
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("storage tier {name:?} is not configured")))
    }
}

#[cfg(test)]
mod tests;
