//! MFA delete: a bucket's MfaDelete setting (kept as a bucket configuration document) and the
//! check of an `x-amz-mfa: SERIAL CODE` header against the bucket owner's TOTP device.

use crate::http::error::{ErrorCode, S3Error, S3Result};
use actix_web::http::header::HeaderMap;
use crate::state::AppState;
use coffer_storage::{Bucket, Store};

/// Bucket configuration document holding "Enabled" or "Disabled" once MfaDelete was set.
const MFA_DELETE: &str = "mfa-delete";

fn denied(message: &str) -> S3Error {
    S3Error::new(ErrorCode::AccessDenied).with_message(message)
}

/// The bucket's MfaDelete state as last set ("Enabled" / "Disabled"), if ever.
pub async fn state(store: &Store, bucket: &Bucket) -> S3Result<Option<String>> {
    Ok(store.bucket_config(bucket.id, MFA_DELETE).await?)
}

pub async fn set_state(store: &Store, bucket: &Bucket, enabled: bool) -> S3Result<()> {
    let doc = if enabled { "Enabled" } else { "Disabled" };
    Ok(store.set_bucket_config(bucket.id, MFA_DELETE, Some(doc.to_string())).await?)
}

pub async fn enabled(store: &Store, bucket: &Bucket) -> S3Result<bool> {
    Ok(state(store, bucket).await?.as_deref() == Some("Enabled"))
}

/// Checks the request's x-amz-mfa header: the serial of the bucket owner's device and a
/// current code from it (the device's seed is opened with the master key).
pub async fn verify_header(state: &AppState, headers: &HeaderMap, bucket: &Bucket) -> S3Result<()> {
    let header = headers.get("x-amz-mfa").and_then(|v| v.to_str().ok()).ok_or_else(|| denied("Mfa Authentication must be used for this request"))?;
    let (serial, code) = header.trim().rsplit_once(' ').ok_or_else(|| denied("The x-amz-mfa header is malformed"))?;
    let device = state.store.mfa_device(serial.trim()).await?.ok_or_else(|| denied("Mfa Authentication failed"))?;
    if device.user_id != bucket.owner.id {
        return Err(denied("Mfa Authentication failed"));
    }
    let secret = state.secrets.open_totp_secret(&device).map_err(|e| {
        tracing::warn!(serial = %device.serial, "stored MFA device unusable: {e}");
        denied("Mfa Authentication failed")
    })?;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    if !coffer_crypto::totp::verify(&secret, code, now) {
        return Err(denied("Mfa Authentication failed"));
    }
    Ok(())
}

/// For permanent deletes of versions: a valid x-amz-mfa header when the bucket has MfaDelete on.
pub async fn require_for_version_delete(state: &AppState, headers: &HeaderMap, bucket: &Bucket) -> S3Result<()> {
    if enabled(&state.store, bucket).await? {
        verify_header(state, headers, bucket).await?;
    }
    Ok(())
}
