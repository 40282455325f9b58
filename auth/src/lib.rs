//! AWS Signature Version 4 for Coffer: verifies header-signed and presigned requests and
//! decodes (and verifies) aws-chunked streaming bodies. No web framework, no I/O policy.
//!
//! The server calls [`verify_sigv4`] with the request as it arrived; on success it gets the
//! access key and a [`Payload`] saying how to treat the body: compare a SHA-256, trust it
//! unsigned, or wrap it in an [`AwsChunkedDecoder`].

mod canonical;
mod chunked;
mod credential;
mod datetime;
mod error;
mod keycache;
mod payload;
mod presign;
mod signing;
mod sigv4;
mod trailer;

#[cfg(test)]
mod testutil;

use std::time::SystemTime;

pub use chunked::{AwsChunkedDecoder, MAX_CHUNK_SIZE};
pub use error::{AuthError, SignatureMismatch};
pub use payload::{Payload, StreamingContext};
pub use sigv4::{auth_scheme, verify_sigv4, AuthScheme};
pub use trailer::TrailerHandle;

/// The parts of a request that SigV4 covers, as they arrived.
#[derive(Debug, Clone, Copy)]
pub struct SignedRequest<'a> {
    /// The HTTP method, e.g. `PUT`.
    pub method: &'a str,
    /// The request path exactly as sent on the wire (still percent-encoded).
    pub raw_path: &'a str,
    /// The raw query string without `?` (may be empty).
    pub raw_query: &'a str,
    /// All request headers.
    pub headers: &'a http::HeaderMap,
}

/// A successfully authenticated request.
#[derive(Debug, Clone)]
pub struct Verified {
    /// The access key id that signed the request.
    pub access_key: String,
    /// How the body is protected and what the caller must do with it.
    pub payload: Payload,
    /// True for a presigned URL (query-string authentication), false for the header form.
    pub presigned: bool,
    /// The signing time (`x-amz-date`, `Date` or `X-Amz-Date`).
    pub request_time: SystemTime,
}
