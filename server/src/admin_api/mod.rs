//! The root user's HTTP admin API under `/_admin/` on the S3 port (and so on the console's):
//! users, access keys, KMS keys, remotes and tiers as JSON, signed with SigV4 like any S3 request.
//! Anyone but the root user gets S3's `AccessDenied`. The work is `admin_ops`', as for `coffer admin`.

mod route;

use crate::access::authn::{authenticate, ROOT_USER};
use crate::admin_ops::{self, AdminError};
use crate::http::body::{read_all, request_body};
use crate::keys::kms::KeyringError;
use crate::http::error::{ErrorCode, S3Error, S3Result};
use crate::http::head::Head;
use crate::http::router;
use crate::request::upload::check_payload_hash;
use crate::state::AppState;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use coffer_storage::tiers::{RemoteSpec, TierSpec};
use coffer_storage::AccessKeyInfo;
use route::{AdminOp, NoRoute};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// The largest JSON body an admin request may send.
const BODY_LIMIT: usize = 64 * 1024;

/// Whether the request is for the admin API: a path-style path under `/_admin/` (on a
/// virtual-hosted request it is an object key).
pub fn wants(head: Head<'_>, domain: Option<&str>) -> bool {
    let path = head.uri.path();
    (path.starts_with(route::PREFIX) || path == route::PREFIX.trim_end_matches('/')) && router::host_bucket(head, domain).is_none()
}

/// Answers an admin request: the root user's signature, then the operation.
pub async fn handle(req: &HttpRequest, payload: web::Payload, state: &AppState) -> S3Result<HttpResponse> {
    let auth = authenticate(req.into(), state).await?;
    let is_root = auth.principal.as_ref().is_some_and(|p| p.user.name == ROOT_USER);
    if !is_root {
        return Err(S3Error::new(ErrorCode::AccessDenied).with_message("Access Denied: the admin API is the root user's"));
    }
    let op = route::parse(req.method(), req.path()).map_err(|e| match e {
        NoRoute::Unknown => S3Error::custom("UnknownOperation", StatusCode::NOT_FOUND, format!("{} names no admin operation", req.path())),
        NoRoute::Method(allowed) => S3Error::new(ErrorCode::MethodNotAllowed).with_header("allow", allowed),
    })?;
    let body = read_all(request_body(payload, &auth.payload).stream, BODY_LIMIT, ErrorCode::EntityTooLarge).await?;
    check_payload_hash(&auth.payload, &body)?;
    run(op, &body, state).await.map_err(|e| match e {
        Refusal::Admin(e) => admin_error(e),
        Refusal::Body(message) => S3Error::custom("MalformedJSON", StatusCode::BAD_REQUEST, message),
    })
}

/// Why an operation did not happen.
enum Refusal {
    Admin(AdminError),
    Body(String),
}

impl From<AdminError> for Refusal {
    fn from(e: AdminError) -> Refusal {
        Refusal::Admin(e)
    }
}

/// S3's error body for an admin error: IAM's code names where S3 has none.
fn admin_error(e: AdminError) -> S3Error {
    let (code, status) = match &e {
        AdminError::NotFound(_) => ("NoSuchEntity", StatusCode::NOT_FOUND),
        AdminError::Conflict(_) => ("EntityConflict", StatusCode::CONFLICT),
        AdminError::Invalid(_) => ("InvalidArgument", StatusCode::BAD_REQUEST),
        AdminError::Failed(_) => ("InternalError", StatusCode::INTERNAL_SERVER_ERROR),
        AdminError::Unavailable(_) => ("ServiceUnavailable", StatusCode::SERVICE_UNAVAILABLE),
    };
    S3Error::custom(code, status, e.to_string())
}

fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, Refusal> {
    serde_json::from_slice(body).map_err(|e| Refusal::Body(format!("the body is not the JSON this operation takes: {e}")))
}

fn json(status: StatusCode, value: &impl Serialize) -> HttpResponse {
    HttpResponse::build(status).content_type("application/json").body(serde_json::to_vec(value).expect("admin answers serialize"))
}

fn ok(value: &impl Serialize) -> HttpResponse {
    json(StatusCode::OK, value)
}

fn created(value: &impl Serialize) -> HttpResponse {
    json(StatusCode::CREATED, value)
}

fn no_content() -> HttpResponse {
    HttpResponse::NoContent().finish()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewUserBody {
    name: String,
    access_key: Option<String>,
    secret_key: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NameBody {
    name: String,
}

#[derive(Deserialize)]
struct NewRemoteBody {
    #[serde(flatten)]
    spec: RemoteSpec,
    secret_key: String,
}

/// A user as the API lists it: its figures, whether any key is enabled, and its keys.
#[derive(Serialize)]
struct UserEntry {
    #[serde(flatten)]
    summary: coffer_storage::UserSummary,
    enabled: bool,
    access_keys: Vec<AccessKeyInfo>,
}

async fn run(op: AdminOp, body: &[u8], state: &AppState) -> Result<HttpResponse, Refusal> {
    let (store, secrets) = (&state.store, &state.secrets);
    let storage = |subject: &str| {
        let subject = subject.to_string();
        move |e| AdminError::storage(e, &subject)
    };
    use AdminOp::*;
    Ok(match op {
        ListUsers => {
            let users = store.list_users().await.map_err(storage("users"))?;
            let keys = store.list_access_keys(None).await.map_err(storage("keys"))?;
            let entries: Vec<UserEntry> = users
                .into_iter()
                .map(|summary| {
                    let access_keys: Vec<AccessKeyInfo> = keys.iter().filter(|k| k.user == summary.name).cloned().collect();
                    UserEntry { enabled: summary.enabled_keys > 0, summary, access_keys }
                })
                .collect();
            ok(&entries)
        }
        CreateUser => {
            let b: NewUserBody = parse(body)?;
            created(&admin_ops::create_user(store, secrets, &b.name, b.access_key, b.secret_key).await?)
        }
        UserInfo(name) => ok(&store.user_info(&name).await.map_err(storage(&name))?),
        DeleteUser(name) => {
            admin_ops::delete_user(store, &name).await?;
            no_content()
        }
        SetUserEnabled(name, enabled) => ok(&admin_ops::set_user_enabled(store, &name, enabled).await?),
        CreateKey(user) => created(&admin_ops::create_key(store, secrets, &user).await?),
        RotateKey(key) => created(&admin_ops::rotate_key(store, secrets, &key).await?),
        SetKeyEnabled(key, enabled) => ok(&store.set_access_key_enabled(&key, enabled).await.map_err(storage(&key))?),
        DeleteKey(key) => {
            store.delete_access_key(&key).await.map_err(storage(&key))?;
            no_content()
        }
        ListKmsKeys => ok(&kms(state, |k| k.list()).await?),
        CreateKmsKey => {
            let b: NameBody = parse(body)?;
            created(&kms(state, move |k| k.create(&b.name)).await?)
        }
        RotateKmsKey(name) => ok(&kms(state, move |k| k.rotate(&name)).await?),
        SetKmsKeyEnabled(name, enabled) => ok(&kms(state, move |k| k.set_enabled(&name, enabled)).await?),
        ListRemotes => ok(&admin_ops::remotes(store).await?),
        AddRemote => {
            let b: NewRemoteBody = parse(body)?;
            admin_ops::add_remote(store, secrets, &b.spec, &b.secret_key).await?;
            created(&b.spec)
        }
        RemoveRemote(name) => {
            store.remove_remote(&name).await.map_err(storage(&name))?;
            no_content()
        }
        ListTiers => ok(&store.tier_specs().await.map_err(storage("tiers"))?),
        AddTier => {
            let spec: TierSpec = parse(body)?;
            admin_ops::add_tier(store, secrets, &spec).await?;
            created(&spec)
        }
        RemoveTier(name) => {
            store.remove_tier(&name).await.map_err(storage(&name))?;
            no_content()
        }
    })
}

/// Runs a keyring operation off the request's thread (on a PostgreSQL site it waits for the
/// index).
async fn kms<T: Send + 'static>(
    state: &AppState,
    op: impl FnOnce(&crate::keys::kms::Keyring) -> Result<T, KeyringError> + Send + 'static,
) -> Result<T, AdminError> {
    let keyring = state.keyring.clone();
    web::block(move || op(&keyring)).await.map_err(|e| AdminError::Failed(e.to_string()))?.map_err(AdminError::from)
}
