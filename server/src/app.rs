//! Starting the server: opens the store, ensures the root user, starts background upkeep,
//! and runs actix-web over HTTP or HTTPS (rustls) with TCP_NODELAY on every connection.

use crate::admin::ensure_root;
use crate::config::Config;
use crate::entry;
use crate::state::AppState;
use actix_web::{web, App, HttpServer};
use coffer_storage::Store;
use std::time::Duration;

/// How often unreferenced blobs are collected.
const GC_INTERVAL: Duration = Duration::from_secs(30);

pub fn run(config: Config) -> Result<(), String> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("COFFER_LOG").unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    actix_web::rt::System::new().block_on(serve(config))
}

async fn serve(config: Config) -> Result<(), String> {
    let store = Store::open(&config.data_dir).map_err(|e| format!("opening {}: {e}", config.data_dir.display()))?;
    ensure_root(&store).await?;
    spawn_upkeep(store.clone());
    let state = web::Data::new(AppState::new(store, &config));
    let server = HttpServer::new(move || {
        App::new().app_data(state.clone()).default_service(web::to(entry::handle))
    })
    .on_connect(|conn, _ext| {
        if let Some(tcp) = conn.downcast_ref::<actix_web::rt::net::TcpStream>() {
            let _ = tcp.set_nodelay(true);
        } else if let Some(tls) = conn.downcast_ref::<actix_tls::accept::rustls_0_23::TlsStream<actix_web::rt::net::TcpStream>>() {
            let _ = tls.get_ref().0.set_nodelay(true);
        }
    })
    .keep_alive(Duration::from_secs(75))
    .client_request_timeout(Duration::from_secs(60))
    .workers(config.workers.unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2)));

    let server = match (&config.tls_cert, &config.tls_key) {
        (Some(cert), Some(key)) => {
            let tls = crate::app::tls_config(cert, key)?;
            server.bind_rustls_0_23(&config.address, tls)
        }
        _ => server.bind(&config.address),
    }
    .map_err(|e| format!("binding {}: {e}", config.address))?;
    let scheme = if config.tls_cert.is_some() { "https" } else { "http" };
    tracing::info!("coffer listening on {scheme}://{} (data in {})", config.address, config.data_dir.display());
    server.run().await.map_err(|e| e.to_string())
}

/// Background upkeep: an orphan sweep at start, then periodic garbage collection.
fn spawn_upkeep(store: Store) {
    actix_web::rt::spawn(async move {
        match store.sweep_orphans().await {
            Ok(0) => {}
            Ok(n) => tracing::info!("removed {n} orphaned blob files"),
            Err(e) => tracing::warn!("orphan sweep failed: {e}"),
        }
        loop {
            match store.collect_garbage().await {
                Ok(0) => {}
                Ok(n) => tracing::debug!("collected {n} unreferenced blobs"),
                Err(e) => tracing::warn!("garbage collection failed: {e}"),
            }
            actix_web::rt::time::sleep(GC_INTERVAL).await;
        }
    });
}

fn tls_config(cert: &std::path::Path, key: &std::path::Path) -> Result<rustls::ServerConfig, String> {
    let read = |p: &std::path::Path| std::fs::read(p).map_err(|e| format!("reading {}: {e}", p.display()));
    let certs = rustls_pemfile::certs(&mut read(cert)?.as_slice())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("parsing {}: {e}", cert.display()))?;
    let key = rustls_pemfile::private_key(&mut read(key)?.as_slice())
        .map_err(|e| format!("parsing {}: {e}", key.display()))?
        .ok_or_else(|| format!("no private key in {}", key.display()))?;
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| format!("TLS setup: {e}"))
}
