//! What a verified request says about its body: the `x-amz-content-sha256` modes
//! (hash, unsigned, aws-chunked streaming) and the context the chunk decoder needs.

use std::fmt;

use http::HeaderMap;

use crate::error::AuthError;

pub(crate) const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";
const STREAMING_SIGNED: &str = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD";
const STREAMING_SIGNED_TRAILER: &str = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER";
const STREAMING_UNSIGNED_TRAILER: &str = "STREAMING-UNSIGNED-PAYLOAD-TRAILER";
const STREAMING_ECDSA: &str = "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD";
const STREAMING_ECDSA_TRAILER: &str = "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD-TRAILER";

/// How the request body is protected, as declared by `x-amz-content-sha256`.
#[derive(Debug, Clone)]
pub enum Payload {
    /// `UNSIGNED-PAYLOAD` (header auth) or a presigned URL without a content hash.
    Unsigned,
    /// A hex SHA-256 of the body: the caller hashes the body it receives and answers
    /// `XAmzContentSHA256Mismatch` if it differs.
    Sha256([u8; 32]),
    /// One of the `STREAMING-*` modes: the body is aws-chunked; wrap it in
    /// [`crate::AwsChunkedDecoder::new`] with this context.
    Streaming(StreamingContext),
}

/// Everything [`crate::AwsChunkedDecoder`] needs to decode and verify an aws-chunked body.
#[derive(Clone)]
pub struct StreamingContext {
    pub(crate) signing_key: [u8; 32],
    pub(crate) seed_signature: [u8; 32],
    pub(crate) amz_date: String,
    pub(crate) scope: String,
    pub(crate) signed_chunks: bool,
    pub(crate) trailer: bool,
    pub(crate) decoded_content_length: Option<u64>,
    pub(crate) trailer_names: Vec<String>,
}

impl StreamingContext {
    /// True for `STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER]`: every chunk carries a signature.
    pub fn signed_chunks(&self) -> bool {
        self.signed_chunks
    }

    /// True for the `-TRAILER` modes: trailer headers follow the last chunk.
    pub fn has_trailer(&self) -> bool {
        self.trailer
    }

    /// `x-amz-decoded-content-length`, if the client sent it: the object's size.
    pub fn decoded_content_length(&self) -> Option<u64> {
        self.decoded_content_length
    }

    /// The lowercase names listed in `x-amz-trailer` (empty when absent or not a trailer mode).
    pub fn trailer_names(&self) -> &[String] {
        &self.trailer_names
    }

    /// The request signature that seeds the chunk-signature chain (lowercase hex).
    pub fn seed_signature(&self) -> String {
        hex::encode(self.seed_signature)
    }

    /// Builds a context directly; for callers that verified the request by other means,
    /// and for tests. `signing_key` is the derived SigV4 key of the request's scope.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        signing_key: [u8; 32],
        seed_signature: [u8; 32],
        amz_date: impl Into<String>,
        scope: impl Into<String>,
        signed_chunks: bool,
        trailer: bool,
        decoded_content_length: Option<u64>,
        trailer_names: Vec<String>,
    ) -> Self {
        StreamingContext {
            signing_key,
            seed_signature,
            amz_date: amz_date.into(),
            scope: scope.into(),
            signed_chunks,
            trailer,
            decoded_content_length,
            trailer_names,
        }
    }
}

impl fmt::Debug for StreamingContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamingContext")
            .field("signing_key", &"<redacted>")
            .field("seed_signature", &self.seed_signature())
            .field("amz_date", &self.amz_date)
            .field("scope", &self.scope)
            .field("signed_chunks", &self.signed_chunks)
            .field("trailer", &self.trailer)
            .field("decoded_content_length", &self.decoded_content_length)
            .field("trailer_names", &self.trailer_names)
            .finish()
    }
}

/// The body mode named by an `x-amz-content-sha256` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Sha256([u8; 32]),
    Unsigned,
    Streaming { signed_chunks: bool, trailer: bool },
}

/// Reads an `x-amz-content-sha256` value.
pub(crate) fn classify(value: &str) -> Result<Mode, AuthError> {
    match value {
        UNSIGNED_PAYLOAD => Ok(Mode::Unsigned),
        STREAMING_SIGNED => Ok(Mode::Streaming {
            signed_chunks: true,
            trailer: false,
        }),
        STREAMING_SIGNED_TRAILER => Ok(Mode::Streaming {
            signed_chunks: true,
            trailer: true,
        }),
        STREAMING_UNSIGNED_TRAILER => Ok(Mode::Streaming {
            signed_chunks: false,
            trailer: true,
        }),
        STREAMING_ECDSA | STREAMING_ECDSA_TRAILER => Err(AuthError::NotImplemented(
            "SigV4a (AWS4-ECDSA-P256-SHA256) streaming payloads are not supported.".into(),
        )),
        _ => {
            let mut hash = [0u8; 32];
            if value.len() == 64 && hex::decode_to_slice(value, &mut hash).is_ok() {
                Ok(Mode::Sha256(hash))
            } else {
                Err(AuthError::InvalidArgument(format!(
                    "x-amz-content-sha256 must be {UNSIGNED_PAYLOAD}, {STREAMING_UNSIGNED_TRAILER}, \
                     {STREAMING_SIGNED}, {STREAMING_SIGNED_TRAILER}, {STREAMING_ECDSA}, \
                     {STREAMING_ECDSA_TRAILER} or a valid sha256 value."
                )))
            }
        }
    }
}

/// Turns the declared body mode into the [`Payload`] handed to the caller.
pub(crate) fn build_payload(
    headers: &HeaderMap,
    mode: Mode,
    key: [u8; 32],
    seed: [u8; 32],
    amz_date: &str,
    scope: String,
) -> Result<Payload, AuthError> {
    Ok(match mode {
        Mode::Unsigned => Payload::Unsigned,
        Mode::Sha256(h) => Payload::Sha256(h),
        Mode::Streaming {
            signed_chunks,
            trailer,
        } => {
            let (decoded, names) = streaming_headers(headers, trailer)?;
            Payload::Streaming(StreamingContext::new(
                key,
                seed,
                amz_date,
                scope,
                signed_chunks,
                trailer,
                decoded,
                names,
            ))
        }
    })
}

/// Reads `x-amz-decoded-content-length` and `x-amz-trailer` for a streaming mode.
pub(crate) fn streaming_headers(
    headers: &HeaderMap,
    trailer: bool,
) -> Result<(Option<u64>, Vec<String>), AuthError> {
    let decoded = match headers.get("x-amz-decoded-content-length") {
        None => None,
        Some(v) => Some(
            v.to_str()
                .ok()
                .and_then(|s| s.trim().parse::<u64>().ok())
                .ok_or_else(|| {
                    AuthError::InvalidArgument(
                        "x-amz-decoded-content-length must be a non-negative integer.".into(),
                    )
                })?,
        ),
    };
    let mut names = Vec::new();
    if trailer {
        for v in headers.get_all("x-amz-trailer") {
            let s = v.to_str().map_err(|_| {
                AuthError::InvalidArgument("x-amz-trailer is not a valid header list.".into())
            })?;
            names.extend(
                s.split(',')
                    .map(|n| n.trim().to_ascii_lowercase())
                    .filter(|n| !n.is_empty()),
            );
        }
    }
    Ok((decoded, names))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn classifies_every_mode() {
        let h = "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072";
        assert!(matches!(classify(h), Ok(Mode::Sha256(x)) if hex::encode(x) == h));
        assert!(matches!(classify(&h.to_uppercase()), Ok(Mode::Sha256(_))));
        assert_eq!(classify("UNSIGNED-PAYLOAD").unwrap(), Mode::Unsigned);
        assert_eq!(
            classify("STREAMING-AWS4-HMAC-SHA256-PAYLOAD").unwrap(),
            Mode::Streaming {
                signed_chunks: true,
                trailer: false
            }
        );
        assert_eq!(
            classify("STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER").unwrap(),
            Mode::Streaming {
                signed_chunks: true,
                trailer: true
            }
        );
        assert_eq!(
            classify("STREAMING-UNSIGNED-PAYLOAD-TRAILER").unwrap(),
            Mode::Streaming {
                signed_chunks: false,
                trailer: true
            }
        );
        assert_eq!(
            classify("STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD")
                .unwrap_err()
                .code(),
            "NotImplemented"
        );
        for bad in [
            "",
            "unsigned-payload",
            "abc",
            &h[..63],
            &format!("{h}0"),
            &"z".repeat(64),
        ] {
            assert_eq!(
                classify(bad).unwrap_err().code(),
                "InvalidArgument",
                "{bad}"
            );
        }
    }

    #[test]
    fn reads_streaming_headers() {
        let mut h = HeaderMap::new();
        h.insert(
            "x-amz-decoded-content-length",
            HeaderValue::from_static("66560"),
        );
        h.insert(
            "x-amz-trailer",
            HeaderValue::from_static(" X-Amz-Checksum-CRC32 , x-amz-meta-a"),
        );
        let (len, names) = streaming_headers(&h, true).unwrap();
        assert_eq!(len, Some(66560));
        assert_eq!(names, ["x-amz-checksum-crc32", "x-amz-meta-a"]);
        let (_, names) = streaming_headers(&h, false).unwrap();
        assert!(names.is_empty());
        h.insert(
            "x-amz-decoded-content-length",
            HeaderValue::from_static("-1"),
        );
        assert_eq!(
            streaming_headers(&h, true).unwrap_err().code(),
            "InvalidArgument"
        );
    }

    #[test]
    fn debug_redacts_key() {
        let ctx = StreamingContext::new([7; 32], [1; 32], "d", "s", true, false, None, vec![]);
        let dbg = format!("{ctx:?}");
        assert!(dbg.contains("redacted"));
        assert!(dbg.contains(&hex::encode([1u8; 32])));
    }
}
