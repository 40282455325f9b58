//! The threads that hash, seal and write large uploads, at a lower scheduling priority than the
//! threads that answer requests.
//!
//! An upload of 64 MiB keeps a core busy for a tenth of a second per 64 MB, and a few of them
//! fill every core. At the same priority, a small GET that arrives meanwhile waits its turn
//! behind them for a share of a core: GETs of 4 KiB at c=16 beside two such uploads had a p99 of
//! 30 to 48 ms on 2 cores. With these threads at nice 10, the kernel runs a request's thread as
//! soon as it wakes, and uploads get whatever the requests leave, which on an idle server is
//! everything. Each thread lowers its own priority when it starts (Linux keeps a nice value per
//! thread) and keeps it for its whole life, since an unprivileged process cannot raise it back;
//! so these threads are a pool of their own, apart from tokio's blocking pool that the rest of
//! the server shares.

use std::sync::OnceLock;
use tokio::runtime::{Builder, Runtime};
use tokio::task::JoinHandle;

/// How much nicer upload threads are than the thread that started them (nice values run from
/// -20, the highest priority, to 19; a server started at the default 0 has them at 10).
const NICER_BY: libc::c_int = 10;

/// Runs `work` on an upload thread; awaiting the handle works from any runtime.
pub(crate) fn spawn<F, R>(work: F) -> JoinHandle<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    pool().spawn_blocking(work)
}

fn pool() -> &'static Runtime {
    static POOL: OnceLock<Runtime> = OnceLock::new();
    // A current-thread runtime starts no worker of its own: only its blocking pool is used,
    // and its threads come and go as tokio's do (idle ones exit after ten seconds).
    POOL.get_or_init(|| {
        Builder::new_current_thread()
            .thread_name("coffer-upload")
            .on_thread_start(lower_priority)
            .build()
            .expect("a runtime for upload threads")
    })
}

/// This thread's nice value.
fn nice() -> libc::c_int {
    // SAFETY: plain system calls on the calling thread's own id; errno is cleared first, as -1
    // is also a nice value (an error on one's own thread is not expected).
    unsafe {
        *libc::__errno_location() = 0;
        libc::getpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t)
    }
}

/// Lowers the calling thread's priority as every upload thread's is (also the hashing pool's).
pub(crate) fn lower_priority() {
    let nicer = (nice() + NICER_BY).min(19);
    // SAFETY: a plain system call on the calling thread's own id.
    let result = unsafe { libc::setpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t, nicer) };
    if result != 0 {
        tracing::debug!(error = %std::io::Error::last_os_error(), "could not lower an upload thread's priority");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn upload_threads_run_at_a_lower_priority() {
        // A new thread starts at its creator's nice value; the pool's first thread may be made
        // from any test's thread, all at the test process's.
        let ours = nice();
        let theirs = spawn(nice).await.unwrap();
        assert_eq!(theirs, (ours + NICER_BY).min(19));
    }
}
