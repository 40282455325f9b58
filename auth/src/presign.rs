//! Presigned-URL (query-string) SigV4 verification: the `X-Amz-*` parameters,
//! expiry rules, and which payload hash a presigned request is signed with.

use std::time::{Duration, SystemTime};

use crate::canonical::decode_to_string;
use crate::credential::{parse_credential, parse_signed_headers, Source};
use crate::datetime::{parse_amz_date, MAX_SKEW};
use crate::error::AuthError;
use crate::payload::{classify, UNSIGNED_PAYLOAD};
use crate::signing::ALGORITHM;
use crate::v4check::{check_signed_headers, SignatureCheck};
use crate::{SignedRequest, Verified};

/// The longest validity S3 accepts for a presigned URL: seven days.
const MAX_EXPIRES: u64 = 604_800;

/// The decoded authentication parameters of a presigned URL.
#[derive(Default)]
struct Params {
    algorithm: Option<String>,
    credential: Option<String>,
    date: Option<String>,
    expires: Option<String>,
    signed_headers: Option<String>,
    signature: Option<String>,
    content_sha256: Option<String>,
}

impl Params {
    fn collect(params: &[(&str, &str)]) -> Params {
        let mut p = Params::default();
        for (name, value) in params {
            let slot = match decode_to_string(name).as_str() {
                "X-Amz-Algorithm" => &mut p.algorithm,
                "X-Amz-Credential" => &mut p.credential,
                "X-Amz-Date" => &mut p.date,
                "X-Amz-Expires" => &mut p.expires,
                "X-Amz-SignedHeaders" => &mut p.signed_headers,
                "X-Amz-Signature" => &mut p.signature,
                "X-Amz-Content-Sha256" => &mut p.content_sha256,
                _ => continue,
            };
            if slot.is_none() {
                *slot = Some(decode_to_string(value));
            }
        }
        p
    }
}

/// Verifies a presigned request.
pub(crate) fn verify(
    req: &SignedRequest,
    params: &[(&str, &str)],
    now: SystemTime,
    region: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Verified, AuthError> {
    let p = Params::collect(params);
    let (
        Some(algorithm),
        Some(credential),
        Some(amz_date),
        Some(expires),
        Some(signed_headers),
        Some(signature),
    ) = (
        &p.algorithm,
        &p.credential,
        &p.date,
        &p.expires,
        &p.signed_headers,
        &p.signature,
    )
    else {
        return Err(AuthError::query_error(
            "Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, \
             X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.",
        ));
    };
    if algorithm != ALGORITHM {
        return Err(AuthError::query_error(
            "X-Amz-Algorithm only supports \"AWS4-HMAC-SHA256\"",
        ));
    }
    let cred = parse_credential(credential, region, Source::Query)?;
    let request_time = parse_amz_date(amz_date).ok_or_else(|| {
        AuthError::query_error(
            "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"",
        )
    })?;
    if !amz_date.starts_with(cred.date) {
        return Err(AuthError::query_error(format!(
            "Invalid credential date \"{}\". This date is not the same as X-Amz-Date: \"{}\".",
            cred.date,
            &amz_date[..8]
        )));
    }
    let expires = parse_expires(expires)?;
    let signed = parse_signed_headers(signed_headers, Source::Query)?;
    check_signed_headers(req.headers, &signed, &[])?;

    let secret =
        lookup(cred.access_key).ok_or_else(|| AuthError::unknown_access_key(cred.access_key))?;
    if request_time > now + MAX_SKEW {
        return Err(AuthError::AccessDenied("Request is not valid yet".into()));
    }
    if now > request_time + Duration::from_secs(expires) {
        return Err(AuthError::AccessDenied("Request has expired".into()));
    }

    // The hash a presigned request is signed with: an X-Amz-Content-Sha256 parameter,
    // else a (signed) x-amz-content-sha256 header, else UNSIGNED-PAYLOAD.
    let header_sha = req
        .headers
        .get("x-amz-content-sha256")
        .and_then(|v| v.to_str().ok())
        .map(str::trim);
    let payload_hash = p
        .content_sha256
        .as_deref()
        .or(header_sha)
        .unwrap_or(UNSIGNED_PAYLOAD);
    let mode = classify(payload_hash)?;

    let check = SignatureCheck {
        cred: &cred,
        amz_date,
        signed_headers,
        signed: &signed,
        signature,
        payload_hash,
        presigned: true,
    };
    check.verify(req, params, &secret, mode, request_time)
}

/// `X-Amz-Expires`: whole seconds in 1..=604800. A value that is not a number is a malformed
/// query (400); a number out of range is refused like an expired link (403), as S3-compatible
/// clients and the s3-tests suite expect.
fn parse_expires(s: &str) -> Result<u64, AuthError> {
    let n: i64 = s
        .trim()
        .parse()
        .map_err(|_| AuthError::query_error("X-Amz-Expires should be a number"))?;
    if n <= 0 {
        return Err(AuthError::AccessDenied("X-Amz-Expires must be greater than 0".into()));
    }
    let n = n as u64;
    if n > MAX_EXPIRES {
        return Err(AuthError::AccessDenied(
            "X-Amz-Expires must be less than a week (in seconds) that is 604800".into(),
        ));
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use http::{HeaderMap, HeaderValue};

    use super::*;
    use crate::payload::Payload;
    use crate::testutil::*;
    use crate::verify_sigv4;

    const EXAMPLE_QUERY: &str = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host";
    const EXAMPLE_SIG: &str = "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404";

    fn run_at(
        method: &str,
        path: &str,
        query: &str,
        headers: &HeaderMap,
        now: SystemTime,
    ) -> Result<Verified, AuthError> {
        let req = request(method, path, query, headers);
        verify_sigv4(&req, now, "us-east-1", &lookup).map(|v| v.expect("authenticated"))
    }

    fn host() -> HeaderMap {
        header_map(&[("host", HOST)])
    }

    fn example_url() -> String {
        format!("{EXAMPLE_QUERY}&X-Amz-Signature={EXAMPLE_SIG}")
    }

    #[test]
    fn aws_example_presigned_get() {
        let v = run_at("GET", "/test.txt", &example_url(), &host(), example_time()).unwrap();
        assert_eq!(v.access_key, AKID);
        assert!(v.presigned);
        assert!(matches!(v.payload, Payload::Unsigned));
        // The signature may come anywhere in the query.
        let q = format!("X-Amz-Signature={EXAMPLE_SIG}&{EXAMPLE_QUERY}");
        run_at("GET", "/test.txt", &q, &host(), example_time()).unwrap();
        // Valid until the very end of X-Amz-Expires.
        run_at(
            "GET",
            "/test.txt",
            &example_url(),
            &host(),
            example_time() + Duration::from_secs(86400),
        )
        .unwrap();
    }

    #[test]
    fn expiry() {
        let e = run_at(
            "GET",
            "/test.txt",
            &example_url(),
            &host(),
            example_time() + Duration::from_secs(86401),
        )
        .unwrap_err();
        assert_eq!((e.code(), e.status()), ("AccessDenied", 403));
        assert_eq!(e.to_string(), "Request has expired");
        let e = run_at(
            "GET",
            "/test.txt",
            &example_url(),
            &host(),
            example_time() - Duration::from_secs(3600),
        )
        .unwrap_err();
        assert_eq!(e.code(), "AccessDenied");
        assert_eq!(e.to_string(), "Request is not valid yet");
    }

    #[test]
    fn tampering_is_detected() {
        let e = run_at("GET", "/test2.txt", &example_url(), &host(), example_time()).unwrap_err();
        assert_eq!((e.code(), e.status()), ("SignatureDoesNotMatch", 403));
        let q = format!("{}&extra=1", example_url());
        assert_eq!(
            run_at("GET", "/test.txt", &q, &host(), example_time())
                .unwrap_err()
                .code(),
            "SignatureDoesNotMatch"
        );
        let e = run_at("PUT", "/test.txt", &example_url(), &host(), example_time()).unwrap_err();
        assert_eq!(e.code(), "SignatureDoesNotMatch");
        let AuthError::SignatureDoesNotMatch(m) = e else {
            unreachable!()
        };
        assert!(
            m.canonical_request.ends_with("\nhost\nUNSIGNED-PAYLOAD"),
            "{}",
            m.canonical_request
        );
        assert!(!m.canonical_request.contains("X-Amz-Signature"));
    }

    #[test]
    fn parameter_errors() {
        let cases = [
            // A missing parameter.
            EXAMPLE_QUERY.replace("&X-Amz-Expires=86400", ""),
            EXAMPLE_QUERY.to_owned(),
            format!(
                "{}&X-Amz-Signature={EXAMPLE_SIG}",
                EXAMPLE_QUERY.replace("&X-Amz-SignedHeaders=host", "")
            ),
            // Bad values.
            example_url().replace(
                "X-Amz-Algorithm=AWS4-HMAC-SHA256",
                "X-Amz-Algorithm=AWS4-HMAC-SHA1",
            ),
            example_url().replace("X-Amz-Expires=86400", "X-Amz-Expires=soon"),
            example_url().replace("X-Amz-Date=20130524T000000Z", "X-Amz-Date=20130524"),
            example_url().replace("X-Amz-Date=20130524T000000Z", "X-Amz-Date=20130525T000000Z"),
            example_url().replace("us-east-1", "eu-west-1"),
            example_url().replace("X-Amz-SignedHeaders=host", "X-Amz-SignedHeaders="),
        ];
        for q in &cases {
            let e = run_at("GET", "/test.txt", q, &host(), example_time()).unwrap_err();
            assert_eq!(
                (e.code(), e.status()),
                ("AuthorizationQueryParametersError", 400),
                "{q}: {e}"
            );
        }
        let e = run_at(
            "GET",
            "/test.txt",
            &example_url().replace("us-east-1", "eu-west-1"),
            &host(),
            example_time(),
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "Error parsing the X-Amz-Credential parameter; the region 'eu-west-1' is wrong; expecting 'us-east-1'"
        );
    }

    #[test]
    fn unknown_key() {
        let q = example_url().replace("AKIAIOSFODNN7EXAMPLE", "NOSUCHKEY");
        let e = run_at("GET", "/test.txt", &q, &host(), example_time()).unwrap_err();
        assert_eq!((e.code(), e.status()), ("InvalidAccessKeyId", 403));
    }

    #[test]
    fn unsigned_amz_header_refused() {
        let mut h = host();
        h.insert("x-amz-acl", HeaderValue::from_static("public-read"));
        let e = run_at("PUT", "/test.txt", &example_url(), &h, example_time()).unwrap_err();
        assert_eq!(e.code(), "AccessDenied");
    }

    /// A presigned PUT with X-Amz-Content-Sha256 in the query and a signed x-amz-meta header.
    #[test]
    fn content_hash_parameter_and_signed_headers() {
        let body_hash = crate::signing::sha256_hex(b"hello");
        let base = format!(
            "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Content-Sha256={body_hash}&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=60&X-Amz-SignedHeaders=host%3Bx-amz-meta-a&x-id=PutObject"
        );
        let (_, sig) = sign(
            "PUT",
            "/k",
            &base,
            &[("host", HOST), ("x-amz-meta-a", "1")],
            &body_hash,
        );
        let h = header_map(&[("host", HOST), ("x-amz-meta-a", "1")]);
        let v = run_at(
            "PUT",
            "/k",
            &format!("{base}&X-Amz-Signature={sig}"),
            &h,
            example_time(),
        )
        .unwrap();
        assert!(matches!(v.payload, Payload::Sha256(x) if hex::encode(x) == body_hash));
        // The signed header's value is covered.
        let h = header_map(&[("host", HOST), ("x-amz-meta-a", "2")]);
        let e = run_at(
            "PUT",
            "/k",
            &format!("{base}&X-Amz-Signature={sig}"),
            &h,
            example_time(),
        )
        .unwrap_err();
        assert_eq!(e.code(), "SignatureDoesNotMatch");
    }

    #[test]
    fn expires_range() {
        assert_eq!(parse_expires("1").unwrap(), 1);
        assert_eq!(parse_expires("604800").unwrap(), 604_800);
        for bad in [
            "abc",
            "",
            "1.5",
            "99999999999999999999",
        ] {
            let e = parse_expires(bad).expect_err(bad);
            assert_eq!(e.code(), "AuthorizationQueryParametersError", "{bad}");
        }
        for out_of_range in ["0", "-5", "604801"] {
            let e = parse_expires(out_of_range).expect_err(out_of_range);
            assert_eq!((e.code(), e.status()), ("AccessDenied", 403), "{out_of_range}");
        }
    }
}
