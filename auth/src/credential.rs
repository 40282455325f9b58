//! Parsing the SigV4 `Authorization` header and the credential scope
//! (`AKID/YYYYMMDD/region/s3/aws4_request`), with S3's error messages for each flaw.

use crate::datetime::parse_ymd;
use crate::error::AuthError;
use crate::signing::ALGORITHM;

/// Where the signature came from; decides the error code and message wording.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source {
    /// The `Authorization` header.
    Header,
    /// Presigned-URL query parameters.
    Query,
}

impl Source {
    /// An error about the credential, worded as S3 words it for this source.
    pub(crate) fn credential_error(self, detail: impl std::fmt::Display) -> AuthError {
        match self {
            Source::Header => AuthError::header_malformed(detail),
            Source::Query => AuthError::query_error(format!(
                "Error parsing the X-Amz-Credential parameter; {detail}"
            )),
        }
    }
}

/// The three components of a SigV4 `Authorization` header.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct AuthHeader<'a> {
    pub credential: &'a str,
    pub signed_headers: &'a str,
    pub signature: &'a str,
}

/// Parses `AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...`.
///
/// Components may come in any order, separated by commas and/or whitespace.
pub(crate) fn parse_authorization(value: &str) -> Result<AuthHeader<'_>, AuthError> {
    let rest = value
        .trim()
        .strip_prefix(ALGORITHM)
        .ok_or_else(|| AuthError::header_malformed("the algorithm must be AWS4-HMAC-SHA256."))?;
    if !rest.starts_with(|c: char| c == ',' || c.is_ascii_whitespace()) {
        return Err(AuthError::header_malformed(
            "the algorithm must be AWS4-HMAC-SHA256.",
        ));
    }
    let (mut credential, mut signed_headers, mut signature) = (None, None, None);
    for part in rest
        .split(|c: char| c == ',' || c.is_ascii_whitespace())
        .filter(|p| !p.is_empty())
    {
        let (key, val) = part.split_once('=').ok_or_else(|| {
            AuthError::header_malformed(format_args!("incorrect component '{part}'."))
        })?;
        let slot = match key {
            "Credential" => &mut credential,
            "SignedHeaders" => &mut signed_headers,
            "Signature" => &mut signature,
            _ => {
                return Err(AuthError::header_malformed(format_args!(
                    "unknown component '{key}'."
                )))
            }
        };
        if slot.replace(val).is_some() {
            return Err(AuthError::header_malformed(format_args!(
                "the component '{key}' appears twice."
            )));
        }
    }
    let missing = |name: &str| AuthError::header_malformed(format_args!("missing {name}."));
    Ok(AuthHeader {
        credential: credential.ok_or_else(|| missing("Credential"))?,
        signed_headers: signed_headers.ok_or_else(|| missing("SignedHeaders"))?,
        signature: signature.ok_or_else(|| missing("Signature"))?,
    })
}

/// A parsed credential: the access key id and its scope.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Credential<'a> {
    pub access_key: &'a str,
    /// `YYYYMMDD`.
    pub date: &'a str,
    pub region: &'a str,
}

impl Credential<'_> {
    /// The credential scope string: `YYYYMMDD/region/s3/aws4_request`.
    pub(crate) fn scope(&self) -> String {
        format!("{}/{}/s3/aws4_request", self.date, self.region)
    }
}

/// Parses and checks `AKID/YYYYMMDD/region/service/aws4_request` against our region.
pub(crate) fn parse_credential<'a>(
    s: &'a str,
    region: &str,
    source: Source,
) -> Result<Credential<'a>, AuthError> {
    let mut parts = s.rsplitn(5, '/');
    let (terminal, service, cred_region, date, access_key) = match (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) {
        (Some(t), Some(s), Some(r), Some(d), Some(a)) if !a.is_empty() => (t, s, r, d, a),
        _ => {
            return Err(source.credential_error(
                "the Credential is mal-formed; expecting \"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request\".",
            ))
        }
    };
    if parse_ymd(date).is_none() {
        return Err(source.credential_error(format_args!(
            "incorrect date format \"{date}\". This date in the credential must be in the format \"yyyyMMdd\"."
        )));
    }
    if cred_region != region {
        return Err(source.credential_error(format_args!(
            "the region '{cred_region}' is wrong; expecting '{region}'"
        )));
    }
    if service != "s3" {
        return Err(source.credential_error(format_args!(
            "incorrect service \"{service}\". This endpoint belongs to \"s3\"."
        )));
    }
    if terminal != "aws4_request" {
        return Err(source.credential_error(format_args!(
            "incorrect terminal \"{terminal}\". This endpoint uses \"aws4_request\"."
        )));
    }
    Ok(Credential {
        access_key,
        date,
        region: cred_region,
    })
}

/// Splits `SignedHeaders` (`host;range;x-amz-date`) into names.
pub(crate) fn parse_signed_headers(s: &str, source: Source) -> Result<Vec<&str>, AuthError> {
    let names: Vec<&str> = s.split(';').collect();
    if s.is_empty() || names.iter().any(|n| n.is_empty()) {
        let detail = "the SignedHeaders component is empty or contains an empty header name.";
        return Err(match source {
            Source::Header => AuthError::header_malformed(detail),
            Source::Query => {
                AuthError::query_error(format!("X-Amz-SignedHeaders is invalid; {detail}"))
            }
        });
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIG: &str = "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41";

    #[test]
    fn parses_standard_header() {
        let v = format!(
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,Signature={SIG}"
        );
        let h = parse_authorization(&v).unwrap();
        assert_eq!(
            h.credential,
            "AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request"
        );
        assert_eq!(
            h.signed_headers,
            "host;range;x-amz-content-sha256;x-amz-date"
        );
        assert_eq!(h.signature, SIG);
    }

    #[test]
    fn tolerates_spacing_and_order() {
        for v in [
            format!("AWS4-HMAC-SHA256 Credential=A/20130524/us-east-1/s3/aws4_request, SignedHeaders=host, Signature={SIG}"),
            format!("AWS4-HMAC-SHA256  Signature={SIG} ,  Credential=A/20130524/us-east-1/s3/aws4_request,SignedHeaders=host"),
            format!("AWS4-HMAC-SHA256 Credential=A/20130524/us-east-1/s3/aws4_request SignedHeaders=host Signature={SIG}"),
            format!("  AWS4-HMAC-SHA256\tCredential=A/20130524/us-east-1/s3/aws4_request,\n SignedHeaders=host,\tSignature={SIG}  "),
        ] {
            let h = parse_authorization(&v).unwrap_or_else(|e| panic!("{v}: {e}"));
            assert_eq!(h.signed_headers, "host");
            assert_eq!(h.signature, SIG);
        }
    }

    #[test]
    fn rejects_malformed_headers() {
        for v in [
            "AWS4-HMAC-SHA256".to_owned(),
            "AWS4-HMAC-SHA256X Credential=a".to_owned(),
            "AWS4-HMAC-SHA512 Credential=A/20130524/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=x".to_owned(),
            format!("AWS4-HMAC-SHA256 SignedHeaders=host, Signature={SIG}"),
            "AWS4-HMAC-SHA256 Credential=A/20130524/us-east-1/s3/aws4_request, Signature=x".to_owned(),
            "AWS4-HMAC-SHA256 Credential=A/20130524/us-east-1/s3/aws4_request, SignedHeaders=host".to_owned(),
            "AWS4-HMAC-SHA256 Credential=A/20130524/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=x, Foo=bar".to_owned(),
            "AWS4-HMAC-SHA256 Credential=A/20130524/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=x, Signature=y".to_owned(),
            "AWS4-HMAC-SHA256 Credential=A/20130524/us-east-1/s3/aws4_request, SignedHeaders, Signature=x".to_owned(),
        ] {
            let e = parse_authorization(&v).expect_err(&v);
            assert_eq!(e.code(), "AuthorizationHeaderMalformed", "{v}");
        }
    }

    #[test]
    fn credential_scope() {
        let c = parse_credential(
            "AKID/20130524/us-east-1/s3/aws4_request",
            "us-east-1",
            Source::Header,
        )
        .unwrap();
        assert_eq!(
            c,
            Credential {
                access_key: "AKID",
                date: "20130524",
                region: "us-east-1"
            }
        );
        assert_eq!(c.scope(), "20130524/us-east-1/s3/aws4_request");
        // An access key containing '/' still parses from the right.
        let c = parse_credential(
            "A/B/20130524/us-east-1/s3/aws4_request",
            "us-east-1",
            Source::Header,
        )
        .unwrap();
        assert_eq!(c.access_key, "A/B");
    }

    #[test]
    fn wrong_region_message() {
        let e = parse_credential(
            "AKID/20130524/eu-west-1/s3/aws4_request",
            "us-east-1",
            Source::Header,
        )
        .unwrap_err();
        assert_eq!(e.code(), "AuthorizationHeaderMalformed");
        assert_eq!(
            e.to_string(),
            "The authorization header is malformed; the region 'eu-west-1' is wrong; expecting 'us-east-1'"
        );
        let e = parse_credential(
            "AKID/20130524/eu-west-1/s3/aws4_request",
            "us-east-1",
            Source::Query,
        )
        .unwrap_err();
        assert_eq!(e.code(), "AuthorizationQueryParametersError");
        assert_eq!(
            e.to_string(),
            "Error parsing the X-Amz-Credential parameter; the region 'eu-west-1' is wrong; expecting 'us-east-1'"
        );
    }

    #[test]
    fn bad_credentials() {
        for c in [
            "AKID/20130524/us-east-1/s3",
            "/20130524/us-east-1/s3/aws4_request",
            "AKID/2013-05-24/us-east-1/s3/aws4_request",
            "AKID/20130524/us-east-1/ec2/aws4_request",
            "AKID/20130524/us-east-1/s3/aws4_requestx",
            "",
        ] {
            let e = parse_credential(c, "us-east-1", Source::Header).expect_err(c);
            assert_eq!(e.code(), "AuthorizationHeaderMalformed", "{c}");
        }
    }

    #[test]
    fn signed_header_lists() {
        assert_eq!(
            parse_signed_headers("host;x-amz-date", Source::Header).unwrap(),
            ["host", "x-amz-date"]
        );
        assert!(parse_signed_headers("", Source::Header).is_err());
        assert!(parse_signed_headers("host;;x", Source::Header).is_err());
        assert_eq!(
            parse_signed_headers("", Source::Query).unwrap_err().code(),
            "AuthorizationQueryParametersError"
        );
    }
}
