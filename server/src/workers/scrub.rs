//! The scrubber: re-reads and re-hashes every blob file, then every inline body, once per
//! period, paced to spread a pass over the period (never above a byte rate); records what is corrupt.
//!
//! Its state (the pass under way with its position, the last finished pass) is saved in the
//! index after every step, so a restart resumes the pass where it stopped. Hashing runs on
//! blocking threads, never on the runtime's.

use super::{Step, Worker, WorkerError};
use coffer_storage::{BlobCheck, BlobVerdict, ScrubPass, ScrubPosition, ScrubState, StorageError, Store, INLINE_MAX};
use std::collections::VecDeque;
use std::time::{Duration, Instant};

type Hash = [u8; 32];

/// Blobs fetched from the index at a time.
const BATCH: usize = 256;
/// Bytes hashed in one step: about a second's worth at the pass's rate, within these bounds.
const MIN_STEP_BYTES: u64 = 256 << 10;
const MAX_STEP_BYTES: u64 = 16 << 20;
/// Longest wait before looking again whether a pass is due.
const MAX_IDLE: Duration = Duration::from_secs(3600);
/// Objects named in the log line of a corrupt blob.
const NAMES_LOGGED: usize = 10;

pub struct Scrubber {
    store: Store,
    period: Duration,
    max_bytes_per_sec: u64,
    /// Loaded from the index on the first step.
    state: Option<ScrubState>,
    /// Bytes per second of the pass under way (0: not yet computed).
    rate: u64,
    walk: Walk,
    pause: Duration,
}

impl Scrubber {
    pub fn new(store: Store, period: Duration, max_bytes_per_sec: u64) -> Scrubber {
        Scrubber { store, period, max_bytes_per_sec, state: None, rate: 0, walk: Walk::default(), pause: Duration::ZERO }
    }

    async fn advance(&mut self, state: &mut ScrubState) -> Result<Step, WorkerError> {
        let Some(pass) = state.current.as_mut() else {
            let wait = state.until_next_pass(self.period);
            if !wait.is_zero() {
                self.pause = wait.min(MAX_IDLE);
                return Ok(Step::Idle(0));
            }
            state.start_pass();
            self.walk = Walk::default();
            self.rate = 0;
            self.store.save_scrub_state(state).await?;
            tracing::info!("scrub pass starting");
            return Ok(Step::More(0));
        };
        if self.rate == 0 {
            let total = self.store.scrub_bytes_total().await?;
            self.rate = pace(total, self.period, self.max_bytes_per_sec);
            tracing::info!(total_bytes = total, bytes_per_sec = self.rate, "scrub pass pacing");
        }
        let budget = self.rate.clamp(MIN_STEP_BYTES, MAX_STEP_BYTES);
        let started = Instant::now();
        let (items, bytes) = match pass.position.clone() {
            ScrubPosition::Blobs { .. } => self.blob_step(pass, budget).await?,
            ScrubPosition::Inline { after_seq } => match self.inline_step(pass, after_seq, budget).await? {
                Some(done) => done,
                None => {
                    finish(state);
                    self.store.save_scrub_state(state).await?;
                    self.pause = Duration::ZERO;
                    return Ok(Step::More(0));
                }
            },
        };
        self.store.save_scrub_state(state).await?;
        self.pause = Duration::from_secs_f64(bytes as f64 / self.rate as f64).saturating_sub(started.elapsed());
        Ok(if self.pause.is_zero() { Step::More(items) } else { Step::Idle(items) })
    }

    /// Hashes about `budget` bytes of blob files; returns (blobs finished, bytes read).
    async fn blob_step(&mut self, pass: &mut ScrubPass, budget: u64) -> Result<(u64, u64), WorkerError> {
        if self.walk.is_empty() {
            let from = self.walk.fetched_after.or_else(|| pass.position.blob_after());
            let batch = self.store.blobs_after(from, BATCH).await?;
            let Some(&(last, _)) = batch.last() else {
                pass.position = ScrubPosition::Inline { after_seq: 0 };
                self.walk = Walk::default();
                return Ok((0, 0));
            };
            self.walk.fetched_after = Some(last);
            self.walk.queue.extend(batch);
        }
        let store = self.store.clone();
        let mut walk = std::mem::take(&mut self.walk);
        let (walk, finished, bytes) = tokio::task::spawn_blocking(move || {
            let (finished, bytes) = walk.hash(&store, budget);
            (walk, finished, bytes)
        })
        .await
        .map_err(|_| StorageError::Closed)?;
        self.walk = walk;
        let items = finished.len() as u64;
        pass.bytes += bytes;
        for (hash, verdict) in finished {
            pass.blobs += 1;
            pass.position = ScrubPosition::Blobs { after: Some(hex::encode(hash)) };
            if !verdict.is_intact() && self.report_blob(hash, &verdict).await? {
                pass.corrupt += 1;
            }
        }
        Ok((items, bytes))
    }

    /// Verifies the next inline bodies; None when there are none left (the pass is over).
    async fn inline_step(&mut self, pass: &mut ScrubPass, after_seq: i64, budget: u64) -> Result<Option<(u64, u64)>, WorkerError> {
        let limit = (budget / INLINE_MAX as u64).max(4) as usize;
        let checked = self.store.scrub_inline_after(after_seq, limit).await?;
        if checked.is_empty() {
            return Ok(None);
        }
        let bytes: u64 = checked.iter().map(|c| c.bytes).sum();
        for c in &checked {
            pass.inline += 1;
            pass.position = ScrubPosition::Inline { after_seq: c.seq };
            if !c.intact {
                pass.corrupt += 1;
                self.store.record_corrupt_blob(c.sha256, "scrub-inline").await?;
                let object = self.store.object_name_at(c.seq).await?.unwrap_or_default();
                tracing::error!(blob = %hex::encode(c.sha256), object, "scrub: an inline body does not match its SHA-256: corrupt");
            }
        }
        pass.bytes += bytes;
        Ok(Some((checked.len() as u64, bytes)))
    }

    /// Records and logs a blob that failed its check; false when it only vanished because the
    /// collector removed it after it was listed.
    async fn report_blob(&self, hash: Hash, verdict: &BlobVerdict) -> Result<bool, WorkerError> {
        if *verdict == BlobVerdict::Missing && !self.store.blob_is_referenced(hash).await? {
            return Ok(false);
        }
        self.store.record_corrupt_blob(hash, "scrub").await?;
        let objects = self.store.objects_naming_blob(hash, NAMES_LOGGED).await?;
        tracing::error!(blob = %hex::encode(hash), problem = %verdict, objects = ?objects, "scrub: corrupt blob");
        Ok(true)
    }
}

impl Worker for Scrubber {
    fn name(&self) -> &'static str {
        "scrub"
    }

    fn idle_interval(&self) -> Duration {
        self.pause
    }

    async fn step(&mut self) -> Result<Step, WorkerError> {
        let mut state = match self.state.take() {
            Some(state) => state,
            None => self.store.scrub_state().await?,
        };
        let step = self.advance(&mut state).await;
        self.state = Some(state);
        step
    }
}

/// The blobs queued for hashing and the one being hashed (kept in memory between steps; a
/// restart re-reads from the saved position).
#[derive(Default)]
struct Walk {
    queue: VecDeque<(Hash, u64)>,
    current: Option<BlobCheck>,
    /// The last blob fetched into the queue.
    fetched_after: Option<Hash>,
}

impl Walk {
    fn is_empty(&self) -> bool {
        self.queue.is_empty() && self.current.is_none()
    }

    /// Hashes about `budget` bytes (blocking); returns the blobs finished and the bytes read.
    fn hash(&mut self, store: &Store, budget: u64) -> (Vec<(Hash, BlobVerdict)>, u64) {
        let mut finished = Vec::new();
        let mut spent = 0;
        while spent < budget {
            let mut check = match self.current.take() {
                Some(check) => check,
                None => match self.queue.pop_front() {
                    Some((hash, size)) => store.blob_check(hash, size),
                    None => break,
                },
            };
            let before = check.bytes_read();
            let verdict = check.advance(budget - spent);
            spent += check.bytes_read() - before;
            match verdict {
                Some(verdict) => finished.push((*check.hash(), verdict)),
                None => self.current = Some(check),
            }
        }
        (finished, spent)
    }
}

/// Bytes per second that read `total` bytes in `period`, at most `max`, at least 1.
fn pace(total: u64, period: Duration, max: u64) -> u64 {
    let secs = period.as_secs_f64().max(0.001);
    ((total as f64 / secs).ceil() as u64).clamp(1, max.max(1))
}

/// Closes the pass under way and logs what it found.
fn finish(state: &mut ScrubState) {
    if let Some(pass) = state.finish_pass() {
        let secs = (pass.finished_ms.unwrap_or(pass.started_ms) - pass.started_ms) as f64 / 1000.0;
        tracing::info!(blobs = pass.blobs, inline = pass.inline, bytes = pass.bytes, corrupt = pass.corrupt, secs, "scrub pass finished");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use coffer_storage::{IngestOptions, NewObject, ObjectMeta, WriteConditions};
    use sha2::{Digest, Sha256};

    const SIZE: usize = 100 * 1024;

    /// A store with `n` objects of 100 KiB, each its own blob; returns their hashes.
    async fn store_with_blobs(dir: &std::path::Path, n: u8) -> (Store, Vec<Hash>) {
        let store = Store::open(dir).unwrap();
        let owner = store.create_user("root", "AK", b"sealed".to_vec()).await.unwrap();
        let bucket = store.create_bucket(&owner, "b", "us-east-1").await.unwrap();
        let mut hashes = Vec::new();
        for i in 0..n {
            let data = bytes::Bytes::from(vec![i; SIZE]);
            let body = futures::stream::iter([Ok::<_, std::io::Error>(data.clone())]);
            let opts = IngestOptions { checksums: vec![], max_size: u64::MAX, seal: None, hash_plaintext: false };
            let ingested = store.ingest(body, opts).await.unwrap();
            let origin = coffer_storage::Origin::new(coffer_storage::EventName::ObjectCreatedPut, Default::default());
            let new = NewObject { key: format!("k{i}"), owner_id: owner.id.clone(), meta: ObjectMeta::default(), origin };
            store.put_object(&bucket, new, ingested, WriteConditions::default()).await.unwrap();
            hashes.push(Sha256::digest(&data).into());
        }
        (store, hashes)
    }

    /// Steps until `until` holds for the saved state.
    async fn run_until(s: &mut Scrubber, until: impl Fn(&ScrubState) -> bool) {
        for _ in 0..1000 {
            s.step().await.unwrap();
            if until(s.state.as_ref().unwrap()) {
                return;
            }
        }
        panic!("scrubber never got there: {:?}", s.state);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_restarted_scrubber_resumes_its_pass_from_the_saved_position() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = store_with_blobs(dir.path(), 8).await;
        let mut first = Scrubber::new(store.clone(), Duration::from_secs(3600), u64::MAX);
        run_until(&mut first, |s| s.current.as_ref().is_some_and(|p| p.blobs >= 3)).await;
        let saved = store.scrub_state().await.unwrap();
        assert_eq!(&saved, first.state.as_ref().unwrap(), "every step is saved");
        drop(first);
        let mut second = Scrubber::new(store.clone(), Duration::from_secs(3600), u64::MAX);
        run_until(&mut second, |s| s.last.is_some()).await;
        let last = store.scrub_state().await.unwrap().last.unwrap();
        // Resumed, not restarted: each blob counted once over the two runs (bytes read count
        // the part of a blob the first run had hashed when it stopped).
        assert_eq!((last.blobs, last.corrupt), (8, 0));
        assert!((8 * SIZE as u64..9 * SIZE as u64).contains(&last.bytes), "{}", last.bytes);
        assert_eq!(last.started_ms, saved.current.unwrap().started_ms);
        // The next pass is due a period after this one started: nothing to do now.
        assert_eq!(second.step().await.unwrap(), Step::Idle(0));
        assert!(second.idle_interval() > Duration::from_secs(3000));
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_flipped_byte_is_found_recorded_and_counted() {
        use std::os::unix::fs::FileExt;
        let dir = tempfile::tempdir().unwrap();
        let (store, hashes) = store_with_blobs(dir.path(), 3).await;
        let hex = hex::encode(hashes[1]);
        let path = dir.path().join("blobs").join(&hex[0..2]).join(&hex[2..4]).join(&hex);
        let f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
        f.write_all_at(b"!", 1234).unwrap();
        let mut s = Scrubber::new(store.clone(), Duration::from_secs(3600), u64::MAX);
        run_until(&mut s, |s| s.last.is_some()).await;
        assert_eq!(s.state.as_ref().unwrap().last.as_ref().unwrap().corrupt, 1);
        let corrupt = store.corrupt_blobs().await.unwrap();
        assert_eq!(corrupt.len(), 1);
        assert_eq!((corrupt[0].hash.as_str(), corrupt[0].source.as_str()), (hex.as_str(), "scrub"));
    }

    #[test]
    fn the_pace_spreads_a_pass_over_the_period_within_the_cap() {
        let month = Duration::from_secs(30 * 24 * 3600);
        assert_eq!(pace(30 * 24 * 3600 * 1000, month, 50 << 20), 1000);
        assert_eq!(pace(1 << 40, Duration::from_secs(1), 50 << 20), 50 << 20);
        assert_eq!(pace(0, month, 50 << 20), 1);
    }
}
