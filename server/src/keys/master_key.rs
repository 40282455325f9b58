//! The server master key, which wraps SSE-S3 data keys and the keyring's KMS keys: from
//! COFFER_MASTER_KEY (base64 of 32 bytes), else from a key file (`master_key_file` in the
//! config, default `<data dir>/master.key`), else generated into that file on first use with
//! mode 0600. A fingerprint kept beside the index (in the data dir of a SQLite site, in the
//! index of a PostgreSQL site, whose nodes must all be given the same key) makes a lost or
//! swapped key fail loudly at start-up instead of leaving encrypted objects unreadable.

use base64::Engine;
use coffer_crypto::envelope::Key256;
use coffer_storage::{perms, Metadata, Site, Store};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

const ENV_KEY: &str = "COFFER_MASTER_KEY";
const KEY_FILE: &str = "master.key";
const FINGERPRINT_FILE: &str = "master.key.fingerprint";

/// Where the master key comes from when it is not in the environment.
pub fn default_key_file(data_dir: &Path) -> PathBuf {
    data_dir.join(KEY_FILE)
}

/// The file recording which master key this data dir was used with.
pub fn fingerprint_file(data_dir: &Path) -> PathBuf {
    data_dir.join(FINGERPRINT_FILE)
}

/// Loads the master key of `site`, creating the key file on first use. On a SQLite site it is
/// checked against the fingerprint recorded in the data dir; a PostgreSQL site records it in
/// the index, and opening the store checks it there (`check_recorded`).
pub fn load(site: &Site, key_file: Option<&Path>) -> Result<Key256, String> {
    let data_dir = site.data_dir.as_path();
    let in_data_dir = site.metadata == Metadata::DataDir;
    let key = match std::env::var(ENV_KEY).ok().filter(|s| !s.trim().is_empty()) {
        Some(text) => decode(&text).map_err(|e| format!("{ENV_KEY}: {e}"))?,
        None => {
            let path = key_file.map(Path::to_path_buf).unwrap_or_else(|| default_key_file(data_dir));
            load_or_create_file(&path, in_data_dir && data_dir.join(FINGERPRINT_FILE).exists())?
        }
    };
    if in_data_dir {
        check_fingerprint(data_dir, &key)?;
    }
    Ok(key)
}

/// Checks `key` against the fingerprint in the index of `store`, recording it there if no node
/// has yet: every node of a site sharing its index must hold the same master key.
pub async fn check_recorded(store: &Store, key: &Key256) -> Result<(), String> {
    let own = fingerprint(key);
    let recorded = store.master_key_fingerprint(&own).await.map_err(|e| format!("reading the master key's fingerprint from the index: {e}"))?;
    if recorded == own {
        return Ok(());
    }
    Err(format!(
        "this master key is not the one this site's index was first used with (the fingerprint recorded in the index \
         differs): give every node the same master key ({ENV_KEY}, or a copy of the first node's key file); objects \
         encrypted with the other key could not be read"
    ))
}

fn decode(text: &str) -> Result<Key256, String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .map_err(|_| "not base64".to_string())?;
    Key256::from_slice(&bytes).ok_or_else(|| format!("a master key is 32 bytes, this one is {}", bytes.len()))
}

/// Reads the key file at `path`, or creates it unless the key was `used` before (then a missing
/// file is a lost key, not a first start).
fn load_or_create_file(path: &Path, used: bool) -> Result<Key256, String> {
    match std::fs::read_to_string(path) {
        Ok(text) => decode(&text).map_err(|e| format!("{}: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if used {
                return Err(format!(
                    "the master key file {} is missing, but this data dir has used a master key: restore the file \
                     (or set {ENV_KEY}) from your backup; without it encrypted objects cannot be read",
                    path.display()
                ));
            }
            match create_file(path) {
                // Another process (the server, an admin command) created it first: use theirs.
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => load_or_create_file(path, used),
                other => other.map_err(|e| format!("creating {}: {e}", path.display())),
            }
        }
        Err(e) => Err(format!("reading {}: {e}", path.display())),
    }
}

/// Writes a new key into a temporary file and links it into place, so nobody ever reads a
/// half-written key file.
fn create_file(path: &Path) -> std::io::Result<Key256> {
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    perms::create_dir_all(parent)?;
    let key = Key256::generate();
    let tmp = parent.join(format!(".master.key.{}.tmp", std::process::id()));
    perms::write_file(&tmp, key_file_text(&key).as_bytes())?.sync_all()?;
    // hard_link fails if the key file appeared meanwhile, which the caller handles.
    let linked = std::fs::hard_link(&tmp, path);
    let _ = std::fs::remove_file(&tmp);
    linked?;
    std::fs::File::open(parent)?.sync_all()?;
    tracing::info!(path = %path.display(), "generated a new master key; back this file up");
    Ok(key)
}

/// Writes a copy of `key` in the key file format to the new file `path` (mode 0600), for a backup.
pub fn export(key: &Key256, path: &Path) -> std::io::Result<()> {
    let mut file = perms::file_options().write(true).create_new(true).open(path)?;
    std::io::Write::write_all(&mut file, key_file_text(key).as_bytes())?;
    file.sync_all()
}

/// The key file's content: the key in base64 and a newline.
fn key_file_text(key: &Key256) -> Zeroizing<String> {
    Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(key.as_bytes()) + "\n")
}

/// A value that identifies the key without revealing it.
fn fingerprint(key: &Key256) -> String {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key.as_bytes()).expect("HMAC takes any key length");
    mac.update(b"coffer master key fingerprint");
    hex::encode(&mac.finalize().into_bytes()[..16])
}

fn check_fingerprint(data_dir: &Path, key: &Key256) -> Result<(), String> {
    let path = data_dir.join(FINGERPRINT_FILE);
    let want = fingerprint(key);
    match std::fs::read_to_string(&path) {
        Ok(found) if found.trim() == want => Ok(()),
        Ok(_) => Err(format!(
            "this master key is not the one this data dir was used with (fingerprint in {} differs); \
             objects encrypted with the other key could not be read",
            path.display()
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            perms::create_dir_all(data_dir).map_err(|e| format!("creating {}: {e}", data_dir.display()))?;
            let tmp = data_dir.join(format!(".{FINGERPRINT_FILE}.{}.tmp", std::process::id()));
            perms::write_file(&tmp, format!("{want}\n").as_bytes())
                .and_then(|_| std::fs::rename(&tmp, &path))
                .map_err(|e| format!("writing {}: {e}", path.display()))
        }
        Err(e) => Err(format!("reading {}: {e}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_once_then_reloaded_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let first = load(&Site::data_dir(dir.path()), None).unwrap();
        let again = load(&Site::data_dir(dir.path()), None).unwrap();
        assert_eq!(first.as_bytes(), again.as_bytes());
        use std::os::unix::fs::PermissionsExt;
        for file in [default_key_file(dir.path()), dir.path().join(FINGERPRINT_FILE)] {
            let mode = std::fs::metadata(&file).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{}", file.display());
        }
    }

    #[test]
    fn a_lost_key_file_is_an_error_not_a_new_key() {
        let dir = tempfile::tempdir().unwrap();
        load(&Site::data_dir(dir.path()), None).unwrap();
        std::fs::remove_file(default_key_file(dir.path())).unwrap();
        assert!(load(&Site::data_dir(dir.path()), None).unwrap_err().contains("missing"));
    }

    #[test]
    fn a_different_key_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        load(&Site::data_dir(dir.path()), None).unwrap();
        let other = dir.path().join("other.key");
        std::fs::write(&other, base64::engine::general_purpose::STANDARD.encode([7u8; 32])).unwrap();
        assert!(load(&Site::data_dir(dir.path()), Some(&other)).unwrap_err().contains("not the one"));
    }

    #[tokio::test]
    async fn a_shared_site_records_the_first_key_in_its_index() {
        let dir = tempfile::tempdir().unwrap();
        let site = Site { data_dir: dir.path().to_path_buf(), metadata: Metadata::Postgres("host=127.0.0.1".into()) };
        let key = load(&site, None).unwrap();
        assert!(!dir.path().join(FINGERPRINT_FILE).exists(), "the index holds it");
        // Any index keeps the record; SQLite's stands in for the shared one here.
        let store = Store::open(&dir.path().join("index")).unwrap();
        check_recorded(&store, &key).await.unwrap();
        check_recorded(&store, &key).await.unwrap();
        let refused = check_recorded(&store, &Key256::generate()).await.unwrap_err();
        assert!(refused.contains("give every node the same master key"), "{refused}");
        // A node whose key file is lost gets a new key, which the index then refuses.
        std::fs::remove_file(default_key_file(dir.path())).unwrap();
        assert!(check_recorded(&store, &load(&site, None).unwrap()).await.is_err());
    }
}
