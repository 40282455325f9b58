//! A small bounded cache of derived SigV4 signing keys, keyed by (access key, date, region),
//! so the four-HMAC derivation runs once per key and day instead of on every request.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};

use crate::signing::{derive_signing_key, sha256};

/// Past this many entries the cache is emptied and refilled (keys change daily anyway).
const MAX_ENTRIES: usize = 4096;

struct Entry {
    /// SHA-256 of the secret the key was derived from, so a rotated secret misses.
    secret_fingerprint: [u8; 32],
    key: [u8; 32],
}

static CACHE: LazyLock<Mutex<HashMap<String, Entry>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// The S3 signing key for `secret` on `date` (YYYYMMDD) in `region`, cached.
pub(crate) fn signing_key(access_key: &str, secret: &str, date: &str, region: &str) -> [u8; 32] {
    let id = format!("{access_key}\n{date}\n{region}");
    let fingerprint = sha256(secret.as_bytes());
    {
        let cache = CACHE.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(e) = cache.get(&id) {
            if e.secret_fingerprint == fingerprint {
                return e.key;
            }
        }
    }
    let key = derive_signing_key(secret, date, region, "s3");
    let mut cache = CACHE.lock().unwrap_or_else(|p| p.into_inner());
    if cache.len() >= MAX_ENTRIES {
        cache.clear();
    }
    cache.insert(
        id,
        Entry {
            secret_fingerprint: fingerprint,
            key,
        },
    );
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cached_key_equals_derived_key_and_follows_secret_changes() {
        let a = signing_key("KC-TEST", "secret-one", "20240101", "us-east-1");
        assert_eq!(
            a,
            derive_signing_key("secret-one", "20240101", "us-east-1", "s3")
        );
        assert_eq!(
            a,
            signing_key("KC-TEST", "secret-one", "20240101", "us-east-1")
        );
        let b = signing_key("KC-TEST", "secret-two", "20240101", "us-east-1");
        assert_ne!(a, b);
        assert_eq!(
            b,
            derive_signing_key("secret-two", "20240101", "us-east-1", "s3")
        );
    }

    #[test]
    fn stays_bounded() {
        for i in 0..(MAX_ENTRIES + 10) {
            signing_key(&format!("KC-BOUND-{i}"), "s", "20240101", "us-east-1");
        }
        assert!(CACHE.lock().unwrap().len() <= MAX_ENTRIES);
    }
}
