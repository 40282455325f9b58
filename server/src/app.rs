//! Starting the server: opens the store, ensures the root user, starts the background workers,
//! and runs actix-web over HTTP or HTTPS (rustls) with TCP_NODELAY on every connection until a
//! signal stops it (see `service`), then stops the workers.

use crate::admin::ensure_root;
use crate::config::{Config, LogFormat};
use crate::metrics::Metrics;
use crate::keys::secrets::{self, Secrets};
use crate::entry;
use crate::service::Running;
use crate::state::AppState;
use crate::tls::CertResolver;
use crate::workers::{AccessLogDelivery, GarbageCollector, IndexSpace, LifecycleWorker, NotifyWorker, OrphanSweep, ReplicationWorker, Scrubber, TieringWorker, Workers};
use actix_http::{HttpService, KeepAlive};
use actix_service::{fn_service, map_config};
use actix_web::dev::AppConfig;
use actix_web::{web, App};

pub fn run(config: Config) -> Result<(), String> {
    keep_buffers_in_the_heap();
    init_logging(config.log_format);
    actix_web::rt::System::new().block_on(serve(config))
}

/// Large uploads move through 1 MiB buffers (received batches, direct-write buffers). glibc
/// hands allocations above its mmap threshold (128 KiB until it adapts) fresh pages from the
/// system and gives memory back above its trim threshold, so those buffers page-faulted again
/// for every file: multipart parts at c=2 took 150,000-500,000 faults in 8 s, and at most
/// 2,000 with these settings. They are glibc's own adaptive values after it frees a chunk of a few
/// MiB, fixed from the start: 4 MiB to mmap, 16 MiB of free heap kept before trimming.
fn keep_buffers_in_the_heap() {
    #[cfg(target_env = "gnu")]
    // SAFETY: mallopt only sets allocator parameters; called before the server's threads start.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 4 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 16 << 20);
    }
}

/// Log lines go to stderr as text or JSON objects, filtered by `COFFER_LOG` (default `info`).
fn init_logging(format: LogFormat) {
    let logs = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("COFFER_LOG").unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => logs.with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())).init(),
        LogFormat::Json => logs.json().flatten_event(true).with_span_list(false).init(),
    }
}

/// The HTTP/1 service of one worker: the S3 app (`handler` is `entry::handle`, or the
/// console's, which wraps it), with `Expect: 100-continue` answered only after
/// `entry::expect_continue` lets the request through.
macro_rules! h1_service {
    ($state:expr, $handler:expr) => {{
        let state = $state.clone();
        let expect_state = $state.clone();
        let requests = $state.metrics.requests.clone();
        let app = App::new().app_data(state).default_service(web::to($handler));
        HttpService::build()
            .on_connect_ext(move |_, extensions| {
                extensions.insert(requests.connection());
            })
            .keep_alive(KeepAlive::Timeout($state.limits.keep_alive))
            .client_request_timeout($state.limits.request_head_timeout)
            .client_disconnect_timeout(crate::limits::LINGER)
            .tcp_nodelay(true)
            .expect(fn_service(move |req: actix_http::Request| {
                let state = expect_state.clone();
                async move { entry::expect_continue(req, &state).await }
            }))
            .finish(map_config(app, |_| AppConfig::default()))
    }};
}

/// The plain-HTTP service of a listener beside the S3 one (website, metrics): `handler`
/// answers every request.
macro_rules! side_service {
    ($state:expr, $handler:expr) => {{
        let app = App::new().app_data($state.clone()).default_service(web::to($handler));
        HttpService::build()
            .keep_alive(KeepAlive::Timeout($state.limits.keep_alive))
            .client_request_timeout($state.limits.request_head_timeout)
            .client_disconnect_timeout(crate::limits::LINGER)
            .tcp_nodelay(true)
            .finish(map_config(app, |_| AppConfig::default()))
            .tcp()
    }};
}

async fn serve(config: Config) -> Result<(), String> {
    tighten_permissions(&config.data_dir)?;
    let master = crate::keys::master_key::load(&config.site(), config.master_key_file.as_deref())?;
    let secrets = Secrets::new(master.clone());
    let store = secrets::open_store(&config.site(), &secrets).await?;
    let store = crate::blob_setup::install(store, &secrets, config.blobs.as_ref()).await?;
    store.clear_staging().map_err(|e| format!("clearing {}/tmp: {e}", config.data_dir.display()))?;
    ensure_root(&store, &secrets).await?;
    let mut background = Workers::sharing(store.clone());
    background.start(OrphanSweep::new(store.clone()));
    background.start(GarbageCollector::new(store.clone(), config.gc_interval));
    background.start(IndexSpace::new(store.clone()));
    if config.scrub_period.is_zero() {
        tracing::info!("scrubber off (scrub_period is 0)");
    } else {
        background.start(Scrubber::new(store.clone(), config.scrub_period, config.scrub_max_bytes_per_sec));
    }
    let tier_sources = crate::tier_set::install(&store, &secrets, &config.tiers).await?;
    let clock = crate::bucket_config::lifecycle::Clock::new(config.lifecycle_day_secs);
    let tiering = TieringWorker::new(store.clone(), secrets.clone(), config.tiers.clone(), tier_sources, clock);
    let tiering_counters = tiering.counters();
    background.start(tiering);
    let notify = NotifyWorker::new(store.clone(), secrets.clone());
    let notify_counters = notify.counters();
    background.start(notify);
    let lifecycle = LifecycleWorker::new(store.clone(), config.lifecycle_day_secs);
    let lifecycle_counters = lifecycle.counters();
    background.start(lifecycle);
    let keyring = crate::keys::kms::open(crate::keys::kms::Home::of(&config.site(), &store), master.clone(), &config.region)?;
    // Key material that does not open with this master key is a misconfiguration to report
    // now, not a KMS error on the first encrypted read.
    keyring.verify().map_err(|e| format!("KMS keyring: {e}"))?;
    let keyring = std::sync::Arc::new(keyring);
    let keys = std::sync::Arc::new(crate::request::sse::Keys::new(master, keyring.clone()));
    let replication = ReplicationWorker::new(store.clone(), crate::outbound::Remotes::new(store.clone(), secrets.clone()), keys.clone());
    let replication_counters = replication.counters();
    background.start(replication);
    let metrics = std::sync::Arc::new(Metrics::new(store.clone(), std::sync::Arc::new(background.board()), config.metrics_usage_interval));
    background.start(AccessLogDelivery::new(store.clone(), config.access_log_interval));
    let state = web::Data::new(AppState::new(store, &config, keys, keyring, secrets, metrics));
    state.logged_buckets.reload(&state.store).await.map_err(|e| format!("reading which buckets log requests: {e}"))?;
    let http_workers = config.workers.unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2));
    match crate::limits::raise_open_files_limit() {
        Ok(n) => tracing::debug!("open files limit: {n}"),
        Err(e) => tracing::warn!("cannot raise the open files limit: {e}"),
    }
    // Signals are `service::handle_signals`'s: it drains requests in flight before stopping.
    let builder = actix_server::Server::build()
        .workers(http_workers)
        .max_concurrent_connections(config.limits.connections_per_worker(http_workers))
        .disable_signals();
    let (s3_state, console_state) = (state.clone(), state.clone());
    let cert_resolver = match (&config.tls_cert, &config.tls_key) {
        (Some(cert), Some(key)) => Some(CertResolver::load(cert, key)?),
        _ => None,
    };
    let builder = match &cert_resolver {
        Some(resolver) => {
            let tls = CertResolver::server_config(resolver)?;
            builder.bind("coffer-https", &config.address, move || h1_service!(s3_state, entry::handle).rustls_0_23(tls.clone()))
        }
        None => builder.bind("coffer-http", &config.address, move || h1_service!(s3_state, entry::handle).tcp()),
    }
    .map_err(|e| format!("binding {}: {e}", config.address))?;
    let scheme = if config.tls_cert.is_some() { "https" } else { "http" };
    tracing::info!("coffer listening on {scheme}://{} (data in {})", config.address, config.data_dir.display());
    // The console speaks HTTPS with the S3 port's certificate when there is one.
    let builder = match (&config.console_address, &cert_resolver) {
        (Some(address), Some(resolver)) => {
            let tls = CertResolver::server_config(resolver)?;
            builder.bind("coffer-console", address, move || h1_service!(console_state, crate::console::handle).rustls_0_23(tls.clone()))
        }
        (Some(address), None) => builder.bind("coffer-console", address, move || h1_service!(console_state, crate::console::handle).tcp()),
        (None, _) => Ok(builder),
    }
    .map_err(|e| format!("binding the console: {e}"))?;
    if let Some(address) = &config.console_address {
        tracing::info!("web console on {scheme}://{address}{}", crate::console::PREFIX);
    }
    let signal_state = state.clone();
    let builder = match &config.metrics_address {
        Some(address) => bind_metrics(builder, address, &state, config.metrics_token.is_some())?,
        None => builder,
    };
    let builder = match &config.website_address {
        Some(address) => {
            let b = builder
                .bind("coffer-website", address, move || side_service!(state, crate::handlers::website::serve))
                .map_err(|e| format!("binding {address}: {e}"))?;
            tracing::info!("website endpoint on http://{address}");
            b
        }
        None => builder,
    };
    let server = builder.run();
    let _running = Running::note(&config)?;
    actix_web::rt::spawn(crate::service::handle_signals(server.handle(), signal_state, cert_resolver, config.clone()));
    let served = server.await.map_err(|e| e.to_string());
    background.stop().await;
    tracing::info!(totals = ?lifecycle_counters.totals(), "lifecycle since start");
    tracing::info!(totals = ?tiering_counters, "tiering since start");
    tracing::info!(totals = ?replication_counters, "replication since start");
    tracing::info!(totals = ?notify_counters, "event notifications since start");
    served
}

/// Adds the listener of /metrics and the health checks at `address`.
fn bind_metrics(builder: actix_server::ServerBuilder, address: &str, state: &web::Data<AppState>, token: bool) -> Result<actix_server::ServerBuilder, String> {
    let state = state.clone();
    let builder = builder
        .bind("coffer-metrics", address, move || side_service!(state, crate::probes::serve_listener))
        .map_err(|e| format!("binding {address}: {e}"))?;
    let loopback = address.parse::<std::net::SocketAddr>().is_ok_and(|a| a.ip().is_loopback()) || address.starts_with("localhost:");
    if !token && !loopback {
        tracing::warn!("metrics listener on {address} asks for no credentials: set metrics_token, or bind it to a loopback address");
    }
    tracing::info!("metrics and health checks on http://{address}/metrics");
    Ok(builder)
}

/// Takes group and other permissions off everything in an existing data dir (one created by an
/// older Coffer, or loosened by hand); what Coffer creates is owner-only from the start.
fn tighten_permissions(data_dir: &std::path::Path) -> Result<(), String> {
    let started = std::time::Instant::now();
    let changed = coffer_storage::perms::tighten_tree(data_dir).map_err(|e| format!("tightening {}: {e}", data_dir.display()))?;
    if changed > 0 {
        tracing::info!(
            "made {changed} entries in {} readable by their owner only (directories 0700, files 0600) in {:?}",
            data_dir.display(),
            started.elapsed()
        );
    }
    Ok(())
}
