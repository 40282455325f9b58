//! Cryptographic primitives: SigV4's HMAC-SHA256, SHA-256, signing-key derivation and
//! string to sign; SigV2's base64 HMAC-SHA1; constant-time comparison.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256};

/// The algorithm name at the start of every SigV4 string to sign.
pub(crate) const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// Lowercase hex SHA-256 of the empty string.
pub(crate) const EMPTY_SHA256_HEX: &str =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

pub(crate) type HmacSha256 = Hmac<Sha256>;

/// A keyed HMAC-SHA256 instance; clone it to sign several messages with one key.
pub(crate) fn hmac_keyed(key: &[u8]) -> HmacSha256 {
    // HMAC accepts keys of every length, so this cannot fail.
    <HmacSha256 as KeyInit>::new_from_slice(key).expect("HMAC takes keys of any length")
}

/// HMAC-SHA256(key, data).
pub(crate) fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = hmac_keyed(key);
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// HMAC-SHA256 of `data` with a pre-keyed instance.
pub(crate) fn hmac_with(keyed: &HmacSha256, data: &[u8]) -> [u8; 32] {
    let mut mac = keyed.clone();
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// Base64 HMAC-SHA1(key, data): a SigV2 signature.
pub(crate) fn hmac_sha1_base64(key: &[u8], data: &[u8]) -> String {
    let mut mac =
        <Hmac<Sha1> as KeyInit>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(data);
    BASE64.encode(mac.finalize().into_bytes())
}

/// SHA-256(data).
pub(crate) fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// Lowercase hex SHA-256(data).
pub(crate) fn sha256_hex(data: &[u8]) -> String {
    hex::encode(sha256(data))
}

/// kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request").
pub(crate) fn derive_signing_key(
    secret: &str,
    date: &str,
    region: &str,
    service: &str,
) -> [u8; 32] {
    let mut k_secret = Vec::with_capacity(4 + secret.len());
    k_secret.extend_from_slice(b"AWS4");
    k_secret.extend_from_slice(secret.as_bytes());
    let k_date = hmac(&k_secret, date.as_bytes());
    let k_region = hmac(&k_date, region.as_bytes());
    let k_service = hmac(&k_region, service.as_bytes());
    hmac(&k_service, b"aws4_request")
}

/// The request string to sign: algorithm, timestamp, scope and the canonical request's hash.
pub(crate) fn request_string_to_sign(
    amz_date: &str,
    scope: &str,
    canonical_request: &[u8],
) -> String {
    format!(
        "{ALGORITHM}\n{amz_date}\n{scope}\n{}",
        sha256_hex(canonical_request)
    )
}

/// Constant-time equality of two byte strings (the lengths are not secret).
pub(crate) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Parses a 64-digit hex signature (either case).
pub(crate) fn parse_signature(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    hex::decode_to_slice(s, &mut out).ok()?;
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_hash_constant() {
        assert_eq!(sha256_hex(b""), EMPTY_SHA256_HEX);
    }

    #[test]
    fn signing_key_matches_aws_example() {
        // AWS General Reference, "Examples of how to derive a signing key for Signature Version 4".
        let key = derive_signing_key(
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            "20120215",
            "us-east-1",
            "iam",
        );
        assert_eq!(
            hex::encode(key),
            "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"
        );
    }

    #[test]
    fn ct_eq_works() {
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"ab"));
    }

    #[test]
    fn signature_parsing() {
        assert!(parse_signature(&"a".repeat(64)).is_some());
        assert!(parse_signature(&"A".repeat(64)).is_some());
        assert!(parse_signature(&"a".repeat(63)).is_none());
        assert!(parse_signature(&"g".repeat(64)).is_none());
    }
}
