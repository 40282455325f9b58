//! What every request handler shares: the store, the settings that shape S3 answers, and a
//! cache of access keys (users created while the server runs are found on first use).

use crate::config::Config;
use crate::error::{S3Error, S3Result};
use coffer_storage::{Credentials, Store};
use std::collections::HashMap;
use std::sync::RwLock;

pub struct AppState {
    pub store: Store,
    pub region: String,
    pub domain: Option<String>,
    pub website_domain: Option<String>,
    access_keys: RwLock<HashMap<String, Credentials>>,
    /// Parsed bucket policies by bucket id (see `policy::stored`).
    pub policies: crate::policy::Cache,
    /// The master key and the KMS behind server-side encryption.
    pub keys: crate::sse::Keys,
    /// Whether the S3 listener speaks HTTPS.
    pub secure: bool,
    /// Whether SSE-C keys are accepted over plain HTTP (`--sse-c-allow-http`).
    sse_c_allow_http: bool,
}

impl AppState {
    pub fn new(store: Store, config: &Config, keys: crate::sse::Keys) -> AppState {
        AppState {
            store,
            region: config.region.clone(),
            domain: config.domain.clone(),
            website_domain: config.website_domain.clone(),
            access_keys: RwLock::new(HashMap::new()),
            policies: Default::default(),
            keys,
            secure: config.tls_cert.is_some(),
            sse_c_allow_http: config.sse_c_allow_http,
        }
    }

    /// Whether this connection may carry SSE-C keys: HTTPS, or plain HTTP when allowed.
    pub fn sse_c_allowed(&self) -> bool {
        self.secure || self.sse_c_allow_http
    }

    /// The credentials of an access key: from the cache, else from the index.
    pub fn credentials(&self, access_key: &str) -> Option<Credentials> {
        if let Some(c) = self.access_keys.read().expect("key cache poisoned").get(access_key) {
            return Some(c.clone());
        }
        let found = self.store.credentials_blocking(access_key).ok().flatten()?;
        self.access_keys.write().expect("key cache poisoned").insert(access_key.to_string(), found.clone());
        Some(found)
    }
}

impl AppState {
    /// A bucket configuration document (`kind` names it, e.g. "cors"), stored as JSON.
    pub async fn bucket_doc<T: serde::de::DeserializeOwned>(&self, bucket_id: i64, kind: &str) -> S3Result<Option<T>> {
        match self.store.bucket_config(bucket_id, kind).await? {
            Some(doc) => Ok(Some(serde_json::from_str(&doc).map_err(S3Error::internal)?)),
            None => Ok(None),
        }
    }

    /// Stores (Some) or removes (None) a bucket configuration document.
    pub async fn set_bucket_doc<T: serde::Serialize>(&self, bucket_id: i64, kind: &str, value: Option<&T>) -> S3Result<()> {
        let doc = value.map(serde_json::to_string).transpose().map_err(S3Error::internal)?;
        Ok(self.store.set_bucket_config(bucket_id, kind, doc).await?)
    }
}
