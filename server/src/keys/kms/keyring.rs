//! The keyring: the admin operations (create, rotate, enable, disable, list) on a keyring kept
//! in its home (`home`), and the keys' material, sealed by the master key.

use super::file::{KeyringFile, StoredKey, StoredVersion};
use super::home::{Home, Stored};
use super::key_ref::{self, KeyRef};
use base64::Engine;
use coffer_crypto::envelope::{unwrap_key, wrap_key, Key256};
use coffer_crypto::kms::KmsError;
use std::sync::Arc;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// The built-in KMS of one site. Every use sees the keyring as stored (see `Home` for how
/// fresh), so keys created or disabled by `coffer admin kms`, or on another node, apply.
pub struct Keyring {
    stored: Stored,
    master: Key256,
    region: String,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring").field("region", &self.region).finish_non_exhaustive()
    }
}

/// Why an admin operation on the keyring was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum KeyringError {
    #[error("no KMS key '{0}'")]
    NotFound(String),
    #[error("a KMS key called '{0}' already exists")]
    Exists(String),
    /// A name a new key cannot take; carries why.
    #[error("{0}")]
    InvalidName(String),
    /// The keyring could not be read or stored.
    #[error("{0}")]
    Failed(String),
}

impl From<String> for KeyringError {
    fn from(message: String) -> KeyringError {
        KeyringError::Failed(message)
    }
}

impl From<KeyringError> for String {
    fn from(e: KeyringError) -> String {
        e.to_string()
    }
}

/// A key as `coffer admin kms` shows it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct KeySummary {
    pub name: String,
    pub id: String,
    pub arn: String,
    pub enabled: bool,
    /// The version new data keys are wrapped with.
    pub version: u32,
    /// RFC 3339, UTC.
    pub created: String,
}

impl Keyring {
    /// The keyring kept in `home`; fails if it is there but cannot be read.
    pub fn open(home: Home, master: Key256, region: &str) -> Result<Keyring, String> {
        let keyring = Keyring { stored: Stored::new(home), master, region: region.to_string() };
        keyring.snapshot().map_err(|e| e.to_string())?;
        Ok(keyring)
    }

    /// Checks that the material of every version of every key opens with the master key
    /// (a start-up check: a keyring from another data dir or master key fails it).
    pub fn verify(&self) -> Result<(), String> {
        let keys = self.snapshot().map_err(|e| e.to_string())?;
        for key in &keys.keys {
            for version in &key.versions {
                self.material(key, version).map_err(|e| e.to_string())?;
            }
        }
        Ok(())
    }

    /// Creates a key called `name` (`alias/` optional) with one version of fresh material.
    pub fn create(&self, name: &str) -> Result<KeySummary, KeyringError> {
        let name = key_ref::new_name(name).map_err(KeyringError::InvalidName)?;
        self.update(|keys| {
            if keys.keys.iter().any(|k| k.name == name) {
                return Err(KeyringError::Exists(name.to_string()));
            }
            let id = uuid::Uuid::new_v4().hyphenated().to_string();
            let created = now();
            let material = self.wrap_material(&id, 1, &Key256::generate());
            let key = StoredKey {
                id,
                name: name.to_string(),
                enabled: true,
                created: created.clone(),
                versions: vec![StoredVersion { version: 1, created, material }],
            };
            let summary = self.summary(&key);
            keys.keys.push(key);
            Ok(summary)
        })
    }

    /// The key called `name`, created first if there is none (for a default key, such as
    /// the one SSE-KMS uses when a request names no key).
    pub fn ensure(&self, name: &str) -> Result<KeySummary, KeyringError> {
        let wanted = key_ref::new_name(name).map_err(KeyringError::InvalidName)?;
        if let Some(key) = self.list()?.into_iter().find(|k| k.name == wanted) {
            return Ok(key);
        }
        // Another process may have created it meanwhile.
        self.create(name).or_else(|e| self.list()?.into_iter().find(|k| k.name == wanted).ok_or(e))
    }

    /// Adds a version of fresh material to the key `key_ref` names; new data keys use it,
    /// and data keys wrapped by older versions still open.
    pub fn rotate(&self, key_ref: &str) -> Result<KeySummary, KeyringError> {
        self.update(|keys| {
            let key = self.find_mut(keys, key_ref)?;
            let version = key.versions.last().map_or(0, |v| v.version) + 1;
            let material = self.wrap_material(&key.id, version, &Key256::generate());
            key.versions.push(StoredVersion { version, created: now(), material });
            Ok(self.summary(key))
        })
    }

    /// Enables or disables the key `key_ref` names. A disabled key neither makes nor opens
    /// data keys, so objects encrypted under it cannot be read until it is enabled again.
    pub fn set_enabled(&self, key_ref: &str, enabled: bool) -> Result<KeySummary, KeyringError> {
        self.update(|keys| {
            let key = self.find_mut(keys, key_ref)?;
            key.enabled = enabled;
            Ok(self.summary(key))
        })
    }

    /// Every key, in the order they were created.
    pub fn list(&self) -> Result<Vec<KeySummary>, KeyringError> {
        let keys = self.snapshot().map_err(|e| KeyringError::Failed(e.to_string()))?;
        Ok(keys.keys.iter().map(|k| self.summary(k)).collect())
    }

    pub(super) fn arn(&self, id: &str) -> String {
        format!("arn:aws:kms:{}:{}:key/{id}", self.region, super::ACCOUNT)
    }

    /// The keyring as stored now (see `Home` for how fresh).
    pub(super) fn snapshot(&self) -> Result<Arc<KeyringFile>, KmsError> {
        self.stored.snapshot()
    }

    /// Runs `with` on the key `key_ref` names. A key the cached keyring lacks is looked for
    /// again in the stored one: another node may have made it a moment ago.
    pub(super) fn with_key<T>(&self, key_ref: &str, with: impl FnOnce(&StoredKey) -> Result<T, KmsError>) -> Result<T, KmsError> {
        let keys = self.snapshot()?;
        match self.find(&keys, key_ref) {
            Err(KmsError::NotFound(missing)) => match self.stored.reread()? {
                Some(fresh) => with(self.find(&fresh, key_ref)?),
                None => Err(KmsError::NotFound(missing)),
            },
            found => with(found?),
        }
    }

    /// The key `key_ref` names.
    pub(super) fn find<'k>(&self, keys: &'k KeyringFile, key_ref: &str) -> Result<&'k StoredKey, KmsError> {
        let not_found = || KmsError::NotFound(key_ref.to_string());
        let wanted = key_ref::parse(key_ref, &self.region).ok_or_else(not_found)?;
        keys.keys
            .iter()
            .find(|k| match &wanted {
                KeyRef::Id(id) => k.id == *id,
                KeyRef::Name(name) => k.name == *name,
            })
            .ok_or_else(not_found)
    }

    fn find_mut<'k>(&self, keys: &'k mut KeyringFile, key_ref: &str) -> Result<&'k mut StoredKey, KeyringError> {
        let index = {
            let key = self.find(keys, key_ref).map_err(|_| KeyringError::NotFound(key_ref.to_string()))?;
            keys.keys.iter().position(|k| k.id == key.id).expect("found above")
        };
        Ok(&mut keys.keys[index])
    }

    /// The key material of one version, unwrapped with the master key.
    pub(super) fn material(&self, key: &StoredKey, version: &StoredVersion) -> Result<Key256, KmsError> {
        let unusable = || {
            KmsError::Unavailable(format!(
                "the material of key {} version {} does not open with this master key",
                key.id, version.version
            ))
        };
        let wrapped = B64.decode(&version.material).map_err(|_| unusable())?;
        unwrap_key(&self.master, &wrapped, &material_context(&key.id, version.version)).map_err(|_| unusable())
    }

    fn wrap_material(&self, id: &str, version: u32, material: &Key256) -> String {
        B64.encode(wrap_key(&self.master, material, &material_context(id, version)))
    }

    fn summary(&self, key: &StoredKey) -> KeySummary {
        KeySummary {
            name: key.name.clone(),
            id: key.id.clone(),
            arn: self.arn(&key.id),
            enabled: key.enabled,
            version: key.versions.last().map_or(0, |v| v.version),
            created: key.created.clone(),
        }
    }

    /// Runs `change` on the keyring as stored and stores the result (again on a newer keyring
    /// if another writer came first).
    fn update<T>(&self, change: impl FnMut(&mut KeyringFile) -> Result<T, KeyringError>) -> Result<T, KeyringError> {
        self.stored.update(change)
    }
}

/// What a version's material is bound to when wrapped, so it cannot be moved to another key
/// or version.
fn material_context(id: &str, version: u32) -> Vec<u8> {
    format!("coffer kms key material v1\0{id}\0{version}").into_bytes()
}

fn now() -> String {
    let now = time::OffsetDateTime::now_utc();
    now.replace_nanosecond(0)
        .unwrap_or(now)
        .format(&time::format_description::well_known::Rfc3339)
        .expect("a UTC time formats as RFC 3339")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::kms::file;
    use crate::keys::kms::home::DIR_NAME;
    use coffer_storage::Store;
    use std::path::Path;

    fn keyring(dir: &Path, master: &Key256) -> Keyring {
        opened(Home::DataDir(dir.join(DIR_NAME)), master)
    }

    fn opened(home: Home, master: &Key256) -> Keyring {
        Keyring::open(home, master.clone(), "us-east-1").unwrap()
    }

    /// A home of each kind in `dir`: the data dir's file, and the index of a store there
    /// (SQLite's, which the keyring reads at every use; PostgreSQL's differs only in trusting
    /// its copy for a second, and in looking again for a key the copy lacks).
    fn homes(dir: &Path) -> [Home; 2] {
        [Home::DataDir(dir.join(DIR_NAME)), Home::Index(Store::open(&dir.join("site")).unwrap())]
    }

    /// The same home as another process sees it.
    fn elsewhere(home: &Home) -> Home {
        match home {
            Home::DataDir(dir) => Home::DataDir(dir.clone()),
            Home::Index(store) => Home::Index(Store::open(store.root()).unwrap()),
        }
    }

    #[test]
    fn create_list_rotate_enable_disable() {
        let dir = tempfile::tempdir().unwrap();
        for home in homes(dir.path()) {
            create_list_rotate_enable_disable_in(home);
        }
    }

    fn create_list_rotate_enable_disable_in(home: Home) {
        let master = Key256::generate();
        let ring = opened(home, &master);
        assert!(ring.list().unwrap().is_empty());
        let k1 = ring.create("testkey-1").unwrap();
        assert_eq!((k1.name.as_str(), k1.version, k1.enabled), ("testkey-1", 1, true));
        assert_eq!(k1.arn, format!("arn:aws:kms:us-east-1:000000000000:key/{}", k1.id));
        assert!(matches!(ring.create("testkey-1"), Err(KeyringError::Exists(n)) if n == "testkey-1"));
        assert!(matches!(ring.create("alias/testkey-1"), Err(KeyringError::Exists(_))));
        ring.create("alias/other").unwrap();

        assert_eq!(ring.rotate("testkey-1").unwrap().version, 2);
        assert_eq!(ring.rotate(&k1.id).unwrap().version, 3);
        assert!(!ring.set_enabled("alias/testkey-1", false).unwrap().enabled);
        let listed = ring.list().unwrap();
        assert_eq!(listed.iter().map(|k| k.name.as_str()).collect::<Vec<_>>(), ["testkey-1", "other"]);
        assert_eq!((listed[0].version, listed[0].enabled, listed[0].id.as_str()), (3, false, k1.id.as_str()));
        assert!(ring.set_enabled("testkey-1", true).unwrap().enabled);

        for missing in ["nope", "alias/nope", "1234abcd-12ab-34cd-56ef-1234567890ab"] {
            assert!(matches!(ring.rotate(missing), Err(KeyringError::NotFound(_))), "{missing}");
            assert!(ring.set_enabled(missing, false).unwrap_err().to_string().contains("no KMS key"), "{missing}");
        }
        assert!(matches!(ring.create("bad name"), Err(KeyringError::InvalidName(_))));
        ring.verify().unwrap();
    }

    #[test]
    fn ensure_creates_once() {
        let dir = tempfile::tempdir().unwrap();
        for home in homes(dir.path()) {
            let master = Key256::generate();
            let (ring, other) = (opened(elsewhere(&home), &master), opened(home, &master));
            let first = ring.ensure("aws/s3").unwrap();
            assert_eq!(ring.ensure("alias/aws/s3").unwrap(), first);
            assert_eq!(other.ensure("aws/s3").unwrap(), first);
            assert_eq!(ring.list().unwrap().len(), 1);
        }
    }

    #[test]
    fn the_file_is_private_and_holds_no_material_in_clear() {
        let dir = tempfile::tempdir().unwrap();
        let master = Key256::generate();
        let ring = keyring(dir.path(), &master);
        let key = ring.create("k").unwrap();
        ring.rotate("k").unwrap();
        let path = file::path(&dir.path().join(DIR_NAME));
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(std::fs::metadata(dir.path().join(DIR_NAME)).unwrap().permissions().mode() & 0o077, 0);

        assert_sealed(&ring, &key.id, &std::fs::read(&path).unwrap());
        // Another master key cannot open it.
        let other = keyring(dir.path(), &Key256::generate());
        assert!(other.verify().unwrap_err().contains("does not open"));
    }

    #[test]
    fn the_index_holds_no_material_in_clear() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let ring = opened(Home::Index(store.clone()), &Key256::generate());
        let key = ring.create("k").unwrap();
        ring.rotate("k").unwrap();
        let stored = store.kms_keyring_blocking().unwrap().unwrap();
        assert_eq!(stored.version, 2);
        assert_sealed(&ring, &key.id, stored.value.as_bytes());
        let other = opened(Home::Index(store), &Key256::generate());
        assert!(other.verify().unwrap_err().contains("does not open"));
    }

    /// Checks that `raw`, the stored keyring, holds the two versions of key `id` only sealed.
    fn assert_sealed(ring: &Keyring, id: &str, raw: &[u8]) {
        let keys = ring.snapshot().unwrap();
        let stored = ring.find(&keys, id).unwrap();
        assert_eq!(stored.versions.len(), 2);
        for version in &stored.versions {
            let material = ring.material(stored, version).unwrap();
            let clear = material.as_bytes();
            assert!(!raw.windows(32).any(|w| w == clear), "raw material stored");
            for encoded in [B64.encode(clear), hex::encode(clear), base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(clear)] {
                assert!(!raw.windows(encoded.len()).any(|w| w == encoded.as_bytes()), "encoded material stored");
            }
            // The stored form is the wrapped one.
            let stored_bytes = B64.decode(&version.material).unwrap();
            assert_eq!(stored_bytes.len(), coffer_crypto::envelope::WRAPPED_LEN);
        }
    }

    #[test]
    fn material_cannot_be_moved_between_keys_or_versions() {
        let dir = tempfile::tempdir().unwrap();
        let master = Key256::generate();
        let ring = keyring(dir.path(), &master);
        ring.create("a").unwrap();
        ring.create("b").unwrap();
        ring.rotate("a").unwrap();
        let path = file::path(&dir.path().join(DIR_NAME));
        let mut doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let b_material = doc["keys"][1]["versions"][0]["material"].clone();
        let a_v2 = doc["keys"][0]["versions"][1]["material"].clone();
        doc["keys"][0]["versions"][0]["material"] = b_material;
        doc["keys"][1]["versions"][0]["material"] = a_v2;
        std::fs::write(&path, serde_json::to_vec(&doc).unwrap()).unwrap();
        let keys = ring.snapshot().unwrap();
        for key in &keys.keys {
            assert!(matches!(ring.material(key, &key.versions[0]), Err(KmsError::Unavailable(_))), "{}", key.name);
        }
    }

    #[test]
    fn changes_by_another_process_are_seen() {
        let dir = tempfile::tempdir().unwrap();
        for home in homes(dir.path()) {
            changes_by_another_process_are_seen_in(home);
        }
    }

    fn changes_by_another_process_are_seen_in(home: Home) {
        let master = Key256::generate();
        let admin = opened(elsewhere(&home), &master);
        let server = opened(home, &master);
        assert!(server.list().unwrap().is_empty());
        admin.create("k").unwrap();
        assert_eq!(server.list().unwrap().len(), 1);
        for round in 0..20 {
            admin.set_enabled("k", round % 2 == 1).unwrap();
            assert_eq!(server.list().unwrap()[0].enabled, round % 2 == 1, "round {round}");
        }
        admin.rotate("k").unwrap();
        assert_eq!(server.list().unwrap()[0].version, 2);
    }

    #[test]
    fn concurrent_writers_lose_no_update() {
        let dir = tempfile::tempdir().unwrap();
        for home in homes(dir.path()) {
            let master = Key256::generate();
            std::thread::scope(|s| {
                for t in 0..4 {
                    let (home, master) = (elsewhere(&home), &master);
                    s.spawn(move || {
                        let ring = opened(home, master);
                        for i in 0..10 {
                            ring.create(&format!("k{t}-{i}")).unwrap();
                        }
                    });
                }
            });
            assert_eq!(opened(home, &master).list().unwrap().len(), 40);
        }
    }

    #[test]
    fn a_corrupt_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let master = Key256::generate();
        let ring = keyring(dir.path(), &master);
        ring.create("k").unwrap();
        std::fs::write(file::path(&dir.path().join(DIR_NAME)), b"{not json").unwrap();
        assert!(matches!(ring.snapshot(), Err(KmsError::Unavailable(_))));
        assert!(Keyring::open(Home::DataDir(dir.path().join(DIR_NAME)), master, "us-east-1").unwrap_err().contains("not a valid keyring"));
        assert!(ring.rotate("k").is_err());
    }
}
