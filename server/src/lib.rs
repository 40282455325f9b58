//! coffer-server: the HTTP front end of Coffer. It speaks S3's REST/XML dialect over actix-web
//! and turns each request into calls on coffer-storage.
//!
//! Layers, from the ground up (a module only imports from its own layer or the ones below):
//! `http` (S3 on the wire) and `metrics` (what /metrics reports) → `bucket_config` (bucket
//! configuration documents) and `keys` (master key, KMS, data keys) → `state` → `access` (who
//! may do what) → `request` (the context handlers share) → `handlers` (one module per S3
//! concern) → `entry` (dispatch), `admin_api` (the root user's HTTP admin API, over
//! `admin_ops`, which the admin commands share), `probes` (/metrics and health checks), `notify` (sending
//! event notifications) → `workers` (background work) and `app` (wiring it all together, with
//! `tls` and `service` for certificates and signals); `admin`, `account_admin`, `bucket_admin`,
//! `tier_admin`, `notify_admin` and `upkeep` are the admin commands, which print through `table`.

mod access;
pub mod account_admin;
pub mod admin;
mod admin_site;
mod admin_api;
mod admin_ops;
pub mod app;
mod blob_setup;
mod bucket_config;
pub mod bucket_admin;
mod bucket_logs;
pub mod config;
mod console;
mod entry;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
mod handlers;
mod http;
mod keys;
mod metrics;
mod notify;
pub mod notify_admin;
mod outbound;
pub mod limits;
mod probes;
mod request;
mod service;
mod state;
mod table;
pub mod tier_admin;
mod tier_set;
mod tls;
pub mod upkeep;
mod workers;
