//! The one error type of this crate: every authentication or aws-chunked failure,
//! each knowing the S3 error code, HTTP status and message S3 would answer with.

/// An authentication failure, or a malformed / badly signed aws-chunked body.
///
/// `Display` gives the message S3 puts in `<Message>`; [`AuthError::code`] and
/// [`AuthError::status`] give `<Code>` and the HTTP status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// The `Authorization` header could not be parsed or its credential scope is wrong.
    #[error("{0}")]
    AuthorizationHeaderMalformed(String),
    /// The presigned-URL query parameters are missing, malformed or out of range.
    #[error("{0}")]
    AuthorizationQueryParametersError(String),
    /// A header that SigV4 requires is absent (e.g. `x-amz-content-sha256`).
    #[error("Missing required header for this request: {0}")]
    MissingRequiredHeader(&'static str),
    /// The request is not acceptable as sent, e.g. an authentication scheme we do not take.
    #[error("{0}")]
    InvalidRequest(String),
    /// A header or parameter has a value S3 does not accept.
    #[error("{0}")]
    InvalidArgument(String),
    /// A recognised but unsupported feature (e.g. SigV4a streaming).
    #[error("{0}")]
    NotImplemented(String),
    /// The access key id is unknown.
    #[error("The AWS Access Key Id you provided does not exist in our records.")]
    InvalidAccessKeyId {
        /// The access key id the client sent.
        access_key: String,
    },
    /// The signature (of the request, a chunk or the trailer) is wrong.
    #[error("The request signature we calculated does not match the signature you provided. Check your key and signing method.")]
    SignatureDoesNotMatch(Box<SignatureMismatch>),
    /// The request time is more than 15 minutes away from the server's clock.
    #[error("The difference between the request time and the current time is too large.")]
    RequestTimeTooSkewed {
        /// The request time, as the client sent it (ISO 8601 basic form).
        request_time: String,
        /// The server time, ISO 8601 basic form.
        server_time: String,
    },
    /// Refused: expired presigned URL, unsigned `x-amz-*` headers, missing date.
    #[error("{0}")]
    AccessDenied(String),
    /// The aws-chunked body is truncated, malformed, or its length is wrong.
    #[error("{0}")]
    IncompleteBody(String),
    /// The trailer section of an aws-chunked body is malformed or does not match `x-amz-trailer`.
    #[error("{0}")]
    MalformedTrailerError(String),
}

/// What S3 reports alongside `SignatureDoesNotMatch`, kept for debugging.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SignatureMismatch {
    /// The access key id of the request.
    pub access_key: String,
    /// The signature the client sent (lowercase hex), as sent.
    pub signature_provided: String,
    /// The string to sign the server computed.
    pub string_to_sign: String,
    /// The canonical request the server computed (empty for chunk and trailer signatures).
    pub canonical_request: String,
}

impl AuthError {
    /// The S3 error code (`<Code>`).
    pub fn code(&self) -> &'static str {
        match self {
            AuthError::AuthorizationHeaderMalformed(_) => "AuthorizationHeaderMalformed",
            AuthError::AuthorizationQueryParametersError(_) => "AuthorizationQueryParametersError",
            AuthError::MissingRequiredHeader(_) | AuthError::InvalidRequest(_) => "InvalidRequest",
            AuthError::InvalidArgument(_) => "InvalidArgument",
            AuthError::NotImplemented(_) => "NotImplemented",
            AuthError::InvalidAccessKeyId { .. } => "InvalidAccessKeyId",
            AuthError::SignatureDoesNotMatch(_) => "SignatureDoesNotMatch",
            AuthError::RequestTimeTooSkewed { .. } => "RequestTimeTooSkewed",
            AuthError::AccessDenied(_) => "AccessDenied",
            AuthError::IncompleteBody(_) => "IncompleteBody",
            AuthError::MalformedTrailerError(_) => "MalformedTrailerError",
        }
    }

    /// The HTTP status S3 answers with.
    pub fn status(&self) -> u16 {
        match self {
            AuthError::AuthorizationHeaderMalformed(_)
            | AuthError::AuthorizationQueryParametersError(_)
            | AuthError::MissingRequiredHeader(_)
            | AuthError::InvalidRequest(_)
            | AuthError::InvalidArgument(_)
            | AuthError::IncompleteBody(_)
            | AuthError::MalformedTrailerError(_) => 400,
            AuthError::InvalidAccessKeyId { .. }
            | AuthError::SignatureDoesNotMatch(_)
            | AuthError::RequestTimeTooSkewed { .. }
            | AuthError::AccessDenied(_) => 403,
            AuthError::NotImplemented(_) => 501,
        }
    }

    /// The error inside an `io::Error` produced by [`crate::AwsChunkedDecoder`], if it is one of ours.
    pub fn from_io(err: &std::io::Error) -> Option<&AuthError> {
        err.get_ref().and_then(|e| e.downcast_ref::<AuthError>())
    }

    pub(crate) fn header_malformed(detail: impl std::fmt::Display) -> Self {
        AuthError::AuthorizationHeaderMalformed(format!(
            "The authorization header is malformed; {detail}"
        ))
    }

    pub(crate) fn query_error(detail: impl Into<String>) -> Self {
        AuthError::AuthorizationQueryParametersError(detail.into())
    }

    pub(crate) fn incomplete(detail: impl Into<String>) -> Self {
        AuthError::IncompleteBody(detail.into())
    }

    pub(crate) fn mismatch(m: SignatureMismatch) -> Self {
        AuthError::SignatureDoesNotMatch(Box::new(m))
    }

    pub(crate) fn unknown_access_key(access_key: &str) -> Self {
        AuthError::InvalidAccessKeyId {
            access_key: access_key.to_owned(),
        }
    }

    /// A request carrying both header and query-string authentication.
    pub(crate) fn two_mechanisms() -> Self {
        AuthError::InvalidArgument(
            "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, \
             Signature query string parameter or the Authorization header should be specified"
                .into(),
        )
    }

    /// Header authentication without a usable `x-amz-date` or `Date`.
    pub(crate) fn no_valid_date() -> Self {
        AuthError::AccessDenied(
            "AWS authentication requires a valid Date or x-amz-date header".into(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_statuses() {
        let cases: Vec<(AuthError, &str, u16)> = vec![
            (
                AuthError::header_malformed("x"),
                "AuthorizationHeaderMalformed",
                400,
            ),
            (
                AuthError::query_error("x"),
                "AuthorizationQueryParametersError",
                400,
            ),
            (
                AuthError::MissingRequiredHeader("x-amz-content-sha256"),
                "InvalidRequest",
                400,
            ),
            (
                AuthError::InvalidArgument("x".into()),
                "InvalidArgument",
                400,
            ),
            (AuthError::NotImplemented("x".into()), "NotImplemented", 501),
            (
                AuthError::InvalidAccessKeyId {
                    access_key: "A".into(),
                },
                "InvalidAccessKeyId",
                403,
            ),
            (
                AuthError::mismatch(SignatureMismatch::default()),
                "SignatureDoesNotMatch",
                403,
            ),
            (
                AuthError::RequestTimeTooSkewed {
                    request_time: "a".into(),
                    server_time: "b".into(),
                },
                "RequestTimeTooSkewed",
                403,
            ),
            (AuthError::AccessDenied("x".into()), "AccessDenied", 403),
            (AuthError::incomplete("x"), "IncompleteBody", 400),
            (
                AuthError::MalformedTrailerError("x".into()),
                "MalformedTrailerError",
                400,
            ),
        ];
        for (err, code, status) in cases {
            assert_eq!(err.code(), code);
            assert_eq!(err.status(), status, "{code}");
            assert!(!err.to_string().is_empty());
        }
    }

    #[test]
    fn messages() {
        assert_eq!(
            AuthError::MissingRequiredHeader("x-amz-content-sha256").to_string(),
            "Missing required header for this request: x-amz-content-sha256"
        );
        assert_eq!(
            AuthError::header_malformed("the region 'eu-west-1' is wrong; expecting 'us-east-1'")
                .to_string(),
            "The authorization header is malformed; the region 'eu-west-1' is wrong; expecting 'us-east-1'"
        );
    }

    #[test]
    fn roundtrips_through_io_error() {
        let io = std::io::Error::other(AuthError::incomplete("short"));
        let back = AuthError::from_io(&io).expect("ours");
        assert_eq!(back.code(), "IncompleteBody");
        let foreign = std::io::Error::other("nope");
        assert!(AuthError::from_io(&foreign).is_none());
    }
}
