//! Server-side encryption as the handlers see it: how a new object is encrypted (its SSE
//! headers, else the bucket's default), the data key a read needs, and the SSE headers S3
//! answers with. The bytes themselves are sealed and opened by the store.

pub use crate::keys::data_keys::{Keys, Mode};
pub use crate::keys::sse_headers::{CustomerHeaders, COPY_SOURCE_CUSTOMER, CUSTOMER};

use crate::http::error::{S3Error, S3Result};
use crate::state::AppState;
use actix_web::http::header::HeaderMap;
use actix_web::HttpResponseBuilder;
use coffer_crypto::envelope::Key256;
use coffer_storage::{Encryption, EncryptionMode};
use crate::keys::sse_headers::{self, Requested};

/// How a new object's bytes are encrypted: its data key and what is stored to recover it.
pub struct Sealing {
    pub key: Key256,
    pub encryption: Encryption,
    /// For SSE-C, the MD5 of the customer's key, repeated in responses.
    pub customer_md5: Option<String>,
}

impl Sealing {
    /// What the ETag is made from: the plaintext MD5 for SSE-S3 (as S3 does), a keyed
    /// digest of it for SSE-KMS and SSE-C, whose ETags must not reveal the content's MD5.
    pub fn etag_md5(&self, md5: [u8; 16]) -> [u8; 16] {
        match self.encryption.mode {
            EncryptionMode::S3 => md5,
            EncryptionMode::Kms | EncryptionMode::Customer => crate::keys::data_keys::opaque_md5(&self.key, &md5),
        }
    }

    pub fn headers(&self, resp: &mut HttpResponseBuilder) {
        response_headers(resp, Some(&self.encryption), self.customer_md5.as_deref());
    }
}

/// The bucket's default encryption, as a mode a write can take.
async fn bucket_default(state: &AppState, bucket_id: i64) -> S3Result<Option<Mode>> {
    use crate::bucket_config::encryption::{default_encryption, DefaultAlgorithm};
    let Some(d) = default_encryption(&state.store, bucket_id).await? else { return Ok(None) };
    Ok(Some(match d.algorithm {
        DefaultAlgorithm::Aes256 => Mode::S3 { bucket_key: d.bucket_key },
        DefaultAlgorithm::Kms { key_id } => Mode::Kms { key_id, context: None, bucket_key: d.bucket_key },
    }))
}

/// The encryption of a new object written with `headers` into bucket `bucket_id`: what the
/// headers ask for, else the bucket's default, else none.
pub async fn for_write(state: &AppState, bucket_id: i64, headers: &HeaderMap) -> S3Result<Option<Sealing>> {
    let mode = match sse_headers::requested(headers, state.sse_c_allowed())? {
        Requested::Nothing => bucket_default(state, bucket_id).await?,
        Requested::S3 { bucket_key } => Some(Mode::S3 { bucket_key: bucket_key.unwrap_or(false) }),
        Requested::Kms { key_id, context, bucket_key } => {
            // aws:kms without a key takes the key of the bucket's default, else the KMS's own.
            let key_id = match key_id {
                Some(k) => Some(k),
                None => match bucket_default(state, bucket_id).await? {
                    Some(Mode::Kms { key_id, .. }) => key_id,
                    _ => None,
                },
            };
            Some(Mode::Kms { key_id, context, bucket_key: bucket_key.unwrap_or(false) })
        }
        Requested::Customer(c) => Some(Mode::Customer(c)),
    };
    let Some(mode) = mode else { return Ok(None) };
    let customer_md5 = match &mode {
        Mode::Customer(c) => Some(c.key_md5.clone()),
        _ => None,
    };
    let (key, encryption) = state.keys.create(&mode)?;
    Ok(Some(Sealing { key, encryption, customer_md5 }))
}

/// What a read of an encrypted object needs: its data key, and the SSE-C key's MD5 to repeat.
pub struct Unsealing {
    pub key: Option<Key256>,
    pub customer_md5: Option<String>,
}

/// The data key to read an object stored with `encryption`, given the SSE-C headers of the
/// request under `names` (the object's own, or the copy source's).
pub fn for_read(state: &AppState, encryption: Option<&Encryption>, headers: &HeaderMap, names: &CustomerHeaders) -> S3Result<Unsealing> {
    unsealing(state, encryption, headers, names, true)
}

/// What HEAD checks: the SSE-C key, as for a read, but no data key is unwrapped.
pub fn for_head(state: &AppState, encryption: Option<&Encryption>, headers: &HeaderMap) -> S3Result<Unsealing> {
    unsealing(state, encryption, headers, &CUSTOMER, false)
}

fn unsealing(state: &AppState, encryption: Option<&Encryption>, headers: &HeaderMap, names: &CustomerHeaders, unwrap: bool) -> S3Result<Unsealing> {
    let customer = sse_headers::customer_key(headers, names, state.sse_c_allowed())?;
    let key = state.keys.open(encryption, customer.as_ref(), unwrap)?;
    Ok(Unsealing { key, customer_md5: customer.map(|c| c.key_md5) })
}

/// How a part of an upload created with `encryption` is sealed: under the upload's data key,
/// which for SSE-C needs the customer's key again with every part.
pub fn for_upload(state: &AppState, encryption: Option<&Encryption>, headers: &HeaderMap) -> S3Result<Option<Sealing>> {
    let unsealing = for_read(state, encryption, headers, &CUSTOMER).map_err(upload_key_mismatch)?;
    Ok(match (unsealing.key, encryption) {
        (Some(key), Some(enc)) => Some(Sealing { key, encryption: enc.clone(), customer_md5: unsealing.customer_md5 }),
        _ => None,
    })
}

/// Within an upload, a customer key other than the one it was created with is a bad argument
/// (400), not a denied read.
fn upload_key_mismatch(e: S3Error) -> S3Error {
    if e.status == actix_web::http::StatusCode::FORBIDDEN {
        S3Error::invalid_argument("The SSE-C key does not match the key the multipart upload was created with.")
    } else {
        e
    }
}

/// Checks the SSE-C key a CompleteMultipartUpload carries (see `carries_customer_key`)
/// against the upload's; returns the key's MD5 to repeat.
pub fn check_complete_key(state: &AppState, encryption: Option<&Encryption>, headers: &HeaderMap) -> S3Result<Option<String>> {
    Ok(for_upload(state, encryption, headers)?.and_then(|s| s.customer_md5))
}

/// Whether a request carries SSE-C headers for its object.
pub fn carries_customer_key(headers: &HeaderMap) -> bool {
    sse_headers::has_customer_headers(headers, &CUSTOMER)
}

/// Whether a request names an encryption of its own (SSE-S3, SSE-KMS or SSE-C headers).
pub fn asks_for_encryption(headers: &HeaderMap) -> bool {
    headers.contains_key(sse_headers::SSE) || carries_customer_key(headers)
}

/// GET and HEAD refuse SSE-S3/KMS request headers, as S3 does.
pub fn refuse_on_read(headers: &HeaderMap) -> S3Result<()> {
    sse_headers::refuse_sse_on_read(headers)
}

/// The SSE headers of a response about an object stored with `encryption`.
pub fn response_headers(resp: &mut HttpResponseBuilder, encryption: Option<&Encryption>, customer_md5: Option<&str>) {
    let Some(enc) = encryption else { return };
    match enc.mode {
        EncryptionMode::S3 => {
            resp.insert_header((sse_headers::SSE, "AES256"));
        }
        EncryptionMode::Kms => {
            resp.insert_header((sse_headers::SSE, "aws:kms"));
            if let Some(arn) = &enc.kms_key_arn {
                resp.insert_header((sse_headers::KMS_KEY_ID, arn.clone()));
            }
        }
        EncryptionMode::Customer => {
            resp.insert_header(("x-amz-server-side-encryption-customer-algorithm", "AES256"));
            if let Some(md5) = customer_md5 {
                resp.insert_header(("x-amz-server-side-encryption-customer-key-md5", md5.to_string()));
            }
        }
    }
    if enc.bucket_key {
        resp.insert_header((sse_headers::BUCKET_KEY, "true"));
    }
}
