//! Versions on an archive tier: reads (GET, the source of a copy) are refused with
//! InvalidObjectState until a restore made a copy, and HEAD and GET tell the restore's state
//! in `x-amz-restore`.

use crate::http::error::{ErrorCode, S3Error, S3Result};
use crate::state::AppState;
use actix_web::HttpResponseBuilder;
use coffer_storage::ObjectRecord;

/// InvalidObjectState unless `rec` may be read now.
pub fn refuse_archived(state: &AppState, rec: &ObjectRecord) -> S3Result<()> {
    if !state.store.is_archived(rec) {
        return Ok(());
    }
    let class = rec.meta.storage_class.clone().unwrap_or_else(|| "STANDARD".into());
    Err(S3Error::new(ErrorCode::InvalidObjectState).with("StorageClass", class))
}

/// The `x-amz-restore` header of a version with a restore asked for or done.
pub fn restore_header(resp: &mut HttpResponseBuilder, rec: &ObjectRecord) {
    let Some(restore) = &rec.placement.restore else { return };
    let value = match (restore.done_ms, restore.expiry_ms) {
        (Some(_), Some(expiry)) => {
            let at = std::time::UNIX_EPOCH + std::time::Duration::from_millis(expiry.max(0) as u64);
            format!("ongoing-request=\"false\", expiry-date=\"{}\"", httpdate::fmt_http_date(at))
        }
        _ => "ongoing-request=\"true\"".to_string(),
    };
    resp.insert_header(("x-amz-restore", value));
}
