//! Helpers shared by Coffer's fuzz targets: reading a request head written as text from the
//! fuzz input, the AWS documentation's example credentials, and splitting a body into pieces.
//!
//! A request head is `METHOD target` on the first line, then `name: value` header lines
//! (CRLF or LF); `target` is the raw path, optionally followed by `?` and the raw query.
//! Header lines that `http` would refuse are skipped, as a server never sees them.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::{HeaderMap, HeaderName, HeaderValue};

/// The access key of the AWS documentation's SigV4 and SigV2 examples.
pub const AKID: &str = "AKIAIOSFODNN7EXAMPLE";
/// Its secret key.
pub const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

/// Looks up the one known access key, as the server's key store would.
pub fn lookup(access_key: &str) -> Option<String> {
    (access_key == AKID).then(|| SECRET.to_owned())
}

/// 2013-05-24T00:00:00Z, the time of every AWS S3 SigV4 example (so they verify).
pub fn sigv4_example_time() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_369_353_600)
}

/// Tue, 27 Mar 2007 19:36:42 GMT, the time of the AWS SigV2 examples (before their presigned
/// URL expires).
pub fn sigv2_example_time() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_175_024_202)
}

/// A request head read from fuzz input (see the module docs).
pub struct RawRequest {
    pub method: String,
    pub path: String,
    pub query: String,
    pub headers: HeaderMap,
}

impl RawRequest {
    /// Reads a request head; `None` when the input is not UTF-8 or has no request line.
    pub fn parse(data: &[u8]) -> Option<RawRequest> {
        let text = std::str::from_utf8(data).ok()?;
        let mut lines = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
        let (method, target) = lines.next()?.split_once(' ')?;
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let mut headers = HeaderMap::new();
        for line in lines {
            let Some((name, value)) = line.split_once(':') else { continue };
            if let (Ok(n), Ok(v)) = (
                HeaderName::from_bytes(name.trim().as_bytes()),
                HeaderValue::from_str(value.trim_start()),
            ) {
                headers.append(n, v);
            }
        }
        Some(RawRequest {
            method: method.to_owned(),
            path: path.to_owned(),
            query: query.to_owned(),
            headers,
        })
    }

    /// The parts the verifiers of coffer-auth take.
    pub fn signed(&self) -> coffer_auth::SignedRequest<'_> {
        coffer_auth::SignedRequest {
            method: &self.method,
            raw_path: &self.path,
            raw_query: &self.query,
            headers: &self.headers,
        }
    }

    /// The header lines as (name, value) bytes, for parsers outside the `http` crate's types.
    pub fn header_lines(&self) -> Vec<(&[u8], &[u8])> {
        self.headers.iter().map(|(n, v)| (n.as_str().as_bytes(), v.as_bytes())).collect()
    }

    /// The bucket named by a virtual-hosted-style `Host` (the part before the first dot).
    pub fn host_bucket(&self) -> Option<&str> {
        let host = self.headers.get(http::header::HOST)?.to_str().ok()?;
        host.split_once('.').map(|(bucket, _)| bucket)
    }
}

/// Cuts `body` into pieces whose sizes the input decides: `seed` drives a small generator
/// and `max_piece` bounds a piece (0 means one piece). Some pieces are empty, as a network
/// read may be.
pub fn split(body: &[u8], seed: u8, max_piece: usize) -> Vec<bytes::Bytes> {
    if max_piece == 0 {
        return vec![bytes::Bytes::copy_from_slice(body)];
    }
    let mut state = u32::from(seed).wrapping_mul(2_654_435_761) | 1;
    let mut pieces = Vec::new();
    let mut rest = body;
    while !rest.is_empty() {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let n = if state % 16 == 0 { 0 } else { 1 + state as usize % max_piece };
        let (piece, tail) = rest.split_at(n.min(rest.len()));
        pieces.push(bytes::Bytes::copy_from_slice(piece));
        rest = tail;
    }
    pieces
}
