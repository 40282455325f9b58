//! Replication to buckets on remote S3 endpoints (registered with `coffer admin remote add`),
//! through the AWS SDK. A remote that is another Coffer (it names itself in the `Server`
//! header) is sent each version's identity (`crate::request::replica`), so both sides list the
//! same version ids, times and ETags; any other S3 service chooses its own version ids, which
//! the caller keeps in a map, and gets the source's identity in metadata.

mod push;

pub use push::{find_replica, push, Source, WriteOptions};

use crate::keys::secrets::Secrets;
use aws_smithy_runtime_api::client::interceptors::context::BeforeDeserializationInterceptorContextRef;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use coffer_storage::tiers::RemoteSpec;
use coffer_storage::Store;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Why a version did not reach its destination.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PushError {
    /// Worth trying again later: the endpoint is down, overloaded or timed out.
    #[error("{0}")]
    Transient(String),
    /// Trying again will not help (denied, no such bucket, refused request).
    #[error("{0}")]
    Permanent(String),
}

/// One remote endpoint with its client.
pub struct RemoteEndpoint {
    pub spec: RemoteSpec,
    client: aws_sdk_s3::Client,
    /// Whether the endpoint is a Coffer, once known.
    coffer: Mutex<Option<bool>>,
}

impl RemoteEndpoint {
    fn new(spec: RemoteSpec, secret: &str) -> RemoteEndpoint {
        let client = spec.client(secret);
        RemoteEndpoint { spec, client, coffer: Mutex::new(None) }
    }

    /// Whether the endpoint is a Coffer, asked once (with a HEAD of `bucket`, which also
    /// tells a missing bucket or refused credentials apart).
    pub async fn is_coffer(&self, bucket: &str) -> Result<bool, PushError> {
        if let Some(known) = *self.coffer.lock().unwrap() {
            return Ok(known);
        }
        let server = ServerHeader::default();
        self.client
            .head_bucket()
            .bucket(bucket)
            .customize()
            .interceptor(server.clone())
            .send()
            .await
            .map_err(|e| classify(&format!("bucket {bucket} on remote {}", self.spec.name), e))?;
        let coffer = server.0.lock().unwrap().as_deref().is_some_and(|s| s == crate::http::SERVER_NAME);
        *self.coffer.lock().unwrap() = Some(coffer);
        Ok(coffer)
    }
}

/// Reads the `Server` header of a response.
#[derive(Clone, Debug, Default)]
struct ServerHeader(Arc<Mutex<Option<String>>>);

impl Intercept for ServerHeader {
    fn name(&self) -> &'static str {
        "ServerHeader"
    }

    fn read_before_deserialization(
        &self,
        context: &BeforeDeserializationInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        *self.0.lock().unwrap() = context.response().headers().get("server").map(str::to_string);
        Ok(())
    }
}

/// The remotes registered in the index, with a client each, rebuilt when one changes.
pub struct Remotes {
    store: Store,
    secrets: Secrets,
    built: Mutex<HashMap<String, Built>>,
}

/// An endpoint's client, and the registration (spec and sealed secret) it was built from.
struct Built {
    spec: RemoteSpec,
    sealed: Vec<u8>,
    endpoint: Arc<RemoteEndpoint>,
}

impl Remotes {
    pub fn new(store: Store, secrets: Secrets) -> Remotes {
        Remotes { store, secrets, built: Mutex::default() }
    }

    /// The endpoint registered as `name`.
    pub async fn endpoint(&self, name: &str) -> Result<Arc<RemoteEndpoint>, PushError> {
        let registered = self.store.remotes().await.map_err(|e| PushError::Transient(e.to_string()))?;
        let Some((spec, sealed)) = registered.into_iter().find(|(s, _)| s.name == name) else {
            self.built.lock().unwrap().remove(name);
            return Err(PushError::Permanent(format!("no remote is named {name:?}")));
        };
        let mut built = self.built.lock().unwrap();
        if let Some(b) = built.get(name).filter(|b| b.spec == spec && b.sealed == sealed) {
            return Ok(b.endpoint.clone());
        }
        let secret = self.secrets.open_remote_secret(name, &sealed).map_err(|e| PushError::Permanent(format!("remote {name}: {e}")))?;
        let endpoint = Arc::new(RemoteEndpoint::new(spec.clone(), &secret));
        built.insert(name.to_string(), Built { spec, sealed, endpoint: endpoint.clone() });
        Ok(endpoint)
    }
}

/// Sorts an SDK error: refusals (4xx but timeouts and throttling) are permanent; no answer,
/// 5xx, timeouts and throttling are transient.
fn classify<E, R>(what: &str, e: SdkError<E, R>) -> PushError
where
    E: std::error::Error + ProvideErrorMetadata + Send + Sync + 'static,
    R: std::fmt::Debug + HasStatus,
{
    let status = e.raw_response().map(|r| r.status());
    let code = e.as_service_error().and_then(|s| s.code()).map(str::to_string);
    let message = match (status, &code) {
        (Some(s), Some(c)) => {
            let detail = e.as_service_error().and_then(|s| s.message()).map(|m| format!(": {m}")).unwrap_or_default();
            format!("{what}: {s} {c}{detail}")
        }
        _ => format!("{what}: {}", DisplayErrorContext(&e)),
    };
    let transient_code = matches!(code.as_deref(), Some("RequestTimeout" | "SlowDown" | "IncompleteBody" | "OperationAborted" | "RequestTimeTooSkewed"));
    match status {
        Some(s) if (400..500).contains(&s) && !matches!(s, 408 | 409 | 429) && !transient_code => PushError::Permanent(message),
        _ => PushError::Transient(message),
    }
}

/// The status code of a raw response.
trait HasStatus {
    fn status(&self) -> u16;
}

impl HasStatus for aws_smithy_runtime_api::http::Response {
    fn status(&self) -> u16 {
        self.status().as_u16()
    }
}
