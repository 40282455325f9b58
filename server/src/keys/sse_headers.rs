//! Reading the SSE headers of a request: which encryption a write asks for, and the SSE-C
//! customer key (or copy-source key) a request carries, each checked as S3 checks them.

use crate::http::error::{S3Error, S3Result};
use actix_web::http::header::HeaderMap;
use base64::Engine;
use coffer_crypto::envelope::Key256;
use md5::{Digest, Md5};

pub const SSE: &str = "x-amz-server-side-encryption";
pub const KMS_KEY_ID: &str = "x-amz-server-side-encryption-aws-kms-key-id";
pub const KMS_CONTEXT: &str = "x-amz-server-side-encryption-context";
pub const BUCKET_KEY: &str = "x-amz-server-side-encryption-bucket-key-enabled";

/// The SSE-C headers, for the object itself or for a copy source.
pub struct CustomerHeaders {
    algorithm: &'static str,
    key: &'static str,
    key_md5: &'static str,
}

pub const CUSTOMER: CustomerHeaders = CustomerHeaders {
    algorithm: "x-amz-server-side-encryption-customer-algorithm",
    key: "x-amz-server-side-encryption-customer-key",
    key_md5: "x-amz-server-side-encryption-customer-key-md5",
};

pub const COPY_SOURCE_CUSTOMER: CustomerHeaders = CustomerHeaders {
    algorithm: "x-amz-copy-source-server-side-encryption-customer-algorithm",
    key: "x-amz-copy-source-server-side-encryption-customer-key",
    key_md5: "x-amz-copy-source-server-side-encryption-customer-key-md5",
};

/// A customer-provided key (SSE-C), checked against its MD5.
#[derive(Clone, Debug)]
pub struct CustomerKey {
    pub key: Key256,
    /// Base64 MD5 of the key, as S3 repeats it in responses.
    pub key_md5: String,
}

/// The encryption a write asks for in its headers.
#[derive(Clone, Debug)]
pub enum Requested {
    /// No SSE headers: the bucket's default applies.
    Nothing,
    /// SSE-S3 (AES256).
    S3 { bucket_key: Option<bool> },
    /// SSE-KMS with an optional key and encryption context (base64 JSON, as sent).
    Kms { key_id: Option<String>, context: Option<String>, bucket_key: Option<bool> },
    /// SSE-C.
    Customer(CustomerKey),
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn customer_error(message: &str) -> S3Error {
    S3Error::invalid_argument(message)
}

/// Whether the request carries any of these SSE-C headers.
pub fn has_customer_headers(headers: &HeaderMap, names: &CustomerHeaders) -> bool {
    [names.algorithm, names.key, names.key_md5].iter().any(|h| headers.contains_key(*h))
}

/// The SSE-C key a request carries under `names`, if any; errors for incomplete or
/// inconsistent headers. `secure` says whether the connection may carry keys.
pub fn customer_key(headers: &HeaderMap, names: &CustomerHeaders, secure: bool) -> S3Result<Option<CustomerKey>> {
    if !has_customer_headers(headers, names) {
        return Ok(None);
    }
    if !secure {
        return Err(S3Error::invalid_request(
            "Requests specifying Server Side Encryption with Customer provided keys must be made over a secure connection.",
        ));
    }
    match header(headers, names.algorithm) {
        None => {
            return Err(customer_error(
                "Requests specifying Server Side Encryption with Customer provided keys must provide a valid encryption algorithm.",
            )
            .with("ArgumentName", names.algorithm))
        }
        Some("AES256") => {}
        Some(other) => {
            return Err(S3Error::custom(
                "InvalidEncryptionAlgorithmError",
                actix_web::http::StatusCode::BAD_REQUEST,
                "The Encryption request you specified is not valid. Supported value: AES256.",
            )
            .with("ArgumentName", names.algorithm)
            .with("ArgumentValue", other))
        }
    }
    let b64 = base64::engine::general_purpose::STANDARD;
    let raw = header(headers, names.key).ok_or_else(|| {
        customer_error("Requests specifying Server Side Encryption with Customer provided keys must provide an appropriate secret key.")
            .with("ArgumentName", names.key)
    })?;
    let key = b64
        .decode(raw.trim())
        .ok()
        .and_then(|k| Key256::from_slice(&k))
        .ok_or_else(|| customer_error("The secret key was invalid for the specified algorithm.").with("ArgumentName", names.key))?;
    let sent_md5 = header(headers, names.key_md5).ok_or_else(|| {
        customer_error(
            "Requests specifying Server Side Encryption with Customer provided keys must provide the client calculated MD5 of the secret key.",
        )
        .with("ArgumentName", names.key_md5)
    })?;
    let actual_md5 = b64.encode(Md5::digest(key.as_bytes()));
    if sent_md5.trim() != actual_md5 {
        return Err(customer_error("The calculated MD5 hash of the key did not match the hash that was provided.")
            .with("ArgumentName", names.key_md5));
    }
    Ok(Some(CustomerKey { key, key_md5: actual_md5 }))
}

fn bucket_key_flag(headers: &HeaderMap) -> S3Result<Option<bool>> {
    match header(headers, BUCKET_KEY).map(|v| v.trim().to_ascii_lowercase()) {
        None => Ok(None),
        Some(v) if v == "true" => Ok(Some(true)),
        Some(v) if v == "false" => Ok(Some(false)),
        Some(_) => Err(S3Error::invalid_argument("The bucket key setting must be true or false").with("ArgumentName", BUCKET_KEY)),
    }
}

/// An encryption context must be base64 of a JSON object whose values are strings.
fn check_context(raw: &str) -> S3Result<()> {
    let bad = || S3Error::invalid_argument("The encryption context is not valid base64-encoded JSON").with("ArgumentName", KMS_CONTEXT);
    let json = base64::engine::general_purpose::STANDARD.decode(raw.trim()).map_err(|_| bad())?;
    match serde_json::from_slice::<serde_json::Value>(&json) {
        Ok(serde_json::Value::Object(map)) if map.values().all(|v| v.is_string()) => Ok(()),
        _ => Err(bad()),
    }
}

/// The encryption a write (PUT, POST, copy destination, new multipart upload) asks for.
pub fn requested(headers: &HeaderMap, secure: bool) -> S3Result<Requested> {
    let customer = customer_key(headers, &CUSTOMER, secure)?;
    let sse = header(headers, SSE);
    let kms_key = header(headers, KMS_KEY_ID).map(str::to_string);
    let context = header(headers, KMS_CONTEXT).map(str::to_string);
    let bucket_key = bucket_key_flag(headers)?;
    if let Some(c) = customer {
        if sse.is_some() || kms_key.is_some() || context.is_some() {
            return Err(S3Error::invalid_argument(
                "Server Side Encryption with Customer provided key is incompatible with the encryption method specified",
            ));
        }
        return Ok(Requested::Customer(c));
    }
    let kms_only = |what: &str| {
        S3Error::invalid_argument(format!("{what} is only allowed with x-amz-server-side-encryption: aws:kms"))
    };
    match sse {
        None if kms_key.is_some() => Err(kms_only("x-amz-server-side-encryption-aws-kms-key-id").with("ArgumentName", KMS_KEY_ID)),
        None if context.is_some() => Err(kms_only("x-amz-server-side-encryption-context").with("ArgumentName", KMS_CONTEXT)),
        None => Ok(Requested::Nothing),
        Some("AES256") if kms_key.is_some() => Err(kms_only("x-amz-server-side-encryption-aws-kms-key-id").with("ArgumentName", KMS_KEY_ID)),
        Some("AES256") if context.is_some() => Err(kms_only("x-amz-server-side-encryption-context").with("ArgumentName", KMS_CONTEXT)),
        Some("AES256") => Ok(Requested::S3 { bucket_key }),
        Some("aws:kms") => {
            if let Some(c) = &context {
                check_context(c)?;
            }
            let key_id = kms_key.filter(|k| !k.trim().is_empty());
            Ok(Requested::Kms { key_id, context, bucket_key })
        }
        Some(other) => Err(S3Error::invalid_argument("The encryption method specified is not supported")
            .with("ArgumentName", SSE)
            .with("ArgumentValue", other)),
    }
}

/// GET and HEAD take no SSE-S3/KMS headers (S3 refuses them); SSE-C headers are read apart.
pub fn refuse_sse_on_read(headers: &HeaderMap) -> S3Result<()> {
    for name in [SSE, KMS_KEY_ID, KMS_CONTEXT] {
        if headers.contains_key(name) {
            return Err(S3Error::invalid_argument(format!("{name} header is not supported for this operation."))
                .with("ArgumentName", name));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::{HeaderName, HeaderValue};

    const KEY: &str = "pO3upElrwuEXSoFwCfnZPdSsmt/xWeFa0N9KgDijwVs=";
    const KEY_MD5: &str = "DWygnHRtgiJ77HCm+1rvHw==";

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(HeaderName::from_bytes(k.as_bytes()).unwrap(), HeaderValue::from_str(v).unwrap());
        }
        h
    }

    fn sse_c(extra: &[(&str, &str)]) -> HeaderMap {
        let mut pairs = vec![(CUSTOMER.algorithm, "AES256"), (CUSTOMER.key, KEY), (CUSTOMER.key_md5, KEY_MD5)];
        pairs.extend_from_slice(extra);
        headers(&pairs)
    }

    fn code(r: S3Result<Requested>) -> (&'static str, u16) {
        let e = r.unwrap_err();
        (e.code, e.status.as_u16())
    }

    #[test]
    fn modes_are_recognised() {
        assert!(matches!(requested(&headers(&[]), true).unwrap(), Requested::Nothing));
        assert!(matches!(requested(&headers(&[(SSE, "AES256")]), true).unwrap(), Requested::S3 { .. }));
        let kms = requested(&headers(&[(SSE, "aws:kms"), (KMS_KEY_ID, "k1"), (BUCKET_KEY, "true")]), true).unwrap();
        assert!(matches!(kms, Requested::Kms { key_id: Some(ref k), bucket_key: Some(true), .. } if k == "k1"));
        match requested(&sse_c(&[]), true).unwrap() {
            Requested::Customer(c) => assert_eq!(c.key_md5, KEY_MD5),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn conflicts_and_bad_values_are_invalid_arguments() {
        assert_eq!(code(requested(&headers(&[(SSE, "aes:kms")]), true)), ("InvalidArgument", 400));
        assert_eq!(code(requested(&headers(&[(SSE, "AES256"), (KMS_KEY_ID, "k")]), true)), ("InvalidArgument", 400));
        assert_eq!(code(requested(&headers(&[(KMS_KEY_ID, "k")]), true)), ("InvalidArgument", 400));
        assert_eq!(code(requested(&sse_c(&[(SSE, "aws:kms")]), true)), ("InvalidArgument", 400));
        assert_eq!(code(requested(&headers(&[(SSE, "aws:kms"), (KMS_CONTEXT, "not base64!")]), true)), ("InvalidArgument", 400));
        let ctx = base64::engine::general_purpose::STANDARD.encode(r#"{"a":"b"}"#);
        assert!(requested(&headers(&[(SSE, "aws:kms"), (KMS_CONTEXT, &ctx)]), true).is_ok());
    }

    #[test]
    fn customer_keys_are_checked() {
        let bad_md5 = headers(&[(CUSTOMER.algorithm, "AES256"), (CUSTOMER.key, KEY), (CUSTOMER.key_md5, "AAAAAAAAAAAAAAAAAAAAAA==")]);
        assert_eq!(code(requested(&bad_md5, true)), ("InvalidArgument", 400));
        let no_md5 = headers(&[(CUSTOMER.algorithm, "AES256"), (CUSTOMER.key, KEY)]);
        assert_eq!(code(requested(&no_md5, true)), ("InvalidArgument", 400));
        let no_key = headers(&[(CUSTOMER.algorithm, "AES256")]);
        assert_eq!(code(requested(&no_key, true)), ("InvalidArgument", 400));
        let no_algorithm = headers(&[(CUSTOMER.key, KEY), (CUSTOMER.key_md5, KEY_MD5)]);
        assert_eq!(code(requested(&no_algorithm, true)), ("InvalidArgument", 400));
        let short = headers(&[(CUSTOMER.algorithm, "AES256"), (CUSTOMER.key, "c2hvcnQ="), (CUSTOMER.key_md5, KEY_MD5)]);
        assert_eq!(code(requested(&short, true)), ("InvalidArgument", 400));
        assert_eq!(code(requested(&sse_c(&[(CUSTOMER.algorithm, "AES128")]), true)).0, "InvalidEncryptionAlgorithmError");
        assert_eq!(code(requested(&sse_c(&[]), false)), ("InvalidRequest", 400));
    }

    #[test]
    fn reads_refuse_sse_headers() {
        assert!(refuse_sse_on_read(&headers(&[(SSE, "AES256")])).is_err());
        assert!(refuse_sse_on_read(&sse_c(&[])).is_ok());
    }
}
