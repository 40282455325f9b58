//! The access log delivery worker: once a destination's oldest queued record is older than
//! the delivery interval (or enough records are waiting), writes a batch of them as one log
//! object into the target bucket, then forgets them. A crash between the two delivers the
//! batch again (at least once, never lost); a target bucket deleted meanwhile drops them.

use super::{Step, Worker, WorkerError};
use crate::bucket_config::logging::Destination;
use crate::bucket_logs::delivery::{deliver, Delivered};
use coffer_storage::Store;
use std::time::Duration;

/// Records per log object at most; this many waiting are delivered without waiting longer.
const BATCH: usize = 5000;
/// How often the queue is looked at.
const TICK: Duration = Duration::from_secs(1);

pub struct AccessLogDelivery {
    store: Store,
    /// How long a record may wait for others to share its log object.
    interval: Duration,
}

impl AccessLogDelivery {
    pub fn new(store: Store, interval: Duration) -> AccessLogDelivery {
        AccessLogDelivery { store, interval }
    }
}

impl Worker for AccessLogDelivery {
    fn name(&self) -> &'static str {
        "access-logs"
    }

    fn idle_interval(&self) -> Duration {
        TICK.min(self.interval)
    }

    async fn step(&mut self) -> Result<Step, WorkerError> {
        let now = coffer_storage::now_ms();
        let mut records = 0;
        for backlog in self.store.access_log_backlog().await? {
            let waited = Duration::from_millis(now.saturating_sub(backlog.oldest_ms).max(0) as u64);
            if waited < self.interval && backlog.records < BATCH as u64 {
                continue;
            }
            let batch = self.store.queued_access_records(&backlog.destination, BATCH).await?;
            let Some(destination) = Destination::decode(&backlog.destination) else {
                tracing::warn!(destination = %backlog.destination, "dropping access log records with an unreadable destination");
                self.store.forget_access_records(&backlog.destination, batch.through_seq).await?;
                continue;
            };
            match deliver(&self.store, &destination, &batch, backlog.oldest_ms).await? {
                Delivered::As(key) => tracing::debug!(bucket = %destination.target_bucket, %key, records = batch.lines.len(), "access log delivered"),
                Delivered::TargetGone => tracing::warn!(
                    bucket = %destination.target_bucket,
                    records = batch.lines.len(),
                    "access log target bucket {} of bucket {} is gone; its records are dropped",
                    destination.target_bucket,
                    destination.source_bucket
                ),
            }
            records += self.store.forget_access_records(&backlog.destination, batch.through_seq).await?;
        }
        Ok(if records > 0 { Step::More(records) } else { Step::Idle(0) })
    }
}
