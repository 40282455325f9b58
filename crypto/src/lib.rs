//! Coffer's cryptography helpers: object checksums now, SSE envelope encryption and key
//! providers to come. Pure computation; no I/O policy and no database access.

pub mod checksum;
pub mod totp;
