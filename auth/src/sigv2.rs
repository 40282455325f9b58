//! AWS Signature Version 2 (HMAC-SHA1): the `Authorization: AWS AKID:signature` header and
//! presigned URLs carrying `AWSAccessKeyId`, `Expires` and `Signature` query parameters.
//!
//! The string to sign is `Verb \n Content-MD5 \n Content-Type \n Date \n` followed by the
//! canonicalized `x-amz-*` headers and the canonicalized resource (`/bucket/key?subresources`).
//! SigV2 never covers the body, so a verified request's payload is [`Payload::Unsigned`].

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::header::{AUTHORIZATION, CONTENT_TYPE, DATE};
use http::HeaderMap;
use percent_encoding::percent_decode_str;
use time::{Date, Month, PrimitiveDateTime, Time};

use crate::canonical::{canonical_uri, decode_component, decode_to_string, parse_query};
use crate::datetime::{check_skew, parse_amz_date, parse_http_date};
use crate::error::{AuthError, SignatureMismatch};
use crate::payload::Payload;
use crate::scheme::{query_scheme, AuthScheme};
use crate::signing::{ct_eq, hmac_sha1_base64};
use crate::{SignedRequest, Verified};

/// Query parameters that are part of the resource and so enter the string to sign (S3's
/// list of sub-resources plus the `response-*` header overrides). All others are left out.
const SUBRESOURCES: &[&str] = &[
    "acl",
    "cors",
    "delete",
    "encryption",
    "legal-hold",
    "lifecycle",
    "location",
    "logging",
    "notification",
    "object-lock",
    "partNumber",
    "policy",
    "publicAccessBlock",
    "replication",
    "requestPayment",
    "response-cache-control",
    "response-content-disposition",
    "response-content-encoding",
    "response-content-language",
    "response-content-type",
    "response-expires",
    "restore",
    "retention",
    "tagging",
    "torrent",
    "uploadId",
    "uploads",
    "versionId",
    "versioning",
    "versions",
    "website",
];

/// Verifies a path-style SigV2 request (header or presigned); see [`verify_sigv2_hosted`].
pub fn verify_sigv2(
    req: &SignedRequest,
    now: SystemTime,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<Verified>, AuthError> {
    verify_sigv2_hosted(req, None, now, lookup)
}

/// Verifies SigV2 from the `Authorization: AWS AKID:signature` header or from presigned
/// query parameters (`AWSAccessKeyId`, `Expires`, `Signature`).
///
/// `host_bucket` is the bucket named by the `Host` header of a virtual-hosted-style request
/// (it is prefixed to the path in the canonicalized resource); `None` for path-style requests
/// and requests that address no bucket. Returns `Ok(None)` for an anonymous request; a request
/// carrying SigV4 (or any other scheme) is refused, so callers wanting both use [`crate::verify`].
/// The verified payload is always [`Payload::Unsigned`]: SigV2 does not sign the body (a
/// `Content-MD5`, if sent, is signed and is for the caller to check against the body).
pub fn verify_sigv2_hosted(
    req: &SignedRequest,
    host_bucket: Option<&str>,
    now: SystemTime,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<Verified>, AuthError> {
    let params = parse_query(req.raw_query);
    let in_query = query_scheme(&params);
    let Some(header) = req.headers.get(AUTHORIZATION) else {
        return match in_query {
            AuthScheme::QueryV2 => verify_query(req, &params, host_bucket, now, lookup).map(Some),
            AuthScheme::Anonymous => Ok(None),
            _ => Err(not_v2()),
        };
    };
    if !header.as_bytes().starts_with(b"AWS ") {
        return Err(not_v2());
    }
    if in_query != AuthScheme::Anonymous {
        return Err(AuthError::two_mechanisms());
    }
    verify_header(req, header.as_bytes(), &params, host_bucket, now, lookup).map(Some)
}

fn not_v2() -> AuthError {
    AuthError::InvalidRequest("The request is not signed with AWS Signature Version 2.".into())
}

/// The `Authorization: AWS AKID:signature` flow.
fn verify_header(
    req: &SignedRequest,
    value: &[u8],
    params: &[(&str, &str)],
    host_bucket: Option<&str>,
    now: SystemTime,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Verified, AuthError> {
    let (access_key, signature) = parse_authorization(value)?;
    let stamp = header_time(req.headers)?;
    let secret = lookup(access_key).ok_or_else(|| AuthError::unknown_access_key(access_key))?;
    check_skew(now, stamp.time, &stamp.sent)?;
    let parts = Parts {
        content_md5: header_text(req.headers, "content-md5"),
        content_type: header_text(req.headers, CONTENT_TYPE.as_str()),
        dates: stamp.date_lines,
        amz_headers: vec![amz_headers(req.headers, &[])],
    };
    parts.check(req, params, host_bucket, access_key, &secret, signature)?;
    Ok(Verified {
        access_key: access_key.to_owned(),
        payload: Payload::Unsigned,
        presigned: false,
        request_time: stamp.time,
    })
}

/// The presigned-URL flow.
fn verify_query(
    req: &SignedRequest,
    params: &[(&str, &str)],
    host_bucket: Option<&str>,
    now: SystemTime,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Verified, AuthError> {
    let (mut access_key, mut expires, mut signature) = (None, None, None);
    let mut query_amz: Vec<(String, Vec<u8>)> = Vec::new();
    let (mut query_md5, mut query_type) = (None, None);
    for (name, value) in params {
        let name = decode_to_string(name);
        match name.as_str() {
            "AWSAccessKeyId" => access_key = access_key.or_else(|| Some(decode_to_string(value))),
            "Expires" => expires = expires.or_else(|| Some(decode_to_string(value))),
            // Base64 contains '+': a raw '+' here is a plus, not a form-encoded space.
            "Signature" => {
                signature = signature
                    .or_else(|| Some(percent_decode_str(value).decode_utf8_lossy().into_owned()))
            }
            // Clients that presign copy the x-amz-* headers and Content-Type / Content-MD5
            // they signed into the query.
            _ => {
                let lower = name.to_ascii_lowercase();
                if lower == "content-md5" {
                    query_md5 = Some(decode_component(value));
                } else if lower == "content-type" {
                    query_type = Some(decode_component(value));
                } else if lower.starts_with("x-amz-") {
                    query_amz.push((lower, decode_component(value)));
                }
            }
        }
    }
    let (Some(access_key), Some(expires), Some(signature)) = (access_key, expires, signature)
    else {
        return Err(AuthError::AccessDenied(
            "Query-string authentication requires the Signature, Expires and AWSAccessKeyId parameters"
                .into(),
        ));
    };
    let expires_at = expires
        .trim()
        .parse::<u64>()
        .ok()
        .and_then(|s| UNIX_EPOCH.checked_add(Duration::from_secs(s)))
        .ok_or_else(|| {
            AuthError::AccessDenied(format!(
                "Invalid date (should be seconds since epoch): {expires}"
            ))
        })?;
    let secret = lookup(&access_key).ok_or_else(|| AuthError::unknown_access_key(&access_key))?;
    if now > expires_at {
        return Err(AuthError::AccessDenied("Request has expired".into()));
    }
    // Headers the client sends win; the query copies stand in for headers it does not send.
    let content_md5 = header_text(req.headers, "content-md5").or(query_md5);
    let content_type = header_text(req.headers, CONTENT_TYPE.as_str()).or(query_type);
    // x-amz-* query parameters (e.g. x-amz-security-token) are signed as headers by the SDKs
    // that put them there; a client that added them unsigned is accepted too, since the
    // server acts on no x-amz-* query parameter.
    let mut amz = vec![amz_headers(req.headers, &query_amz)];
    if !query_amz.is_empty() {
        amz.push(amz_headers(req.headers, &[]));
    }
    let parts = Parts {
        content_md5,
        content_type,
        dates: vec![expires.into_bytes()],
        amz_headers: amz,
    };
    parts.check(req, params, host_bucket, &access_key, &secret, &signature)?;
    Ok(Verified {
        access_key,
        payload: Payload::Unsigned,
        presigned: true,
        // A presigned SigV2 URL carries no signing time; the request is dated by its arrival.
        request_time: now,
    })
}

/// Splits `AWS AKID:signature` into its two non-empty parts.
fn parse_authorization(value: &[u8]) -> Result<(&str, &str), AuthError> {
    let invalid = || {
        AuthError::InvalidArgument(
            "AWS authorization header is invalid.  Expected AwsAccessKeyId:signature".into(),
        )
    };
    let value = std::str::from_utf8(value).map_err(|_| invalid())?;
    let rest = value.strip_prefix("AWS ").ok_or_else(invalid)?.trim();
    let (access_key, signature) = rest.split_once(':').ok_or_else(invalid)?;
    let (access_key, signature) = (access_key.trim(), signature.trim());
    if access_key.is_empty() || signature.is_empty() || access_key.contains(char::is_whitespace) {
        return Err(invalid());
    }
    Ok((access_key, signature))
}

/// The request time of header authentication.
struct Stamp {
    time: SystemTime,
    /// The date as the client sent it.
    sent: String,
    /// The values the Date line of the string to sign may take, preferred first.
    date_lines: Vec<Vec<u8>>,
}

/// `x-amz-date` if present (then the Date line is empty, as S3 specifies; the `Date` header's
/// value is accepted second, as botocore and MinIO sign it), else `Date`.
fn header_time(headers: &HeaderMap) -> Result<Stamp, AuthError> {
    let invalid = AuthError::no_valid_date;
    let parse = |v: &http::HeaderValue| -> Result<(SystemTime, String), AuthError> {
        let s = v.to_str().map_err(|_| invalid())?.trim();
        let t = parse_http_date(s)
            .or_else(|| parse_amz_date(s))
            .or_else(|| parse_lenient_date(s))
            .ok_or_else(invalid)?;
        Ok((t, s.to_owned()))
    };
    let date_header = headers
        .get(DATE)
        .map(|v| v.as_bytes().trim_ascii().to_vec());
    if let Some(v) = headers.get("x-amz-date") {
        let (time, sent) = parse(v)?;
        let mut date_lines = vec![Vec::new()];
        if let Some(d) = date_header.filter(|d| !d.is_empty()) {
            date_lines.push(d);
        }
        return Ok(Stamp {
            time,
            sent,
            date_lines,
        });
    }
    let v = headers.get(DATE).ok_or_else(invalid)?;
    let (time, sent) = parse(v)?;
    Ok(Stamp {
        time,
        date_lines: vec![sent.clone().into_bytes()],
        sent,
    })
}

/// `[Weekday,] DD Mon YYYY HH:MM:SS zone`, the weekday not checked (S3 does not), the zone
/// `GMT`, `UTC`, `Z` or a numeric offset. Times before 1970 are refused.
fn parse_lenient_date(s: &str) -> Option<SystemTime> {
    let mut parts = s.split_ascii_whitespace().peekable();
    if parts.peek()?.ends_with(',') {
        parts.next();
    }
    let day: u8 = parts.next()?.parse().ok()?;
    let month = parts.next()?;
    let month = MONTHS
        .iter()
        .position(|m| m.eq_ignore_ascii_case(month))
        .and_then(|i| Month::try_from(i as u8 + 1).ok())?;
    let year: i32 = parts.next()?.parse().ok()?;
    let mut hms = parts.next()?.split(':').map(|p| p.parse::<u8>().ok());
    let (h, m, sec) = (hms.next()??, hms.next()??, hms.next()??);
    if hms.next().is_some() {
        return None;
    }
    let offset_secs: i64 = match parts.next()? {
        "GMT" | "UTC" | "Z" => 0,
        z if z.len() == 5 && (z.starts_with('+') || z.starts_with('-')) => {
            let hh: i64 = z.get(1..3)?.parse().ok()?;
            let mm: i64 = z.get(3..5)?.parse().ok()?;
            let v = hh * 3600 + mm * 60;
            if z.starts_with('-') {
                -v
            } else {
                v
            }
        }
        _ => return None,
    };
    if parts.next().is_some() {
        return None;
    }
    let date = Date::from_calendar_date(year, month, day).ok()?;
    let time = Time::from_hms(h, m, sec).ok()?;
    let unix = PrimitiveDateTime::new(date, time)
        .assume_utc()
        .unix_timestamp()
        - offset_secs;
    let unix = u64::try_from(unix).ok()?;
    UNIX_EPOCH.checked_add(Duration::from_secs(unix))
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// A header's value, trimmed, if present (repeated values joined with ',').
fn header_text(headers: &HeaderMap, name: &str) -> Option<Vec<u8>> {
    let mut values = headers.get_all(name).iter().peekable();
    values.peek()?;
    let mut out = Vec::new();
    for (i, v) in values.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(v.as_bytes().trim_ascii());
    }
    Some(out)
}

/// CanonicalizedAmzHeaders: every `x-amz-*` header (and `extra`, e.g. copied from the query),
/// lowercased, sorted by name, values trimmed and repeated names joined with ',', each
/// written `name:value\n`.
fn amz_headers(headers: &HeaderMap, extra: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut all: Vec<(&str, &[u8])> = headers
        .iter()
        .filter(|(n, _)| n.as_str().starts_with("x-amz-"))
        .map(|(n, v)| (n.as_str(), v.as_bytes().trim_ascii()))
        .collect();
    all.extend(extra.iter().map(|(n, v)| (n.as_str(), v.trim_ascii())));
    // A stable sort keeps repeated headers in the order they were sent.
    all.sort_by(|a, b| a.0.cmp(b.0));
    let mut out = Vec::new();
    let mut prev: Option<&str> = None;
    for (name, value) in all {
        if prev == Some(name) {
            out.pop(); // the previous '\n'
            out.push(b',');
        } else {
            out.extend_from_slice(name.as_bytes());
            out.push(b':');
        }
        out.extend_from_slice(value);
        out.push(b'\n');
        prev = Some(name);
    }
    out
}

/// CanonicalizedResource: `[/host-bucket]` + the path + `?` + the sub-resources, sorted.
///
/// Sub-resource values are percent-decoded (S3 signs them unencoded) or, with
/// `decode_values == false`, taken as sent.
fn canonical_resource(
    host_bucket: Option<&str>,
    path: &str,
    params: &[(&str, &str)],
    decode_values: bool,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(path.len() + 32);
    if let Some(bucket) = host_bucket {
        out.push(b'/');
        out.extend_from_slice(bucket.as_bytes());
    }
    if path.is_empty() {
        out.push(b'/');
    } else {
        out.extend_from_slice(path.as_bytes());
    }
    let mut subs: Vec<(String, Vec<u8>)> = params
        .iter()
        .filter_map(|(name, value)| {
            let name = decode_to_string(name);
            if !SUBRESOURCES.contains(&name.as_str()) {
                return None;
            }
            let value = if decode_values {
                decode_component(value)
            } else {
                value.as_bytes().to_vec()
            };
            Some((name, value))
        })
        .collect();
    subs.sort();
    for (i, (name, value)) in subs.iter().enumerate() {
        out.push(if i == 0 { b'?' } else { b'&' });
        out.extend_from_slice(name.as_bytes());
        if !value.is_empty() {
            out.push(b'=');
            out.extend_from_slice(value);
        }
    }
    out
}

/// The request-dependent parts of the string to sign, with the alternatives accepted.
struct Parts {
    content_md5: Option<Vec<u8>>,
    content_type: Option<Vec<u8>>,
    /// Date line values, preferred first.
    dates: Vec<Vec<u8>>,
    /// CanonicalizedAmzHeaders values, preferred first.
    amz_headers: Vec<Vec<u8>>,
}

impl Parts {
    /// Compares `signature` with every accepted reading of the request; the first reading's
    /// string to sign is reported on a mismatch.
    ///
    /// The readings differ only in ways that cannot change what the request means: the path
    /// as sent or as AWS `UriEncode` would have sent it; sub-resource values decoded or as
    /// sent; a bucket's path with the trailing slash botocore signs; the alternative Date
    /// line described in [`header_time`]; query `x-amz-*`
    /// parameters signed or not.
    fn check(
        &self,
        req: &SignedRequest,
        params: &[(&str, &str)],
        host_bucket: Option<&str>,
        access_key: &str,
        secret: &str,
        signature: &str,
    ) -> Result<(), AuthError> {
        let mut paths = vec![req.raw_path.to_owned()];
        let encoded = canonical_uri(req.raw_path);
        if !req.raw_path.is_empty() && encoded != req.raw_path {
            paths.push(encoded);
        }
        // botocore signs a path-style bucket request (`/bucket`) as `/bucket/`.
        let bucket_only = req.raw_path.strip_prefix('/').is_some_and(|rest| !rest.is_empty() && !rest.contains('/'));
        if host_bucket.is_none() && bucket_only {
            paths.push(format!("{}/", req.raw_path));
        }
        let mut resources: Vec<Vec<u8>> = Vec::new();
        for path in &paths {
            for decode in [true, false] {
                let r = canonical_resource(host_bucket, path, params, decode);
                if !resources.contains(&r) {
                    resources.push(r);
                }
            }
        }
        let provided = signature.trim().as_bytes();
        let mut first: Option<Vec<u8>> = None;
        for date in &self.dates {
            for amz in &self.amz_headers {
                for resource in &resources {
                    let sts = self.string_to_sign(req.method, date, amz, resource);
                    let expected = hmac_sha1_base64(secret.as_bytes(), &sts);
                    if ct_eq(expected.as_bytes(), provided) {
                        return Ok(());
                    }
                    first.get_or_insert(sts);
                }
            }
        }
        Err(AuthError::mismatch(SignatureMismatch {
            access_key: access_key.to_owned(),
            signature_provided: signature.to_owned(),
            string_to_sign: String::from_utf8_lossy(&first.unwrap_or_default()).into_owned(),
            canonical_request: String::new(),
        }))
    }

    fn string_to_sign(&self, method: &str, date: &[u8], amz: &[u8], resource: &[u8]) -> Vec<u8> {
        let mut s = Vec::with_capacity(64 + date.len() + amz.len() + resource.len());
        s.extend_from_slice(method.as_bytes());
        s.push(b'\n');
        s.extend_from_slice(self.content_md5.as_deref().unwrap_or_default());
        s.push(b'\n');
        s.extend_from_slice(self.content_type.as_deref().unwrap_or_default());
        s.push(b'\n');
        s.extend_from_slice(date);
        s.push(b'\n');
        s.extend_from_slice(amz);
        s.extend_from_slice(resource);
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{
        example_time, get_object_headers, header_map, lookup, request, AKID, GET_OBJECT_SIG, SECRET,
    };
    use crate::{verify, verify_hosted};

    /// The AWS documentation's SigV2 examples are signed for the bucket `johnsmith`.
    const BUCKET: &str = "johnsmith";
    const HOST: &str = "johnsmith.s3.amazonaws.com";

    fn at(date: &str) -> SystemTime {
        parse_http_date(date).unwrap()
    }

    fn run(
        method: &str,
        path: &str,
        query: &str,
        headers: &HeaderMap,
        bucket: Option<&str>,
        now: SystemTime,
    ) -> Result<Option<Verified>, AuthError> {
        verify_sigv2_hosted(&request(method, path, query, headers), bucket, now, &lookup)
    }

    /// A client-side signature of a string to sign the test spells out.
    fn sign(string_to_sign: &str) -> String {
        hmac_sha1_base64(SECRET.as_bytes(), string_to_sign.as_bytes())
    }

    fn auth(signature: &str) -> String {
        format!("AWS {AKID}:{signature}")
    }

    const GET_DATE: &str = "Tue, 27 Mar 2007 19:36:42 +0000";
    const GET_SIG: &str = "bWq2s1WEIj+Ydj0vQ697zp+IXMU=";

    /// Headers dated `GET_DATE`, signed over `method` and `resource` alone.
    fn signed_on_get_date(method: &str, resource: &str) -> HeaderMap {
        let sig = sign(&format!("{method}\n\n\n{GET_DATE}\n{resource}"));
        header_map(&[("date", GET_DATE), ("authorization", &auth(&sig))])
    }

    fn get_headers(signature: &str) -> HeaderMap {
        header_map(&[
            ("host", HOST),
            ("date", GET_DATE),
            ("authorization", &auth(signature)),
        ])
    }

    #[test]
    fn helper_matches_documented_signature() {
        assert_eq!(
            sign("GET\n\n\nTue, 27 Mar 2007 19:36:42 +0000\n/johnsmith/photos/puppy.jpg"),
            GET_SIG
        );
    }

    #[test]
    fn aws_example_object_get() {
        let h = get_headers(GET_SIG);
        let v = run(
            "GET",
            "/photos/puppy.jpg",
            "",
            &h,
            Some(BUCKET),
            at(GET_DATE),
        )
        .unwrap()
        .unwrap();
        assert_eq!(v.access_key, AKID);
        assert!(!v.presigned);
        assert!(matches!(v.payload, Payload::Unsigned));
        assert_eq!(v.request_time, at(GET_DATE));
        // The same request sent path-style signs the same resource.
        run(
            "GET",
            "/johnsmith/photos/puppy.jpg",
            "",
            &h,
            None,
            at(GET_DATE),
        )
        .unwrap()
        .unwrap();
        // Through the path-style entry point too.
        let req = request("GET", "/johnsmith/photos/puppy.jpg", "", &h);
        verify_sigv2(&req, at(GET_DATE), &lookup).unwrap().unwrap();
    }

    #[test]
    fn aws_example_object_put() {
        let date = "Tue, 27 Mar 2007 21:15:45 +0000";
        let h = header_map(&[
            ("content-type", "image/jpeg"),
            ("content-length", "94328"),
            ("host", HOST),
            ("date", date),
            ("authorization", &auth("MyyxeRY7whkBe+bq8fHCL/2kKUg=")),
        ]);
        run("PUT", "/photos/puppy.jpg", "", &h, Some(BUCKET), at(date))
            .unwrap()
            .unwrap();
    }

    #[test]
    fn aws_example_list() {
        let date = "Tue, 27 Mar 2007 19:42:41 +0000";
        let h = header_map(&[
            ("user-agent", "Mozilla/5.0"),
            ("host", HOST),
            ("date", date),
            ("authorization", &auth("htDYFYduRNen8P9ZfE/s9SuKy0U=")),
        ]);
        // Query parameters that are not sub-resources are not signed.
        run(
            "GET",
            "/",
            "prefix=photos&max-keys=50&marker=puppy",
            &h,
            Some(BUCKET),
            at(date),
        )
        .unwrap()
        .unwrap();
    }

    #[test]
    fn aws_example_fetch_acl() {
        let date = "Tue, 27 Mar 2007 19:44:46 +0000";
        let h = header_map(&[
            ("host", HOST),
            ("date", date),
            ("authorization", &auth("c2WLPFtWHVgbEmeEG93a4cG37dM=")),
        ]);
        run("GET", "/", "acl", &h, Some(BUCKET), at(date))
            .unwrap()
            .unwrap();
        // `acl=` (empty value) is the same sub-resource.
        run("GET", "/", "acl=", &h, Some(BUCKET), at(date))
            .unwrap()
            .unwrap();
        // Without the sub-resource the signature no longer matches.
        let e = run("GET", "/", "", &h, Some(BUCKET), at(date)).unwrap_err();
        assert_eq!(e.code(), "SignatureDoesNotMatch");
    }

    #[test]
    fn aws_example_delete_with_x_amz_date() {
        // x-amz-date is among the amz headers and the Date line is empty.
        let amz_date = "Tue, 27 Mar 2007 21:20:26 +0000";
        let sts = format!("DELETE\n\n\n\nx-amz-date:{amz_date}\n/johnsmith/photos/puppy.jpg");
        assert_eq!(sign(&sts), "R4dJ53KECjStyBO5iTBJZ4XVOaI=");
        let h = header_map(&[
            ("user-agent", "dotnet"),
            ("host", "s3.amazonaws.com"),
            ("date", "Tue, 27 Mar 2007 21:20:27 +0000"),
            ("x-amz-date", amz_date),
            ("authorization", &auth("R4dJ53KECjStyBO5iTBJZ4XVOaI=")),
        ]);
        let v = run(
            "DELETE",
            "/johnsmith/photos/puppy.jpg",
            "",
            &h,
            None,
            at(amz_date),
        )
        .unwrap()
        .unwrap();
        assert_eq!(v.request_time, at(amz_date));
        // botocore and MinIO put the Date header on the Date line even then.
        let botocore = sign(&format!(
            "DELETE\n\n\nTue, 27 Mar 2007 21:20:27 +0000\nx-amz-date:{amz_date}\n/johnsmith/photos/puppy.jpg"
        ));
        let mut h2 = h.clone();
        h2.insert("authorization", auth(&botocore).parse().unwrap());
        run(
            "DELETE",
            "/johnsmith/photos/puppy.jpg",
            "",
            &h2,
            None,
            at(amz_date),
        )
        .unwrap()
        .unwrap();
        // The mismatch report shows the preferred string to sign.
        let e = run(
            "DELETE",
            "/johnsmith/photos/kitten.jpg",
            "",
            &h,
            None,
            at(amz_date),
        )
        .unwrap_err();
        let AuthError::SignatureDoesNotMatch(m) = e else {
            panic!("{e:?}")
        };
        assert_eq!(
            m.string_to_sign,
            format!("DELETE\n\n\n\nx-amz-date:{amz_date}\n/johnsmith/photos/kitten.jpg")
        );
    }

    #[test]
    fn aws_example_upload_with_amz_headers() {
        let date = "Tue, 27 Mar 2007 21:06:08 +0000";
        let h = header_map(&[
            ("user-agent", "curl/7.15.5"),
            ("host", "static.johnsmith.net:8080"),
            ("date", date),
            ("x-amz-acl", "public-read"),
            ("content-type", "application/x-download"),
            ("content-md5", "4gJE4saaMU4BqNR0kLY+lw=="),
            ("x-amz-meta-reviewedby", "joe@johnsmith.net"),
            ("x-amz-meta-reviewedby", "jane@johnsmith.net"),
            ("x-amz-meta-filechecksum", "0x02661779"),
            ("x-amz-meta-checksumalgorithm", "crc32"),
            ("content-disposition", "attachment; filename=database.dat"),
            ("content-encoding", "gzip"),
            ("content-length", "5913339"),
            ("authorization", &auth("ilyl83RwaSoYIEdixDQcA4OnAnc=")),
        ]);
        // A CNAME-style virtual host: the whole host name is the bucket.
        run(
            "PUT",
            "/db-backup.dat.gz",
            "",
            &h,
            Some("static.johnsmith.net"),
            at(date),
        )
        .unwrap()
        .unwrap();
        // The canonical amz headers: lowercased, sorted, repeated names joined.
        assert_eq!(
            String::from_utf8(amz_headers(&h, &[])).unwrap(),
            "x-amz-acl:public-read\nx-amz-meta-checksumalgorithm:crc32\nx-amz-meta-filechecksum:0x02661779\nx-amz-meta-reviewedby:joe@johnsmith.net,jane@johnsmith.net\n"
        );
    }

    #[test]
    fn aws_example_list_all_buckets() {
        let date = "Wed, 28 Mar 2007 01:29:59 +0000";
        let h = header_map(&[
            ("host", "s3.amazonaws.com"),
            ("date", date),
            ("authorization", &auth("qGdzdERIC03wnaRNKh6OqZehG9s=")),
        ]);
        run("GET", "/", "", &h, None, at(date)).unwrap().unwrap();
    }

    #[test]
    fn aws_example_unicode_keys_signed_as_sent() {
        let date = "Wed, 28 Mar 2007 01:49:49 +0000";
        let h = header_map(&[
            ("host", "s3.amazonaws.com"),
            ("date", date),
            ("authorization", &auth("DNEZGsoieTZ92F3bUfSPQcbGmlM=")),
        ]);
        run(
            "GET",
            "/dictionary/fran%C3%A7ais/pr%c3%a9f%c3%a8re",
            "",
            &h,
            None,
            at(date),
        )
        .unwrap()
        .unwrap();
    }

    #[test]
    fn path_signed_as_a_client_would_have_encoded_it() {
        // Sent with a raw '(' but signed with it escaped (both mean the same key).
        let h = signed_on_get_date("GET", "/bucket/a%28b");
        run("GET", "/bucket/a(b", "", &h, None, at(GET_DATE))
            .unwrap()
            .unwrap();
        run("GET", "/bucket/a%28b", "", &h, None, at(GET_DATE))
            .unwrap()
            .unwrap();
    }

    const PRESIGNED_QUERY: &str = "AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE&Signature=NpgCjnDzrM%2BWFzoENXmpNDUsSn8%3D&Expires=1175139620";

    fn expires_at() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_175_139_620)
    }

    #[test]
    fn aws_example_presigned_get() {
        let h = header_map(&[("host", HOST)]);
        let now = expires_at() - Duration::from_secs(3600);
        let v = run(
            "GET",
            "/photos/puppy.jpg",
            PRESIGNED_QUERY,
            &h,
            Some(BUCKET),
            now,
        )
        .unwrap()
        .unwrap();
        assert!(v.presigned);
        assert_eq!(v.access_key, AKID);
        assert_eq!(v.request_time, now);
        assert!(matches!(v.payload, Payload::Unsigned));
        // Until the second it expires.
        run(
            "GET",
            "/photos/puppy.jpg",
            PRESIGNED_QUERY,
            &h,
            Some(BUCKET),
            expires_at(),
        )
        .unwrap()
        .unwrap();
        // A raw '+' in the signature is a plus (base64), not a space.
        let raw_plus = PRESIGNED_QUERY.replace("%2B", "+");
        run("GET", "/photos/puppy.jpg", &raw_plus, &h, Some(BUCKET), now)
            .unwrap()
            .unwrap();
        // Lowercase escapes decode the same.
        let lower = PRESIGNED_QUERY.replace("%2B", "%2b").replace("%3D", "%3d");
        run("GET", "/photos/puppy.jpg", &lower, &h, Some(BUCKET), now)
            .unwrap()
            .unwrap();
        // A header the client happens to send (Date) plays no part.
        let with_date = header_map(&[("host", HOST), ("date", GET_DATE)]);
        run(
            "GET",
            "/photos/puppy.jpg",
            PRESIGNED_QUERY,
            &with_date,
            Some(BUCKET),
            now,
        )
        .unwrap()
        .unwrap();
    }

    #[test]
    fn presigned_expired() {
        let h = header_map(&[("host", HOST)]);
        let e = run(
            "GET",
            "/photos/puppy.jpg",
            PRESIGNED_QUERY,
            &h,
            Some(BUCKET),
            expires_at() + Duration::from_secs(1),
        )
        .unwrap_err();
        assert_eq!((e.code(), e.status()), ("AccessDenied", 403));
        assert_eq!(e.to_string(), "Request has expired");
    }

    #[test]
    fn presigned_missing_or_bad_parameters() {
        let h = HeaderMap::new();
        let now = expires_at();
        for q in [
            "AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE&Expires=1175139620",
            "AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE&Signature=x",
        ] {
            let e = run("GET", "/b/k", q, &h, None, now).unwrap_err();
            assert_eq!((e.code(), e.status()), ("AccessDenied", 403), "{q}");
            assert_eq!(
                e.to_string(),
                "Query-string authentication requires the Signature, Expires and AWSAccessKeyId parameters"
            );
        }
        let e = run(
            "GET",
            "/b/k",
            "AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE&Expires=soon&Signature=x",
            &h,
            None,
            now,
        )
        .unwrap_err();
        assert_eq!((e.code(), e.status()), ("AccessDenied", 403));
        assert_eq!(
            e.to_string(),
            "Invalid date (should be seconds since epoch): soon"
        );
        let e = run(
            "GET",
            "/b/k",
            "AWSAccessKeyId=NOSUCHKEY&Expires=1175139620&Signature=x",
            &h,
            None,
            now,
        )
        .unwrap_err();
        assert_eq!(
            e,
            AuthError::InvalidAccessKeyId {
                access_key: "NOSUCHKEY".into()
            }
        );
        let e = run(
            "GET",
            "/johnsmith/photos/kitten.jpg",
            PRESIGNED_QUERY,
            &h,
            None,
            now,
        )
        .unwrap_err();
        let AuthError::SignatureDoesNotMatch(m) = e else {
            panic!("{e:?}")
        };
        assert_eq!(
            m.string_to_sign,
            "GET\n\n\n1175139620\n/johnsmith/photos/kitten.jpg"
        );
        assert_eq!(m.signature_provided, "NpgCjnDzrM+WFzoENXmpNDUsSn8=");
    }

    #[test]
    fn presigned_with_subresources_overrides_and_token() {
        // response-* values and other sub-resource values are signed decoded; the
        // x-amz-security-token copied into the query is signed as an amz header.
        let sts = "GET\n\n\n1175139620\nx-amz-security-token:tok/en+1\n/bucket/key?response-content-disposition=attachment; filename=\"a b.txt\"&versionId=3+4";
        let sig = sign(sts);
        let enc_sig = sig
            .replace('+', "%2B")
            .replace('/', "%2F")
            .replace('=', "%3D");
        let q = format!(
            "versionId=3%2B4&response-content-disposition=attachment%3B%20filename%3D%22a%20b.txt%22&AWSAccessKeyId={AKID}&Expires=1175139620&x-amz-security-token=tok%2Fen%2B1&Signature={enc_sig}"
        );
        let h = HeaderMap::new();
        run("GET", "/bucket/key", &q, &h, None, expires_at())
            .unwrap()
            .unwrap();
        // A token left out of the signature is ignored.
        let unsigned_token = sign("GET\n\n\n1175139620\n/bucket/key?response-content-disposition=attachment; filename=\"a b.txt\"&versionId=3+4");
        let q = format!(
            "versionId=3%2B4&response-content-disposition=attachment%3B%20filename%3D%22a%20b.txt%22&AWSAccessKeyId={AKID}&Expires=1175139620&x-amz-security-token=xyz&Signature={}",
            unsigned_token.replace('+', "%2B").replace('/', "%2F").replace('=', "%3D")
        );
        run("GET", "/bucket/key", &q, &h, None, expires_at())
            .unwrap()
            .unwrap();
    }

    #[test]
    fn presigned_put_with_content_type() {
        let sts = "PUT\n\ntext/plain\n1175139620\n/bucket/key";
        let sig = sign(sts)
            .replace('+', "%2B")
            .replace('/', "%2F")
            .replace('=', "%3D");
        let q = format!("AWSAccessKeyId={AKID}&Expires=1175139620&Signature={sig}");
        let h = header_map(&[("content-type", "text/plain")]);
        run("PUT", "/bucket/key", &q, &h, None, expires_at())
            .unwrap()
            .unwrap();
        // A different Content-Type breaks the signature.
        let h = header_map(&[("content-type", "text/html")]);
        let e = run("PUT", "/bucket/key", &q, &h, None, expires_at()).unwrap_err();
        assert_eq!(e.code(), "SignatureDoesNotMatch");
        // botocore copies the signed Content-Type into the query too.
        let q2 = format!("{q}&content-type=text%2Fplain");
        run(
            "PUT",
            "/bucket/key",
            &q2,
            &HeaderMap::new(),
            None,
            expires_at(),
        )
        .unwrap()
        .unwrap();
    }

    #[test]
    fn canonical_resource_sub_resources() {
        let cr = |bucket: Option<&str>, path: &str, q: &str| {
            String::from_utf8(canonical_resource(bucket, path, &parse_query(q), true)).unwrap()
        };
        assert_eq!(cr(None, "", ""), "/");
        assert_eq!(cr(Some("b"), "/", "list-type=2&prefix=a"), "/b/");
        assert_eq!(
            cr(None, "/b/k", "versionId=1&acl&x=y"),
            "/b/k?acl&versionId=1"
        );
        assert_eq!(
            cr(None, "/b/k", "uploadId=u%2F1&partNumber=2"),
            "/b/k?partNumber=2&uploadId=u/1"
        );
        assert_eq!(cr(None, "/b", "delete"), "/b?delete");
        assert_eq!(
            cr(None, "/b/k", "response-content-type=text%2Fplain&tagging"),
            "/b/k?response-content-type=text/plain&tagging"
        );
        // Not in S3's list: accelerate, list-type, max-keys, ...
        assert_eq!(cr(None, "/b", "accelerate&max-keys=3"), "/b");
        // Values as sent, for clients that sign them encoded.
        assert_eq!(
            String::from_utf8(canonical_resource(
                None,
                "/b/k",
                &parse_query("response-content-type=text%2Fplain"),
                false
            ))
            .unwrap(),
            "/b/k?response-content-type=text%2Fplain"
        );
    }

    #[test]
    fn bucket_path_with_or_without_trailing_slash() {
        let h = signed_on_get_date("PUT", "/bucket/");
        run("PUT", "/bucket", "", &h, None, at(GET_DATE))
            .unwrap()
            .unwrap();
        run("PUT", "/bucket/", "", &h, None, at(GET_DATE))
            .unwrap()
            .unwrap();
        let h = signed_on_get_date("PUT", "/bucket");
        run("PUT", "/bucket", "", &h, None, at(GET_DATE))
            .unwrap()
            .unwrap();
        // Only a bucket: /bucket/key is not /bucket/key/.
        let h = signed_on_get_date("PUT", "/bucket/key/");
        let e = run("PUT", "/bucket/key", "", &h, None, at(GET_DATE)).unwrap_err();
        assert_eq!(e.code(), "SignatureDoesNotMatch");
    }

    #[test]
    fn sub_resource_signed_encoded_is_accepted() {
        let h = signed_on_get_date("GET", "/b/k?response-content-type=text%2Fplain");
        run(
            "GET",
            "/b/k",
            "response-content-type=text%2Fplain",
            &h,
            None,
            at(GET_DATE),
        )
        .unwrap()
        .unwrap();
    }

    #[test]
    fn non_ascii_paths_and_zones_are_refused_not_panicked_on() {
        // Found by fuzzing (fuzz/ target sigv2): a path-style path whose first character
        // after the slash is multi-byte was sliced inside that character.
        let h = header_map(&[("host", "s3.amazonaws.com")]);
        for path in ["/\u{50f}hotos", "/\u{50f}", "/b/\u{50f}"] {
            let e = run("GET", path, PRESIGNED_QUERY, &h, None, at(GET_DATE)).unwrap_err();
            assert_eq!(e.code(), "SignatureDoesNotMatch");
        }
        // A five-byte zone with a multi-byte character is no zone (and no panic).
        assert_eq!(parse_lenient_date("Tue, 27 Mar 2007 19:36:42 +a\u{50f}b"), None);
        assert_eq!(parse_lenient_date("Tue, 27 Mar 2007 19:36:42 +\u{50f}ab"), None);
    }

    #[test]
    fn unknown_access_key() {
        let h = header_map(&[("date", GET_DATE), ("authorization", "AWS NOSUCHKEY:c2ln")]);
        let e = run("GET", "/b", "", &h, None, at(GET_DATE)).unwrap_err();
        assert_eq!((e.code(), e.status()), ("InvalidAccessKeyId", 403));
        assert_eq!(
            e,
            AuthError::InvalidAccessKeyId {
                access_key: "NOSUCHKEY".into()
            }
        );
    }

    #[test]
    fn signature_mismatch_reports_string_to_sign() {
        let wrong = "bWq2s1WEIj+Ydj0vQ697zp+IXMV=";
        let e = run(
            "GET",
            "/photos/puppy.jpg",
            "",
            &get_headers(wrong),
            Some(BUCKET),
            at(GET_DATE),
        )
        .unwrap_err();
        assert_eq!((e.code(), e.status()), ("SignatureDoesNotMatch", 403));
        let AuthError::SignatureDoesNotMatch(m) = e else {
            unreachable!()
        };
        assert_eq!(
            m.string_to_sign,
            format!("GET\n\n\n{GET_DATE}\n/johnsmith/photos/puppy.jpg")
        );
        assert_eq!(m.signature_provided, wrong);
        assert_eq!(m.access_key, AKID);
        // Another method, key, or an added content type all break the signature.
        let h = get_headers(GET_SIG);
        for (method, path) in [("PUT", "/photos/puppy.jpg"), ("GET", "/photos/kitten.jpg")] {
            let e = run(method, path, "", &h, Some(BUCKET), at(GET_DATE)).unwrap_err();
            assert_eq!(e.code(), "SignatureDoesNotMatch");
        }
        let mut h2 = h.clone();
        h2.insert("content-type", "text/plain".parse().unwrap());
        let e = run(
            "GET",
            "/photos/puppy.jpg",
            "",
            &h2,
            Some(BUCKET),
            at(GET_DATE),
        )
        .unwrap_err();
        assert_eq!(e.code(), "SignatureDoesNotMatch");
        // An added x-amz-* header too.
        let mut h3 = h.clone();
        h3.insert("x-amz-acl", "public-read".parse().unwrap());
        let e = run(
            "GET",
            "/photos/puppy.jpg",
            "",
            &h3,
            Some(BUCKET),
            at(GET_DATE),
        )
        .unwrap_err();
        assert_eq!(e.code(), "SignatureDoesNotMatch");
    }

    #[test]
    fn clock_skew() {
        let h = get_headers(GET_SIG);
        let min = |m: u64| Duration::from_secs(60 * m);
        for now in [at(GET_DATE) + min(14), at(GET_DATE) - min(14)] {
            run("GET", "/photos/puppy.jpg", "", &h, Some(BUCKET), now)
                .unwrap()
                .unwrap();
        }
        for now in [at(GET_DATE) + min(16), at(GET_DATE) - min(16)] {
            let e = run("GET", "/photos/puppy.jpg", "", &h, Some(BUCKET), now).unwrap_err();
            assert_eq!((e.code(), e.status()), ("RequestTimeTooSkewed", 403));
            let AuthError::RequestTimeTooSkewed { request_time, .. } = e else {
                unreachable!()
            };
            assert_eq!(request_time, GET_DATE);
        }
    }

    #[test]
    fn missing_or_invalid_dates() {
        let now = at(GET_DATE);
        let denied = "AWS authentication requires a valid Date or x-amz-date header";
        // No Date and no x-amz-date.
        let h = header_map(&[("authorization", &auth(GET_SIG))]);
        let e = run("GET", "/b", "", &h, None, now).unwrap_err();
        assert_eq!((e.code(), e.status()), ("AccessDenied", 403));
        assert_eq!(e.to_string(), denied);
        // An x-amz-date that is not a date wins over a valid Date (s3-tests *_aws2).
        for bad in ["Bad Date", "", "Tue, 07 Jul 1950 21:53:04 GMT"] {
            let h = header_map(&[
                ("date", GET_DATE),
                ("x-amz-date", bad),
                ("authorization", &auth(GET_SIG)),
            ]);
            let e = run("GET", "/b", "", &h, None, now).unwrap_err();
            assert_eq!(
                (e.code(), e.to_string().as_str()),
                ("AccessDenied", denied),
                "{bad}"
            );
        }
        let h = header_map(&[("date", "yesterday"), ("authorization", &auth(GET_SIG))]);
        assert_eq!(
            run("GET", "/b", "", &h, None, now).unwrap_err().code(),
            "AccessDenied"
        );
        // Far from now, but valid dates: skew.
        for far in [
            "Tue, 07 Jul 2010 21:53:04 GMT",
            "Tue, 07 Jul 9999 21:53:04 GMT",
        ] {
            let h = header_map(&[("x-amz-date", far), ("authorization", &auth(GET_SIG))]);
            let e = run("GET", "/b", "", &h, None, now).unwrap_err();
            assert_eq!(e.code(), "RequestTimeTooSkewed", "{far}");
        }
    }

    #[test]
    fn lenient_dates() {
        let t = at("Wed, 07 Jul 2010 21:53:04 GMT");
        assert_eq!(parse_lenient_date("Tue, 07 Jul 2010 21:53:04 GMT"), Some(t));
        assert_eq!(parse_lenient_date("07 Jul 2010 21:53:04 GMT"), Some(t));
        assert_eq!(
            parse_lenient_date("Tue, 07 Jul 2010 23:53:04 +0200"),
            Some(t)
        );
        assert_eq!(
            parse_lenient_date("Tue, 07 Jul 2010 20:53:04 -0100"),
            Some(t)
        );
        assert!(parse_lenient_date("Tue, 07 Jul 9999 21:53:04 GMT").is_some());
        for bad in [
            "Tue, 07 Jul 1950 21:53:04 GMT",
            "Tue, 32 Jul 2010 21:53:04 GMT",
            "Tue, 07 Jux 2010 21:53:04 GMT",
            "Tue, 07 Jul 2010 25:53:04 GMT",
            "Tue, 07 Jul 2010 21:53:04 EST",
            "Tue, 07 Jul 2010 21:53:04 GMT x",
            "Bad Date",
            "",
        ] {
            assert!(parse_lenient_date(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn malformed_authorization() {
        let now = at(GET_DATE);
        for value in [
            "AWS HAHAHA",
            "AWS :c2ln",
            "AWS AKID:",
            "AWS ",
            "AWS a b:c2ln",
        ] {
            let h = header_map(&[("date", GET_DATE), ("authorization", value)]);
            let e = run("GET", "/b", "", &h, None, now).unwrap_err();
            assert_eq!((e.code(), e.status()), ("InvalidArgument", 400), "{value}");
        }
        // Through the dispatcher, as s3-tests sends it.
        let h = header_map(&[("date", GET_DATE), ("authorization", "AWS HAHAHA")]);
        let req = request("PUT", "/b/foo", "", &h);
        let e = verify(&req, now, "us-east-1", &lookup).unwrap_err();
        assert_eq!((e.code(), e.status()), ("InvalidArgument", 400));
    }

    #[test]
    fn one_mechanism_only() {
        let h = get_headers(GET_SIG);
        for q in [PRESIGNED_QUERY, "X-Amz-Algorithm=AWS4-HMAC-SHA256"] {
            let e = run(
                "GET",
                "/photos/puppy.jpg",
                q,
                &h,
                Some(BUCKET),
                at(GET_DATE),
            )
            .unwrap_err();
            assert_eq!((e.code(), e.status()), ("InvalidArgument", 400));
        }
    }

    #[test]
    fn other_schemes_and_anonymous() {
        let now = at(GET_DATE);
        assert!(
            run("GET", "/b/k", "versionId=1", &HeaderMap::new(), None, now)
                .unwrap()
                .is_none()
        );
        let v4 = header_map(&[("authorization", "AWS4-HMAC-SHA256 Credential=x")]);
        let e = run("GET", "/b/k", "", &v4, None, now).unwrap_err();
        assert_eq!(e.code(), "InvalidRequest");
        let e = run(
            "GET",
            "/b/k",
            "X-Amz-Algorithm=AWS4-HMAC-SHA256",
            &HeaderMap::new(),
            None,
            now,
        )
        .unwrap_err();
        assert_eq!(e.code(), "InvalidRequest");
    }

    #[test]
    fn dispatch_picks_the_scheme() {
        // SigV2 header, virtual-hosted.
        let h = get_headers(GET_SIG);
        let req = request("GET", "/photos/puppy.jpg", "", &h);
        let v = verify_hosted(&req, Some(BUCKET), at(GET_DATE), "us-east-1", &lookup)
            .unwrap()
            .unwrap();
        assert!(!v.presigned);
        // SigV2 presigned, path-style.
        let none = HeaderMap::new();
        let req = request("GET", "/johnsmith/photos/puppy.jpg", PRESIGNED_QUERY, &none);
        let v = verify(&req, expires_at(), "us-east-1", &lookup)
            .unwrap()
            .unwrap();
        assert!(v.presigned);
        // Anonymous.
        let req = request("GET", "/b/k", "", &none);
        assert!(verify(&req, expires_at(), "us-east-1", &lookup)
            .unwrap()
            .is_none());
        // SigV4: the AWS "GET Object" example.
        let h = get_object_headers(GET_OBJECT_SIG);
        let req = request("GET", "/test.txt", "", &h);
        let v = verify_hosted(
            &req,
            Some("examplebucket"),
            example_time(),
            "us-east-1",
            &lookup,
        )
        .unwrap()
        .unwrap();
        assert!(matches!(v.payload, Payload::Sha256(_)));
        // verify_sigv4 alone still refuses SigV2.
        let h = get_headers(GET_SIG);
        let req = request("GET", "/johnsmith/photos/puppy.jpg", "", &h);
        let e = crate::verify_sigv4(&req, at(GET_DATE), "us-east-1", &lookup).unwrap_err();
        assert_eq!(e.code(), "InvalidRequest");
    }
}
