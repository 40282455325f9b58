//! The single writer: one thread owns the write connection and commits queued jobs in groups,
//! so many concurrent writes share one transaction and one fsync.

use crate::error::{Result, StorageError};
use rusqlite::Connection;
use std::sync::mpsc;
use tokio::sync::oneshot;

/// Most jobs committed together; bounds the latency one slow group adds.
const MAX_GROUP: usize = 512;

/// Why a group's transaction did not commit; every job of the group reports it.
#[derive(Clone, Debug)]
enum Failure {
    /// SQLITE_FULL (or ENOSPC underneath it): the write may succeed once space is freed.
    Full,
    Other(String),
}

impl Failure {
    fn of(e: &StorageError) -> Failure {
        match e {
            StorageError::Full => Failure::Full,
            other => Failure::Other(other.to_string()),
        }
    }

    fn into_error(self) -> StorageError {
        match self {
            Failure::Full => StorageError::Full,
            Failure::Other(msg) => StorageError::Corrupt(format!("commit failed: {msg}")),
        }
    }
}

impl From<rusqlite::Error> for Failure {
    fn from(e: rusqlite::Error) -> Failure {
        Failure::of(&e.into())
    }
}

type Completion = Box<dyn FnOnce(std::result::Result<(), Failure>) + Send>;

/// What running a job left: its completion, and the failure that made SQLite roll the whole
/// transaction back (SQLITE_FULL, I/O errors), if it did.
struct Ran {
    completion: Completion,
    lost: Option<Failure>,
}

/// A queued job: given the connection inside the group's transaction, it runs and returns
/// its completion; given a failure instead, it does not run and reports that failure.
type Job = Box<dyn FnOnce(std::result::Result<&Connection, Failure>) -> Ran + Send>;

#[derive(Clone)]
pub struct Writer {
    jobs: mpsc::Sender<Job>,
}

impl Writer {
    pub(super) fn start(conn: Connection) -> Result<Writer> {
        let (tx, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("coffer-index-writer".into())
            .spawn(move || run(conn, rx))?;
        Ok(Writer { jobs: tx })
    }

    /// Runs `f` inside the next group transaction and resolves once that transaction is durable.
    /// An `Err` from `f` rolls back only `f`'s own changes, unless SQLite rolled back the whole
    /// transaction (a full disk): then every job of the group fails with that error.
    pub async fn write<R, F>(&self, f: F) -> Result<R>
    where
        R: Send + 'static,
        F: FnOnce(&Connection) -> Result<R> + Send + 'static,
    {
        let (done_tx, done_rx) = oneshot::channel::<Result<R>>();
        let job: Job = Box::new(move |conn| {
            let (outcome, lost) = match conn {
                Ok(conn) => {
                    let outcome = in_savepoint(conn, f);
                    // Outside any transaction now means SQLite rolled the group back.
                    let lost = conn.is_autocommit().then(|| match &outcome {
                        Err(e) => Failure::of(e),
                        Ok(_) => Failure::Other("the transaction was rolled back".into()),
                    });
                    (outcome, lost)
                }
                Err(failure) => (Err(failure.into_error()), None),
            };
            let completion: Completion = Box::new(move |committed| {
                let outcome = match (outcome, committed) {
                    (Ok(v), Ok(())) => Ok(v),
                    (Err(e), Ok(())) => Err(e),
                    (_, Err(failure)) => Err(failure.into_error()),
                };
                let _ = done_tx.send(outcome);
            });
            Ran { completion, lost }
        });
        self.jobs.send(job).map_err(|_| StorageError::Closed)?;
        done_rx.await.map_err(|_| StorageError::Closed)?
    }
}

fn in_savepoint<R>(conn: &Connection, f: impl FnOnce(&Connection) -> Result<R>) -> Result<R> {
    conn.execute_batch("SAVEPOINT job")?;
    match f(conn) {
        Ok(v) => {
            conn.execute_batch("RELEASE job")?;
            Ok(v)
        }
        Err(e) => {
            // Fails harmlessly when SQLite already rolled the whole transaction back; the
            // caller learns of that from `is_autocommit`, and `e` stays the error reported.
            let _ = conn.execute_batch("ROLLBACK TO job; RELEASE job");
            Err(e)
        }
    }
}

fn run(conn: Connection, rx: mpsc::Receiver<Job>) {
    while let Ok(first) = rx.recv() {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        for (completion, result) in commit_group(&conn, group) {
            completion(result);
        }
    }
}

/// Runs the group in one transaction and commits it. Whatever fails (BEGIN, a job that makes
/// SQLite abandon the transaction, COMMIT), the thread lives on and the next group starts
/// afresh: a full disk fails the writes queued meanwhile, and writing works again once there
/// is room.
fn commit_group(conn: &Connection, group: Vec<Job>) -> Vec<(Completion, std::result::Result<(), Failure>)> {
    if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
        let failure = Failure::from(e);
        return group.into_iter().map(|job| (job(Err(failure.clone())).completion, Err(failure.clone()))).collect();
    }
    let mut completions = Vec::with_capacity(group.len());
    let mut lost = None;
    for job in group {
        match &lost {
            None => {
                let ran = job(Ok(conn));
                completions.push(ran.completion);
                lost = ran.lost;
            }
            Some(failure) => completions.push(job(Err(failure.clone())).completion),
        }
    }
    let result = match lost {
        Some(failure) => Err(failure),
        None => conn.execute_batch("COMMIT").map_err(Failure::from),
    };
    if result.is_err() && !conn.is_autocommit() {
        let _ = conn.execute_batch("ROLLBACK");
    }
    completions.into_iter().map(|c| (c, result.clone())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SQLite's page limit stands in for a full disk: it fails writes with SQLITE_FULL.
    #[tokio::test]
    async fn the_writer_survives_a_full_disk_and_writes_again_once_there_is_room() {
        let dir = tempfile::tempdir().unwrap();
        let conn = crate::sqlite::open_connection(&dir.path().join("t.sqlite")).unwrap();
        conn.execute_batch("CREATE TABLE t (v BLOB)").unwrap();
        let pages: i64 = conn.query_row("PRAGMA page_count", [], |r| r.get(0)).unwrap();
        conn.execute_batch(&format!("PRAGMA max_page_count = {}", pages + 8)).unwrap();
        let writer = Writer::start(conn).unwrap();
        let insert = |w: &Writer| {
            let w = w.clone();
            async move { w.write(|c| Ok(c.execute("INSERT INTO t VALUES (zeroblob(16384))", [])?)).await }
        };
        // Several writes in flight share groups; once the pages run out every one fails with Full.
        let mut full = 0;
        for _ in 0..20 {
            let results = futures::future::join_all((0..4).map(|_| insert(&writer))).await;
            for r in results {
                match r {
                    Ok(_) => {}
                    Err(StorageError::Full) => full += 1,
                    Err(e) => panic!("expected Full, got {e}"),
                }
            }
        }
        assert!(full > 0, "the page limit was never reached");
        writer.write(|c| Ok(c.execute_batch("PRAGMA max_page_count = 1000000")?)).await.unwrap();
        insert(&writer).await.expect("writes work again once there is room");
        let rows: i64 = writer.write(|c| Ok(c.query_row("SELECT count(*) FROM t", [], |r| r.get(0))?)).await.unwrap();
        assert!(rows > 0 && rows < 80, "{rows} rows");
    }
}
