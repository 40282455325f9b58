//! `KeyProvider` for the keyring: each data key is wrapped by the current version of the named
//! key's material, bound to the caller's context, and opened by the version that wrapped it.

use super::file::StoredKey;
use super::keyring::Keyring;
use base64::Engine;
use coffer_crypto::envelope::{unwrap_key, wrap_key, Key256};
use coffer_crypto::kms::{KeyProvider, KmsError, KmsKeyInfo, WrappedDataKey};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// The name of the key SSE-KMS uses when a request names none (S3 calls its own `aws/s3`).
pub const DEFAULT_KEY_NAME: &str = "aws/s3";

impl KeyProvider for Keyring {
    fn default_key(&self) -> Result<String, KmsError> {
        self.ensure(DEFAULT_KEY_NAME).map(|k| k.id).map_err(|e| KmsError::Unavailable(e.to_string()))
    }

    fn describe(&self, key_ref: &str) -> Result<KmsKeyInfo, KmsError> {
        self.with_key(key_ref, |key| Ok(KmsKeyInfo { key_id: key.id.clone(), arn: self.arn(&key.id), enabled: key.enabled }))
    }

    fn generate_data_key(&self, key_ref: &str, context: &[u8]) -> Result<(Key256, WrappedDataKey), KmsError> {
        self.with_key(key_ref, |key| {
            let key = self.enabled(key)?;
            let current = key
                .versions
                .last()
                .ok_or_else(|| KmsError::Unavailable(format!("key {} has no key material", key.id)))?;
            let material = self.material(key, current)?;
            let data_key = Key256::generate();
            let wrapped = wrap_key(&material, &data_key, &data_key_aad(&key.id, current.version, context));
            let wrapped = WrappedDataKey { key_id: key.id.clone(), version: current.version, ciphertext: B64.encode(wrapped) };
            Ok((data_key, wrapped))
        })
    }

    fn decrypt(&self, wrapped: &WrappedDataKey, context: &[u8]) -> Result<Key256, KmsError> {
        self.with_key(&wrapped.key_id, |key| {
            let key = self.enabled(key)?;
            let version = key.versions.iter().find(|v| v.version == wrapped.version).ok_or(KmsError::InvalidCiphertext)?;
            let material = self.material(key, version)?;
            let bytes = B64.decode(&wrapped.ciphertext).map_err(|_| KmsError::InvalidCiphertext)?;
            unwrap_key(&material, &bytes, &data_key_aad(&key.id, version.version, context)).map_err(|_| KmsError::InvalidCiphertext)
        })
    }
}

impl Keyring {
    fn enabled<'k>(&self, key: &'k StoredKey) -> Result<&'k StoredKey, KmsError> {
        if key.enabled {
            Ok(key)
        } else {
            Err(KmsError::Disabled(self.arn(&key.id)))
        }
    }
}

/// The associated data of a wrapped data key: the key and version that wrapped it, then the
/// caller's context.
fn data_key_aad(id: &str, version: u32, context: &[u8]) -> Vec<u8> {
    let mut aad = format!("coffer kms data key v1\0{id}\0{version}\0").into_bytes();
    aad.extend_from_slice(context);
    aad
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::kms::home::{Home, DIR_NAME};
    use std::path::Path;

    fn keyring(dir: &Path, master: &Key256) -> Keyring {
        Keyring::open(Home::DataDir(dir.join(DIR_NAME)), master.clone(), "us-east-1").unwrap()
    }

    #[test]
    fn data_keys_round_trip_and_rotation_keeps_old_versions() {
        let dir = tempfile::tempdir().unwrap();
        let ring = keyring(dir.path(), &Key256::generate());
        ring.create("k").unwrap();
        let (dk1, w1) = ring.generate_data_key("k", b"ctx-1").unwrap();
        assert_eq!(w1.version, 1);
        assert_eq!(ring.rotate("k").unwrap().version, 2);
        let (dk2, w2) = ring.generate_data_key("alias/k", b"ctx-2").unwrap();
        assert_eq!(w2.version, 2);
        assert_eq!(w1.key_id, w2.key_id);
        ring.rotate("k").unwrap();
        assert_eq!(ring.generate_data_key("k", b"").unwrap().1.version, 3);
        assert_eq!(ring.decrypt(&w1, b"ctx-1").unwrap().as_bytes(), dk1.as_bytes());
        assert_eq!(ring.decrypt(&w2, b"ctx-2").unwrap().as_bytes(), dk2.as_bytes());
    }

    #[test]
    fn every_reference_form_finds_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let ring = keyring(dir.path(), &Key256::generate());
        let key = ring.create("testkey-1").unwrap();
        let arn = format!("arn:aws:kms:us-east-1:000000000000:key/{}", key.id);
        for r in [
            key.id.clone(),
            key.id.to_uppercase(),
            "testkey-1".to_string(),
            "alias/testkey-1".to_string(),
            arn.clone(),
            format!("arn:aws:kms:us-east-1:123456789012:key/{}", key.id),
            "arn:aws:kms:us-east-1:123456789012:alias/testkey-1".to_string(),
        ] {
            let info = ring.describe(&r).unwrap_or_else(|e| panic!("{r}: {e}"));
            assert_eq!(info, KmsKeyInfo { key_id: key.id.clone(), arn: arn.clone(), enabled: true }, "{r}");
            let (dk, wrapped) = ring.generate_data_key(&r, b"c").unwrap();
            assert_eq!(wrapped.key_id, key.id);
            assert_eq!(ring.decrypt(&wrapped, b"c").unwrap().as_bytes(), dk.as_bytes());
        }
        for r in [
            "testkey-2",
            "alias/testkey-2",
            "arn:aws:kms:eu-west-1:123456789012:alias/testkey-1",
            "1234abcd-12ab-34cd-56ef-1234567890ab",
            "",
        ] {
            assert_eq!(ring.describe(r), Err(KmsError::NotFound(r.to_string())), "{r}");
            assert_eq!(ring.generate_data_key(r, b"").unwrap_err(), KmsError::NotFound(r.to_string()), "{r}");
        }
    }

    #[test]
    fn disabled_keys_neither_make_nor_open_data_keys() {
        let dir = tempfile::tempdir().unwrap();
        let ring = keyring(dir.path(), &Key256::generate());
        let key = ring.create("k").unwrap();
        let (dk, wrapped) = ring.generate_data_key("k", b"c").unwrap();
        ring.set_enabled("k", false).unwrap();
        assert!(!ring.describe("k").unwrap().enabled);
        assert_eq!(ring.generate_data_key("k", b"c").unwrap_err(), KmsError::Disabled(key.arn.clone()));
        assert_eq!(ring.decrypt(&wrapped, b"c").unwrap_err(), KmsError::Disabled(key.arn.clone()));
        ring.set_enabled("k", true).unwrap();
        assert_eq!(ring.decrypt(&wrapped, b"c").unwrap().as_bytes(), dk.as_bytes());
    }

    #[test]
    fn bad_ciphertext_context_or_version_is_invalid_ciphertext() {
        let dir = tempfile::tempdir().unwrap();
        let ring = keyring(dir.path(), &Key256::generate());
        ring.create("a").unwrap();
        ring.create("b").unwrap();
        let (_, wrapped) = ring.generate_data_key("a", b"c").unwrap();
        assert_eq!(ring.decrypt(&wrapped, b"other").unwrap_err(), KmsError::InvalidCiphertext);
        let mut flipped = wrapped.clone();
        let mut bytes = B64.decode(&flipped.ciphertext).unwrap();
        bytes[20] ^= 1;
        flipped.ciphertext = B64.encode(bytes);
        assert_eq!(ring.decrypt(&flipped, b"c").unwrap_err(), KmsError::InvalidCiphertext);
        let not_base64 = WrappedDataKey { ciphertext: "!!".into(), ..wrapped.clone() };
        assert_eq!(ring.decrypt(&not_base64, b"c").unwrap_err(), KmsError::InvalidCiphertext);
        let no_such_version = WrappedDataKey { version: 9, ..wrapped.clone() };
        assert_eq!(ring.decrypt(&no_such_version, b"c").unwrap_err(), KmsError::InvalidCiphertext);
        ring.rotate("a").unwrap();
        let wrong_version = WrappedDataKey { version: 2, ..wrapped.clone() };
        assert_eq!(ring.decrypt(&wrong_version, b"c").unwrap_err(), KmsError::InvalidCiphertext);
        let other_key = WrappedDataKey { key_id: ring.describe("b").unwrap().key_id, ..wrapped.clone() };
        assert_eq!(ring.decrypt(&other_key, b"c").unwrap_err(), KmsError::InvalidCiphertext);
        let gone = WrappedDataKey { key_id: "1234abcd-12ab-34cd-56ef-1234567890ab".into(), ..wrapped };
        assert!(matches!(ring.decrypt(&gone, b"c"), Err(KmsError::NotFound(_))));
    }

    #[test]
    fn another_process_s_changes_apply_to_the_next_request() {
        let dir = tempfile::tempdir().unwrap();
        let master = Key256::generate();
        let server: std::sync::Arc<dyn KeyProvider> = std::sync::Arc::new(keyring(dir.path(), &master));
        let admin = keyring(dir.path(), &master);
        assert!(matches!(server.generate_data_key("k", b""), Err(KmsError::NotFound(_))));
        admin.create("k").unwrap();
        let (dk, wrapped) = server.generate_data_key("k", b"").unwrap();
        admin.rotate("k").unwrap();
        assert_eq!(server.generate_data_key("k", b"").unwrap().1.version, 2);
        admin.set_enabled("k", false).unwrap();
        assert!(matches!(server.decrypt(&wrapped, b""), Err(KmsError::Disabled(_))));
        admin.set_enabled("k", true).unwrap();
        assert_eq!(server.decrypt(&wrapped, b"").unwrap().as_bytes(), dk.as_bytes());
    }
}
