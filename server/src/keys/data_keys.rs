//! Data keys of encrypted objects: a fresh one for each write, wrapped by the master key
//! (SSE-S3), a KMS key (SSE-KMS) or the customer's key (SSE-C), and unwrapped again to read.

use super::sse_headers::CustomerKey;
use crate::http::error::{ErrorCode, S3Error, S3Result};
use actix_web::http::StatusCode;
use base64::Engine;
use coffer_crypto::envelope::{unwrap_key, wrap_key, Key256};
use coffer_crypto::kms::{KeyProvider, KmsError, WrappedDataKey};
use coffer_storage::{Encryption, EncryptionMode};
use hmac::{Hmac, KeyInit, Mac};
use rand::RngExt;
use sha2::Sha256;
use std::sync::Arc;

/// Binds SSE-S3 and SSE-C wrapped keys to their purpose.
const S3_CONTEXT: &[u8] = b"coffer sse-s3 data key";
const CUSTOMER_CONTEXT: &[u8] = b"coffer sse-c data key";
const KEY_CHECK_LABEL: &[u8] = b"coffer sse-c key check";
const SALT_LEN: usize = 16;

/// The encryption a write will get once the bucket default is applied.
#[derive(Clone, Debug)]
pub enum Mode {
    S3 { bucket_key: bool },
    /// Without a key id, the KMS's default key (S3's `aws/s3`).
    Kms { key_id: Option<String>, context: Option<String>, bucket_key: bool },
    Customer(CustomerKey),
}

/// The keys encryption is rooted in.
pub struct Keys {
    master: Key256,
    kms: Arc<dyn KeyProvider>,
}

fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::STANDARD
}

fn mac_of(key: &[u8], parts: &[&[u8]]) -> Hmac<Sha256> {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes any key length");
    for p in parts {
        mac.update(p);
    }
    mac
}

fn hmac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    mac_of(key, parts).finalize().into_bytes().into()
}

/// salt || HMAC(customer key, label || salt): recognises the key without storing it.
fn key_check(customer: &Key256, salt: &[u8]) -> Vec<u8> {
    let mut out = salt.to_vec();
    out.extend_from_slice(&hmac(customer.as_bytes(), &[KEY_CHECK_LABEL, salt]));
    out
}

/// Compares in constant time.
fn customer_key_matches(customer: &Key256, stored: &str) -> bool {
    let Ok(stored) = b64().decode(stored) else { return false };
    if stored.len() <= SALT_LEN {
        return false;
    }
    let (salt, check) = stored.split_at(SALT_LEN);
    mac_of(customer.as_bytes(), &[KEY_CHECK_LABEL, salt]).verify_slice(check).is_ok()
}

/// KMS failures as S3 reports them.
fn kms_error(e: KmsError) -> S3Error {
    match e {
        KmsError::NotFound(k) => S3Error::custom("KMS.NotFoundException", StatusCode::BAD_REQUEST, format!("Invalid keyId {k}")),
        KmsError::Disabled(k) => S3Error::custom("KMS.DisabledException", StatusCode::BAD_REQUEST, format!("{k} is disabled.")),
        KmsError::InvalidCiphertext => {
            tracing::error!("a stored SSE-KMS data key failed to decrypt (altered metadata or keyring)");
            S3Error::new(ErrorCode::InternalError)
        }
        KmsError::Unavailable(why) => S3Error::internal(format!("KMS unavailable: {why}")),
    }
}

impl Keys {
    pub fn new(master: Key256, kms: Arc<dyn KeyProvider>) -> Keys {
        Keys { master, kms }
    }

    /// A fresh data key for a new object (or upload) encrypted as `mode`, and how to find it
    /// again.
    pub fn create(&self, mode: &Mode) -> S3Result<(Key256, Encryption)> {
        let data_key = Key256::generate();
        let record = |mode, wrapped_key: Vec<u8>| Encryption::new(mode, b64().encode(wrapped_key));
        let encryption = match mode {
            Mode::S3 { bucket_key } => {
                Encryption { bucket_key: *bucket_key, ..record(EncryptionMode::S3, wrap_key(&self.master, &data_key, S3_CONTEXT)) }
            }
            Mode::Customer(c) => {
                let mut salt = [0u8; SALT_LEN];
                rand::rng().fill(&mut salt);
                Encryption {
                    key_check: Some(b64().encode(key_check(&c.key, &salt))),
                    ..record(EncryptionMode::Customer, wrap_key(&c.key, &data_key, CUSTOMER_CONTEXT))
                }
            }
            Mode::Kms { key_id, context, bucket_key } => {
                let key_id = match key_id {
                    Some(k) => k.clone(),
                    None => self.kms.default_key().map_err(kms_error)?,
                };
                let arn = self.kms.describe(&key_id).map_err(kms_error)?.arn;
                let (kms_key, wrapped) =
                    self.kms.generate_data_key(&key_id, context.as_deref().unwrap_or("").as_bytes()).map_err(kms_error)?;
                return Ok((
                    kms_key,
                    Encryption {
                        kms_key_id: Some(wrapped.key_id),
                        kms_key_version: Some(wrapped.version),
                        kms_key_arn: Some(arn),
                        kms_context: context.clone(),
                        bucket_key: *bucket_key,
                        ..Encryption::new(EncryptionMode::Kms, wrapped.ciphertext)
                    },
                ));
            }
        };
        Ok((data_key, encryption))
    }

    /// The data key of a stored object. `customer` is the SSE-C key the request carries,
    /// which SSE-C objects need (and must match) and other objects must not be sent. With
    /// `unwrap` false only the customer key is checked (HEAD needs no data key, and S3 answers
    /// it without asking the KMS).
    pub fn open(&self, enc: Option<&Encryption>, customer: Option<&CustomerKey>, unwrap: bool) -> S3Result<Option<Key256>> {
        let Some(enc) = enc else {
            return match customer {
                Some(_) => Err(S3Error::invalid_request("The encryption parameters are not applicable to this object.")),
                None => Ok(None),
            };
        };
        let wrapped = b64().decode(&enc.wrapped_key).map_err(S3Error::internal)?;
        let opened = match (enc.mode, customer) {
            (EncryptionMode::Customer, None) => {
                return Err(S3Error::invalid_request(
                    "The object was stored using a form of Server Side Encryption. The correct parameters must be provided to retrieve the object.",
                ))
            }
            (EncryptionMode::Customer, Some(c)) => {
                if !enc.key_check.as_deref().is_some_and(|check| customer_key_matches(&c.key, check)) {
                    return Err(S3Error::new(ErrorCode::AccessDenied)
                        .with_message("The provided SSE-C key does not match the key the object was encrypted with."));
                }
                if !unwrap {
                    return Ok(None);
                }
                unwrap_key(&c.key, &wrapped, CUSTOMER_CONTEXT)
            }
            (_, Some(_)) => return Err(S3Error::invalid_request("The encryption parameters are not applicable to this object.")),
            _ if !unwrap => return Ok(None),
            (EncryptionMode::S3, None) => unwrap_key(&self.master, &wrapped, S3_CONTEXT),
            (EncryptionMode::Kms, None) => {
                let handle = WrappedDataKey {
                    key_id: enc.kms_key_id.clone().unwrap_or_default(),
                    version: enc.kms_key_version.unwrap_or(1),
                    ciphertext: enc.wrapped_key.clone(),
                };
                return self
                    .kms
                    .decrypt(&handle, enc.kms_context.as_deref().unwrap_or("").as_bytes())
                    .map(Some)
                    .map_err(kms_error);
            }
        };
        opened.map(Some).map_err(|e| {
            tracing::error!(error = %e, "a stored data key failed to unwrap (altered metadata or a different master key)");
            S3Error::new(ErrorCode::InternalError)
        })
    }
}

/// The ETag of an SSE-KMS or SSE-C object: derived from the plaintext MD5 under the data
/// key, so it identifies the content without revealing the plaintext's digest.
pub fn opaque_md5(data_key: &Key256, md5: &[u8; 16]) -> [u8; 16] {
    let mac = hmac(data_key.as_bytes(), &[b"coffer etag", md5]);
    mac[..16].try_into().expect("16 of 32 bytes")
}

#[cfg(test)]
mod tests {
    use super::*;

    struct NoKms;
    impl KeyProvider for NoKms {
        fn describe(&self, key_ref: &str) -> Result<coffer_crypto::kms::KmsKeyInfo, KmsError> {
            Err(KmsError::NotFound(key_ref.into()))
        }
        fn generate_data_key(&self, key_ref: &str, _: &[u8]) -> Result<(Key256, WrappedDataKey), KmsError> {
            Err(KmsError::NotFound(key_ref.into()))
        }
        fn decrypt(&self, w: &WrappedDataKey, _: &[u8]) -> Result<Key256, KmsError> {
            Err(KmsError::NotFound(w.key_id.clone()))
        }
        fn default_key(&self) -> Result<String, KmsError> {
            Err(KmsError::Unavailable("no keyring".into()))
        }
    }

    fn keys() -> Keys {
        Keys::new(Key256::generate(), Arc::new(NoKms))
    }

    fn customer(byte: u8) -> CustomerKey {
        CustomerKey { key: Key256::from_bytes([byte; 32]), key_md5: String::new() }
    }

    #[test]
    fn sse_s3_keys_unwrap_with_the_master_key() {
        let k = keys();
        let (dk, enc) = k.create(&Mode::S3 { bucket_key: false }).unwrap();
        assert_eq!(k.open(Some(&enc), None, true).unwrap().unwrap().as_bytes(), dk.as_bytes());
        assert_eq!(k.open(Some(&enc), Some(&customer(1)), true).unwrap_err().code, "InvalidRequest");
        let other = keys();
        assert_eq!(other.open(Some(&enc), None, true).unwrap_err().code, "InternalError");
    }

    #[test]
    fn sse_c_needs_the_same_customer_key() {
        let k = keys();
        let (dk, enc) = k.create(&Mode::Customer(customer(1))).unwrap();
        assert!(!enc.wrapped_key.is_empty() && enc.key_check.is_some());
        assert_eq!(k.open(Some(&enc), Some(&customer(1)), true).unwrap().unwrap().as_bytes(), dk.as_bytes());
        let wrong = k.open(Some(&enc), Some(&customer(2)), true).unwrap_err();
        assert_eq!((wrong.code, wrong.status.as_u16()), ("AccessDenied", 403));
        let missing = k.open(Some(&enc), None, true).unwrap_err();
        assert_eq!((missing.code, missing.status.as_u16()), ("InvalidRequest", 400));
        assert_eq!(k.open(None, Some(&customer(1)), true).unwrap_err().code, "InvalidRequest");
    }

    #[test]
    fn unknown_kms_keys_are_s3_kms_errors() {
        let e = keys().create(&Mode::Kms { key_id: Some("nope".into()), context: None, bucket_key: false }).unwrap_err();
        assert_eq!((e.code, e.status.as_u16()), ("KMS.NotFoundException", 400));
    }

    #[test]
    fn opaque_etags_differ_from_the_md5_and_per_key() {
        let md5 = [9u8; 16];
        let a = opaque_md5(&Key256::from_bytes([1; 32]), &md5);
        assert_ne!(a, md5);
        assert_ne!(a, opaque_md5(&Key256::from_bytes([2; 32]), &md5));
    }
}
