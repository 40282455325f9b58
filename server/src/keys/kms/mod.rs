//! The built-in KMS behind SSE-KMS: named, versioned keys kept in `<data dir>/kms/keyring.json`
//! with their material wrapped by the master key, served through `coffer_crypto::kms::KeyProvider`.

mod file;
mod key_ref;
mod keyring;
mod provider;

pub use keyring::{KeySummary, Keyring};

use coffer_crypto::envelope::Key256;
use std::path::{Path, PathBuf};

/// The account id in the ARNs of keyring keys (there are no accounts; any fixed one will do).
pub const ACCOUNT: &str = "000000000000";

/// The keyring file of `data_dir` (what a backup copies).
pub fn keyring_file(data_dir: &Path) -> PathBuf {
    data_dir.join(keyring::DIR_NAME).join(file::FILE_NAME)
}

/// Opens the keyring of `data_dir` (empty until a key is created); `region` goes into the
/// ARNs it reports and is the only region its ARNs are accepted from. Fails if the keyring
/// file exists but cannot be read.
pub fn open(data_dir: &Path, master: Key256, region: &str) -> Result<Keyring, String> {
    Keyring::open(data_dir, master, region)
}
