//! The SQLite metadata index: schema, one group-committing writer thread and a pool of readers.
//! Everything that says "this object exists" lives here; blob bytes live in `crate::blob`.

mod readers;
mod schema;
mod writer;

pub use readers::ReadPool;
pub use writer::Writer;

use rusqlite::Connection;
use std::path::Path;

/// Opens a connection with the pragmas every connection of the index uses.
pub(crate) fn open_connection(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = FULL;
         PRAGMA foreign_keys = ON;
         PRAGMA temp_store = MEMORY;
         PRAGMA cache_size = -65536;",
    )?;
    Ok(conn)
}

/// Opens the index at `path`, creating or migrating the schema, and starts the writer.
pub fn open(path: &Path, readers: usize) -> crate::Result<(Writer, ReadPool)> {
    let conn = open_connection(path)?;
    schema::migrate(&conn)?;
    let writer = Writer::start(conn)?;
    let pool = ReadPool::open(path, readers)?;
    Ok((writer, pool))
}

/// Opens an existing index read-only, for commands that inspect the index of a running server
/// without opening a `Store` (which would start a writer and clear the staging directory).
pub(crate) fn open_read_only(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    Ok(conn)
}
