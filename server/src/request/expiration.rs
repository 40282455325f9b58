//! The x-amz-expiration header of PUT, GET, HEAD, CopyObject and CompleteMultipartUpload
//! responses: when the bucket's lifecycle rules will expire the object, and by which rule.

use crate::state::AppState;
use actix_web::HttpResponseBuilder;
use coffer_storage::ObjectRecord;

const HEADER: &str = "x-amz-expiration";

/// Adds the header for `rec` when an enabled expiration rule applies to it. A bucket without
/// lifecycle rules costs one lookup in the cache of compiled rules.
pub async fn add(state: &AppState, rec: &ObjectRecord, resp: &mut HttpResponseBuilder) {
    let Ok(Some(entry)) = state.lifecycle.load(&state.store, rec.bucket_id).await else { return };
    if let Some(value) = entry.rules.expiration_header(rec) {
        resp.insert_header((HEADER, value));
    }
}

/// `add` for an object known only by its version (as CompleteMultipartUpload knows it): the
/// version is read only when the bucket has expiration rules.
pub async fn add_for_version(state: &AppState, bucket_id: i64, key: &str, version_id: &str, resp: &mut HttpResponseBuilder) {
    let Ok(Some(entry)) = state.lifecycle.load(&state.store, bucket_id).await else { return };
    if !entry.rules.expires_objects() {
        return;
    }
    if let Ok((rec, _)) = state.store.object(bucket_id, key, Some(version_id)).await {
        if let Some(value) = entry.rules.expiration_header(&rec) {
            resp.insert_header((HEADER, value));
        }
    }
}
