//! Time-based one-time passwords (RFC 6238: HMAC-SHA1, 30-second steps, 6 digits), the codes
//! an authenticator app shows for a device registered with `coffer admin mfa enable`.

use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;

const STEP_SECONDS: u64 = 30;
const DIGITS: u32 = 6;
/// Codes from this many steps before or after now are accepted (clock drift).
const DRIFT_STEPS: u64 = 1;

/// A fresh 160-bit secret.
pub fn new_secret() -> Vec<u8> {
    rand::random::<[u8; 20]>().to_vec()
}

/// The secret as authenticator apps take it: base32 without padding.
pub fn secret_base32(secret: &[u8]) -> String {
    data_encoding::BASE32_NOPAD.encode(secret)
}

pub fn secret_from_base32(s: &str) -> Option<Vec<u8>> {
    data_encoding::BASE32_NOPAD.decode(s.trim_end_matches('=').as_bytes()).ok()
}

/// The code for the 30-second step that contains `unix_seconds`.
pub fn code_at(secret: &[u8], unix_seconds: u64) -> String {
    hotp(secret, unix_seconds / STEP_SECONDS)
}

fn hotp(secret: &[u8], counter: u64) -> String {
    let mut mac = <Hmac<Sha1> as KeyInit>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(&counter.to_be_bytes());
    let digest = mac.finalize().into_bytes();
    let offset = (digest[digest.len() - 1] & 0x0f) as usize;
    let binary = u32::from_be_bytes([digest[offset] & 0x7f, digest[offset + 1], digest[offset + 2], digest[offset + 3]]);
    format!("{:0width$}", binary % 10u32.pow(DIGITS), width = DIGITS as usize)
}

/// Whether `code` is valid for `secret` at `unix_seconds`, allowing one step of drift.
pub fn verify(secret: &[u8], code: &str, unix_seconds: u64) -> bool {
    let step = unix_seconds / STEP_SECONDS;
    (step.saturating_sub(DRIFT_STEPS)..=step + DRIFT_STEPS).any(|s| constant_time_eq(hotp(secret, s).as_bytes(), code.trim().as_bytes()))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 6238 appendix B, SHA-1 rows (the RFC prints 8 digits; 6-digit codes are their last six).
    const RFC_SECRET: &[u8] = b"12345678901234567890";

    #[test]
    fn rfc6238_vectors() {
        for (t, eight) in [(59u64, "94287082"), (1111111109, "07081804"), (1111111111, "14050471"), (1234567890, "89005924"), (2000000000, "69279037")] {
            assert_eq!(code_at(RFC_SECRET, t), eight[2..], "t={t}");
        }
    }

    #[test]
    fn drift_of_one_step_is_accepted() {
        let code = code_at(RFC_SECRET, 1_000_000);
        assert!(verify(RFC_SECRET, &code, 1_000_000 + 30));
        assert!(verify(RFC_SECRET, &code, 1_000_000 - 30));
        assert!(!verify(RFC_SECRET, &code, 1_000_000 + 95));
        assert!(!verify(RFC_SECRET, "000000x", 1_000_000));
    }

    #[test]
    fn base32_round_trip() {
        let s = new_secret();
        assert_eq!(secret_from_base32(&secret_base32(&s)).unwrap(), s);
        assert_eq!(secret_base32(b"12345678901234567890"), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
    }
}
