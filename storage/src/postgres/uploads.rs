//! PostgreSQL's multipart uploads: so far only what deleting a bucket needs (the UploadIndex
//! itself is still to come).

use crate::error::Result;
use tokio_postgres::GenericClient;

/// Aborts every upload of a bucket that is being deleted (each part's blob reference
/// released), and forgets its completed ones.
pub(crate) async fn drop_bucket_uploads(c: &impl GenericClient, bucket_id: i64) -> Result<()> {
    c.execute(
        "UPDATE blobs SET refs = refs - p.n FROM (
            SELECT p.hash, count(*) AS n FROM parts p JOIN uploads u ON u.seq = p.upload_seq WHERE u.bucket_id = $1 GROUP BY p.hash) p
         WHERE blobs.hash = p.hash",
        &[&bucket_id],
    )
    .await?;
    c.execute("DELETE FROM parts WHERE upload_seq IN (SELECT seq FROM uploads WHERE bucket_id = $1)", &[&bucket_id]).await?;
    c.execute("DELETE FROM uploads WHERE bucket_id = $1", &[&bucket_id]).await?;
    c.execute("DELETE FROM completed_uploads WHERE bucket_id = $1", &[&bucket_id]).await?;
    Ok(())
}
