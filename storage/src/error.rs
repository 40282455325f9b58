//! Errors of the storage layer: each names a condition the S3 front end maps to its own error,
//! or an internal failure (I/O, SQLite) that becomes a 500.

use std::io;

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("bucket does not exist")]
    NoSuchBucket,
    #[error("bucket already exists and is owned by someone else")]
    BucketAlreadyExists,
    #[error("bucket already exists and is owned by you")]
    BucketAlreadyOwnedByYou,
    #[error("bucket is not empty")]
    BucketNotEmpty,
    #[error("object does not exist")]
    NoSuchKey,
    #[error("version does not exist")]
    NoSuchVersion,
    #[error("a precondition of the write did not hold")]
    PreconditionFailed,
    #[error("no such user")]
    NoSuchUser,
    #[error("user already exists")]
    UserExists,
    #[error("access key already exists")]
    AccessKeyExists,
    #[error("{0}")]
    Multipart(#[from] MultipartError),
    #[error("object is larger than allowed ({0} bytes)")]
    TooLarge(u64),
    /// Reading the request body failed; carries the original error so the caller can inspect it.
    #[error("body: {0}")]
    Body(io::Error),
    #[error("io: {0}")]
    Io(#[from] io::Error),
    #[error("sqlite: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("corrupt metadata: {0}")]
    Corrupt(String),
    #[error("storage is shutting down")]
    Closed,
}

/// Why a multipart operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum MultipartError {
    #[error("the upload does not exist: it was never created, or was aborted or completed")]
    NoSuchUpload,
    #[error("part {0} was not uploaded, or its ETag or checksum does not match")]
    InvalidPart(u32),
    #[error("the list of parts was not in ascending order")]
    InvalidPartOrder,
    #[error("part {number} is {size} bytes, below the minimum of {min}")]
    EntityTooSmall { number: u32, size: u64, min: u64 },
    #[error("the object's checksum is {computed}, not the one sent")]
    ChecksumMismatch { computed: String },
    #[error("the object is {actual} bytes, not the {expected} declared")]
    SizeMismatch { expected: u64, actual: u64 },
}

pub type Result<T> = std::result::Result<T, StorageError>;

impl From<serde_json::Error> for StorageError {
    fn from(e: serde_json::Error) -> Self {
        StorageError::Corrupt(e.to_string())
    }
}
