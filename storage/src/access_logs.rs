//! The server access log queue: a row per request to a bucket with logging on, committed
//! before the response goes out (so a crash loses no answered request's record), taken in
//! batches by the delivery worker, which writes them as one log object into the target
//! bucket and then forgets them. Rows carry where they go, so a source bucket deleted
//! meanwhile still gets its last records delivered.

use crate::error::Result;
use crate::Store;

/// The records queued for one destination (a target bucket, prefix and key format, as the
/// server spells it): how many, and when the oldest was written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessLogBacklog {
    pub destination: String,
    pub records: u64,
    pub oldest_ms: i64,
}

/// A batch of records for one destination, in the order they were written.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AccessLogBatch {
    pub lines: Vec<String>,
    /// The last row of the batch (forget through it once delivered).
    pub through_seq: i64,
}

impl Store {
    /// Queues access log `records` as (destination, line), durably.
    pub async fn queue_access_records(&self, records: Vec<(String, String)>) -> Result<()> {
        self.index().queue_access_records(records).await
    }

    /// Every destination with records queued.
    pub async fn access_log_backlog(&self) -> Result<Vec<AccessLogBacklog>> {
        self.index().access_log_backlog().await
    }

    /// The oldest records queued for `destination`, at most `limit`.
    pub async fn queued_access_records(&self, destination: &str, limit: usize) -> Result<AccessLogBatch> {
        self.index().queued_access_records(destination, limit).await
    }

    /// Forgets the records of `destination` up to row `through_seq` (delivered, or dropped
    /// because the target is gone). Returns how many.
    pub async fn forget_access_records(&self, destination: &str, through_seq: i64) -> Result<u64> {
        self.index().forget_access_records(destination, through_seq).await
    }
}

#[cfg(test)]
mod tests {
    use crate::testutil::store;

    #[tokio::test]
    async fn records_are_taken_in_order_per_destination_and_forgotten_once_delivered() {
        let t = store().await;
        let rec = |d: &str, l: &str| (d.to_string(), l.to_string());
        t.store.queue_access_records(vec![rec("logs/a/", "one"), rec("logs/b/", "x"), rec("logs/a/", "two")]).await.unwrap();
        let backlog = t.store.access_log_backlog().await.unwrap();
        assert_eq!(backlog.iter().map(|b| (b.destination.as_str(), b.records)).collect::<Vec<_>>(), vec![("logs/a/", 2), ("logs/b/", 1)]);
        let first = t.store.queued_access_records("logs/a/", 1).await.unwrap();
        assert_eq!(first.lines, vec!["one"]);
        assert_eq!(t.store.forget_access_records("logs/a/", first.through_seq).await.unwrap(), 1);
        // A record queued meanwhile is not forgotten with the batch before it.
        t.store.queue_access_records(vec![rec("logs/a/", "three")]).await.unwrap();
        let rest = t.store.queued_access_records("logs/a/", 10).await.unwrap();
        assert_eq!(rest.lines, vec!["two", "three"]);
        assert_eq!(t.store.forget_access_records("logs/a/", rest.through_seq).await.unwrap(), 2);
        assert_eq!(t.store.access_log_backlog().await.unwrap().len(), 1);
    }
}
