//! The one error type of the S3 front end: every failure becomes an `S3Error` that knows its
//! S3 code, HTTP status and message, and renders as S3's XML error body.

use actix_web::http::StatusCode;
use coffer_auth::AuthError;
use coffer_storage::StorageError;
use std::io;

/// S3 error codes Coffer produces, each with its HTTP status and default message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorCode {
    AccessDenied,
    BadDigest,
    BucketAlreadyExists,
    BucketAlreadyOwnedByYou,
    BucketNotEmpty,
    EntityTooLarge,
    EntityTooSmall,
    IncompleteBody,
    InsufficientStorage,
    InternalError,
    InvalidArgument,
    InvalidBucketName,
    InvalidDigest,
    InvalidLocationConstraint,
    InvalidObjectState,
    InvalidPart,
    InvalidPartOrder,
    InvalidRange,
    InvalidRequest,
    InvalidStorageClass,
    KeyTooLongError,
    MalformedXML,
    MaxPostPreDataLengthExceeded,
    MetadataTooLarge,
    MethodNotAllowed,
    MissingContentLength,
    NoSuchBucket,
    NoSuchKey,
    NoSuchUpload,
    NoSuchVersion,
    NotImplemented,
    NotModified,
    PreconditionFailed,
    RequestHeaderSectionTooLarge,
    RequestTimeout,
    RestoreAlreadyInProgress,
    ServerSideEncryptionConfigurationNotFoundError,
    ServiceUnavailable,
    SlowDown,
    XAmzContentSHA256Mismatch,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        use ErrorCode::*;
        match self {
            AccessDenied => "AccessDenied",
            BadDigest => "BadDigest",
            BucketAlreadyExists => "BucketAlreadyExists",
            BucketAlreadyOwnedByYou => "BucketAlreadyOwnedByYou",
            BucketNotEmpty => "BucketNotEmpty",
            EntityTooLarge => "EntityTooLarge",
            EntityTooSmall => "EntityTooSmall",
            IncompleteBody => "IncompleteBody",
            InsufficientStorage => "InsufficientStorage",
            InternalError => "InternalError",
            InvalidArgument => "InvalidArgument",
            InvalidBucketName => "InvalidBucketName",
            InvalidDigest => "InvalidDigest",
            InvalidLocationConstraint => "InvalidLocationConstraint",
            InvalidPart => "InvalidPart",
            InvalidPartOrder => "InvalidPartOrder",
            InvalidRange => "InvalidRange",
            InvalidRequest => "InvalidRequest",
            InvalidStorageClass => "InvalidStorageClass",
            InvalidObjectState => "InvalidObjectState",
            RestoreAlreadyInProgress => "RestoreAlreadyInProgress",
            KeyTooLongError => "KeyTooLongError",
            MalformedXML => "MalformedXML",
            MaxPostPreDataLengthExceeded => "MaxPostPreDataLengthExceeded",
            MetadataTooLarge => "MetadataTooLarge",
            MethodNotAllowed => "MethodNotAllowed",
            MissingContentLength => "MissingContentLength",
            NoSuchBucket => "NoSuchBucket",
            NoSuchKey => "NoSuchKey",
            NoSuchUpload => "NoSuchUpload",
            NoSuchVersion => "NoSuchVersion",
            NotImplemented => "NotImplemented",
            NotModified => "NotModified",
            PreconditionFailed => "PreconditionFailed",
            RequestHeaderSectionTooLarge => "RequestHeaderSectionTooLarge",
            RequestTimeout => "RequestTimeout",
            ServiceUnavailable => "ServiceUnavailable",
            SlowDown => "SlowDown",
            ServerSideEncryptionConfigurationNotFoundError => "ServerSideEncryptionConfigurationNotFoundError",
            XAmzContentSHA256Mismatch => "XAmzContentSHA256Mismatch",
        }
    }

    pub fn status(self) -> StatusCode {
        use ErrorCode::*;
        match self {
            AccessDenied | InvalidObjectState => StatusCode::FORBIDDEN,
            NoSuchBucket | NoSuchKey | NoSuchUpload | NoSuchVersion | ServerSideEncryptionConfigurationNotFoundError => StatusCode::NOT_FOUND,
            BucketAlreadyExists | BucketAlreadyOwnedByYou | BucketNotEmpty | RestoreAlreadyInProgress => StatusCode::CONFLICT,
            InsufficientStorage => StatusCode::INSUFFICIENT_STORAGE,
            InternalError => StatusCode::INTERNAL_SERVER_ERROR,
            InvalidRange => StatusCode::RANGE_NOT_SATISFIABLE,
            MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            MissingContentLength => StatusCode::LENGTH_REQUIRED,
            NotImplemented => StatusCode::NOT_IMPLEMENTED,
            NotModified => StatusCode::NOT_MODIFIED,
            PreconditionFailed => StatusCode::PRECONDITION_FAILED,
            SlowDown | ServiceUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    pub fn default_message(self) -> &'static str {
        use ErrorCode::*;
        match self {
            AccessDenied => "Access Denied",
            BadDigest => "The Content-MD5 or checksum you specified did not match what we received.",
            BucketAlreadyExists => "The requested bucket name is not available. The bucket namespace is shared by all users of the system. Please select a different name and try again.",
            BucketAlreadyOwnedByYou => "Your previous request to create the named bucket succeeded and you already own it.",
            BucketNotEmpty => "The bucket you tried to delete is not empty",
            EntityTooLarge => "Your proposed upload exceeds the maximum allowed object size.",
            EntityTooSmall => "Your proposed upload is smaller than the minimum allowed object size.",
            IncompleteBody => "You did not provide the number of bytes specified by the Content-Length HTTP header.",
            InsufficientStorage => "The storage is full: there is no space left to store this write, and nothing of it was kept. Retry once space has been freed.",
            InternalError => "We encountered an internal error. Please try again.",
            InvalidArgument => "Invalid Argument",
            InvalidBucketName => "The specified bucket is not valid.",
            InvalidDigest => "The Content-MD5 or checksum you specified is not valid.",
            InvalidLocationConstraint => "The specified location-constraint is not valid.",
            InvalidPart => "One or more of the specified parts could not be found. The part may not have been uploaded, or the specified entity tag may not have matched the part's entity tag.",
            InvalidPartOrder => "The list of parts was not in ascending order. Parts must be ordered by part number.",
            InvalidRange => "The requested range is not satisfiable",
            InvalidRequest => "Invalid Request",
            InvalidStorageClass => "The storage class you specified is not valid.",
            InvalidObjectState => "The operation is not valid for the object's storage class",
            RestoreAlreadyInProgress => "Object restore is already in progress",
            KeyTooLongError => "Your key is too long",
            MalformedXML => "The XML you provided was not well-formed or did not validate against our published schema.",
            MaxPostPreDataLengthExceeded => "Your POST request fields preceding the upload file were too large.",
            MetadataTooLarge => "Your metadata headers exceed the maximum allowed metadata size.",
            MethodNotAllowed => "The specified method is not allowed against this resource.",
            MissingContentLength => "You must provide the Content-Length HTTP header.",
            NoSuchBucket => "The specified bucket does not exist",
            NoSuchKey => "The specified key does not exist.",
            NoSuchUpload => "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.",
            NoSuchVersion => "The specified version does not exist.",
            NotImplemented => "A header or operation you provided implies functionality that is not implemented.",
            NotModified => "Not Modified",
            PreconditionFailed => "At least one of the pre-conditions you specified did not hold",
            RequestHeaderSectionTooLarge => "Your request header section exceeds the maximum allowed size.",
            RequestTimeout => "Your socket connection to the server was not read from or written to within the timeout period.",
            SlowDown => "Please reduce your request rate.",
            ServiceUnavailable => "Service is unable to handle request.",
            ServerSideEncryptionConfigurationNotFoundError => "The server side encryption configuration was not found",
            XAmzContentSHA256Mismatch => "The provided 'x-amz-content-sha256' header does not match what was computed.",
        }
    }
}

/// A failed request, ready to be rendered.
#[derive(Debug)]
pub struct S3Error {
    /// The code as sent; usually an `ErrorCode`, but codes coming from the auth crate are kept verbatim.
    pub code: &'static str,
    pub status: StatusCode,
    pub message: String,
    pub resource: Option<String>,
    /// Extra elements of the error body, e.g. BucketName, Key, ArgumentName.
    pub extra: Vec<(&'static str, String)>,
    /// Response headers that go with the error (also on HEAD, whose errors have no body).
    pub headers: Vec<(&'static str, String)>,
}

impl S3Error {
    pub fn new(code: ErrorCode) -> S3Error {
        S3Error::custom(code.as_str(), code.status(), code.default_message())
    }

    /// An error with a code that has no `ErrorCode` variant (rare ones, or from other crates).
    pub fn custom(code: &'static str, status: StatusCode, message: impl Into<String>) -> S3Error {
        S3Error { code, status, message: message.into(), resource: None, extra: Vec::new(), headers: Vec::new() }
    }

    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> S3Error {
        self.headers.push((name, value.into()));
        self
    }

    pub fn with_message(mut self, message: impl Into<String>) -> S3Error {
        self.message = message.into();
        self
    }

    pub fn with(mut self, name: &'static str, value: impl Into<String>) -> S3Error {
        self.extra.push((name, value.into()));
        self
    }

    pub fn internal(err: impl std::fmt::Display) -> S3Error {
        tracing::error!("internal error: {err}");
        S3Error::new(ErrorCode::InternalError)
    }

    pub fn invalid_argument(message: impl Into<String>) -> S3Error {
        S3Error::new(ErrorCode::InvalidArgument).with_message(message)
    }

    pub fn invalid_request(message: impl Into<String>) -> S3Error {
        S3Error::new(ErrorCode::InvalidRequest).with_message(message)
    }

    pub fn no_such_bucket(bucket: &str) -> S3Error {
        S3Error::new(ErrorCode::NoSuchBucket).with("BucketName", bucket)
    }

    /// The error of a lookup of bucket `bucket`: `NoSuchBucket` naming it, or what the store
    /// says.
    pub fn bucket_lookup(bucket: &str, e: StorageError) -> S3Error {
        match e {
            StorageError::NoSuchBucket => S3Error::no_such_bucket(bucket),
            other => other.into(),
        }
    }

    pub fn no_such_key(key: &str) -> S3Error {
        S3Error::new(ErrorCode::NoSuchKey).with("Key", key)
    }
}

impl From<ErrorCode> for S3Error {
    fn from(code: ErrorCode) -> S3Error {
        S3Error::new(code)
    }
}

impl From<StorageError> for S3Error {
    fn from(e: StorageError) -> S3Error {
        use ErrorCode as C;
        match e {
            StorageError::NoSuchBucket => C::NoSuchBucket.into(),
            StorageError::BucketAlreadyExists => C::BucketAlreadyExists.into(),
            StorageError::BucketAlreadyOwnedByYou => C::BucketAlreadyOwnedByYou.into(),
            StorageError::BucketNotEmpty => C::BucketNotEmpty.into(),
            StorageError::NoSuchKey => C::NoSuchKey.into(),
            StorageError::NoSuchVersion => C::NoSuchVersion.into(),
            StorageError::PreconditionFailed => C::PreconditionFailed.into(),
            StorageError::TooLarge(_) => C::EntityTooLarge.into(),
            StorageError::Full => {
                tracing::warn!("a write failed: the storage is full");
                C::InsufficientStorage.into()
            }
            StorageError::Busy => C::SlowDown.into(),
            // An index error carried through the blob store's I/O (a blob reservation) is that error.
            StorageError::Io(io) if io.get_ref().is_some_and(|e| e.is::<StorageError>()) => {
                let inner = io.into_inner().and_then(|e| e.downcast::<StorageError>().ok()).expect("checked just above");
                S3Error::from(*inner)
            }
            StorageError::Unavailable(why) => {
                tracing::warn!(error = %why, "the index is unavailable");
                C::ServiceUnavailable.into()
            }
            StorageError::Body(io) => body_error(io),
            StorageError::Multipart(m) => multipart_error(m),
            StorageError::Archived => C::InvalidObjectState.into(),
            StorageError::ObjectLocked(why) => S3Error::new(C::AccessDenied).with_message(format!("Access Denied because object protected by object lock: {why}")),
            // MinIO says XMinioAdminBucketQuotaExceeded; clients know S3's shape of it better.
            StorageError::QuotaExceeded(why) => S3Error::custom("QuotaExceeded", StatusCode::FORBIDDEN, why),
            StorageError::InvalidBucketState(why) => S3Error::custom("InvalidBucketState", StatusCode::CONFLICT, why),
            StorageError::Tier(coffer_storage::TierError::NotArchived) => {
                S3Error::new(C::InvalidObjectState).with_message("Restore is not allowed for the object's current storage class")
            }
            StorageError::Tier(coffer_storage::TierError::RestoreInProgress) => C::RestoreAlreadyInProgress.into(),
            other => S3Error::internal(other),
        }
    }
}

fn multipart_error(e: coffer_storage::MultipartError) -> S3Error {
    use coffer_storage::MultipartError as M;
    match e {
        M::NoSuchUpload => ErrorCode::NoSuchUpload.into(),
        M::InvalidPart(n) => S3Error::new(ErrorCode::InvalidPart).with("PartNumber", n.to_string()),
        M::InvalidPartOrder => ErrorCode::InvalidPartOrder.into(),
        M::EntityTooSmall { number, size, min } => S3Error::new(ErrorCode::EntityTooSmall)
            .with("ProposedSize", size.to_string())
            .with("MinSizeAllowed", min.to_string())
            .with("PartNumber", number.to_string()),
        M::ChecksumMismatch { .. } => S3Error::new(ErrorCode::BadDigest).with_message(e.to_string()),
        M::SizeMismatch { .. } => S3Error::invalid_request(e.to_string()),
    }
}

impl From<coffer_auth::AuthError> for S3Error {
    fn from(e: coffer_auth::AuthError) -> S3Error {
        use coffer_auth::AuthError as A;
        let mut err = S3Error::custom(e.code(), StatusCode::from_u16(e.status()).unwrap_or(StatusCode::FORBIDDEN), e.to_string());
        match e {
            A::SignatureDoesNotMatch(m) => {
                err = err
                    .with("AWSAccessKeyId", m.access_key)
                    .with("StringToSign", m.string_to_sign)
                    .with("SignatureProvided", m.signature_provided);
                // SigV2 and chunk signatures have no canonical request.
                if !m.canonical_request.is_empty() {
                    err = err.with("CanonicalRequest", m.canonical_request);
                }
            }
            A::RequestTimeTooSkewed { request_time, server_time } => {
                err = err.with("RequestTime", request_time).with("ServerTime", server_time).with("MaxAllowedSkewMilliseconds", "900000");
            }
            A::InvalidAccessKeyId { access_key } => err = err.with("AWSAccessKeyId", access_key),
            _ => {}
        }
        err
    }
}

pub type S3Result<T> = Result<T, S3Error>;

/// The marker error for a body that ended before its declared length.
#[derive(Debug, thiserror::Error)]
#[error("the request body ended early")]
pub struct IncompleteBody;

/// A request body that stopped arriving for longer than the body timeout.
#[derive(Debug, thiserror::Error)]
#[error("the request body stalled")]
pub struct BodyStalled;

/// Maps a failure while reading a body to the S3 error it stands for.
pub fn body_error(e: io::Error) -> S3Error {
    if let Some(auth) = AuthError::from_io(&e) {
        return S3Error::from(auth.clone());
    }
    // A copy whose source turned out corrupt: the fault is ours, not the request's.
    if e.get_ref().is_some_and(|inner| inner.is::<coffer_storage::CorruptBlobError>()) {
        return S3Error::internal(e);
    }
    if e.get_ref().is_some_and(|inner| inner.is::<IncompleteBody>()) {
        return S3Error::new(ErrorCode::IncompleteBody);
    }
    if e.get_ref().is_some_and(|inner| inner.is::<BodyStalled>()) {
        return S3Error::new(ErrorCode::RequestTimeout);
    }
    tracing::debug!("body read failed: {e}");
    S3Error::new(ErrorCode::IncompleteBody)
}
