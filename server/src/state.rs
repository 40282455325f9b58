//! What every request handler shares: the store, the settings that shape S3 answers, and a
//! cache of access keys (users created while the server runs are found on first use).

use crate::config::Config;
use coffer_storage::{Credentials, Store};
use std::collections::HashMap;
use std::sync::RwLock;

pub struct AppState {
    pub store: Store,
    pub region: String,
    pub domain: Option<String>,
    pub website_domain: Option<String>,
    keys: RwLock<HashMap<String, Credentials>>,
    /// Parsed bucket policies by bucket id (see `policy::stored`).
    pub policies: crate::policy::Cache,
}

impl AppState {
    pub fn new(store: Store, config: &Config) -> AppState {
        AppState {
            store,
            region: config.region.clone(),
            domain: config.domain.clone(),
            website_domain: config.website_domain.clone(),
            keys: RwLock::new(HashMap::new()),
            policies: Default::default() }
    }

    /// The credentials of an access key: from the cache, else from the index.
    pub fn credentials(&self, access_key: &str) -> Option<Credentials> {
        if let Some(c) = self.keys.read().expect("key cache poisoned").get(access_key) {
            return Some(c.clone());
        }
        let found = self.store.credentials_blocking(access_key).ok().flatten()?;
        self.keys.write().expect("key cache poisoned").insert(access_key.to_string(), found.clone());
        Some(found)
    }
}
