//! One module per S3 concern; each handler takes the request context and returns a response.
//! Shared helpers live below them (`request/`, `http/`, ...), never in a sibling handler.

pub mod attributes;
pub mod acl;
pub mod bucket;
pub mod copy;
pub mod cors;
pub mod delete;
pub mod encryption;
pub mod get;
pub mod lifecycle;
pub mod logging;
pub mod list;
pub mod object_lock;
pub mod multipart;
pub mod notification;
pub mod policy;
pub mod public_access;
pub mod ownership;
pub mod post_object;
pub mod put;
pub mod replication;
pub mod restore;
pub mod tagging;
pub mod usage;
pub mod versioning;
pub mod website;
