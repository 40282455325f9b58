//! coffer-server: the HTTP front end of Coffer. It speaks S3's REST/XML dialect over actix-web
//! and turns each request into calls on coffer-storage.

mod acl;
pub mod admin;
pub mod app;
mod authn;
mod body;
mod bucket_encryption;
mod checksum_fields;
mod checksums;
mod conditions;
mod cors;
mod copy_source;
pub mod config;
mod ctx;
mod entry;
mod error;
mod handlers;
pub mod master_key;
mod mfa;
mod head;
pub mod kms;
mod key_encoding;
mod object_headers;
mod post_policy;
mod policy;
mod ownership;
mod public_access;
mod range;
mod router;
mod sse;
mod state;
mod tags;
mod website_config;
mod xml;
