//! The threads that hash the plaintext of large uploads, shared by all uploads, so that two
//! uploads being received at once are hashed side by side on one core (`Md5Sha256::update_pair`,
//! about 40 % more bytes per core than one upload on its own thread).
//!
//! An upload hands its body over in batches (`HashJob::push`) and gets its digests at the end
//! (`HashJob::finish`). A thread holds at most two uploads, its lanes; while it holds two it
//! hashes them as pairs, and while it holds one it takes a second as soon as one is waiting.
//! A waiting upload wakes an idle thread only when no thread has a free lane, so uploads pair
//! up on as few threads as they fill, and the cores left over do the rest of the work of
//! receiving them (copying from sockets, writing files). There are as many threads at most as
//! cores, each started the first time it is needed. An upload whose batches run out leaves its
//! lane and waits for its next one; one with more when another upload is waiting goes to the
//! back of the queue after each batch, so every upload is served in turn.
//!
//! The threads run at the upload threads' lower priority (`upload_threads`).

use super::interleaved::{Digests, Md5Sha256};
use super::{upload_threads, PIPELINE_DEPTH};
use bytes::Bytes;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use tokio::sync::{oneshot, Semaphore};

/// One upload's hashing, held by the code that receives its body.
pub(crate) struct HashJob {
    upload: Arc<Upload>,
    digests: Option<oneshot::Receiver<Digests>>,
    /// Batches `push` may still hand over without asking `room`.
    credit: usize,
}

/// When the pipeline is full, `push` waits for this many batches to be hashed, not one: each
/// wake-up of the receiving task from a hashing thread costs that thread an interrupt to
/// another core (a tenth of its time on this project's test VM when it woke it for every batch).
const WAKE_EVERY: usize = PIPELINE_DEPTH / 2;

struct Upload {
    state: Mutex<UploadState>,
    room: Semaphore,
}

struct UploadState {
    /// Here while no lane holds the upload.
    hasher: Option<Md5Sha256>,
    waiting: VecDeque<Arc<Vec<Bytes>>>,
    /// In the pool's queue or in a lane.
    scheduled: bool,
    /// No more batches will come.
    ended: bool,
    /// Where the digests go once every batch is hashed; gone if the upload was given up.
    reply: Option<oneshot::Sender<Digests>>,
}

impl HashJob {
    pub(crate) fn start(hasher: Md5Sha256) -> HashJob {
        let (reply, digests) = oneshot::channel();
        let state = UploadState { hasher: Some(hasher), waiting: VecDeque::new(), scheduled: false, ended: false, reply: Some(reply) };
        let upload = Arc::new(Upload { state: Mutex::new(state), room: Semaphore::new(PIPELINE_DEPTH) });
        HashJob { upload, digests: Some(digests), credit: 0 }
    }

    /// Hands a batch over, waiting while `PIPELINE_DEPTH` are already waiting (then until
    /// `WAKE_EVERY` are done).
    pub(crate) async fn push(&mut self, batch: Arc<Vec<Bytes>>) {
        if self.credit == 0 {
            let room = &self.upload.room;
            self.credit = match room.try_acquire() {
                Ok(one) => {
                    one.forget();
                    1
                }
                Err(_) => {
                    room.acquire_many(WAKE_EVERY as u32).await.expect("the semaphore is never closed").forget();
                    WAKE_EVERY
                }
            };
        }
        self.credit -= 1;
        let schedule = {
            let mut state = self.upload.lock();
            state.waiting.push_back(batch);
            !std::mem::replace(&mut state.scheduled, true)
        };
        if schedule {
            pool().enqueue(self.upload.clone());
        }
    }

    /// The digests of everything pushed, once it is all hashed.
    pub(crate) async fn finish(mut self) -> Digests {
        let digests = self.digests.take().expect("finish is called once");
        let finished_here = {
            let mut state = self.upload.lock();
            state.ended = true;
            // Nothing is waiting and no lane holds it: the padding is all that is left.
            (!state.scheduled).then(|| (state.hasher.take(), state.reply.take()))
        };
        if let Some((Some(hasher), Some(reply))) = finished_here {
            let _ = reply.send(hasher.finish());
        }
        digests.await.expect("a lane replies to every upload that ended")
    }
}

impl Drop for HashJob {
    /// An upload given up before `finish` (its body failed) is dropped from its lane without
    /// hashing what it still had waiting.
    fn drop(&mut self) {
        if self.digests.is_some() {
            let mut state = self.upload.lock();
            state.ended = true;
            state.reply = None;
            state.waiting.clear();
        }
    }
}

impl Upload {
    fn lock(&self) -> MutexGuard<'_, UploadState> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

struct Pool {
    queue: Mutex<Queue>,
    wake: Condvar,
    /// The queue's length, read without the lock between pieces of hashing.
    queued: AtomicUsize,
    max_threads: usize,
}

struct Queue {
    uploads: VecDeque<Arc<Upload>>,
    threads: usize,
    idle: usize,
    /// Threads hashing one upload, which take the next waiting one without being woken.
    with_free_lane: usize,
}

fn pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(|| Pool {
        queue: Mutex::new(Queue { uploads: VecDeque::new(), threads: 0, idle: 0, with_free_lane: 0 }),
        wake: Condvar::new(),
        queued: AtomicUsize::new(0),
        max_threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
    })
}

impl Pool {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn enqueue(&'static self, upload: Arc<Upload>) {
        let mut queue = self.lock();
        queue.uploads.push_back(upload);
        self.queued.store(queue.uploads.len(), Ordering::Relaxed);
        if queue.with_free_lane > 0 {
            return;
        }
        if queue.idle > 0 {
            self.wake.notify_one();
        } else if queue.threads < self.max_threads {
            queue.threads += 1;
            drop(queue);
            if let Err(e) = std::thread::Builder::new().name("coffer-hash".into()).spawn(move || self.serve()) {
                tracing::error!(error = %e, "could not start a hashing thread");
                self.lock().threads -= 1;
            }
        }
    }

    fn pop(&self, queue: &mut Queue) -> Option<Arc<Upload>> {
        let upload = queue.uploads.pop_front();
        self.queued.store(queue.uploads.len(), Ordering::Relaxed);
        upload
    }

    /// A hashing thread's life: fill the lanes, hash, let go of the uploads whose batches ran out.
    fn serve(&'static self) {
        upload_threads::lower_priority();
        let mut lanes: Vec<Lane> = Vec::with_capacity(2);
        // Whether this thread is counted in `with_free_lane`.
        let mut counted_free = false;
        loop {
            {
                let mut queue = self.lock();
                if std::mem::take(&mut counted_free) {
                    queue.with_free_lane -= 1;
                }
                while lanes.len() < 2 {
                    match self.pop(&mut queue) {
                        Some(upload) => lanes.extend(Lane::take(upload)),
                        None if lanes.is_empty() => {
                            queue.idle += 1;
                            queue = self.wake.wait(queue).unwrap_or_else(|poisoned| poisoned.into_inner());
                            queue.idle -= 1;
                        }
                        None => break,
                    }
                }
                if lanes.len() == 1 {
                    queue.with_free_lane += 1;
                    counted_free = true;
                }
            }
            match &mut lanes[..] {
                [a, b] => Lane::hash_pair(a, b),
                [one] => one.hash_alone(&self.queued),
                _ => unreachable!("the loop above fills at least one lane"),
            }
            let others_waiting = self.queued.load(Ordering::Relaxed) > 0;
            let mut kept = Vec::with_capacity(2);
            for lane in lanes.drain(..) {
                match lane.next_batch(others_waiting) {
                    Next::Keep(lane) => kept.push(lane),
                    Next::Requeue(upload) => self.enqueue(upload),
                    Next::Release => {}
                }
            }
            lanes = kept;
        }
    }
}

/// An upload held by a hashing thread, with the batch it is on.
struct Lane {
    upload: Arc<Upload>,
    hasher: Md5Sha256,
    batch: Arc<Vec<Bytes>>,
    chunk: usize,
    offset: usize,
}

enum Next {
    Keep(Lane),
    Requeue(Arc<Upload>),
    Release,
}

impl Lane {
    /// Takes a queued upload's hasher and first waiting batch; `None` if it was given up.
    fn take(upload: Arc<Upload>) -> Option<Lane> {
        let (hasher, batch) = {
            let mut state = upload.lock();
            match (state.hasher.take(), state.waiting.pop_front()) {
                (Some(hasher), Some(batch)) => (hasher, batch),
                (hasher, _) => {
                    // Given up: `HashJob`'s drop emptied what was waiting.
                    state.hasher = hasher;
                    state.scheduled = false;
                    return None;
                }
            }
        };
        let mut lane = Lane { upload, hasher, batch, chunk: 0, offset: 0 };
        lane.skip_empty();
        Some(lane)
    }

    fn data(&self) -> &[u8] {
        &self.batch[self.chunk][self.offset..]
    }

    fn batch_done(&self) -> bool {
        self.chunk == self.batch.len()
    }

    fn advance(&mut self, taken: usize) {
        self.offset += taken;
        self.skip_empty();
    }

    fn skip_empty(&mut self) {
        while self.chunk < self.batch.len() && self.offset == self.batch[self.chunk].len() {
            self.chunk += 1;
            self.offset = 0;
        }
    }

    /// Hashes two uploads side by side until one of them is at the end of its batch.
    fn hash_pair(a: &mut Lane, b: &mut Lane) {
        while !a.batch_done() && !b.batch_done() {
            let (a_data, b_data) = (&a.batch[a.chunk][a.offset..], &b.batch[b.chunk][b.offset..]);
            let (a_taken, b_taken) = Md5Sha256::update_pair(&mut a.hasher, a_data, &mut b.hasher, b_data);
            a.advance(a_taken);
            b.advance(b_taken);
        }
    }

    /// Hashes the rest of the batch, or stops after a chunk once another upload is waiting, to
    /// pair with it.
    fn hash_alone(&mut self, queued: &AtomicUsize) {
        while !self.batch_done() {
            let taken = self.data().len();
            self.hasher.update(&self.batch[self.chunk][self.offset..]);
            self.advance(taken);
            if queued.load(Ordering::Relaxed) > 0 {
                return;
            }
        }
    }

    /// At the end of a batch: on to the next one, or out of the lane.
    fn next_batch(mut self, others_waiting: bool) -> Next {
        if !self.batch_done() {
            return Next::Keep(self);
        }
        self.upload.room.add_permits(1);
        let mut state = self.upload.lock();
        if state.reply.is_none() {
            return Next::Release;
        }
        if !others_waiting {
            if let Some(batch) = state.waiting.pop_front() {
                drop(state);
                self.batch = batch;
                (self.chunk, self.offset) = (0, 0);
                self.skip_empty();
                return Next::Keep(self);
            }
        }
        if state.ended && state.waiting.is_empty() {
            let reply = state.reply.take().expect("checked above");
            drop(state);
            let _ = reply.send(self.hasher.finish());
            return Next::Release;
        }
        state.hasher = Some(self.hasher);
        if state.waiting.is_empty() {
            state.scheduled = false;
            Next::Release
        } else {
            drop(state);
            Next::Requeue(self.upload)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use md5::{Digest, Md5};
    use sha2::Sha256;

    /// Bytes that differ from upload to upload and do not repeat within a block.
    fn bytes(len: usize, seed: u64) -> Vec<u8> {
        (0..len).map(|i| (i as u64).wrapping_mul(2_654_435_761).rotate_left(seed as u32) as u8 ^ (i >> 9) as u8).collect()
    }

    /// Uploads of different lengths, cut into chunks and batches of different sizes, hashed in
    /// the pool at once (more of them than it has lanes, so they pair, queue and take turns),
    /// each get their own digests; one given up half-way leaves the others whole.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn uploads_hashed_together_get_their_own_digests() {
        let mut tasks = Vec::new();
        for i in 0..7u64 {
            tasks.push(tokio::spawn(async move {
                let data = bytes(300_000 + 77_777 * i as usize, i + 1);
                let mut job = HashJob::start(if i % 2 == 0 { Md5Sha256::new() } else { Md5Sha256::md5_only() });
                let chunk = 1000 + 4093 * i as usize;
                let batches: Vec<Arc<Vec<Bytes>>> = data
                    .chunks(chunk * (1 + i as usize % 3))
                    .map(|batch| Arc::new(batch.chunks(chunk).map(Bytes::copy_from_slice).collect()))
                    .collect();
                let given_up = i == 3;
                for (n, batch) in batches.into_iter().enumerate() {
                    if given_up && n == 5 {
                        return;
                    }
                    job.push(batch).await;
                }
                let got = job.finish().await;
                assert_eq!(got.md5[..], Md5::digest(&data)[..], "upload {i}");
                let want_sha256 = (i % 2 == 0).then(|| Sha256::digest(&data).to_vec());
                assert_eq!(got.sha256.map(|h| h.to_vec()), want_sha256, "upload {i}");
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
    }

    #[tokio::test]
    async fn an_upload_with_nothing_pushed_gets_the_digests_of_nothing() {
        let got = HashJob::start(Md5Sha256::new()).finish().await;
        assert_eq!(hex::encode(got.md5), "d41d8cd98f00b204e9800998ecf8427e");
    }
}
