//! The SigV4 checks that header-signed requests (sigv4.rs) and presigned URLs (presign.rs)
//! share: which headers must be signed, and the signature comparison that yields [`Verified`].

use std::time::SystemTime;

use http::HeaderMap;

use crate::canonical::{canonical_headers, canonical_query, canonical_request, canonical_uri};
use crate::credential::Credential;
use crate::error::{AuthError, SignatureMismatch};
use crate::payload::{build_payload, Mode};
use crate::signing::{ct_eq, hmac, parse_signature, request_string_to_sign};
use crate::{keycache, SignedRequest, Verified};

/// `host` must be signed, and so must every `x-amz-*` header present (except `exempt`).
pub(crate) fn check_signed_headers(
    headers: &HeaderMap,
    signed: &[&str],
    exempt: &[&str],
) -> Result<(), AuthError> {
    let is_signed = |name: &str| signed.iter().any(|s| s.eq_ignore_ascii_case(name));
    let mut unsigned: Vec<&str> = Vec::new();
    if !is_signed("host") {
        unsigned.push("host");
    }
    for name in headers.keys() {
        let name = name.as_str();
        if name.starts_with("x-amz-") && !is_signed(name) && !exempt.contains(&name) {
            unsigned.push(name);
        }
    }
    if unsigned.is_empty() {
        Ok(())
    } else {
        Err(AuthError::AccessDenied(format!(
            "There were headers present in the request which were not signed: {}",
            unsigned.join(", ")
        )))
    }
}

/// The inputs of one signature comparison, common to header and presigned auth.
pub(crate) struct SignatureCheck<'a> {
    pub cred: &'a Credential<'a>,
    /// ISO basic timestamp as it enters the string to sign.
    pub amz_date: &'a str,
    /// The signed-headers list exactly as sent.
    pub signed_headers: &'a str,
    pub signed: &'a [&'a str],
    /// The signature as sent.
    pub signature: &'a str,
    pub payload_hash: &'a str,
    /// A presigned URL, which leaves `X-Amz-Signature` out of the canonical query.
    pub presigned: bool,
}

impl SignatureCheck<'_> {
    /// Derives the signing key from `secret`, compares the signature ([`Self::run`]) and
    /// returns what the caller is told about the request, its body declared by `mode`.
    pub(crate) fn verify(
        &self,
        req: &SignedRequest,
        params: &[(&str, &str)],
        secret: &str,
        mode: Mode,
        request_time: SystemTime,
    ) -> Result<Verified, AuthError> {
        let cred = self.cred;
        let key = keycache::signing_key(cred.access_key, secret, cred.date, cred.region);
        let seed = self.run(req, params, &key)?;
        Ok(Verified {
            access_key: cred.access_key.to_owned(),
            payload: build_payload(req.headers, mode, key, seed, self.amz_date, cred.scope())?,
            presigned: self.presigned,
            request_time,
        })
    }

    /// Computes the expected signature and compares; returns the (verified) signature.
    ///
    /// The path is first read with the characters a client should have escaped encoded as
    /// AWS `UriEncode` would; after a mismatch, and only when it differs, the path exactly as
    /// sent is tried (clients that sign what they send without escaping e.g. `(`). Both
    /// readings decode to the same key, so accepting either cannot change the request's meaning.
    pub(crate) fn run(
        &self,
        req: &SignedRequest,
        params: &[(&str, &str)],
        key: &[u8; 32],
    ) -> Result<[u8; 32], AuthError> {
        let provided = parse_signature(self.signature);
        let headers_block = canonical_headers(req.headers, self.signed)?;
        let scope = self.cred.scope();

        let encoded_uri = canonical_uri(req.raw_path);
        let mut uris = vec![encoded_uri.as_str()];
        if !req.raw_path.is_empty() && req.raw_path != encoded_uri {
            uris.push(req.raw_path);
        }
        let exclude = self.presigned;
        let query = canonical_query(params, |name| !(exclude && name == b"X-Amz-Signature"));

        let mut first: Option<(Vec<u8>, String)> = None;
        for uri in uris {
            let creq = canonical_request(
                req.method,
                uri,
                &query,
                &headers_block,
                self.signed_headers,
                self.payload_hash,
            );
            let sts = request_string_to_sign(self.amz_date, &scope, &creq);
            let expected = hmac(key, sts.as_bytes());
            if let Some(p) = provided {
                if ct_eq(&expected, &p) {
                    return Ok(p);
                }
            }
            if first.is_none() {
                first = Some((creq, sts));
            }
        }
        let (creq, sts) = first.unwrap_or_default();
        Err(AuthError::mismatch(SignatureMismatch {
            access_key: self.cred.access_key.to_owned(),
            signature_provided: self.signature.to_owned(),
            string_to_sign: sts,
            canonical_request: String::from_utf8_lossy(&creq).into_owned(),
        }))
    }
}
