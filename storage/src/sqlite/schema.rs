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
        manifest      TEXT
     );
     -- Bodies of small objects, apart from their rows so listings scan compact rows.
     CREATE TABLE inline_bodies (
        seq   INTEGER PRIMARY KEY REFERENCES objects(seq),
        data  BLOB NOT NULL
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
    // 2: multipart uploads, their parts (each holds one blob reference), completed uploads,
    //    and the part list of objects completed from parts
    "CREATE TABLE uploads (
        seq           INTEGER PRIMARY KEY AUTOINCREMENT,
        upload_id     TEXT NOT NULL UNIQUE,
        bucket_id     INTEGER NOT NULL REFERENCES buckets(id),
        key           BLOB NOT NULL,
        owner_id      TEXT NOT NULL,
        initiated_ms  INTEGER NOT NULL,
        meta          TEXT NOT NULL,
        checksum      TEXT
     );
     CREATE INDEX uploads_by_key ON uploads(bucket_id, key, seq);
     CREATE TABLE parts (
        upload_seq    INTEGER NOT NULL REFERENCES uploads(seq),
        part_number   INTEGER NOT NULL,
        size          INTEGER NOT NULL,
        etag          TEXT NOT NULL,
        checksum      TEXT,
        modified_ms   INTEGER NOT NULL,
        hash          BLOB NOT NULL,
        PRIMARY KEY (upload_seq, part_number)
     ) WITHOUT ROWID;
     CREATE TABLE completed_uploads (
        upload_id     TEXT PRIMARY KEY,
        bucket_id     INTEGER NOT NULL,
        key           BLOB NOT NULL,
        completed_ms  INTEGER NOT NULL,
        result        TEXT NOT NULL
     );
     CREATE INDEX completed_uploads_by_age ON completed_uploads(completed_ms);
     ALTER TABLE objects ADD COLUMN parts TEXT;",
    // 3: per-bucket configuration documents (tagging now; CORS, policy, lifecycle... later)
    "CREATE TABLE bucket_configs (
        bucket_id  INTEGER NOT NULL REFERENCES buckets(id),
        kind       TEXT NOT NULL,
        document   TEXT NOT NULL,
        PRIMARY KEY (bucket_id, kind)
     ) WITHOUT ROWID;",
    // 4: TOTP devices for MFA delete, one per user
    "CREATE TABLE mfa_devices (
        user_id     TEXT PRIMARY KEY REFERENCES users(id),
        serial      TEXT NOT NULL UNIQUE,
        secret      BLOB NOT NULL,
        created_ms  INTEGER NOT NULL
     );",
    // 5: where each background worker stopped, so a restart resumes there
    "CREATE TABLE worker_cursors (
        worker      TEXT PRIMARY KEY,
        cursor      TEXT NOT NULL,
        updated_ms  INTEGER NOT NULL
     ) WITHOUT ROWID;",
    // 6: blobs found corrupt (by verified reads and the scrubber); the SHA-256 of inline
    //    bodies and the CRC32C of blobs, for reads to verify by (NULL for rows written before)
    "CREATE TABLE corrupt_blobs (
        hash         BLOB PRIMARY KEY,
        detected_ms  INTEGER NOT NULL,
        source       TEXT NOT NULL
     ) WITHOUT ROWID;
     ALTER TABLE inline_bodies ADD COLUMN sha256 BLOB;
     ALTER TABLE blobs ADD COLUMN crc32c INTEGER;",
    // 7: secrets are stored sealed by the server (opaque bytes here); rows from before are
    //    marked unsealed until the server seals them. Rebuilding the tables with secure_delete
    //    on zeroes the pages that held the old plaintext.
    "PRAGMA secure_delete = ON;
     CREATE TABLE access_keys_sealed (
        access_key  TEXT PRIMARY KEY,
        secret      BLOB NOT NULL,
        sealed      INTEGER NOT NULL,
        user_id     TEXT NOT NULL REFERENCES users(id),
        created_ms  INTEGER NOT NULL
     );
     INSERT INTO access_keys_sealed SELECT access_key, CAST(secret_key AS BLOB), 0, user_id, created_ms FROM access_keys;
     DROP TABLE access_keys;
     ALTER TABLE access_keys_sealed RENAME TO access_keys;
     CREATE TABLE mfa_devices_sealed (
        user_id     TEXT PRIMARY KEY REFERENCES users(id),
        serial      TEXT NOT NULL UNIQUE,
        secret      BLOB NOT NULL,
        sealed      INTEGER NOT NULL,
        created_ms  INTEGER NOT NULL
     );
     INSERT INTO mfa_devices_sealed SELECT user_id, serial, secret, 0, created_ms FROM mfa_devices;
     DROP TABLE mfa_devices;
     ALTER TABLE mfa_devices_sealed RENAME TO mfa_devices;
     PRAGMA secure_delete = FAST;",
    // 8: storage tiers, and indexes for lifecycle by age. A version's bytes are on the local store (tier NULL) or on a tier;
    //    move_to is a move that is due ('' for back to the local store). A restore of an
    //    archived version holds a copy on the local store until restore_expiry_ms. Blobs on
    //    tiers are counted apart from local ones. Tiers and remotes are registered here so the
    //    admin commands can change them while the server runs; remote secrets are sealed.
    "ALTER TABLE objects ADD COLUMN tier TEXT;
     ALTER TABLE objects ADD COLUMN move_to TEXT;
     ALTER TABLE objects ADD COLUMN restore_days INTEGER;
     ALTER TABLE objects ADD COLUMN restore_done_ms INTEGER;
     ALTER TABLE objects ADD COLUMN restore_expiry_ms INTEGER;
     CREATE INDEX objects_moving ON objects(seq) WHERE move_to IS NOT NULL;
     CREATE INDEX objects_restoring ON objects(seq) WHERE restore_days IS NOT NULL AND restore_done_ms IS NULL;
     CREATE INDEX objects_restored ON objects(restore_expiry_ms) WHERE restore_expiry_ms IS NOT NULL;
     CREATE INDEX objects_by_tier ON objects(tier) WHERE tier IS NOT NULL;
     CREATE TABLE tier_blobs (
        tier  TEXT NOT NULL,
        hash  BLOB NOT NULL,
        size  INTEGER NOT NULL,
        refs  INTEGER NOT NULL,
        PRIMARY KEY (tier, hash)
     ) WITHOUT ROWID;
     CREATE INDEX tier_blobs_unreferenced ON tier_blobs(tier, hash) WHERE refs <= 0;
     CREATE TABLE tiers (
        name        TEXT PRIMARY KEY,
        spec        TEXT NOT NULL,
        created_ms  INTEGER NOT NULL
     ) WITHOUT ROWID;
     -- Lifecycle finds due work by age: current versions by creation, noncurrent ones by when
     -- they stopped being current (noncurrent_ms), delete markers apart.
     ALTER TABLE objects ADD COLUMN noncurrent_ms INTEGER;
     UPDATE objects SET noncurrent_ms = (SELECT MIN(n.modified_ms) FROM objects n
        WHERE n.bucket_id = objects.bucket_id AND n.key = objects.key AND n.seq > objects.seq) WHERE is_latest = 0;
     CREATE INDEX objects_current_by_age ON objects(bucket_id, modified_ms, seq) WHERE is_latest = 1;
     CREATE INDEX objects_noncurrent_by_age ON objects(bucket_id, noncurrent_ms, seq) WHERE is_latest = 0;
     CREATE INDEX objects_markers_by_age ON objects(bucket_id, modified_ms, seq) WHERE is_latest = 1 AND delete_marker = 1;
     CREATE TABLE remotes (
        name        TEXT PRIMARY KEY,
        spec        TEXT NOT NULL,
        secret      BLOB NOT NULL,
        created_ms  INTEGER NOT NULL
     ) WITHOUT ROWID;",
    // 9: the outbox: work that must follow a commit (replicate this version), written in the
    //    same transaction and drained by workers; each version's replication status.
    "ALTER TABLE objects ADD COLUMN replication TEXT;
     CREATE TABLE outbox (
        seq         INTEGER PRIMARY KEY AUTOINCREMENT,
        kind        TEXT NOT NULL,
        bucket_id   INTEGER NOT NULL,
        key         BLOB NOT NULL,
        version_id  TEXT NOT NULL,
        target      TEXT NOT NULL,
        created_ms  INTEGER NOT NULL,
        attempts    INTEGER NOT NULL DEFAULT 0,
        due_ms      INTEGER NOT NULL,
        last_error  TEXT
     );
     CREATE INDEX outbox_due ON outbox(due_ms);",
    // 10: what replicating a version to a remote target came to: the version id it has there
    //     (services other than Coffer choose their own), or why it failed for good.
    "CREATE TABLE replication_outcomes (
        bucket_id          INTEGER NOT NULL,
        key                BLOB NOT NULL,
        version_id         TEXT NOT NULL,
        target             TEXT NOT NULL,
        remote_version_id  TEXT,
        error              TEXT,
        done_ms            INTEGER NOT NULL,
        PRIMARY KEY (bucket_id, key, version_id, target)
     ) WITHOUT ROWID;",
    // 11: event notifications: the targets events are delivered to (registered by `coffer admin
    //     notify add`; the webhook token or AMQP URL sealed by the server) with their backlog
    //     bound and counters, and the queue of events written in the commit of each change,
    //     one row per (event, target), drained in order of seq per target.
    "CREATE TABLE notify_targets (
        name         TEXT PRIMARY KEY,
        spec         TEXT NOT NULL,
        secret       BLOB,
        max_backlog  INTEGER NOT NULL,
        queued       INTEGER NOT NULL DEFAULT 0,
        delivered    INTEGER NOT NULL DEFAULT 0,
        dropped      INTEGER NOT NULL DEFAULT 0,
        created_ms   INTEGER NOT NULL
     ) WITHOUT ROWID;
     CREATE TABLE notify_queue (
        seq         INTEGER PRIMARY KEY AUTOINCREMENT,
        target      TEXT NOT NULL,
        event       TEXT NOT NULL,
        created_ms  INTEGER NOT NULL,
        attempts    INTEGER NOT NULL DEFAULT 0,
        last_error  TEXT
     );
     CREATE INDEX notify_queue_by_target ON notify_queue(target, seq);",
    // 12: settings of the store itself, such as where its blobs are (`--blobs`).
    "CREATE TABLE store_settings (
        name   TEXT PRIMARY KEY,
        value  TEXT NOT NULL
     ) WITHOUT ROWID;",
    // 13: server access log records (Put/GetBucketLogging) waiting for delivery, each with
    //     where it goes (target bucket, prefix and key format, as the server spells it).
    "CREATE TABLE access_log_queue (
        seq          INTEGER PRIMARY KEY AUTOINCREMENT,
        destination  TEXT NOT NULL,
        line         TEXT NOT NULL,
        created_ms   INTEGER NOT NULL
     );
     CREATE INDEX access_log_queue_by_destination ON access_log_queue(destination, seq);",
    // 14: access keys can be disabled (several per user, so one can be rotated out); each
    //     bucket's usage, kept by triggers in the very transaction that changes its versions
    //     (so every write path counts, and a quota check in that transaction sees every commit
    //     before it), with the bucket's quota beside it.
    "ALTER TABLE access_keys ADD COLUMN enabled INTEGER NOT NULL DEFAULT 1;
     CREATE INDEX access_keys_by_user ON access_keys(user_id);
     CREATE TABLE bucket_usage (
        bucket_id    INTEGER PRIMARY KEY,
        objects      INTEGER NOT NULL DEFAULT 0, -- latest versions that are not delete markers
        versions     INTEGER NOT NULL DEFAULT 0, -- versions that are not delete markers
        markers      INTEGER NOT NULL DEFAULT 0, -- delete markers
        bytes        INTEGER NOT NULL DEFAULT 0, -- the sizes of all versions
        max_bytes    INTEGER,
        max_objects  INTEGER
     );
     INSERT INTO bucket_usage (bucket_id, objects, versions, markers, bytes)
        SELECT b.id, COALESCE(SUM(o.is_latest AND NOT o.delete_marker), 0), COALESCE(SUM(NOT o.delete_marker), 0),
               COALESCE(SUM(o.delete_marker), 0), COALESCE(SUM(CASE WHEN o.delete_marker THEN 0 ELSE o.size END), 0)
        FROM buckets b LEFT JOIN objects o ON o.bucket_id = b.id GROUP BY b.id;
     CREATE TRIGGER bucket_usage_new AFTER INSERT ON buckets BEGIN
        INSERT OR IGNORE INTO bucket_usage (bucket_id) VALUES (NEW.id);
     END;
     CREATE TRIGGER bucket_usage_gone AFTER DELETE ON buckets BEGIN
        DELETE FROM bucket_usage WHERE bucket_id = OLD.id;
     END;
     CREATE TRIGGER bucket_usage_insert AFTER INSERT ON objects BEGIN
        UPDATE bucket_usage SET objects = objects + (NEW.is_latest AND NOT NEW.delete_marker),
            versions = versions + (NOT NEW.delete_marker), markers = markers + NEW.delete_marker,
            bytes = bytes + (CASE WHEN NEW.delete_marker THEN 0 ELSE NEW.size END)
        WHERE bucket_id = NEW.bucket_id;
     END;
     CREATE TRIGGER bucket_usage_delete AFTER DELETE ON objects BEGIN
        UPDATE bucket_usage SET objects = objects - (OLD.is_latest AND NOT OLD.delete_marker),
            versions = versions - (NOT OLD.delete_marker), markers = markers - OLD.delete_marker,
            bytes = bytes - (CASE WHEN OLD.delete_marker THEN 0 ELSE OLD.size END)
        WHERE bucket_id = OLD.bucket_id;
     END;
     CREATE TRIGGER bucket_usage_update AFTER UPDATE OF bucket_id, is_latest, delete_marker, size ON objects BEGIN
        UPDATE bucket_usage SET objects = objects - (OLD.is_latest AND NOT OLD.delete_marker),
            versions = versions - (NOT OLD.delete_marker), markers = markers - OLD.delete_marker,
            bytes = bytes - (CASE WHEN OLD.delete_marker THEN 0 ELSE OLD.size END)
        WHERE bucket_id = OLD.bucket_id;
        UPDATE bucket_usage SET objects = objects + (NEW.is_latest AND NOT NEW.delete_marker),
            versions = versions + (NOT NEW.delete_marker), markers = markers + NEW.delete_marker,
            bytes = bytes + (CASE WHEN NEW.delete_marker THEN 0 ELSE NEW.size END)
        WHERE bucket_id = NEW.bucket_id;
     END;",
    // 15: documents of the site replaced whole, each with a version that counts its
    //     replacements so a writer replaces only the version it read (the KMS keyring), and
    //     facts recorded once (the master key's fingerprint). See `crate::meta::KeyringIndex`.
    "CREATE TABLE site_documents (
        name     TEXT PRIMARY KEY,
        version  INTEGER NOT NULL,
        value    TEXT NOT NULL
     ) WITHOUT ROWID;",
];

pub fn migrate(conn: &Connection) -> rusqlite::Result<()> {
    migrate_to(conn, MIGRATIONS.len())
}

/// Applies the migrations up to number `last` (tests build older indexes with it).
pub(crate) fn migrate_to(conn: &Connection, last: usize) -> rusqlite::Result<()> {
    let current: usize = conn.query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0))? as usize;
    for (i, sql) in MIGRATIONS.iter().enumerate().take(last).skip(current) {
        let tx = conn.unchecked_transaction()?;
        tx.execute_batch(sql)?;
        tx.execute_batch(&format!("PRAGMA user_version = {}", i + 1))?;
        tx.commit()?;
    }
    Ok(())
}
