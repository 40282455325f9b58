//! Server access logging (Put/GetBucketLogging): a record of each request to a bucket with
//! logging on is queued durably before the response leaves (`record`), and the delivery
//! worker writes queued records as log objects into the target bucket (`delivery`).
//! Deliveries are writes Coffer makes itself, not requests, so a log bucket never logs them.

pub mod delivery;
pub mod record;

use crate::bucket_config::logging::{BucketLoggingStatus, Destination, LOGGING};
use crate::http::error::S3Result;
use coffer_storage::{Bucket, Store};

/// Where the records of requests to `bucket` go, if it has logging on.
pub async fn destination(store: &Store, bucket: &Bucket) -> S3Result<Option<Destination>> {
    let Some(status) = crate::bucket_config::load::<BucketLoggingStatus>(store, bucket.id, LOGGING).await? else { return Ok(None) };
    let Some(on) = status.logging_enabled else { return Ok(None) };
    Ok(Some(Destination {
        target_bucket: on.target_bucket.clone(),
        target_prefix: on.target_prefix.clone(),
        partitioned: on.date_source()?,
        source_bucket: bucket.name.clone(),
        source_owner: bucket.owner.id.clone(),
        region: bucket.region.clone(),
    }))
}

/// Queues the record of one request for `destination`, durably (the caller answers after).
pub async fn queue(store: &Store, destination: &Destination, facts: &record::RequestFacts) -> S3Result<()> {
    Ok(store.queue_access_records(vec![(destination.encode(), record::line(facts))]).await?)
}
