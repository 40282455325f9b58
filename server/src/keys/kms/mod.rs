//! The built-in KMS behind SSE-KMS: named, versioned keys with their material wrapped by the
//! master key, kept in `<data dir>/kms/keyring.json` or, on a PostgreSQL site, in the index all
//! its nodes share (see `Home`); served through `coffer_crypto::kms::KeyProvider`.

mod file;
mod home;
mod key_ref;
mod keyring;
mod provider;

pub use home::Home;
pub use keyring::{KeyringError, KeySummary, Keyring};

use coffer_crypto::envelope::Key256;
use std::path::{Path, PathBuf};

/// The account id in the ARNs of keyring keys (there are no accounts; any fixed one will do).
pub const ACCOUNT: &str = "000000000000";

/// The keyring file of `data_dir` (what a backup copies).
pub fn keyring_file(data_dir: &Path) -> PathBuf {
    data_dir.join(home::DIR_NAME).join(file::FILE_NAME)
}

/// Opens the keyring kept in `home` (empty until a key is created); `region` goes into the
/// ARNs it reports and is the only region its ARNs are accepted from. Fails if the keyring
/// is there but cannot be read.
pub fn open(home: Home, master: Key256, region: &str) -> Result<Keyring, String> {
    Keyring::open(home, master, region)
}
