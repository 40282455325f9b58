//! Bucket configuration documents, one module each (CORS, website, tagging, default
//! encryption, bucket policy, lifecycle, replication, notification, object lock, logging), and how any of them is kept: as JSON in the index, by kind.

pub mod cors;
pub mod encryption;
pub mod lifecycle;
pub mod logging;
pub mod object_lock;
pub mod notification;
pub mod parsed;
pub mod policy;
pub mod replication;
pub mod tagging;
pub mod website;

use crate::http::error::{S3Error, S3Result};
use coffer_storage::Store;

/// A bucket configuration document (`kind` names it, e.g. "cors"), stored as JSON.
pub async fn load<T: serde::de::DeserializeOwned>(store: &Store, bucket_id: i64, kind: &str) -> S3Result<Option<T>> {
    match store.bucket_config(bucket_id, kind).await? {
        Some(doc) => Ok(Some(serde_json::from_str(&doc).map_err(S3Error::internal)?)),
        None => Ok(None),
    }
}

/// Stores (Some) or removes (None) a bucket configuration document.
pub async fn save<T: serde::Serialize>(store: &Store, bucket_id: i64, kind: &str, value: Option<&T>) -> S3Result<()> {
    let doc = value.map(serde_json::to_string).transpose().map_err(S3Error::internal)?;
    Ok(store.set_bucket_config(bucket_id, kind, doc).await?)
}
