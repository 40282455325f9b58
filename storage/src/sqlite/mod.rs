//! The SQLite metadata index: schema, one group-committing writer thread, a pool of readers, and
//! `SqliteIndex`, the embedded default implementation of `crate::meta::Index`.

pub(crate) mod accounts;
pub(crate) mod backup;
pub(crate) mod blobs;
pub(crate) mod buckets;
pub(crate) mod check;
pub(crate) mod events;
pub(crate) mod lifecycle;
mod listing;
pub(crate) mod objects;
mod readers;
pub(crate) mod refs;
pub(crate) mod replication;
pub(crate) mod rows;
pub(crate) mod schema;
pub(crate) mod service;
pub(crate) mod keyring;
mod space;
pub(crate) mod uploads;
mod writer;

pub use readers::ReadPool;
pub use writer::Writer;

use rusqlite::config::DbConfig;
use rusqlite::Connection;
use std::path::Path;

impl From<rusqlite::Error> for crate::StorageError {
    fn from(e: rusqlite::Error) -> Self {
        match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::DiskFull) => crate::StorageError::Full,
            _ => crate::StorageError::Index(Box::new(e)),
        }
    }
}

/// Opens a connection with the pragmas every connection of the index uses.
pub(crate) fn open_connection(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    // One plan per statement, whatever its parameters hold. Without this, SQLite plans some
    // statements with their bound values in mind and plans them again whenever a value changes;
    // a cached statement's values are cleared between uses, so the bucket lookup every request
    // makes (a join) was parsed and planned anew on every call. With one plan, a mixed load of
    // small requests takes about a fifth less CPU per request.
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = FULL;
         PRAGMA foreign_keys = ON;
         PRAGMA temp_store = MEMORY;
         PRAGMA cache_size = -65536;",
    )?;
    Ok(conn)
}

/// Creates an empty index file with mode 0600 if there is none: SQLite takes an empty file
/// for a new database, and gives its -wal and -shm files the database file's mode.
fn create_private(path: &Path) -> std::io::Result<()> {
    crate::perms::file_options().write(true).create(true).truncate(false).open(path).map(drop)
}

/// The SQLite index of a data dir: every write goes through the one writer thread, every read
/// through the pool.
pub(crate) struct SqliteIndex {
    pub(crate) writer: Writer,
    pub(crate) readers: ReadPool,
    /// The database file.
    pub(crate) path: std::path::PathBuf,
}

impl SqliteIndex {
    /// Opens the index at `path`, creating or migrating the schema, and starts the writer.
    pub(crate) fn open(path: &Path, readers: usize) -> crate::Result<SqliteIndex> {
        let (writer, readers) = open(path, readers)?;
        Ok(SqliteIndex { writer, readers, path: path.to_path_buf() })
    }
}

fn open(path: &Path, readers: usize) -> crate::Result<(Writer, ReadPool)> {
    create_private(path)?;
    let conn = open_connection(path)?;
    // Deleted rows (an access key's old secret) are overwritten where that costs no extra I/O.
    conn.execute_batch("PRAGMA secure_delete = FAST")?;
    // A checkpoint cuts the write-ahead log back to this size, so it does not keep the size of
    // its largest burst.
    conn.execute_batch("PRAGMA journal_size_limit = 8388608")?;
    space::allow_reclaiming(&conn)?;
    schema::migrate(&conn)?;
    for suffix in ["", "-wal", "-shm"] {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        match crate::perms::tighten(Path::new(&name)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
            _ => {}
        }
    }
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

#[cfg(test)]
mod tests {
    #[test]
    fn a_full_disk_is_full() {
        let full = rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_FULL), None);
        assert!(matches!(crate::StorageError::from(full), crate::StorageError::Full));
    }
}
