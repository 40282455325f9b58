//! The crash loop: concurrent clients run a mixed workload against the real binary, which is
//! killed with SIGKILL at a random moment and restarted; then every acknowledged write is read
//! back (bytes, metadata, tags, version history) and `coffer admin check` must find the store clean.
//!
//! COFFER_CRASH_CYCLES (default 5) sets the number of kills, COFFER_CRASH_SEED repeats a run.
//! The proof runs 100: `COFFER_CRASH_CYCLES=100 cargo test --release -p coffer-compat-tests
//! --test crash_loop -- --nocapture`.

mod oracle;
mod verify;
mod workload;

use coffer_compat_tests::aws_sdk_s3::config::retry::RetryConfig;
use coffer_compat_tests::aws_sdk_s3::types::{BucketVersioningStatus, VersioningConfiguration};
use coffer_compat_tests::aws_sdk_s3::Client;
use coffer_compat_tests::{coffer_binary, TestServer};
use oracle::TaskState;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub const PLAIN: &str = "crash-plain";
pub const VERSIONED: &str = "crash-versioned";
const TASKS: usize = 4;
const KEYS_PER_TASK: usize = 6;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// A client that never retries: a retried non-idempotent write (a second delete marker) would
/// be a write the oracle never saw.
fn client(server: &TestServer) -> Client {
    let c = server.client();
    Client::from_conf(c.config().to_builder().retry_config(RetryConfig::disabled()).build())
}

#[derive(Default)]
struct Stats {
    acked: u64,
    in_flight_at_kill: u64,
    versions_checked: u64,
    checks_while_running: u64,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_writes_survive_sigkill_loops() {
    let cycles = env_or("COFFER_CRASH_CYCLES", 5);
    let seed = env_or("COFFER_CRASH_SEED", rand::random());
    eprintln!("crash loop: {cycles} cycles, seed {seed} (set COFFER_CRASH_SEED to repeat)");
    let started = Instant::now();
    let mut server = TestServer::start();
    let s3 = client(&server);
    s3.create_bucket().bucket(PLAIN).send().await.unwrap();
    s3.create_bucket().bucket(VERSIONED).send().await.unwrap();
    let enabled = VersioningConfiguration::builder().status(BucketVersioningStatus::Enabled).build();
    s3.put_bucket_versioning().bucket(VERSIONED).versioning_configuration(enabled).send().await.unwrap();

    let mut rng = StdRng::seed_from_u64(seed);
    let mut states: Vec<TaskState> = (0..TASKS).map(|t| TaskState::new(t, KEYS_PER_TASK)).collect();
    let mut stats = Stats::default();
    for cycle in 0..cycles {
        let s3 = client(&server);
        let stop = Arc::new(AtomicBool::new(false));
        let tasks: Vec<_> = states
            .drain(..)
            .map(|st| {
                let task_rng = StdRng::seed_from_u64(rng.random());
                tokio::spawn(workload::run(s3.clone(), st, task_rng, seed, stop.clone()))
            })
            .collect();
        let run_for = Duration::from_millis(rng.random_range(150..1500));
        // Half the cycles also check the store while it is busy: a snapshot must show no problem.
        let busy_check = rng.random_bool(0.5).then(|| {
            let dir = server.data_dir().to_path_buf();
            let delay = run_for / 2;
            tokio::task::spawn_blocking(move || {
                std::thread::sleep(delay);
                admin_check(&dir, &["--quick"])
            })
        });
        tokio::time::sleep(run_for).await;
        stop.store(true, Ordering::SeqCst);
        tokio::task::block_in_place(|| server.crash_and_restart());
        for task in tasks {
            let (st, acked) = task.await.expect("workload task");
            stats.acked += acked;
            stats.in_flight_at_kill += st.in_flight() as u64;
            states.push(st);
        }
        if let Some(check) = busy_check {
            let (ok, out) = check.await.unwrap();
            assert!(ok, "cycle {cycle}: check while the server was busy found problems:\n{out}");
            stats.checks_while_running += 1;
        }

        let s3 = client(&server);
        let checked = futures::future::join_all(states.iter_mut().map(|st| verify::task(&s3, st))).await;
        stats.versions_checked += checked.iter().sum::<u64>();
        verify::abort_leftover_uploads(&s3).await;
        check_clean_after_restart(&server, cycle);
        eprintln!("cycle {}/{cycles}: {} writes acknowledged so far, {} versions checked", cycle + 1, stats.acked, stats.versions_checked);
    }
    eprintln!(
        "crash loop done: {cycles} kill cycles, {} acknowledged writes, {} writes in flight at the kills, {} object versions checked, 0 lost, {} checks while running, {:.1}s",
        stats.acked,
        stats.in_flight_at_kill,
        stats.versions_checked,
        stats.checks_while_running,
        started.elapsed().as_secs_f64()
    );
}

/// `coffer admin check --json ARGS` on a data dir: whether it exited 0, and what it printed.
fn admin_check(data_dir: &std::path::Path, args: &[&str]) -> (bool, String) {
    let out = std::process::Command::new(coffer_binary())
        .args(["admin", "check", "--json"])
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .output()
        .expect("run coffer admin check");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

/// After a restart the store must be clean with no grace for orphans: the start-up sweep has
/// removed what the kill left (it runs in the background, so give it a moment).
fn check_clean_after_restart(server: &TestServer, cycle: u64) {
    let dir: PathBuf = server.data_dir().to_path_buf();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (ok, out) = admin_check(&dir, &["--grace", "0"]);
        if ok {
            return;
        }
        let only_orphans = out.contains("\"damaged\": []")
            && out.contains("\"torn\": []")
            && out.contains("\"refcount_mismatches\": []");
        assert!(only_orphans && Instant::now() < deadline, "cycle {cycle}: coffer admin check after the restart:\n{out}");
        std::thread::sleep(Duration::from_millis(200));
    }
}
