//! Key management: the server master key, the built-in KMS keyring, per-object data keys, the
//! sealing of stored secrets and the parsing of SSE request headers. How a request's object is encrypted is `request::sse`.

pub mod data_keys;
pub mod kms;
pub mod master_key;
pub mod secrets;
pub mod sse_headers;
