//! Telling which authentication a request carries (SigV4 or SigV2, header or presigned
//! query, or none) from its headers and query alone, without verifying anything.

use http::header::AUTHORIZATION;

use crate::canonical::{decode_component, parse_query};
use crate::SignedRequest;

/// Which authentication a request carries, judged from its headers and query alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthScheme {
    /// No authentication at all.
    Anonymous,
    /// `Authorization: AWS4-HMAC-SHA256 ...`.
    HeaderV4,
    /// Presigned URL with `X-Amz-Algorithm` / `X-Amz-Credential` / `X-Amz-Signature`.
    QueryV4,
    /// `Authorization: AWS AKID:signature` (SigV2).
    HeaderV2,
    /// SigV2 query string (`AWSAccessKeyId`, `Signature`, `Expires`).
    QueryV2,
    /// An `Authorization` header of another kind.
    Other,
}

/// Classifies the request's authentication without verifying anything.
///
/// A request carrying both header and query authentication reports the header's scheme;
/// [`verify_sigv4`] refuses such requests.
pub fn auth_scheme(req: &SignedRequest) -> AuthScheme {
    if let Some(v) = req.headers.get(AUTHORIZATION) {
        let v = v.as_bytes();
        return if v.starts_with(b"AWS4-HMAC-SHA256") {
            AuthScheme::HeaderV4
        } else if v.starts_with(b"AWS ") {
            AuthScheme::HeaderV2
        } else {
            AuthScheme::Other
        };
    }
    query_scheme(&parse_query(req.raw_query))
}

pub(crate) fn query_scheme(params: &[(&str, &str)]) -> AuthScheme {
    let mut scheme = AuthScheme::Anonymous;
    for (name, _) in params {
        let name = decode_component(name);
        match name.as_slice() {
            b"X-Amz-Algorithm" | b"X-Amz-Credential" | b"X-Amz-Signature" => {
                return AuthScheme::QueryV4
            }
            b"AWSAccessKeyId" => scheme = AuthScheme::QueryV2,
            _ => {}
        }
    }
    scheme
}

#[cfg(test)]
mod tests {
    use http::HeaderMap;

    use super::*;
    use crate::testutil::{get_object_headers, header_map, request, GET_OBJECT_SIG, HOST};

    fn scheme(query: &str, headers: &HeaderMap) -> AuthScheme {
        auth_scheme(&request("GET", "/", query, headers))
    }

    #[test]
    fn scheme_detection() {
        let h = get_object_headers(GET_OBJECT_SIG);
        assert_eq!(scheme("", &h), AuthScheme::HeaderV4);
        let v2 = header_map(&[("authorization", "AWS AKID:c2lnbmF0dXJl")]);
        assert_eq!(scheme("", &v2), AuthScheme::HeaderV2);
        let bearer = header_map(&[("authorization", "Bearer x")]);
        assert_eq!(scheme("", &bearer), AuthScheme::Other);
        let host = header_map(&[("host", HOST)]);
        assert_eq!(scheme("", &host), AuthScheme::Anonymous);
        let none = HeaderMap::new();
        for (q, expected) in [
            ("X-Amz-Algorithm=AWS4-HMAC-SHA256", AuthScheme::QueryV4),
            ("X-Amz-Credential=a", AuthScheme::QueryV4),
            (
                "AWSAccessKeyId=a&Signature=b&Expires=1",
                AuthScheme::QueryV2,
            ),
            ("versionId=3", AuthScheme::Anonymous),
        ] {
            assert_eq!(scheme(q, &none), expected, "{q}");
        }
    }
}
