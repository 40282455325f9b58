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
    #[error("{0}")]
    Tier(#[from] TierError),
    #[error("{0}")]
    Notify(#[from] NotifyError),
    /// A replication that cannot succeed (kept as the reason it FAILED).
    #[error("{0}")]
    Replication(String),
    /// Object Lock forbids the change (a retained or held version; a retention that would
    /// shorten); carries why.
    #[error("{0}")]
    ObjectLocked(&'static str),
    /// The bucket's state forbids the change (suspending versioning with Object Lock on;
    /// enabling Object Lock without versioning).
    #[error("{0}")]
    InvalidBucketState(&'static str),
    /// The version is on an archive tier and has no restored copy to read.
    #[error("the object is archived; restore it first")]
    Archived,
    /// The write would take the bucket past its quota; carries which limit and by how much.
    #[error("{0}")]
    QuotaExceeded(String),
    #[error("no such access key")]
    NoSuchAccessKey,
    /// A user who still owns buckets cannot be deleted; carries their names.
    #[error("the user still owns buckets: {}", .0.join(", "))]
    UserOwnsBuckets(Vec<String>),
    #[error("object is larger than allowed ({0} bytes)")]
    TooLarge(u64),
    /// Reading the request body failed; carries the original error so the caller can inspect it.
    #[error("body: {0}")]
    Body(io::Error),
    /// The disk (or the data dir's quota) has no room for the write: ENOSPC, EDQUOT or
    /// SQLITE_FULL. Nothing of the write was kept; it may succeed once space is freed.
    #[error("the storage is full")]
    Full,
    /// The metadata store is overloaded (a statement timed out, or retries of a conflicting
    /// transaction ran out): the client should retry later.
    #[error("the index is busy")]
    Busy,
    /// The metadata store cannot be reached (its server restarts, a connection broke): the
    /// operation may or may not have committed, and the client may retry.
    #[error("the index is unavailable: {0}")]
    Unavailable(String),
    #[error("io: {0}")]
    Io(io::Error),
    /// The metadata store failed (its own error, e.g. SQLite's).
    #[error("index: {0}")]
    Index(Box<dyn std::error::Error + Send + Sync>),
    #[error("corrupt metadata: {0}")]
    Corrupt(String),
    #[error("storage is shutting down")]
    Closed,
}

impl StorageError {
    /// A version that is not there: `NoSuchVersion` when one was named, else `NoSuchKey`.
    pub(crate) fn version_missing(version_id: Option<&str>) -> StorageError {
        match version_id {
            Some(_) => StorageError::NoSuchVersion,
            None => StorageError::NoSuchKey,
        }
    }
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

/// Why registering or removing a tier or remote was refused, or a restore could not start.
#[derive(Debug, thiserror::Error)]
pub enum TierError {
    #[error("{0}")]
    Invalid(String),
    #[error("a {kind} named {name:?} already exists")]
    Exists { kind: &'static str, name: String },
    #[error("no {kind} is named {name:?}")]
    Missing { kind: &'static str, name: String },
    #[error("{what} still uses {kind} {name:?}")]
    InUse { kind: &'static str, name: String, what: String },
    #[error("restore is not allowed: the object is not archived")]
    NotArchived,
    #[error("a restore of the object is already in progress")]
    RestoreInProgress,
}

/// Why registering or removing an event notification target was refused.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("{0}")]
    Invalid(String),
    #[error("no notification target is named {0:?}")]
    Missing(String),
    #[error("the notification configuration of bucket {buckets} still names target {name:?}")]
    InUse { name: String, buckets: String },
}

pub type Result<T> = std::result::Result<T, StorageError>;

/// Whether an I/O error says the disk or the quota is full.
pub(crate) fn is_full(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ENOSPC | libc::EDQUOT))
}

impl From<io::Error> for StorageError {
    fn from(e: io::Error) -> Self {
        match is_full(&e) {
            true => StorageError::Full,
            false => StorageError::Io(e),
        }
    }
}

impl From<serde_json::Error> for StorageError {
    fn from(e: serde_json::Error) -> Self {
        StorageError::Corrupt(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_disks_and_quotas_are_one_error() {
        for errno in [libc::ENOSPC, libc::EDQUOT] {
            assert!(matches!(StorageError::from(io::Error::from_raw_os_error(errno)), StorageError::Full));
        }
        assert!(matches!(StorageError::from(io::Error::from_raw_os_error(libc::EIO)), StorageError::Io(_)));
    }
}
