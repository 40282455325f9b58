//! The single writer: one thread owns the write connection and commits queued jobs in groups,
//! so many concurrent writes share one transaction and one fsync.

use crate::error::{Result, StorageError};
use rusqlite::Connection;
use std::sync::mpsc;
use tokio::sync::oneshot;

/// Most jobs committed together; bounds the latency one slow group adds.
const MAX_GROUP: usize = 512;

type Completion = Box<dyn FnOnce(std::result::Result<(), String>) + Send>;
type Job = Box<dyn FnOnce(&Connection) -> Completion + Send>;

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
    /// An `Err` from `f` rolls back only `f`'s own changes.
    pub async fn write<R, F>(&self, f: F) -> Result<R>
    where
        R: Send + 'static,
        F: FnOnce(&Connection) -> Result<R> + Send + 'static,
    {
        let (done_tx, done_rx) = oneshot::channel::<Result<R>>();
        let job: Job = Box::new(move |conn: &Connection| {
            let outcome = in_savepoint(conn, f);
            Box::new(move |committed: std::result::Result<(), String>| {
                let outcome = match (outcome, committed) {
                    (Ok(v), Ok(())) => Ok(v),
                    (Err(e), _) => Err(e),
                    (Ok(_), Err(msg)) => Err(StorageError::Corrupt(format!("commit failed: {msg}"))),
                };
                let _ = done_tx.send(outcome);
            })
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
            conn.execute_batch("ROLLBACK TO job; RELEASE job")?;
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
        let committed = commit_group(&conn, group);
        for (completion, result) in committed {
            completion(result);
        }
    }
}

fn commit_group(conn: &Connection, group: Vec<Job>) -> Vec<(Completion, std::result::Result<(), String>)> {
    if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
        let msg = e.to_string();
        return group
            .into_iter()
            .map(|job| {
                // Still give each job its chance to report; its own work never ran in a transaction.
                (job_failed(job, &msg), Err(msg.clone()))
            })
            .collect();
    }
    let completions: Vec<Completion> = group.into_iter().map(|job| job(conn)).collect();
    let result = conn.execute_batch("COMMIT").map_err(|e| e.to_string());
    if result.is_err() {
        let _ = conn.execute_batch("ROLLBACK");
    }
    completions.into_iter().map(|c| (c, result.clone())).collect()
}

fn job_failed(_job: Job, _msg: &str) -> Completion {
    // Dropping the job drops its oneshot sender, which the waiting caller sees as Closed.
    Box::new(|_| {})
}
