//! Where a site keeps its keyring, and this process's cached copy of it: a file in the data dir
//! of a SQLite site, or a document in the index that every node of a PostgreSQL site shares.

use super::file::{self, KeyringFile, Lock};
use coffer_crypto::kms::KmsError;
use coffer_storage::{Metadata, Site, Store};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// The keyring's directory in a data dir.
pub(super) const DIR_NAME: &str = "kms";

/// Replacements of the index's keyring one change tries before giving up (each failed one
/// means another writer's change went in).
const ATTEMPTS: u32 = 64;

/// Where the keyring lives.
///
/// A SQLite site keeps its file: `coffer admin kms` changes it beside a running server, which
/// sees the change at its next use for the price of one `stat`, and existing data dirs and
/// their backups stay as they are. Only a site whose index other nodes share needs it there.
pub enum Home {
    /// `kms/` in the data dir.
    DataDir(PathBuf),
    /// The index of `Store`, read again once it is older than the store's configuration
    /// cache trusts (`Store::config_max_age`), and at once for a key the copy lacks.
    Index(Store),
}

impl Home {
    /// The keyring's home on `site`, whose store is `store`.
    pub fn of(site: &Site, store: &Store) -> Home {
        match site.metadata {
            Metadata::DataDir => Home::in_data_dir(&site.data_dir),
            Metadata::Postgres(_) => Home::Index(store.clone()),
        }
    }

    /// The keyring file's home in `data_dir`.
    pub fn in_data_dir(data_dir: &Path) -> Home {
        Home::DataDir(data_dir.join(DIR_NAME))
    }
}

/// A keyring's home with the copy last read from it.
pub(super) struct Stored {
    home: Home,
    cache: Mutex<Option<Cached>>,
}

struct Cached {
    keys: Arc<KeyringFile>,
    mark: Mark,
}

/// What tells whether the cached copy is still the stored one.
enum Mark {
    /// The file's stamp (`None` while there is no file), and the open file, whose inode
    /// cannot be reused while it is held.
    File { stamp: Option<file::Stamp>, _open: Option<std::fs::File> },
    /// When the index's document was read.
    Index(Instant),
}

impl Stored {
    pub(super) fn new(home: Home) -> Stored {
        Stored { home, cache: Mutex::new(None) }
    }

    /// The keyring as stored: the cached copy while it can be trusted, else read again.
    pub(super) fn snapshot(&self) -> Result<Arc<KeyringFile>, KmsError> {
        let stamp = match &self.home {
            Home::DataDir(dir) => Some(file::stamp(dir).map_err(KmsError::Unavailable)?),
            Home::Index(_) => None,
        };
        let cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        let fresh = cache.as_ref().filter(|c| match (&c.mark, &self.home) {
            (Mark::File { stamp: seen, .. }, _) => Some(*seen) == stamp,
            (Mark::Index(read_at), Home::Index(store)) => read_at.elapsed() < max_age(store),
            (Mark::Index(..), Home::DataDir(_)) => false,
        });
        if let Some(cached) = fresh {
            return Ok(cached.keys.clone());
        }
        drop(cache);
        self.read().map_err(KmsError::Unavailable)
    }

    /// The keyring read again whatever the cache holds, when another node may have changed
    /// it since (a key the copy lacks); None for a file, whose copy is never stale.
    pub(super) fn reread(&self) -> Result<Option<Arc<KeyringFile>>, KmsError> {
        match self.home {
            Home::DataDir(_) => Ok(None),
            Home::Index(_) => self.read().map(Some).map_err(KmsError::Unavailable),
        }
    }

    /// Runs `change` on the keyring as stored now and stores the result, so that no other
    /// writer's change is lost: under the file's lock, or by compare-and-set on the index's
    /// version (`change` then runs again on the newer keyring when another writer came first).
    pub(super) fn update<T, E: From<String>>(&self, mut change: impl FnMut(&mut KeyringFile) -> Result<T, E>) -> Result<T, E> {
        match &self.home {
            Home::DataDir(dir) => {
                let lock = Lock::acquire(dir)?;
                let mut keys = file::load(dir)?.map(|l| l.keys).unwrap_or_default();
                let out = change(&mut keys)?;
                file::write(&lock, dir, &keys)?;
                Ok(out)
            }
            Home::Index(store) => {
                for _ in 0..ATTEMPTS {
                    let (version, keys) = read_index(store)?;
                    self.remember(keys.clone(), Mark::Index(Instant::now()));
                    let mut keys = (*keys).clone();
                    let out = change(&mut keys)?;
                    let replaced = store
                        .replace_kms_keyring_blocking(version, &file::encode(&keys))
                        .map_err(|e| format!("storing the keyring in the index: {e}"))?;
                    if replaced.is_some() {
                        self.remember(Arc::new(keys), Mark::Index(Instant::now()));
                        return Ok(out);
                    }
                }
                Err(format!("the keyring changed {ATTEMPTS} times while this change was being made; try again").into())
            }
        }
    }

    /// Reads the keyring from its home and caches it.
    fn read(&self) -> Result<Arc<KeyringFile>, String> {
        let (keys, mark) = match &self.home {
            Home::DataDir(dir) => match file::load(dir)? {
                Some(loaded) => (Arc::new(loaded.keys), Mark::File { stamp: Some(loaded.stamp), _open: Some(loaded.file) }),
                None => (Arc::default(), Mark::File { stamp: None, _open: None }),
            },
            Home::Index(store) => {
                (read_index(store)?.1, Mark::Index(Instant::now()))
            }
        };
        self.remember(keys.clone(), mark);
        Ok(keys)
    }

    fn remember(&self, keys: Arc<KeyringFile>, mark: Mark) {
        *self.cache.lock().unwrap_or_else(PoisonError::into_inner) = Some(Cached { keys, mark });
    }
}

/// The keyring document in the index and its version (an empty keyring at version 0 before
/// the first key is made).
fn read_index(store: &Store) -> Result<(u64, Arc<KeyringFile>), String> {
    match store.kms_keyring_blocking().map_err(|e| format!("reading the keyring from the index: {e}"))? {
        Some(doc) => Ok((doc.version, Arc::new(file::decode(&doc.value, "the keyring in the index")?))),
        None => Ok((0, Arc::default())),
    }
}

/// How long a copy read from the index is trusted. A store that trusts its caches for good is
/// one process's, but `coffer admin kms` may change the keyring beside it: read every time.
fn max_age(store: &Store) -> Duration {
    store.config_max_age().unwrap_or(Duration::ZERO)
}
