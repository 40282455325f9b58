//! `coffer admin check` on the PostgreSQL index: the check's questions (`CheckedIndex`)
//! answered by a connection of its own, next to the nodes that share the database.

use super::{in_snapshot, transact, PgIndex};
use crate::blob::Hash;
use crate::check::view::{part_user, version_user, IndexView, VersionRow};
use crate::check::{CheckedIndex, RefcountMismatch};
use crate::error::Result;
use futures::{pin_mut, TryStreamExt};
use std::collections::HashMap;
use tokio_postgres::types::ToSql;
use super::GenericClient;
use tokio_postgres::GenericClient as _;

/// Whether a version's or upload's metadata (TEXT holding JSON) says its bytes are encrypted.
const SEALED: &str = "COALESCE(META::jsonb -> 'encryption', 'null'::jsonb) <> 'null'::jsonb";

pub(crate) struct PgCheck {
    index: PgIndex,
}

impl PgCheck {
    /// Connects to the database at `url`.
    pub(crate) fn open(url: &str) -> Result<PgCheck> {
        Ok(PgCheck { index: futures::executor::block_on(PgIndex::connect_as(url, "admin-check"))? })
    }
}

impl CheckedIndex for PgCheck {
    fn read_view(&mut self, inline_bytes: bool) -> Result<IndexView> {
        let index = &self.index;
        index.block_on(async { in_snapshot!(index, |tx| read_view(&*tx, inline_bytes).await?) })
    }

    fn recorded(&mut self, hash: &Hash) -> Result<Option<(i64, u64)>> {
        let index = &self.index;
        index.block_on(async {
            let row = index.client().await?.query_opt("SELECT refs, gen FROM blobs WHERE hash = $1", &[&&hash[..]]).await?;
            Ok(row.map(|r| (r.get(0), r.get::<_, i64>(1) as u64)))
        })
    }

    fn users_of(&mut self, hash: &Hash) -> Result<Vec<String>> {
        let index = &self.index;
        index.block_on(async {
            let c = index.client().await?;
            let versions = c
                .query(
                    "SELECT b.name, o.key, o.version_id FROM objects o JOIN buckets b ON b.id = o.bucket_id
                     WHERE position($1 in o.manifest) > 0 ORDER BY o.seq",
                    &[&hex::encode(hash)],
                )
                .await?;
            let parts = c
                .query(
                    "SELECT b.name, u.key, u.upload_id, p.part_number FROM parts p
                     JOIN uploads u ON u.seq = p.upload_seq JOIN buckets b ON b.id = u.bucket_id WHERE p.hash = $1
                     ORDER BY u.seq, p.part_number",
                    &[&&hash[..]],
                )
                .await?;
            let versions = versions.iter().map(|r| version_user(r.get(0), r.get(1), r.get(2)));
            Ok(versions.chain(parts.iter().map(|r| part_user(r.get(0), r.get(1), r.get(2), r.get(3)))).collect())
        })
    }

    fn fix_refcounts(&mut self, stored: &HashMap<Hash, u64>) -> Result<Vec<RefcountMismatch>> {
        let index = &self.index;
        index.block_on(async {
            transact!(index, |tx| {
                // Every change of a count writes `blobs`: with this lock taken before the
                // snapshot, the snapshot holds every such commit and none can come until ours.
                tx.batch_execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ; LOCK TABLE blobs IN SHARE ROW EXCLUSIVE MODE").await?;
                let (fixed, rows) = read_view(&*tx, false).await?.refcount_fixes();
                for (hash, size, refs) in rows {
                    // A missing row comes back under the generation the blob store holds.
                    let gen = stored.get(&hash).copied().unwrap_or(0) as i64;
                    tx.execute(
                        "INSERT INTO blobs (hash, size, refs, gen) VALUES ($1, $2, $3, $4) ON CONFLICT (hash) DO UPDATE SET refs = excluded.refs",
                        &[&&hash[..], &size, &refs, &gen],
                    )
                    .await?;
                }
                fixed
            })
        })
    }
}

/// Reads the whole view; run it inside one snapshot. Rows stream in, so a large index is
/// never held twice.
async fn read_view(c: &impl GenericClient, inline_bytes: bool) -> Result<IndexView> {
    let mut view = IndexView::default();
    let rows = c.raw().query_raw("SELECT hash, size, refs, gen FROM blobs", no_params()).await?;
    pin_mut!(rows);
    while let Some(r) = rows.try_next().await? {
        view.add_blob_row(r.get(0), r.get::<_, i64>(1) as u64, r.get(2), r.get::<_, i64>(3) as u64);
    }
    let versions = format!(
        "SELECT b.name, o.key, o.version_id, o.size, o.manifest, {sealed}, octet_length(i.data)::bigint,
                (o.tier IS NULL)::int + (o.restore_done_ms IS NOT NULL)::int,
                CASE WHEN $1 THEN i.data END, i.sha256
         FROM objects o JOIN buckets b ON b.id = o.bucket_id LEFT JOIN inline_bodies i ON i.seq = o.seq
         WHERE NOT o.delete_marker",
        sealed = SEALED.replace("META", "o.meta")
    );
    let rows = c.raw().query_raw(&versions, [&inline_bytes as &(dyn ToSql + Sync)]).await?;
    pin_mut!(rows);
    while let Some(r) = rows.try_next().await? {
        view.add_version(VersionRow {
            bucket: r.get(0),
            key: r.get(1),
            version_id: r.get(2),
            size: r.get::<_, i64>(3) as u64,
            manifest: r.get(4),
            sealed: r.get(5),
            inline_len: r.get::<_, Option<i64>>(6).map(|n| n as u64),
            local_uses: r.get::<_, i32>(7).into(),
            inline_data: r.get(8),
            inline_sha256: r.get(9),
        });
    }
    let parts = format!(
        "SELECT p.hash, p.size, COALESCE({sealed}, false) FROM parts p LEFT JOIN uploads u ON u.seq = p.upload_seq",
        sealed = SEALED.replace("META", "u.meta")
    );
    let rows = c.raw().query_raw(&parts, no_params()).await?;
    pin_mut!(rows);
    while let Some(r) = rows.try_next().await? {
        view.add_part(r.get(0), r.get::<_, i64>(1) as u64, r.get(2));
    }
    Ok(view)
}

fn no_params() -> [&'static (dyn ToSql + Sync); 0] {
    []
}
