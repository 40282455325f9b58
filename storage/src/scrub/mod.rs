//! What the scrubber needs from storage: the blobs in hash order after a cursor, re-hashing a
//! blob file or inline bodies against their SHA-256 names, and the scrub's durable pass state.

mod blobs;
mod inline;
#[cfg(test)]
mod tests;

pub use blobs::{BlobCheck, BlobVerdict};
pub use inline::InlineVerdict;

use crate::corruption::CorruptBlob;
use crate::blob::Hash;
use crate::error::Result;
use crate::{now_ms, Store};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::Duration;

/// The scrubber's name for its cursor in `worker_cursors`.
pub const SCRUB_CURSOR: &str = "scrub";

/// The scrubber's durable state: the pass under way and the last finished one.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScrubState {
    pub current: Option<ScrubPass>,
    pub last: Option<ScrubPass>,
}

/// One pass over every blob and then every inline body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScrubPass {
    pub started_ms: i64,
    pub finished_ms: Option<i64>,
    /// How far the pass has come.
    pub position: ScrubPosition,
    /// Blob files verified so far.
    pub blobs: u64,
    /// Inline bodies verified so far.
    pub inline: u64,
    /// Bytes read and hashed so far.
    pub bytes: u64,
    /// Corrupt blobs and bodies found by this pass.
    pub corrupt: u64,
}

/// Where a pass stands: blobs are walked in hash order, then inline bodies in row order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScrubPosition {
    /// Every blob up to and including this one (hex) is verified; `None`: none yet.
    Blobs { after: Option<String> },
    /// Every blob and every inline body up to this row is verified.
    Inline { after_seq: i64 },
}

impl ScrubPass {
    pub fn new(started_ms: i64) -> ScrubPass {
        ScrubPass { started_ms, finished_ms: None, position: ScrubPosition::Blobs { after: None }, blobs: 0, inline: 0, bytes: 0, corrupt: 0 }
    }
}

impl ScrubPosition {
    /// The last blob verified, while blobs are being walked.
    pub fn blob_after(&self) -> Option<Hash> {
        match self {
            ScrubPosition::Blobs { after: Some(hex) } => crate::blob::parse_hash(hex),
            _ => None,
        }
    }
}

impl ScrubState {
    /// How long until the next pass is due, passes starting `period` apart (zero: now).
    pub fn until_next_pass(&self, period: Duration) -> Duration {
        let due = self.last.as_ref().map_or(0, |p| p.started_ms.saturating_add(period.as_millis() as i64));
        Duration::from_millis(due.saturating_sub(now_ms()).max(0) as u64)
    }

    /// Starts a pass now.
    pub fn start_pass(&mut self) {
        self.current = Some(ScrubPass::new(now_ms()));
    }

    /// Ends the pass under way: it becomes the last pass, which is returned.
    pub fn finish_pass(&mut self) -> Option<&ScrubPass> {
        let mut pass = self.current.take()?;
        pass.finished_ms = Some(now_ms());
        self.last = Some(pass);
        self.last.as_ref()
    }
}

/// The scrubber's state and the corrupt blobs recorded, as `coffer admin scrub status` shows them.
#[derive(Clone, Debug, Serialize)]
pub struct ScrubStatus {
    pub state: ScrubState,
    pub corrupt: Vec<CorruptBlob>,
}

impl Store {
    /// The scrubber's saved state (default when it never ran).
    pub async fn scrub_state(&self) -> Result<ScrubState> {
        parse_state(self.worker_cursor(SCRUB_CURSOR).await?)
    }

    /// Saves the scrubber's state durably.
    pub async fn save_scrub_state(&self, state: &ScrubState) -> Result<()> {
        self.set_worker_cursor(SCRUB_CURSOR, Some(serde_json::to_string(state)?)).await
    }

    /// Bytes a full pass reads: every referenced blob and every verifiable inline body.
    pub async fn scrub_bytes_total(&self) -> Result<u64> {
        self.index().scrub_bytes_total().await
    }
}

/// Reads the scrubber's state and the corrupt blobs from the index under `root` without
/// opening a `Store`: safe next to a running server.
pub fn scrub_status(root: &Path) -> Result<ScrubStatus> {
    let (state, corrupt) = crate::sqlite::blobs::scrub_records_at(root, SCRUB_CURSOR)?;
    Ok(ScrubStatus { state: parse_state(state)?, corrupt })
}

/// How scrub reports and `coffer admin` name one object version: "bucket/key version" (a key
/// that is not UTF-8 shown lossily). Both index backends build it with this.
pub(crate) fn version_name(bucket: &str, key: &[u8], version_id: &str) -> String {
    format!("{bucket}/{} {version_id}", String::from_utf8_lossy(key))
}

fn parse_state(text: Option<String>) -> Result<ScrubState> {
    match text {
        Some(t) => Ok(serde_json::from_str(&t)?),
        None => Ok(ScrubState::default()),
    }
}
