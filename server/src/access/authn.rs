//! Authentication glue: hands the request to coffer-auth's verifier (SigV4 or SigV2, chosen by
//! the scheme the request carries) and turns the result into the caller's identity (a user, or
//! anonymous) and the body's payload mode.

use crate::http::error::{S3Error, S3Result};
use crate::state::AppState;
use crate::http::head::Head;
use coffer_auth::{Payload, SignedRequest};
use coffer_storage::User;

pub use coffer_storage::ROOT_USER;

/// Who is asking.
#[derive(Clone, Debug)]
pub struct Principal {
    pub user: User,
}

/// The outcome of authentication.
pub struct Authenticated {
    /// None for anonymous requests.
    pub principal: Option<Principal>,
    pub payload: Payload,
    /// The access key the request was signed with.
    pub access_key: Option<String>,
}

fn http_headers(head: Head<'_>) -> http::HeaderMap {
    let mut out = http::HeaderMap::with_capacity(head.headers.len());
    for (name, value) in head.headers.iter() {
        if let (Ok(n), Ok(v)) =
            (http::HeaderName::from_bytes(name.as_str().as_bytes()), http::HeaderValue::from_bytes(value.as_bytes()))
        {
            out.append(n, v);
        }
    }
    out
}

pub async fn authenticate(head: Head<'_>, state: &AppState) -> S3Result<Authenticated> {
    let headers = http_headers(head);
    let signed = SignedRequest {
        method: head.method.as_str(),
        raw_path: head.uri.path(),
        raw_query: head.uri.query().unwrap_or(""),
        headers: &headers,
    };
    // The lookup remembers whose key it found, so the caller's identity needs no second query;
    // an index that could not answer fails the request with that instead.
    let found = std::cell::RefCell::new(None);
    let bucket = host_bucket(head, state.domain.as_deref());
    let now = std::time::SystemTime::now();
    let verified = state
        .verify_signed(|credentials| {
            let lookup = |ak: &str| {
                let creds = credentials(ak)?;
                let secret = creds.secret_key.clone();
                *found.borrow_mut() = Some(creds);
                Some(secret)
            };
            coffer_auth::verify_hosted(&signed, bucket, now, &state.region, &lookup)
        })
        .await?;
    match verified? {
        None => Ok(Authenticated { principal: None, payload: Payload::Unsigned, access_key: None }),
        Some(v) => {
            let creds = found.into_inner().ok_or_else(|| {
                S3Error::from(coffer_auth::AuthError::InvalidAccessKeyId { access_key: v.access_key.clone() })
            })?;
            Ok(Authenticated { principal: Some(Principal { user: creds.user }), payload: v.payload, access_key: Some(v.access_key) })
        }
    }
}

/// The bucket a virtual-hosted-style request names in its Host header (`<bucket>.<domain>`),
/// as the router reads it; SigV2 signs it as part of the resource.
fn host_bucket<'a>(head: Head<'a>, domain: Option<&str>) -> Option<&'a str> {
    let domain = domain?;
    let host = head.headers.get("host")?.to_str().ok()?;
    let host = if host.starts_with('[') {
        host
    } else {
        host.rsplit_once(':').map(|(h, _)| h).unwrap_or(host)
    };
    host.strip_suffix(domain)?.strip_suffix('.').filter(|b| !b.is_empty())
}
