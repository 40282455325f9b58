//! Schema of the PostgreSQL index and its migrations, numbered in `coffer_schema`. Nodes that
//! start together take an advisory lock, so exactly one applies each migration.
//!
//! The tables mirror the SQLite index (`crate::sqlite::schema`) with PostgreSQL's types: keys
//! and hashes are `bytea` (whose B-tree order is byte order, as SQLite's BLOB order is),
//! row numbers are identity columns, flags are booleans. Bucket usage is kept by triggers in
//! the transaction that changes a version, as in SQLite, but as appended deltas (see there).

use tokio_postgres::Client;

/// The advisory lock key migrations run under ("coffer" in ASCII).
const MIGRATION_LOCK: i64 = 0x636f_6666_6572;

pub(super) const MIGRATIONS: &[&str] = &[
    // 1: everything the SQLite index holds after its 15 migrations.
    "CREATE TABLE users (
        id          TEXT PRIMARY KEY,
        name        TEXT NOT NULL UNIQUE,
        created_ms  BIGINT NOT NULL
     );
     CREATE TABLE access_keys (
        access_key  TEXT PRIMARY KEY,
        secret      BYTEA NOT NULL,
        sealed      BOOLEAN NOT NULL,
        user_id     TEXT NOT NULL REFERENCES users(id),
        created_ms  BIGINT NOT NULL,
        enabled     BOOLEAN NOT NULL DEFAULT TRUE
     );
     CREATE INDEX access_keys_by_user ON access_keys(user_id);
     CREATE TABLE mfa_devices (
        user_id     TEXT PRIMARY KEY REFERENCES users(id),
        serial      TEXT NOT NULL UNIQUE,
        secret      BYTEA NOT NULL,
        sealed      BOOLEAN NOT NULL,
        created_ms  BIGINT NOT NULL
     );
     CREATE TABLE buckets (
        id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        name        TEXT NOT NULL UNIQUE,
        owner_id    TEXT NOT NULL REFERENCES users(id),
        region      TEXT NOT NULL,
        created_ms  BIGINT NOT NULL,
        versioning  TEXT NOT NULL DEFAULT 'Unversioned',
        -- Bumped with every change of the bucket's configuration documents (Bucket::config_gen).
        config_gen  BIGINT NOT NULL DEFAULT 0
     );
     CREATE TABLE bucket_configs (
        bucket_id  BIGINT NOT NULL REFERENCES buckets(id),
        kind       TEXT NOT NULL,
        document   TEXT NOT NULL,
        PRIMARY KEY (bucket_id, kind)
     );
     -- One row per key ever written: a version commit locks it first, so conditional writes
     -- of one key serialize while different keys commit in parallel.
     CREATE TABLE object_keys (
        bucket_id  BIGINT NOT NULL,
        key        BYTEA NOT NULL,
        PRIMARY KEY (bucket_id, key)
     );
     CREATE TABLE objects (
        seq                BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        bucket_id          BIGINT NOT NULL REFERENCES buckets(id),
        key                BYTEA NOT NULL,
        version_id         TEXT NOT NULL,
        is_latest          BOOLEAN NOT NULL,
        delete_marker      BOOLEAN NOT NULL,
        size               BIGINT NOT NULL,
        etag               TEXT NOT NULL,
        modified_ms        BIGINT NOT NULL,
        owner_id           TEXT NOT NULL,
        meta               TEXT NOT NULL,
        manifest           TEXT,
        parts              TEXT,
        tier               TEXT,
        move_to            TEXT,
        restore_days       BIGINT,
        restore_done_ms    BIGINT,
        restore_expiry_ms  BIGINT,
        noncurrent_ms      BIGINT,
        replication        TEXT
     );
     CREATE UNIQUE INDEX objects_by_version ON objects(bucket_id, key, version_id);
     CREATE INDEX objects_by_key_seq ON objects(bucket_id, key, seq DESC);
     CREATE UNIQUE INDEX objects_latest ON objects(bucket_id, key) WHERE is_latest;
     CREATE INDEX objects_moving ON objects(seq) WHERE move_to IS NOT NULL;
     CREATE INDEX objects_restoring ON objects(seq) WHERE restore_days IS NOT NULL AND restore_done_ms IS NULL;
     CREATE INDEX objects_restored ON objects(restore_expiry_ms) WHERE restore_expiry_ms IS NOT NULL;
     CREATE INDEX objects_by_tier ON objects(tier) WHERE tier IS NOT NULL;
     CREATE INDEX objects_current_by_age ON objects(bucket_id, modified_ms, seq) WHERE is_latest;
     CREATE INDEX objects_noncurrent_by_age ON objects(bucket_id, noncurrent_ms, seq) WHERE NOT is_latest;
     CREATE INDEX objects_markers_by_age ON objects(bucket_id, modified_ms, seq) WHERE is_latest AND delete_marker;
     CREATE TABLE inline_bodies (
        seq     BIGINT PRIMARY KEY REFERENCES objects(seq),
        data    BYTEA NOT NULL,
        sha256  BYTEA
     );
     -- A blob is stored under its hash and a generation (`BlobKey`) drawn from this sequence,
     -- so no key is ever used twice: a blob the collector took (doomed) and a writer reserves
     -- again comes back under a fresh generation while the collector deletes the old one.
     -- held_until: until when the collector leaves a row alone (a writer reserved it for its
     -- commit; a collector claimed a doomed row).
     CREATE SEQUENCE blob_generations;
     CREATE TABLE blobs (
        hash        BYTEA PRIMARY KEY,
        size        BIGINT NOT NULL,
        refs        BIGINT NOT NULL,
        crc32c      BIGINT,
        gen         BIGINT NOT NULL,
        doomed      BOOLEAN NOT NULL DEFAULT FALSE,
        held_until  BIGINT NOT NULL DEFAULT 0
     );
     CREATE INDEX blobs_unreferenced ON blobs(hash) WHERE refs <= 0;
     CREATE TABLE tier_blobs (
        tier  TEXT NOT NULL,
        hash  BYTEA NOT NULL,
        size  BIGINT NOT NULL,
        refs  BIGINT NOT NULL,
        PRIMARY KEY (tier, hash)
     );
     CREATE INDEX tier_blobs_unreferenced ON tier_blobs(tier, hash) WHERE refs <= 0;
     CREATE TABLE corrupt_blobs (
        hash         BYTEA PRIMARY KEY,
        detected_ms  BIGINT NOT NULL,
        source       TEXT NOT NULL
     );
     CREATE TABLE uploads (
        seq           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        upload_id     TEXT NOT NULL UNIQUE,
        bucket_id     BIGINT NOT NULL REFERENCES buckets(id),
        key           BYTEA NOT NULL,
        owner_id      TEXT NOT NULL,
        initiated_ms  BIGINT NOT NULL,
        meta          TEXT NOT NULL,
        checksum      TEXT
     );
     CREATE INDEX uploads_by_key ON uploads(bucket_id, key, seq);
     CREATE TABLE parts (
        upload_seq   BIGINT NOT NULL REFERENCES uploads(seq),
        part_number  BIGINT NOT NULL,
        size         BIGINT NOT NULL,
        etag         TEXT NOT NULL,
        checksum     TEXT,
        modified_ms  BIGINT NOT NULL,
        hash         BYTEA NOT NULL,
        PRIMARY KEY (upload_seq, part_number)
     );
     CREATE TABLE completed_uploads (
        upload_id     TEXT PRIMARY KEY,
        bucket_id     BIGINT NOT NULL,
        key           BYTEA NOT NULL,
        completed_ms  BIGINT NOT NULL,
        result        TEXT NOT NULL
     );
     CREATE INDEX completed_uploads_by_age ON completed_uploads(completed_ms);
     CREATE TABLE worker_cursors (
        worker      TEXT PRIMARY KEY,
        cursor      TEXT NOT NULL,
        updated_ms  BIGINT NOT NULL
     );
     CREATE TABLE tiers (
        name        TEXT PRIMARY KEY,
        spec        TEXT NOT NULL,
        created_ms  BIGINT NOT NULL
     );
     CREATE TABLE remotes (
        name        TEXT PRIMARY KEY,
        spec        TEXT NOT NULL,
        secret      BYTEA NOT NULL,
        created_ms  BIGINT NOT NULL
     );
     CREATE TABLE outbox (
        seq         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        kind        TEXT NOT NULL,
        bucket_id   BIGINT NOT NULL,
        key         BYTEA NOT NULL,
        version_id  TEXT NOT NULL,
        target      TEXT NOT NULL,
        created_ms  BIGINT NOT NULL,
        attempts    BIGINT NOT NULL DEFAULT 0,
        due_ms      BIGINT NOT NULL,
        last_error  TEXT,
        -- The node a replication row was last handed to (see postgres/replication.rs).
        claimed_by  TEXT
     );
     CREATE INDEX outbox_due ON outbox(due_ms);
     CREATE INDEX outbox_claimed ON outbox(claimed_by) WHERE claimed_by IS NOT NULL;
     CREATE TABLE replication_outcomes (
        bucket_id          BIGINT NOT NULL,
        key                BYTEA NOT NULL,
        version_id         TEXT NOT NULL,
        target             TEXT NOT NULL,
        remote_version_id  TEXT,
        error              TEXT,
        done_ms            BIGINT NOT NULL,
        PRIMARY KEY (bucket_id, key, version_id, target)
     );
     CREATE TABLE notify_targets (
        name         TEXT PRIMARY KEY,
        spec         TEXT NOT NULL,
        secret       BYTEA,
        max_backlog  BIGINT NOT NULL,
        queued       BIGINT NOT NULL DEFAULT 0,
        delivered    BIGINT NOT NULL DEFAULT 0,
        dropped      BIGINT NOT NULL DEFAULT 0,
        created_ms   BIGINT NOT NULL
     );
     CREATE TABLE notify_queue (
        seq         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        target      TEXT NOT NULL,
        event       TEXT NOT NULL,
        created_ms  BIGINT NOT NULL,
        attempts    BIGINT NOT NULL DEFAULT 0,
        last_error  TEXT
     );
     CREATE INDEX notify_queue_by_target ON notify_queue(target, seq);
     -- Not in SQLite (one process delivers there): the node delivering a target's queue
     -- until `until_ms`, so two nodes never send the same events at once.
     -- Not in SQLite (one process is the whole fleet there): the node running a fleet-wide
     -- job (a background worker) until `until_ms`; another node takes over once it lapses.
     CREATE TABLE leases (
        name      TEXT PRIMARY KEY,
        node      TEXT NOT NULL,
        until_ms  BIGINT NOT NULL
     );
     CREATE TABLE notify_leases (
        target    TEXT PRIMARY KEY,
        node      TEXT NOT NULL,
        until_ms  BIGINT NOT NULL
     );
     CREATE TABLE store_settings (
        name   TEXT PRIMARY KEY,
        value  TEXT NOT NULL
     );
     CREATE TABLE site_documents (
        name     TEXT PRIMARY KEY,
        version  BIGINT NOT NULL,
        value    TEXT NOT NULL
     );
     CREATE TABLE access_log_queue (
        seq          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        destination  TEXT NOT NULL,
        line         TEXT NOT NULL,
        created_ms   BIGINT NOT NULL
     );
     CREATE INDEX access_log_queue_by_destination ON access_log_queue(destination, seq);
     CREATE TABLE bucket_usage (
        bucket_id    BIGINT PRIMARY KEY,
        objects      BIGINT NOT NULL DEFAULT 0,
        versions     BIGINT NOT NULL DEFAULT 0,
        markers      BIGINT NOT NULL DEFAULT 0,
        bytes        BIGINT NOT NULL DEFAULT 0,
        max_bytes    BIGINT,
        max_objects  BIGINT
     );
     -- Unlike SQLite's counters, a version change does not update the bucket's usage row
     -- (every commit in a bucket would wait on that row's lock until the previous commit is
     -- durable): its trigger appends a delta row. A bucket's usage is its base row plus its
     -- deltas, which `postgres::buckets::fold_usage` adds into the base now and then. Writers
     -- of a bucket with a quota lock its base row, so they take turns (`QuotaTurn`).
     CREATE TABLE bucket_usage_deltas (
        id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        bucket_id  BIGINT NOT NULL,
        objects    BIGINT NOT NULL,
        versions   BIGINT NOT NULL,
        markers    BIGINT NOT NULL,
        bytes      BIGINT NOT NULL
     );
     CREATE INDEX bucket_usage_deltas_by_bucket ON bucket_usage_deltas(bucket_id);
     CREATE FUNCTION bucket_usage_of_buckets() RETURNS trigger LANGUAGE plpgsql AS $$
     BEGIN
        IF TG_OP = 'INSERT' THEN
            INSERT INTO bucket_usage (bucket_id) VALUES (NEW.id) ON CONFLICT DO NOTHING;
        ELSE
            DELETE FROM bucket_usage WHERE bucket_id = OLD.id;
            DELETE FROM bucket_usage_deltas WHERE bucket_id = OLD.id;
        END IF;
        RETURN NULL;
     END $$;
     CREATE TRIGGER bucket_usage_buckets AFTER INSERT OR DELETE ON buckets
        FOR EACH ROW EXECUTE FUNCTION bucket_usage_of_buckets();
     CREATE FUNCTION bucket_usage_of_objects() RETURNS trigger LANGUAGE plpgsql AS $$
     BEGIN
        -- One row per bucket a change touches: NEW's counts minus OLD's, none when they match.
        INSERT INTO bucket_usage_deltas (bucket_id, objects, versions, markers, bytes)
        SELECT bucket_id, SUM(o), SUM(v), SUM(m), SUM(b) FROM (
            SELECT OLD.bucket_id, -(OLD.is_latest AND NOT OLD.delete_marker)::int, -(NOT OLD.delete_marker)::int,
                   -OLD.delete_marker::int, -(CASE WHEN OLD.delete_marker THEN 0 ELSE OLD.size END)
            WHERE TG_OP <> 'INSERT'
            UNION ALL
            SELECT NEW.bucket_id, (NEW.is_latest AND NOT NEW.delete_marker)::int, (NOT NEW.delete_marker)::int,
                   NEW.delete_marker::int, CASE WHEN NEW.delete_marker THEN 0 ELSE NEW.size END
            WHERE TG_OP <> 'DELETE'
        ) d (bucket_id, o, v, m, b)
        GROUP BY bucket_id HAVING SUM(o) <> 0 OR SUM(v) <> 0 OR SUM(m) <> 0 OR SUM(b) <> 0;
        RETURN NULL;
     END $$;
     CREATE TRIGGER bucket_usage_objects AFTER INSERT OR DELETE ON objects
        FOR EACH ROW EXECUTE FUNCTION bucket_usage_of_objects();
     CREATE TRIGGER bucket_usage_objects_update AFTER UPDATE OF bucket_id, is_latest, delete_marker, size ON objects
        FOR EACH ROW EXECUTE FUNCTION bucket_usage_of_objects();",
];

/// Brings the schema up to date, one migration per transaction, under the advisory lock.
pub(crate) async fn migrate(client: &mut Client) -> Result<(), tokio_postgres::Error> {
    client.execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK]).await?;
    let outcome = apply_missing(client).await;
    client.execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK]).await?;
    outcome
}

async fn apply_missing(client: &mut Client) -> Result<(), tokio_postgres::Error> {
    client.batch_execute("CREATE TABLE IF NOT EXISTS coffer_schema (version BIGINT NOT NULL, applied_ms BIGINT NOT NULL)").await?;
    let applied: i64 = client.query_one("SELECT COALESCE(MAX(version), 0) FROM coffer_schema", &[]).await?.get(0);
    for (number, sql) in MIGRATIONS.iter().enumerate().skip(applied as usize) {
        let tx = client.transaction().await?;
        tx.batch_execute(sql).await?;
        tx.execute("INSERT INTO coffer_schema (version, applied_ms) VALUES ($1, $2)", &[&(number as i64 + 1), &crate::now_ms()]).await?;
        tx.commit().await?;
    }
    Ok(())
}
