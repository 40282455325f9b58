//! The trailer section of an aws-chunked body: parsing `name:value` lines, checking them
//! against `x-amz-trailer`, verifying `x-amz-trailer-signature`, and handing them out.

use std::sync::{Arc, Mutex};

use crate::error::{AuthError, SignatureMismatch};
use crate::payload::StreamingContext;
use crate::signing::{ct_eq, hmac_with, parse_signature, sha256_hex, HmacSha256};

/// The trailer that carries the signature of the others in signed-trailer mode.
const SIGNATURE_TRAILER: &str = "x-amz-trailer-signature";
/// More trailer lines than this is not a real client.
const MAX_TRAILERS: usize = 64;

/// Shared view of a decoder's verified trailers.
///
/// Empty until the decoder's stream has ended successfully; then the trailer headers as
/// lowercase `(name, value)` pairs in the order received, without `x-amz-trailer-signature`.
#[derive(Clone, Debug, Default)]
pub struct TrailerHandle(Arc<Mutex<Option<Trailers>>>);

/// Trailer headers as lowercase `(name, value)` pairs.
type Trailers = Vec<(String, String)>;

impl TrailerHandle {
    /// The verified trailers, e.g. `("x-amz-checksum-crc32", "AAAAAA==")`; empty before the end.
    pub fn get(&self) -> Vec<(String, String)> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .unwrap_or_default()
    }

    /// The value of one trailer (name compared case-insensitively).
    pub fn value(&self, name: &str) -> Option<String> {
        let guard = self.0.lock().unwrap_or_else(|p| p.into_inner());
        guard
            .as_ref()?
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    }

    /// True once the stream ended successfully and the trailers (possibly none) are final.
    pub fn is_complete(&self) -> bool {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).is_some()
    }

    pub(crate) fn publish(&self, trailers: Vec<(String, String)>) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(trailers);
    }
}

/// Trailer lines collected so far.
#[derive(Default)]
pub(crate) struct TrailerSection {
    fields: Vec<(String, String)>,
    signature: Option<[u8; 32]>,
}

impl TrailerSection {
    /// True when no line has been read.
    pub(crate) fn is_empty(&self) -> bool {
        self.fields.is_empty() && self.signature.is_none()
    }

    /// Takes one non-empty trailer line (without its CRLF).
    pub(crate) fn push_line(&mut self, line: &[u8], signed: bool) -> Result<(), AuthError> {
        let malformed = |what: &str| {
            AuthError::MalformedTrailerError(format!(
                "The request contained trailing data that was not well-formed: {what}."
            ))
        };
        if self.signature.is_some() {
            return Err(malformed("a trailer follows x-amz-trailer-signature"));
        }
        if self.fields.len() >= MAX_TRAILERS {
            return Err(malformed("too many trailers"));
        }
        let line =
            std::str::from_utf8(line).map_err(|_| malformed("a trailer is not valid UTF-8"))?;
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| malformed("a trailer line has no ':'"))?;
        let name = name.trim().to_ascii_lowercase();
        let value = value.trim();
        if name.is_empty() || !name.bytes().all(is_token_char) {
            return Err(malformed("a trailer name is invalid"));
        }
        if name == SIGNATURE_TRAILER {
            if signed {
                let sig = parse_signature(value)
                    .ok_or_else(|| malformed("x-amz-trailer-signature is not 64 hex digits"))?;
                self.signature = Some(sig);
            }
            // Unsigned mode has nothing to verify it with: ignore it.
            return Ok(());
        }
        self.fields.push((name, value.to_owned()));
        Ok(())
    }

    /// Checks the section against the declared names and, if signed, its signature.
    /// `prev` is the signature of the final (zero-length) chunk.
    pub(crate) fn finish(
        self,
        ctx: &StreamingContext,
        mac: &HmacSha256,
        prev: &[u8; 32],
    ) -> Result<Vec<(String, String)>, AuthError> {
        let malformed = |what: String| {
            AuthError::MalformedTrailerError(format!(
                "The request contained trailing data that was not well-formed: {what}."
            ))
        };
        if !ctx.trailer_names.is_empty() {
            for (name, _) in &self.fields {
                if !ctx.trailer_names.contains(name) {
                    return Err(malformed(format!(
                        "trailer '{name}' is not listed in x-amz-trailer"
                    )));
                }
            }
            for declared in &ctx.trailer_names {
                if !self.fields.iter().any(|(n, _)| n == declared) {
                    return Err(malformed(format!(
                        "trailer '{declared}' listed in x-amz-trailer is missing"
                    )));
                }
            }
        }
        if ctx.signed_chunks && !self.fields.is_empty() {
            let provided = self
                .signature
                .ok_or_else(|| malformed("x-amz-trailer-signature is missing".into()))?;
            verify_signature(ctx, mac, prev, &self.fields, &provided)?;
        }
        Ok(self.fields)
    }
}

/// The trailer string to sign: the canonical trailers are `name:value\n` per trailer.
pub(crate) fn string_to_sign(
    ctx: &StreamingContext,
    prev: &[u8; 32],
    fields: &[(String, String)],
) -> String {
    let mut canonical = String::new();
    for (n, v) in fields {
        canonical.push_str(n);
        canonical.push(':');
        canonical.push_str(v);
        canonical.push('\n');
    }
    format!(
        "AWS4-HMAC-SHA256-TRAILER\n{}\n{}\n{}\n{}",
        ctx.amz_date,
        ctx.scope,
        hex::encode(prev),
        sha256_hex(canonical.as_bytes())
    )
}

/// Verifies the trailer signature over the trailers in received order, or else sorted by name.
fn verify_signature(
    ctx: &StreamingContext,
    mac: &HmacSha256,
    prev: &[u8; 32],
    fields: &[(String, String)],
    provided: &[u8; 32],
) -> Result<(), AuthError> {
    let sts = string_to_sign(ctx, prev, fields);
    if ct_eq(&hmac_with(mac, sts.as_bytes()), provided) {
        return Ok(());
    }
    let mut sorted = fields.to_vec();
    sorted.sort();
    if sorted != fields {
        let sorted_sts = string_to_sign(ctx, prev, &sorted);
        if ct_eq(&hmac_with(mac, sorted_sts.as_bytes()), provided) {
            return Ok(());
        }
    }
    Err(AuthError::mismatch(SignatureMismatch {
        access_key: String::new(),
        signature_provided: hex::encode(provided),
        string_to_sign: sts,
        canonical_request: String::new(),
    }))
}

fn is_token_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signing::hmac_keyed;

    fn mac() -> HmacSha256 {
        hmac_keyed(&[9; 32])
    }

    fn ctx(signed: bool, names: &[&str]) -> StreamingContext {
        StreamingContext::new(
            [9; 32],
            [1; 32],
            "20130524T000000Z",
            "20130524/us-east-1/s3/aws4_request",
            signed,
            true,
            None,
            names.iter().map(|s| s.to_string()).collect(),
        )
    }

    fn sign(c: &StreamingContext, prev: &[u8; 32], fields: &[(String, String)]) -> String {
        hex::encode(hmac_with(
            &mac(),
            string_to_sign(c, prev, fields).as_bytes(),
        ))
    }

    #[test]
    fn parses_lines() {
        let mut s = TrailerSection::default();
        assert!(s.is_empty());
        s.push_line(b"X-Amz-Checksum-CRC32: AAAAAA== ", false)
            .unwrap();
        s.push_line(b"x-amz-trailer-signature:zz", false).unwrap(); // ignored when unsigned
        let out = s.finish(&ctx(false, &[]), &mac(), &[0; 32]).unwrap();
        assert_eq!(
            out,
            [("x-amz-checksum-crc32".to_owned(), "AAAAAA==".to_owned())]
        );
    }

    #[test]
    fn rejects_bad_lines() {
        for line in [&b"no colon"[..], b":value", b"bad name:v", b"\xff:v"] {
            let mut s = TrailerSection::default();
            let e = s.push_line(line, false).unwrap_err();
            assert_eq!(e.code(), "MalformedTrailerError");
        }
        let mut s = TrailerSection::default();
        assert!(s.push_line(b"x-amz-trailer-signature:abc", true).is_err());
        let mut s = TrailerSection::default();
        s.push_line(
            &format!("x-amz-trailer-signature:{}", "a".repeat(64)).into_bytes(),
            true,
        )
        .unwrap();
        assert!(s.push_line(b"x-amz-checksum-crc32:AAAAAA==", true).is_err());
    }

    #[test]
    fn declared_names_enforced() {
        let c = ctx(false, &["x-amz-checksum-crc32"]);
        let mut s = TrailerSection::default();
        s.push_line(b"x-amz-checksum-crc32c:AAAAAA==", false)
            .unwrap();
        assert_eq!(
            s.finish(&c, &mac(), &[0; 32]).unwrap_err().code(),
            "MalformedTrailerError"
        );
        let s = TrailerSection::default();
        assert_eq!(
            s.finish(&c, &mac(), &[0; 32]).unwrap_err().code(),
            "MalformedTrailerError"
        );
    }

    #[test]
    fn signature_verified_in_either_order() {
        let c = ctx(true, &[]);
        let prev = [3u8; 32];
        let fields = vec![
            ("x-amz-meta-b".to_owned(), "2".to_owned()),
            ("x-amz-meta-a".to_owned(), "1".to_owned()),
        ];
        let mut sorted = fields.clone();
        sorted.sort();
        for signed_over in [&fields, &sorted] {
            let mut s = TrailerSection::default();
            s.push_line(b"x-amz-meta-b:2", true).unwrap();
            s.push_line(b"x-amz-meta-a:1", true).unwrap();
            s.push_line(
                format!("x-amz-trailer-signature:{}", sign(&c, &prev, signed_over)).as_bytes(),
                true,
            )
            .unwrap();
            assert_eq!(s.finish(&c, &mac(), &prev).unwrap(), fields);
        }
        // Wrong previous signature: mismatch.
        let mut s = TrailerSection::default();
        s.push_line(b"x-amz-meta-a:1", true).unwrap();
        let sig = sign(&c, &prev, &[("x-amz-meta-a".to_owned(), "1".to_owned())]);
        s.push_line(format!("x-amz-trailer-signature:{sig}").as_bytes(), true)
            .unwrap();
        assert_eq!(
            s.finish(&c, &mac(), &[4; 32]).unwrap_err().code(),
            "SignatureDoesNotMatch"
        );
        // Missing signature.
        let mut s = TrailerSection::default();
        s.push_line(b"x-amz-meta-a:1", true).unwrap();
        assert_eq!(
            s.finish(&c, &mac(), &prev).unwrap_err().code(),
            "MalformedTrailerError"
        );
    }

    #[test]
    fn handle_lifecycle() {
        let h = TrailerHandle::default();
        assert!(!h.is_complete());
        assert!(h.get().is_empty());
        h.clone()
            .publish(vec![("x-amz-checksum-crc32".into(), "v".into())]);
        assert!(h.is_complete());
        assert_eq!(h.value("X-Amz-Checksum-Crc32").as_deref(), Some("v"));
        assert_eq!(h.get().len(), 1);
    }
}
