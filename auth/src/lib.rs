//! AWS Signature Version 4 and Version 2 for Coffer: verifies header-signed and presigned
//! requests and decodes (and verifies) aws-chunked streaming bodies. No web framework, no I/O policy.
//!
//! The server calls [`verify_hosted`] (or [`verify`]) with the request as it arrived; it picks
//! SigV4 ([`verify_sigv4`]) or SigV2 ([`verify_sigv2_hosted`]) by [`auth_scheme`]. On success
//! the caller gets the access key and a [`Payload`] saying how to treat the body: compare a
//! SHA-256, trust it unsigned, or wrap it in an [`AwsChunkedDecoder`].

mod canonical;
mod chunked;
mod credential;
mod datetime;
mod error;
mod keycache;
mod payload;
mod post;
mod presign;
mod scheme;
mod signing;
mod sigv2;
mod sigv4;
mod trailer;
mod v4check;

#[cfg(test)]
mod testutil;

use std::time::SystemTime;

pub use chunked::{AwsChunkedDecoder, MAX_CHUNK_SIZE};
pub use error::{AuthError, SignatureMismatch};
pub use payload::{Payload, StreamingContext};
pub use post::{verify_post_policy, PostSignature};
pub use scheme::{auth_scheme, AuthScheme};
pub use sigv2::{verify_sigv2, verify_sigv2_hosted};
pub use sigv4::verify_sigv4;
pub use trailer::TrailerHandle;

/// Verifies a path-style request by whichever scheme it carries (SigV4 or SigV2); see
/// [`verify_hosted`].
pub fn verify(
    req: &SignedRequest,
    now: SystemTime,
    region: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<Verified>, AuthError> {
    verify_hosted(req, None, now, region, lookup)
}

/// Verifies a request by whichever scheme [`auth_scheme`] finds: SigV2 (header or presigned)
/// goes to [`verify_sigv2_hosted`], everything else to [`verify_sigv4`] (which also answers
/// anonymous requests with `Ok(None)` and refuses unknown schemes).
///
/// `host_bucket` is the bucket named by the `Host` header of a virtual-hosted-style request,
/// `None` for path-style; only SigV2 needs it (its signed resource names the bucket).
pub fn verify_hosted(
    req: &SignedRequest,
    host_bucket: Option<&str>,
    now: SystemTime,
    region: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<Verified>, AuthError> {
    match auth_scheme(req) {
        AuthScheme::HeaderV2 | AuthScheme::QueryV2 => {
            verify_sigv2_hosted(req, host_bucket, now, lookup)
        }
        _ => verify_sigv4(req, now, region, lookup),
    }
}

/// The parts of a request that SigV4 and SigV2 cover, as they arrived.
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
    /// The signing time (`x-amz-date`, `Date` or `X-Amz-Date`); for a SigV2 presigned URL,
    /// which carries none, the `now` the verifier was given.
    pub request_time: SystemTime,
}
