//! Schema of the metadata index and its migrations, keyed by SQLite's `user_version`.

use rusqlite::Connection;

const MIGRATIONS: &[&str] = &[
    // 1: users, buckets, objects, blobs
    "CREATE TABLE users (
        id          TEXT PRIMARY KEY,
        name        TEXT NOT NULL UNIQUE,
        created_ms  INTEGER NOT NULL
     );
     CREATE TABLE access_keys (
        access_key  TEXT PRIMARY KEY,
        secret_key  TEXT NOT NULL,
        user_id     TEXT NOT NULL REFERENCES users(id),
        created_ms  INTEGER NOT NULL
     );
     CREATE TABLE buckets (
        id          INTEGER PRIMARY KEY,
        name        TEXT NOT NULL UNIQUE,
        owner_id    TEXT NOT NULL REFERENCES users(id),
        region      TEXT NOT NULL,
        created_ms  INTEGER NOT NULL,
        versioning  TEXT NOT NULL DEFAULT 'Unversioned'
     );
     CREATE TABLE objects (
        seq           INTEGER PRIMARY KEY AUTOINCREMENT,
        bucket_id     INTEGER NOT NULL REFERENCES buckets(id),
        key           BLOB NOT NULL,
        version_id    TEXT NOT NULL,
        is_latest     INTEGER NOT NULL,
        delete_marker INTEGER NOT NULL,
        size          INTEGER NOT NULL,
        etag          TEXT NOT NULL,
        modified_ms   INTEGER NOT NULL,
        owner_id      TEXT NOT NULL,
        meta          TEXT NOT NULL,
        inline_data   BLOB,
        manifest      TEXT
     );
     CREATE UNIQUE INDEX objects_by_version ON objects(bucket_id, key, version_id);
     CREATE INDEX objects_by_key_seq ON objects(bucket_id, key, seq DESC);
     CREATE UNIQUE INDEX objects_latest ON objects(bucket_id, key) WHERE is_latest = 1;
     CREATE TABLE blobs (
        hash  BLOB PRIMARY KEY,
        size  INTEGER NOT NULL,
        refs  INTEGER NOT NULL
     ) WITHOUT ROWID;
     CREATE INDEX blobs_unreferenced ON blobs(hash) WHERE refs <= 0;",
];

pub fn migrate(conn: &Connection) -> rusqlite::Result<()> {
    let current: usize = conn.query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0))? as usize;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current) {
        let tx = conn.unchecked_transaction()?;
        tx.execute_batch(sql)?;
        tx.execute_batch(&format!("PRAGMA user_version = {}", i + 1))?;
        tx.commit()?;
    }
    Ok(())
}
