//! What every request handler shares: the store, the settings that shape S3 answers, and a
//! cache of access keys, each kept a second, so keys that `coffer admin` creates, disables or
//! deletes in another process count (or stop counting) within a second.

use crate::config::Config;
use crate::keys::secrets::Secrets;
use coffer_storage::{Store, User};
use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, Instant};

/// How long a looked-up access key is trusted before the index is asked again.
const CREDENTIALS_TTL: Duration = Duration::from_secs(1);

/// An access key with its secret opened, as request signing needs it.
#[derive(Clone)]
pub struct Credentials {
    pub secret_key: String,
    pub user: User,
}

pub struct AppState {
    pub store: Store,
    pub region: String,
    pub domain: Option<String>,
    pub website_domain: Option<String>,
    access_keys: RwLock<HashMap<String, (Instant, Credentials)>>,
    /// Parsed bucket policies by bucket id (see `bucket_config::policy::cache`).
    pub policies: crate::bucket_config::policy::Cache,
    /// Compiled lifecycle rules by bucket id (see `bucket_config::lifecycle::Cache`).
    pub lifecycle: crate::bucket_config::lifecycle::Cache,
    /// The master key and the KMS behind server-side encryption.
    pub keys: std::sync::Arc<crate::keys::data_keys::Keys>,
    /// The built-in KMS's keyring (also behind `keys`), for the admin API.
    pub keyring: std::sync::Arc<crate::keys::kms::Keyring>,
    /// Opens the secrets the index keeps sealed (access keys, TOTP seeds).
    pub secrets: Secrets,
    /// Whether the S3 listener speaks HTTPS.
    pub secure: bool,
    /// Whether SSE-C keys are accepted over plain HTTP (`--sse-c-allow-http`).
    sse_c_allow_http: bool,
    /// The connection, request and header limits.
    pub limits: crate::limits::Limits,
    /// Bounds the requests in flight to `limits.max_requests_in_flight`.
    pub requests: crate::http::limits::RequestGate,
    /// How lifecycle and restore days are counted (`--lifecycle-day-secs`).
    pub clock: crate::bucket_config::lifecycle::Clock,
    /// What /metrics reports.
    pub metrics: std::sync::Arc<crate::metrics::Metrics>,
    /// The bearer token that lets a scrape of /metrics in (`--metrics-token`).
    metrics_token: RwLock<Option<String>>,
    /// The buckets with server access logging on (filled at start, see `bucket_logs`).
    pub logged_buckets: crate::bucket_logs::LoggedBuckets,
}

impl AppState {
    pub fn new(
        store: Store,
        config: &Config,
        keys: std::sync::Arc<crate::keys::data_keys::Keys>,
        keyring: std::sync::Arc<crate::keys::kms::Keyring>,
        secrets: Secrets,
        metrics: std::sync::Arc<crate::metrics::Metrics>,
    ) -> AppState {
        AppState {
            store,
            region: config.region.clone(),
            domain: config.domain.clone(),
            website_domain: config.website_domain.clone(),
            access_keys: RwLock::new(HashMap::new()),
            policies: Default::default(),
            lifecycle: Default::default(),
            keys,
            keyring,
            secrets,
            secure: config.tls_cert.is_some(),
            sse_c_allow_http: config.sse_c_allow_http,
            limits: config.limits.clone(),
            requests: crate::http::limits::RequestGate::new(config.limits.max_requests_in_flight, config.limits.request_queue_wait, metrics.requests.waiting()),
            clock: crate::bucket_config::lifecycle::Clock::new(config.lifecycle_day_secs),
            metrics,
            metrics_token: RwLock::new(config.metrics_token.clone()),
            logged_buckets: Default::default(),
        }
    }

    /// The bearer token that lets a scrape of /metrics in, if one is set.
    pub fn metrics_token(&self) -> Option<String> {
        self.metrics_token.read().expect("metrics token lock").clone()
    }

    /// Puts another metrics token in use (SIGHUP); returns whether it changed.
    pub fn set_metrics_token(&self, token: Option<String>) -> bool {
        let mut current = self.metrics_token.write().expect("metrics token lock");
        let changed = *current != token;
        *current = token;
        changed
    }

    /// Whether this connection may carry SSE-C keys: HTTPS, or plain HTTP when allowed.
    pub fn sse_c_allowed(&self) -> bool {
        self.secure || self.sse_c_allow_http
    }

    /// The credentials of an enabled access key if the cache holds them, looked up less than
    /// `CREDENTIALS_TTL` ago; never waits for the index.
    pub fn cached_credentials(&self, access_key: &str) -> Option<Credentials> {
        let cache = self.access_keys.read().expect("key cache poisoned");
        cache.get(access_key).filter(|(at, _)| at.elapsed() < CREDENTIALS_TTL).map(|(_, c)| c.clone())
    }

    /// The credentials of an enabled access key: from the cache (see `cached_credentials`),
    /// else from the index (its secret opened with the master key on the way in). A key
    /// disabled or deleted meanwhile is dropped from the cache. An index that cannot answer is
    /// an error, not a missing key (the client is to retry, not give up).
    pub async fn credentials(&self, access_key: &str) -> Result<Option<Credentials>, coffer_storage::StorageError> {
        if let Some(c) = self.cached_credentials(access_key) {
            return Ok(Some(c));
        }
        let Some(stored) = self.store.access_key(access_key).await? else {
            self.access_keys.write().expect("key cache poisoned").remove(access_key);
            return Ok(None);
        };
        let secret_key = match self.secrets.open_access_secret(&stored) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(access_key, "stored access key unusable: {e}");
                return Ok(None);
            }
        };
        let found = Credentials { secret_key, user: stored.user };
        self.access_keys.write().expect("key cache poisoned").insert(access_key.to_string(), (Instant::now(), found.clone()));
        Ok(Some(found))
    }

    /// Runs `verify`, a signature check that looks up the access key it names through the
    /// lookup it is given, without blocking a worker on the index: the check first runs on the
    /// cache alone; when it asked for a key the cache did not hold, that key is looked up
    /// (awaited) and the check runs again.
    /// An index that cannot answer the lookup is an error.
    pub async fn verify_signed<T>(&self, verify: impl Fn(&dyn Fn(&str) -> Option<Credentials>) -> T) -> Result<T, coffer_storage::StorageError> {
        let missed = std::cell::RefCell::new(None);
        let first = verify(&|ak: &str| {
            let found = self.cached_credentials(ak);
            if found.is_none() {
                *missed.borrow_mut() = Some(ak.to_string());
            }
            found
        });
        let Some(missed) = missed.into_inner() else { return Ok(first) };
        if self.credentials(&missed).await?.is_none() {
            return Ok(first);
        }
        Ok(verify(&|ak: &str| self.cached_credentials(ak)))
    }
}
