//! Server access logging (Put/GetBucketLogging): a record of each request to a bucket with
//! logging on is queued durably before the response leaves (`record`), and the delivery
//! worker writes queued records as log objects into the target bucket (`delivery`).
//! Deliveries are writes Coffer makes itself, not requests, so a log bucket never logs them.

pub mod capture;
pub mod delivery;
pub mod record;

use crate::bucket_config::logging::{BucketLoggingStatus, Destination, LOGGING};
use crate::http::error::S3Result;
use coffer_storage::{Bucket, Store, StorageError};
use std::collections::HashMap;
use std::sync::RwLock;
use std::time::Instant;

/// The buckets with logging on, by name, so a request to any other bucket costs one lookup
/// in memory. Filled at start from the index and kept by Put/DeleteBucketLogging; an entry
/// whose bucket was deleted (and perhaps created again) is checked against the bucket's id.
/// On an index other nodes share, read again once it is older than the store trusts its
/// bucket configurations (`Store::config_max_age`), so logging another node turned on or off
/// takes effect here as soon as other settings do.
#[derive(Default)]
pub struct LoggedBuckets {
    ids: RwLock<HashMap<String, i64>>,
    loaded: RwLock<Option<Instant>>,
}

impl LoggedBuckets {
    /// Reads the set from the index.
    pub async fn reload(&self, store: &Store) -> Result<(), StorageError> {
        let ids = store.buckets_with_config(LOGGING).await?.into_iter().map(|(id, name)| (name, id)).collect();
        *self.ids.write().expect("logged buckets lock") = ids;
        *self.loaded.write().expect("logged buckets lock") = Some(Instant::now());
        Ok(())
    }

    /// Reads the set again if another node may have changed it since it was read.
    async fn refresh(&self, store: &Store) -> Result<(), StorageError> {
        let Some(max_age) = store.config_max_age() else { return Ok(()) };
        let loaded = *self.loaded.read().expect("logged buckets lock");
        match loaded {
            Some(at) if at.elapsed() < max_age => Ok(()),
            _ => self.reload(store).await,
        }
    }

    /// Notes that `bucket` has logging on (true) or off.
    pub fn set(&self, bucket: &Bucket, on: bool) {
        let mut ids = self.ids.write().expect("logged buckets lock");
        match on {
            true => ids.insert(bucket.name.clone(), bucket.id),
            false => ids.remove(&bucket.name),
        };
    }

    /// Where the records of a request to bucket `name` go, if it has logging on.
    pub async fn destination_of(&self, store: &Store, name: &str) -> S3Result<Option<Destination>> {
        self.refresh(store).await?;
        let Some(id) = self.ids.read().expect("logged buckets lock").get(name).copied() else { return Ok(None) };
        let bucket = match store.bucket(name).await {
            Ok(bucket) if bucket.id == id => bucket,
            Ok(_) | Err(StorageError::NoSuchBucket) => {
                self.ids.write().expect("logged buckets lock").remove(name);
                return Ok(None);
            }
            Err(e) => return Err(e.into()),
        };
        destination(store, &bucket).await
    }
}

/// Where the records of requests to `bucket` go, if it has logging on.
async fn destination(store: &Store, bucket: &Bucket) -> S3Result<Option<Destination>> {
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
