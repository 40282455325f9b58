//! S3 on the wire, with no server state: the Operation router, request heads and bodies, XML,
//! the S3Error type, ranges, conditional headers, checksum headers, key encodings, and the
//! access-log record of each request.

pub mod access_log;
pub mod body;
pub mod checksum_fields;
pub mod checksums;
pub mod conditions;
pub mod error;
pub mod head;
pub mod key_encoding;
pub mod limits;
pub mod range;
pub mod router;
pub mod xml;

/// The `Server` header of every response (S3 sends `AmazonS3`). Another Coffer replicating
/// here learns from it that it may send replica identities.
pub const SERVER_NAME: &str = "Coffer";
