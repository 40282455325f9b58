//! Test helpers: the AWS documentation's example credentials, time and GET Object request,
//! header maps, and a minimal client-side signer that takes its canonical parts spelled out.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::{HeaderMap, HeaderName, HeaderValue};

use crate::signing::{derive_signing_key, hmac, sha256_hex, EMPTY_SHA256_HEX};
use crate::SignedRequest;

pub const AKID: &str = "AKIAIOSFODNN7EXAMPLE";
pub const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
pub const AMZ_DATE: &str = "20130524T000000Z";
pub const SCOPE: &str = "20130524/us-east-1/s3/aws4_request";
/// The host of the AWS SigV4 examples.
pub const HOST: &str = "examplebucket.s3.amazonaws.com";
/// The signature of the AWS example "GET Object" (sig-v4-header-based-auth).
pub const GET_OBJECT_SIG: &str = "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41";

/// 2013-05-24T00:00:00Z, the time of every AWS S3 SigV4 example.
pub fn example_time() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_369_353_600)
}

pub fn lookup(access_key: &str) -> Option<String> {
    (access_key == AKID).then(|| SECRET.to_owned())
}

pub fn header_map(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (n, v) in pairs {
        h.append(
            HeaderName::from_bytes(n.as_bytes()).unwrap(),
            HeaderValue::from_bytes(v.as_bytes()).unwrap(),
        );
    }
    h
}

/// The request parts the verifiers take.
pub fn request<'a>(
    method: &'a str,
    path: &'a str,
    query: &'a str,
    headers: &'a HeaderMap,
) -> SignedRequest<'a> {
    SignedRequest {
        method,
        raw_path: path,
        raw_query: query,
        headers,
    }
}

/// The headers of the AWS example "GET Object" (`GET /test.txt`), carrying `signature`.
pub fn get_object_headers(signature: &str) -> HeaderMap {
    header_map(&[
        ("host", HOST),
        ("range", "bytes=0-9"),
        ("x-amz-content-sha256", EMPTY_SHA256_HEX),
        ("x-amz-date", AMZ_DATE),
        (
            "authorization",
            &authorization("host;range;x-amz-content-sha256;x-amz-date", signature),
        ),
    ])
}

pub fn example_key() -> [u8; 32] {
    derive_signing_key(SECRET, "20130524", "us-east-1", "s3")
}

/// Signs a request whose canonical parts the caller states: `headers` are the signed
/// headers in canonical form, sorted. Returns (signed headers list, signature hex).
pub fn sign(
    method: &str,
    canonical_uri: &str,
    canonical_query: &str,
    headers: &[(&str, &str)],
    payload_hash: &str,
) -> (String, String) {
    let signed: Vec<&str> = headers.iter().map(|(n, _)| *n).collect();
    let signed = signed.join(";");
    let mut creq = format!("{method}\n{canonical_uri}\n{canonical_query}\n");
    for (n, v) in headers {
        creq.push_str(&format!("{n}:{v}\n"));
    }
    creq.push_str(&format!("\n{signed}\n{payload_hash}"));
    let sts = format!(
        "AWS4-HMAC-SHA256\n{AMZ_DATE}\n{SCOPE}\n{}",
        sha256_hex(creq.as_bytes())
    );
    (signed, hex::encode(hmac(&example_key(), sts.as_bytes())))
}

/// An `Authorization` header value for the example credentials.
pub fn authorization(signed_headers: &str, signature: &str) -> String {
    format!(
        "AWS4-HMAC-SHA256 Credential={AKID}/{SCOPE},SignedHeaders={signed_headers},Signature={signature}"
    )
}
