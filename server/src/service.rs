//! Running as a service: SIGTERM (and SIGINT) stop taking connections, let requests in flight
//! finish within `shutdown_timeout` (a second signal: at once) and then stop; SIGHUP reloads the
//! TLS certificate and the metrics token. While it runs, the server notes its pid and start time in the data dir for
//! `coffer admin info`.

use crate::config::Config;
use crate::state::AppState;
use crate::tls::CertResolver;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::signal::unix::{signal, SignalKind};

/// How often a stopping server looks whether the requests in flight are done.
const DRAIN_POLL: Duration = Duration::from_millis(50);
/// The file in the data dir that says a server runs on it.
const RUNNING_FILE: &str = "server.json";

/// What `server.json` says about the server that runs on a data dir.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Running {
    pub pid: u32,
    pub started_ms: i64,
    pub version: String,
    pub address: String,
}

impl Running {
    /// Notes this process as the data dir's server; the note goes when `RunningNote` drops.
    pub fn note(config: &Config) -> Result<RunningNote, String> {
        let path = config.data_dir.join(RUNNING_FILE);
        let me = Running {
            pid: std::process::id(),
            started_ms: coffer_storage::now_ms(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            address: config.address.clone(),
        };
        let text = serde_json::to_vec_pretty(&me).map_err(|e| e.to_string())?;
        coffer_storage::perms::write_file(&path, &text).map_err(|e| format!("writing {}: {e}", path.display()))?;
        Ok(RunningNote(path))
    }

    /// The server noted in `data_dir`, if its process still runs.
    pub fn find(data_dir: &Path) -> Option<Running> {
        let running: Running = serde_json::from_slice(&std::fs::read(data_dir.join(RUNNING_FILE)).ok()?).ok()?;
        Path::new(&format!("/proc/{}", running.pid)).exists().then_some(running)
    }
}

/// Removes `server.json` when the server stops.
pub struct RunningNote(PathBuf);

impl Drop for RunningNote {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Waits for the signals a service manager sends and acts on them until the server stops.
pub async fn handle_signals(server: actix_server::ServerHandle, state: actix_web::web::Data<AppState>, tls: Option<Arc<CertResolver>>, config: Config) {
    let (Ok(mut term), Ok(mut int), Ok(mut hup)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt()), signal(SignalKind::hangup())) else {
        tracing::error!("cannot listen for signals; stopping");
        server.stop(false).await;
        return;
    };
    loop {
        tokio::select! {
            _ = term.recv() => break,
            _ = int.recv() => break,
            _ = hup.recv() => reload(tls.as_deref(), &state, &config),
        }
    }
    // A second SIGTERM or Ctrl-C does not wait for the requests in flight.
    tokio::select! {
        _ = drain(&server, &state, config.shutdown_timeout) => {}
        _ = async { tokio::select! { _ = term.recv() => {}, _ = int.recv() => {} } } => {
            tracing::warn!("stopping now: {} requests in flight are cut off", state.requests.in_flight());
        }
    }
    server.stop(false).await;
}

/// Stops accepting connections and waits until no request is in flight (at most `timeout`);
/// the caller then closes the connections left (idle keep-alive ones, or requests that overran).
async fn drain(server: &actix_server::ServerHandle, state: &AppState, timeout: Duration) {
    server.pause().await;
    state.requests.close();
    let started = Instant::now();
    tracing::info!(in_flight = state.requests.in_flight(), "stopping: no new connections; letting requests in flight finish (at most {timeout:?})");
    while state.requests.in_flight() > 0 && started.elapsed() < timeout {
        tokio::time::sleep(DRAIN_POLL).await;
    }
    match state.requests.in_flight() {
        0 => tracing::info!("requests in flight finished in {:?}", started.elapsed()),
        n => tracing::warn!("{n} requests still in flight after {timeout:?}; closing their connections"),
    }
}

/// SIGHUP: reads the configuration again and puts its TLS certificate and metrics token in
/// use; settings that only apply at start are reported when they changed.
fn reload(tls: Option<&CertResolver>, state: &AppState, running: &Config) {
    let fresh = match Config::resolve(running.origin.clone()) {
        Ok(c) => c,
        Err(e) => return tracing::error!("SIGHUP: the configuration does not load, nothing changed: {e}"),
    };
    match (tls, &fresh.tls_cert, &fresh.tls_key) {
        (Some(resolver), Some(cert), Some(key)) => match resolver.reload(cert, key) {
            Ok(()) => tracing::info!("SIGHUP: TLS certificate reloaded from {}", cert.display()),
            Err(e) => tracing::error!("SIGHUP: TLS certificate not reloaded, the old one stays: {e}"),
        },
        (None, Some(_), _) => tracing::warn!("SIGHUP: the server was started without TLS; turning HTTPS on needs a restart"),
        (Some(_), None, _) => tracing::warn!("SIGHUP: turning HTTPS off needs a restart"),
        _ => {}
    }
    if state.set_metrics_token(fresh.metrics_token.clone()) {
        tracing::info!("SIGHUP: metrics token replaced");
    }
    let needs_restart = restart_only_changes(running, &fresh);
    if !needs_restart.is_empty() {
        tracing::warn!("SIGHUP: these settings changed but apply only at start (restart to use them): {}", needs_restart.join(", "));
    }
}

/// The settings that differ between `a` and `b` and are read only at start.
fn restart_only_changes(a: &Config, b: &Config) -> Vec<&'static str> {
    let mut changed = Vec::new();
    let mut note = |name, differs: bool| {
        if differs {
            changed.push(name);
        }
    };
    note("data_dir", a.data_dir != b.data_dir);
    note("address", a.address != b.address);
    note("region", a.region != b.region);
    note("domain", a.domain != b.domain);
    note("website_address", a.website_address != b.website_address);
    note("website_domain", a.website_domain != b.website_domain);
    note("console_address", a.console_address != b.console_address);
    note("workers", a.workers != b.workers);
    note("master_key_file", a.master_key_file != b.master_key_file);
    note("sse_c_allow_http", a.sse_c_allow_http != b.sse_c_allow_http);
    note("limits", format!("{:?}", a.limits) != format!("{:?}", b.limits));
    note("scrub_period", a.scrub_period != b.scrub_period);
    note("scrub_max_bytes_per_sec", a.scrub_max_bytes_per_sec != b.scrub_max_bytes_per_sec);
    note("lifecycle_day_secs", a.lifecycle_day_secs != b.lifecycle_day_secs);
    note("tier", format!("{:?}", a.tiers) != format!("{:?}", b.tiers));
    note("shutdown_timeout", a.shutdown_timeout != b.shutdown_timeout);
    note("blobs", a.blobs != b.blobs);
    changed
}
