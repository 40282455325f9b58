//! What handlers share about one request: its context and access checks (`ctx`), the object
//! headers it carries, the identity a replica keeps, the Object Lock a new version gets, the source of a copy, what it uploads, how its object is encrypted, when it
//! expires, and whether it is archived.

pub mod archive;
pub mod copy_source;
pub mod ctx;
pub mod expiration;
pub mod object_headers;
pub mod object_lock;
pub mod replica;
pub mod sse;
pub mod upload;
