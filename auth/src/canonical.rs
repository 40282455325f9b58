//! Building the SigV4 canonical request: AWS URI encoding of the path and query,
//! canonical headers, and the assembled request text that gets hashed and signed.

use http::{HeaderMap, HeaderName};
use percent_encoding::{percent_decode, percent_encode, AsciiSet, NON_ALPHANUMERIC};

use crate::error::AuthError;

/// Characters AWS `UriEncode` leaves alone: `A-Za-z0-9-_.~`; everything else is `%XX`.
const AWS_ENCODE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// The canonical URI of a path as sent on the wire.
///
/// S3 neither normalises the path nor encodes it twice: escapes already present are kept
/// (hex digits uppercased), `/` is kept, and any other byte outside the unreserved set
/// (one a client should have escaped) is encoded as AWS `UriEncode` would.
pub(crate) fn canonical_uri(raw_path: &str) -> String {
    if raw_path.is_empty() {
        return "/".to_owned();
    }
    let b = raw_path.as_bytes();
    let mut out = String::with_capacity(b.len() + 8);
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'%' && i + 2 < b.len() && is_hex(b[i + 1]) && is_hex(b[i + 2]) {
            out.push('%');
            out.push(b[i + 1].to_ascii_uppercase() as char);
            out.push(b[i + 2].to_ascii_uppercase() as char);
            i += 3;
            continue;
        }
        if c == b'/' || is_unreserved(c) {
            out.push(c as char);
        } else {
            push_escaped(&mut out, c);
        }
        i += 1;
    }
    out
}

/// Splits a raw query string into raw (name, value) pairs; a parameter without `=` has value "".
pub(crate) fn parse_query(raw_query: &str) -> Vec<(&str, &str)> {
    raw_query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| p.split_once('=').unwrap_or((p, "")))
        .collect()
}

/// Percent-decodes a query component the way the server reads it: a raw `+` is a space.
///
/// SDKs never send a raw `+` (they send `%2B` for a plus and `%20` for a space); a raw `+`
/// comes from form-encoding clients, which mean a space and sign `%20`. S3, MinIO and Ceph
/// read it so too. The canonical form must match the server's reading of the query, or a
/// signed `%2B` could be replayed as `+` and mean something else.
pub(crate) fn decode_component(raw: &str) -> Vec<u8> {
    if raw.contains('+') {
        let spaced = raw.replace('+', " ");
        return percent_decode(spaced.as_bytes()).collect();
    }
    percent_decode(raw.as_bytes()).collect()
}

/// Percent-decodes a query component to text (lossy for invalid UTF-8).
pub(crate) fn decode_to_string(raw: &str) -> String {
    String::from_utf8_lossy(&decode_component(raw)).into_owned()
}

/// AWS `UriEncode` of bytes (with `/` encoded too).
pub(crate) fn uri_encode(bytes: &[u8]) -> String {
    percent_encode(bytes, AWS_ENCODE).to_string()
}

/// The canonical query string: every parameter for which `keep(decoded name)` holds,
/// decoded then AWS-encoded, sorted by name then value, joined `name=value` with `&`.
pub(crate) fn canonical_query(params: &[(&str, &str)], keep: impl Fn(&[u8]) -> bool) -> String {
    let mut pairs: Vec<(String, String)> = params
        .iter()
        .filter_map(|(n, v)| {
            let name = decode_component(n);
            keep(&name).then(|| (uri_encode(&name), uri_encode(&decode_component(v))))
        })
        .collect();
    pairs.sort_unstable();
    let mut out = String::new();
    for (i, (n, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(n);
        out.push('=');
        out.push_str(v);
    }
    out
}

/// The canonical headers block: `name:value\n` for each signed header, in the given order.
///
/// Values are trimmed, inner whitespace runs become one space, repeated headers are joined
/// with `,`. A signed header absent from the request contributes an empty value.
pub(crate) fn canonical_headers(
    headers: &HeaderMap,
    signed: &[&str],
) -> Result<Vec<u8>, AuthError> {
    let mut out = Vec::with_capacity(64 * signed.len());
    for &name in signed {
        let header = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
            AuthError::header_malformed(format_args!("invalid signed header name '{name}'"))
        })?;
        out.extend_from_slice(name.as_bytes());
        out.push(b':');
        for (i, value) in headers.get_all(&header).iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            push_trimmed(&mut out, value.as_bytes());
        }
        out.push(b'\n');
    }
    Ok(out)
}

/// Assembles the canonical request from its six parts.
pub(crate) fn canonical_request(
    method: &str,
    uri: &str,
    query: &str,
    headers_block: &[u8],
    signed_headers: &str,
    payload_hash: &str,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(
        method.len() + uri.len() + query.len() + headers_block.len() + signed_headers.len() + 80,
    );
    for part in [
        method.as_bytes(),
        uri.as_bytes(),
        query.as_bytes(),
        headers_block,
    ] {
        out.extend_from_slice(part);
        out.push(b'\n');
    }
    out.extend_from_slice(signed_headers.as_bytes());
    out.push(b'\n');
    out.extend_from_slice(payload_hash.as_bytes());
    out
}

/// Appends `value` with surrounding whitespace removed and inner whitespace runs collapsed.
fn push_trimmed(out: &mut Vec<u8>, value: &[u8]) {
    let mut pending_space = false;
    let mut started = false;
    for &c in value {
        if c == b' ' || c == b'\t' || c == b'\r' || c == b'\n' {
            pending_space = started;
            continue;
        }
        if pending_space {
            out.push(b' ');
            pending_space = false;
        }
        out.push(c);
        started = true;
    }
}

fn is_unreserved(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.' | b'~')
}

fn is_hex(c: u8) -> bool {
    c.is_ascii_hexdigit()
}

fn push_escaped(out: &mut String, c: u8) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    out.push('%');
    out.push(HEX[usize::from(c >> 4)] as char);
    out.push(HEX[usize::from(c & 15)] as char);
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn cq(raw: &str) -> String {
        canonical_query(&parse_query(raw), |_| true)
    }

    #[test]
    fn uri_keeps_what_was_sent() {
        assert_eq!(canonical_uri(""), "/");
        assert_eq!(canonical_uri("/"), "/");
        assert_eq!(canonical_uri("/bucket/a/b.txt"), "/bucket/a/b.txt");
        // Already-encoded input is not encoded again and not normalised.
        assert_eq!(canonical_uri("/test%24file.text"), "/test%24file.text");
        assert_eq!(canonical_uri("/a%20b/%2Fc"), "/a%20b/%2Fc");
        assert_eq!(canonical_uri("/a/../b//c/./d"), "/a/../b//c/./d");
        // Lowercase escapes are uppercased.
        assert_eq!(canonical_uri("/a%2fb"), "/a%2Fb");
    }

    #[test]
    fn uri_encodes_what_a_client_would_have() {
        assert_eq!(canonical_uri("/test$file.text"), "/test%24file.text");
        assert_eq!(canonical_uri("/a b+c"), "/a%20b%2Bc");
        assert_eq!(canonical_uri("/é"), "/%C3%A9");
        assert_eq!(canonical_uri("/~user/x-y_z.txt"), "/~user/x-y_z.txt");
        // A stray '%' that is not an escape is encoded.
        assert_eq!(canonical_uri("/100%"), "/100%25");
        assert_eq!(canonical_uri("/100%zz"), "/100%25zz");
        assert_eq!(canonical_uri("/%4"), "/%254");
    }

    #[test]
    fn query_sorting_and_empty_values() {
        assert_eq!(cq(""), "");
        assert_eq!(cq("lifecycle"), "lifecycle=");
        assert_eq!(cq("prefix=J&max-keys=2"), "max-keys=2&prefix=J");
        assert_eq!(cq("b=2&a=&c"), "a=&b=2&c=");
        // Same name: sorted by value.
        assert_eq!(cq("k=b&k=a"), "k=a&k=b");
        // Empty segments are ignored.
        assert_eq!(cq("&a=1&&b=2&"), "a=1&b=2");
        // Unknown parameters such as x-id are kept as sent.
        assert_eq!(cq("x-id=PutObject&uploads"), "uploads=&x-id=PutObject");
    }

    #[test]
    fn query_encoding() {
        // Spaces, reserved characters and unicode, sent encoded or not, come out the same.
        assert_eq!(cq("prefix=a%20b"), "prefix=a%20b");
        assert_eq!(cq("prefix=a b"), "prefix=a%20b");
        assert_eq!(cq("p=a%2Fb%3Dc"), "p=a%2Fb%3Dc");
        assert_eq!(cq("p=a/b"), "p=a%2Fb");
        assert_eq!(cq("p=a=b"), "p=a%3Db");
        assert_eq!(cq("p=%c3%a9"), "p=%C3%A9");
        assert_eq!(cq("p=é"), "p=%C3%A9");
        assert_eq!(cq("p=~-_."), "p=~-_.");
        assert_eq!(cq("p=%7E"), "p=~");
        assert_eq!(cq("p=*"), "p=%2A");
        // A raw '+' is a space; %2B is a plus sign.
        assert_eq!(cq("p=a+b"), "p=a%20b");
        assert_eq!(cq("p=a%2Bb"), "p=a%2Bb");
        assert_eq!(cq("p+q=1"), "p%20q=1");
        // Sorting happens on the encoded form.
        assert_eq!(cq("b=1&B=2&a~=3&a-=4"), "B=2&a-=4&a~=3&b=1");
    }

    #[test]
    fn query_filter_drops_by_decoded_name() {
        let params = parse_query("X-Amz-Signature=abc&X%2DAmz%2DDate=1&a=b");
        let q = canonical_query(&params, |n| n != b"X-Amz-Signature");
        assert_eq!(q, "X-Amz-Date=1&a=b");
    }

    #[test]
    fn headers_trimmed_and_joined() {
        let mut h = HeaderMap::new();
        h.insert(
            "host",
            HeaderValue::from_static("examplebucket.s3.amazonaws.com"),
        );
        h.insert(
            "x-amz-meta-a",
            HeaderValue::from_static("  one   two \t three  "),
        );
        h.append("x-amz-meta-b", HeaderValue::from_static("1"));
        h.append("x-amz-meta-b", HeaderValue::from_static(" 2 "));
        let block = canonical_headers(
            &h,
            &["host", "x-amz-meta-a", "x-amz-meta-b", "x-amz-meta-c"],
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(block).unwrap(),
            "host:examplebucket.s3.amazonaws.com\nx-amz-meta-a:one two three\nx-amz-meta-b:1,2\nx-amz-meta-c:\n"
        );
        assert!(canonical_headers(&h, &["bad header"]).is_err());
    }

    #[test]
    fn request_layout() {
        let r = canonical_request("GET", "/", "a=", b"host:h\n", "host", "UNSIGNED-PAYLOAD");
        assert_eq!(
            String::from_utf8(r).unwrap(),
            "GET\n/\na=\nhost:h\n\nhost\nUNSIGNED-PAYLOAD"
        );
    }
}
