//! Coffer's cryptography: object checksums, SSE envelope encryption, the key-provider trait
//! and TOTP. Pure computation; no I/O policy and no database access.

pub mod checksum;
pub mod envelope;
pub mod kms;
pub mod totp;
