//! Why a document is not a valid bucket policy.

/// Why a document is not a valid bucket policy; the text is S3's MalformedPolicy message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyError(pub String);

pub(super) fn err<T>(reason: impl Into<String>) -> Result<T, PolicyError> {
    Err(PolicyError(reason.into()))
}
