//! A small pool of read-only connections; reads run on the blocking thread pool so they never
//! stall the HTTP workers, and see every transaction the writer has committed.

use crate::error::{Result, StorageError};
use rusqlite::Connection;
use std::path::Path;
use std::sync::{Arc, Mutex};

#[derive(Clone)]
pub struct ReadPool {
    idle: Arc<Mutex<Vec<Connection>>>,
    path: Arc<Path>,
}

impl ReadPool {
    pub(super) fn open(path: &Path, size: usize) -> Result<ReadPool> {
        let mut conns = Vec::with_capacity(size);
        for _ in 0..size {
            conns.push(super::open_connection(path)?);
        }
        Ok(ReadPool { idle: Arc::new(Mutex::new(conns)), path: path.into() })
    }

    /// Runs `f` with a connection on the blocking pool.
    pub async fn read<R, F>(&self, f: F) -> Result<R>
    where
        R: Send + 'static,
        F: FnOnce(&Connection) -> Result<R> + Send + 'static,
    {
        let pool = self.clone();
        tokio::task::spawn_blocking(move || pool.read_blocking(f))
            .await
            .map_err(|_| StorageError::Closed)?
    }

    /// Runs `f` with a connection on the calling thread.
    pub fn read_blocking<R>(&self, f: impl FnOnce(&Connection) -> Result<R>) -> Result<R> {
        let conn = self.idle.lock().expect("read pool poisoned").pop();
        let conn = match conn {
            Some(c) => c,
            None => super::open_connection(&self.path)?,
        };
        let out = f(&conn);
        let mut idle = self.idle.lock().expect("read pool poisoned");
        if idle.len() < 64 {
            idle.push(conn);
        }
        out
    }
}
