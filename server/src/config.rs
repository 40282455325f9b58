//! Server configuration: built-in defaults, then a TOML file, then environment variables and
//! command-line flags (clap merges those two), each layer overriding the one before.

use crate::limits::{LimitSettings, Limits};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

pub const DEFAULT_DATA_DIR: &str = "./coffer-data";
pub const DEFAULT_ADDRESS: &str = "127.0.0.1:9000";
pub const DEFAULT_REGION: &str = "us-east-1";
/// The scrubber reads the whole store once in this period...
pub const DEFAULT_SCRUB_PERIOD: std::time::Duration = std::time::Duration::from_secs(30 * 24 * 3600);
/// ...but never faster than this many bytes per second.
pub const DEFAULT_SCRUB_MAX_BYTES_PER_SEC: u64 = 50 << 20;
/// How long a stopping server lets requests in flight finish.
pub const DEFAULT_SHUTDOWN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);
/// /metrics recomputes usage per bucket at most this often.
/// How long access log records wait for others to share their log object (S3 delivers
/// within a few hours; a few minutes keeps objects few without keeping users waiting).
pub const DEFAULT_ACCESS_LOG_INTERVAL: std::time::Duration = std::time::Duration::from_secs(300);
pub const DEFAULT_METRICS_USAGE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(60);
/// How often the blob collector looks for unreferenced blobs once it has found none.
pub const DEFAULT_GC_INTERVAL: std::time::Duration = std::time::Duration::from_secs(30);

/// The settings `coffer serve` runs with.
#[derive(Clone, Debug)]
pub struct Config {
    pub data_dir: PathBuf,
    /// Where the index lives: SQLite in the data dir, or a PostgreSQL database.
    pub metadata: coffer_storage::Metadata,
    pub address: String,
    pub region: String,
    /// Base domain for virtual-hosted-style requests (`<bucket>.<domain>`); none means path-style only.
    pub domain: Option<String>,
    /// Where the static website listener binds (off when None).
    pub website_address: Option<String>,
    /// Base domain of website requests (`<bucket>.<website domain>`); without it the whole
    /// Host names the bucket.
    pub website_domain: Option<String>,
    /// Where the web console listens (off when None): the S3 API plus the console's page.
    pub console_address: Option<String>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// HTTP worker threads; defaults to the number of cores.
    pub workers: Option<usize>,
    /// Where the master key is kept when COFFER_MASTER_KEY is not set (default: in the data dir).
    pub master_key_file: Option<PathBuf>,
    /// Accept SSE-C keys over plain HTTP (for loopback testing only).
    pub sse_c_allow_http: bool,
    /// Connection, request and header limits (see `limits`).
    pub limits: Limits,
    /// How long one scrub pass over every blob may take (zero turns the scrubber off).
    pub scrub_period: std::time::Duration,
    /// The scrubber's reading speed limit.
    pub scrub_max_bytes_per_sec: u64,
    /// For tests: one lifecycle "day" lasts this many seconds, counted exactly.
    pub lifecycle_day_secs: Option<u64>,
    /// Storage tiers of the configuration file (`[[tier]]` tables).
    pub tiers: Vec<coffer_storage::tiers::TierSpec>,
    /// Where the store's own blobs live (None: where the index says, else the data dir).
    pub blobs: Option<coffer_storage::blob_store::BlobLocation>,
    /// How long server access log records wait before delivery (Put/GetBucketLogging).
    pub access_log_interval: std::time::Duration,
    /// How often the blob collector looks for unreferenced blobs once it has found none.
    pub gc_interval: std::time::Duration,
    /// Where a listener for /metrics and the health checks binds (off when None).
    pub metrics_address: Option<String>,
    /// The bearer token that lets a scrape of /metrics in (besides the root user's keys on
    /// the S3 port); when set, the metrics listener asks for it too.
    pub metrics_token: Option<String>,
    /// How often /metrics recomputes usage per bucket at most (a scan of the index).
    pub metrics_usage_interval: std::time::Duration,
    pub log_format: LogFormat,
    /// How long SIGTERM waits for requests in flight before it closes their connections.
    pub shutdown_timeout: std::time::Duration,
    /// The flags, environment and file these settings came from, for SIGHUP to read again.
    pub origin: Overrides,
}

/// How log lines (the access log among them) are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Readable text, one line per event.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// Every setting of `coffer serve` as one source gives it (the TOML file, or the environment
/// and flags, which clap merges): all optional, so sources can be layered.
#[derive(Debug, Default, Clone, Serialize, Deserialize, clap::Args)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Where objects and the index live.
    #[arg(long, env = "COFFER_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Where the index lives: `sqlite` (in the data dir, the default) or a PostgreSQL
    /// database several nodes share, postgres://USER[:PASSWORD]@HOST:PORT/DB.
    #[arg(long, env = "COFFER_METADATA", hide_env_values = true)]
    pub metadata: Option<String>,
    /// Address to listen on, HOST:PORT.
    #[arg(long, env = "COFFER_ADDRESS")]
    pub address: Option<String>,
    /// Region reported to clients and expected in signatures.
    #[arg(long, env = "COFFER_REGION")]
    pub region: Option<String>,
    /// Base domain for virtual-hosted-style addressing.
    #[arg(long, env = "COFFER_DOMAIN")]
    pub domain: Option<String>,
    /// Address of the static website listener, HOST:PORT (off unless given).
    #[arg(long, env = "COFFER_WEBSITE_ADDRESS")]
    pub website_address: Option<String>,
    /// Base domain of website requests: `<bucket>.<domain>`; else the whole Host is the bucket.
    #[arg(long, env = "COFFER_WEBSITE_DOMAIN")]
    pub website_domain: Option<String>,
    /// Address of the web console listener, HOST:PORT (off unless given): the S3 API plus
    /// the console's page under /_console/.
    #[arg(long, env = "COFFER_CONSOLE_ADDRESS")]
    pub console_address: Option<String>,
    /// PEM certificate chain; serve HTTPS when given with --tls-key.
    #[arg(long, env = "COFFER_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long, env = "COFFER_TLS_KEY")]
    pub tls_key: Option<PathBuf>,
    /// HTTP worker threads.
    #[arg(long, env = "COFFER_WORKERS")]
    pub workers: Option<usize>,
    /// File holding the base64 master key (created on first start); COFFER_MASTER_KEY overrides it.
    #[arg(long, env = "COFFER_MASTER_KEY_FILE")]
    pub master_key_file: Option<PathBuf>,
    /// Accept SSE-C customer keys over plain HTTP (S3 demands HTTPS; for loopback testing).
    #[arg(long, env = "COFFER_SSE_C_ALLOW_HTTP", num_args = 0..=1, default_missing_value = "true",
          value_parser = clap::builder::BoolishValueParser::new())]
    pub sse_c_allow_http: Option<bool>,
    /// The `[limits]` table of the file, or the limit flags (merged field by field in `resolve`).
    #[command(flatten)]
    #[serde(default)]
    pub limits: LimitSettings,
    /// Where blobs live: the data dir (default), an absolute directory (a shared mount), or
    /// s3://REMOTE/BUCKET[/PREFIX] with REMOTE from `coffer admin remote add`. Fixed once the
    /// data dir has blobs: the index records it.
    #[arg(long, env = "COFFER_BLOBS")]
    pub blobs: Option<String>,
    /// How long server access log records (Put/GetBucketLogging) wait before they are written
    /// as a log object into the target bucket, e.g. `5m` (the default), `1s`.
    #[arg(long, env = "COFFER_ACCESS_LOG_INTERVAL")]
    pub access_log_interval: Option<String>,
    /// How often the blob collector looks for blobs nothing references any more, once it has
    /// found none, e.g. `30s` (the default) or `1s`: deleted bytes free their space within it.
    #[arg(long, env = "COFFER_GC_INTERVAL")]
    pub gc_interval: Option<String>,
    /// How long the scrubber takes to re-read every blob once, e.g. `30d`, `12h`, `1s` (`0s`: off).
    #[arg(long, env = "COFFER_SCRUB_PERIOD")]
    pub scrub_period: Option<String>,
    /// Most bytes per second the scrubber reads.
    #[arg(long, env = "COFFER_SCRUB_MAX_BYTES_PER_SEC")]
    pub scrub_max_bytes_per_sec: Option<u64>,
    /// For testing lifecycle rules: one lifecycle "day" lasts this many seconds (due times are
    /// creation + N x days seconds, not rounded), and the lifecycle worker checks every second.
    #[arg(long, env = "COFFER_LIFECYCLE_DAY_SECS", value_parser = clap::value_parser!(u64).range(1..))]
    pub lifecycle_day_secs: Option<u64>,
    /// How long a stopping server (SIGTERM) lets requests in flight finish, e.g. `30s`.
    #[arg(long, env = "COFFER_SHUTDOWN_TIMEOUT")]
    pub shutdown_timeout: Option<String>,
    /// Storage tiers (`[[tier]]` tables of the file only; `coffer admin tier add` registers
    /// more while the server runs).
    #[arg(skip)]
    #[serde(default, rename = "tier", skip_serializing_if = "Vec::is_empty")]
    pub tiers: Vec<coffer_storage::tiers::TierSpec>,
    /// Address of a listener serving only /metrics and the health checks, HOST:PORT (off
    /// unless given); it asks for no credentials unless --metrics-token is set.
    #[arg(long, env = "COFFER_METRICS_ADDRESS")]
    pub metrics_address: Option<String>,
    /// A bearer token for scraping /metrics (`Authorization: Bearer TOKEN`).
    #[arg(long, env = "COFFER_METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<String>,
    /// How often /metrics recomputes usage per bucket at most, e.g. `60s` (the default) or
    /// `5m`: each time is a scan of the index.
    #[arg(long, env = "COFFER_METRICS_USAGE_INTERVAL")]
    pub metrics_usage_interval: Option<String>,
    /// Log lines as readable text or as JSON objects.
    #[arg(long, env = "COFFER_LOG_FORMAT", value_enum)]
    pub log_format: Option<LogFormat>,
}

impl Settings {
    pub fn load(path: &Path) -> Result<Settings, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
        toml::from_str(&text).map_err(|e| format!("parsing {}: {e}", path.display()))
    }

    /// These settings, with `lower`'s value wherever these have none.
    fn over(self, lower: Settings) -> Result<Settings, String> {
        let as_map = |s: Settings| match serde_json::to_value(s) {
            Ok(serde_json::Value::Object(map)) => Ok(map),
            other => Err(format!("settings do not serialize to a map: {other:?}")),
        };
        let mut merged = as_map(lower)?;
        merged.extend(as_map(self)?.into_iter().filter(|(_, v)| !v.is_null()));
        serde_json::from_value(serde_json::Value::Object(merged)).map_err(|e| e.to_string())
    }
}

/// The command line of `coffer serve`: settings from flags and the environment, and the file
/// that may supply the rest.
#[derive(Debug, Default, Clone, clap::Args)]
pub struct Overrides {
    #[command(flatten)]
    pub settings: Settings,
    /// TOML configuration file.
    #[arg(long, env = "COFFER_CONFIG")]
    pub config: Option<PathBuf>,
}

impl Config {
    /// The store's data dir and metadata.
    pub fn site(&self) -> coffer_storage::Site {
        coffer_storage::Site { data_dir: self.data_dir.clone(), metadata: self.metadata.clone() }
    }

    pub fn resolve(o: Overrides) -> Result<Config, String> {
        let file = match &o.config {
            Some(p) => Settings::load(p)?,
            None => Settings::default(),
        };
        let origin = o.clone();
        let (mut flags, mut file) = (o.settings, file);
        let limits = Limits::resolve(std::mem::take(&mut flags.limits), std::mem::take(&mut file.limits))?;
        let s = flags.over(file)?;
        let config = Config {
            data_dir: s.data_dir.unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR)),
            metadata: s.metadata.as_deref().unwrap_or_default().parse()?,
            address: s.address.unwrap_or_else(|| DEFAULT_ADDRESS.to_string()),
            region: s.region.unwrap_or_else(|| DEFAULT_REGION.to_string()),
            domain: s.domain.filter(|d| !d.is_empty()),
            website_address: s.website_address,
            website_domain: s.website_domain.filter(|d| !d.is_empty()),
            console_address: s.console_address,
            tls_cert: s.tls_cert,
            tls_key: s.tls_key,
            workers: s.workers,
            master_key_file: s.master_key_file,
            sse_c_allow_http: s.sse_c_allow_http.unwrap_or(false),
            limits,
            scrub_period: duration("scrub_period", s.scrub_period, DEFAULT_SCRUB_PERIOD)?,
            scrub_max_bytes_per_sec: s.scrub_max_bytes_per_sec.unwrap_or(DEFAULT_SCRUB_MAX_BYTES_PER_SEC),
            lifecycle_day_secs: s.lifecycle_day_secs,
            tiers: s.tiers,
            shutdown_timeout: duration("shutdown_timeout", s.shutdown_timeout, DEFAULT_SHUTDOWN_TIMEOUT)?,
            origin,
            blobs: s.blobs.as_deref().map(str::parse).transpose().map_err(|e| format!("blobs: {e}"))?,
            access_log_interval: duration("access_log_interval", s.access_log_interval, DEFAULT_ACCESS_LOG_INTERVAL)?,
            gc_interval: duration("gc_interval", s.gc_interval, DEFAULT_GC_INTERVAL)?,
            metrics_address: s.metrics_address,
            metrics_token: s.metrics_token.filter(|t| !t.is_empty()),
            metrics_usage_interval: duration("metrics_usage_interval", s.metrics_usage_interval, DEFAULT_METRICS_USAGE_INTERVAL)?,
            log_format: s.log_format.unwrap_or_default(),
        };
        for tier in &config.tiers {
            tier.validate()?;
        }
        if config.lifecycle_day_secs == Some(0) {
            return Err("lifecycle_day_secs must be at least 1".into());
        }
        if config.scrub_max_bytes_per_sec == 0 {
            return Err("scrub_max_bytes_per_sec must be above 0 (set scrub_period to 0s to turn the scrubber off)".into());
        }
        if config.access_log_interval < std::time::Duration::from_secs(1) {
            return Err("access_log_interval must be at least 1s".into());
        }
        if config.metrics_usage_interval < std::time::Duration::from_secs(1) {
            return Err("metrics_usage_interval must be at least 1s".into());
        }
        if config.gc_interval < std::time::Duration::from_secs(1) {
            return Err("gc_interval must be at least 1s".into());
        }
        if config.tls_cert.is_some() != config.tls_key.is_some() {
            return Err("--tls-cert and --tls-key go together".into());
        }
        Ok(config)
    }
}

/// The duration setting `name` (humantime, e.g. `30s`, `5m`), or `default` when not given.
fn duration(name: &str, value: Option<String>, default: std::time::Duration) -> Result<std::time::Duration, String> {
    match value {
        Some(v) => humantime::parse_duration(&v).map_err(|e| format!("{name} {v:?}: {e}")),
        None => Ok(default),
    }
}

/// Where an admin command finds the data dir and the master key: the same flags, environment
/// variables and configuration file as `coffer serve`, layered the same way.
#[derive(Debug, Default, Clone, clap::Args)]
pub struct AdminOverrides {
    /// TOML configuration file (the one `coffer serve --config` reads).
    #[arg(long, env = "COFFER_CONFIG")]
    pub config: Option<PathBuf>,
    /// Where objects and the index live.
    #[arg(long, env = "COFFER_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Where the index lives (as for `serve`): `sqlite` or a PostgreSQL URL.
    #[arg(long, env = "COFFER_METADATA", hide_env_values = true)]
    pub metadata: Option<String>,
    /// File holding the base64 master key (as for `serve`); COFFER_MASTER_KEY overrides it.
    #[arg(long, env = "COFFER_MASTER_KEY_FILE")]
    pub master_key_file: Option<PathBuf>,
}

impl AdminOverrides {
    /// The server's configuration as these options and the file give it; `region` (when the
    /// command takes one) overrides the file's.
    pub fn resolve(&self, region: Option<String>) -> Result<Config, String> {
        let settings = Settings { data_dir: self.data_dir.clone(), metadata: self.metadata.clone(), master_key_file: self.master_key_file.clone(), region, ..Default::default() };
        Config::resolve(Overrides { settings, config: self.config.clone() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_then_file_then_flags() {
        let dir = std::env::temp_dir().join(format!("coffer-config-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("c.toml");
        std::fs::write(&file, "region = \"eu-west-1\"\naddress = \"127.0.0.1:1\"\nlifecycle_day_secs = 3\n[limits]\nbody_timeout = 7\n").unwrap();
        let flags = Settings { address: Some("127.0.0.1:2".into()), ..Default::default() };
        let c = Config::resolve(Overrides { config: Some(file.clone()), settings: flags }).unwrap();
        assert_eq!(c.region, "eu-west-1");
        assert_eq!(c.address, "127.0.0.1:2");
        assert_eq!(c.data_dir, PathBuf::from(DEFAULT_DATA_DIR));
        assert_eq!(c.limits.body_timeout, std::time::Duration::from_secs(7));
        assert_eq!(c.lifecycle_day_secs, Some(3));
        assert_eq!(c.log_format, LogFormat::Text);
        std::fs::write(&file, "log_format = \"json\"\nmetrics_address = \"127.0.0.1:9100\"\nmetrics_token = \"t\"\nconsole_address = \"127.0.0.1:9200\"\n").unwrap();
        let c = Config::resolve(Overrides { config: Some(file.clone()), settings: Settings::default() }).unwrap();
        assert_eq!((c.log_format, c.metrics_address.as_deref(), c.metrics_token.as_deref()), (LogFormat::Json, Some("127.0.0.1:9100"), Some("t")));
        assert_eq!(c.console_address.as_deref(), Some("127.0.0.1:9200"));
        std::fs::write(&file, "[[tier]]\nname = \"cold\"\nkind = \"dir\"\npath = \"/srv/cold\"\nstorage_classes = [\"STANDARD_IA\"]\n").unwrap();
        let c = Config::resolve(Overrides { config: Some(file), settings: Settings::default() }).unwrap();
        assert_eq!(c.tiers[0].kind, coffer_storage::tiers::TierKind::Dir { path: "/srv/cold".into() });
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn scrub_settings_parse_durations_and_refuse_a_zero_rate() {
        let c = Config::resolve(Overrides::default()).unwrap();
        assert_eq!((c.scrub_period, c.scrub_max_bytes_per_sec), (DEFAULT_SCRUB_PERIOD, DEFAULT_SCRUB_MAX_BYTES_PER_SEC));
        let settings = Settings { scrub_period: Some("1s".into()), ..Default::default() };
        assert_eq!(Config::resolve(Overrides { settings, config: None }).unwrap().scrub_period, std::time::Duration::from_secs(1));
        let settings = Settings { scrub_period: Some("soon".into()), ..Default::default() };
        assert!(Config::resolve(Overrides { settings, config: None }).is_err());
        let settings = Settings { scrub_max_bytes_per_sec: Some(0), ..Default::default() };
        assert!(Config::resolve(Overrides { settings, config: None }).is_err());
    }

    #[test]
    fn gc_interval_is_30s_unless_set_and_at_least_a_second() {
        assert_eq!(Config::resolve(Overrides::default()).unwrap().gc_interval, DEFAULT_GC_INTERVAL);
        let settings = Settings { gc_interval: Some("1s".into()), ..Default::default() };
        assert_eq!(Config::resolve(Overrides { settings, config: None }).unwrap().gc_interval, std::time::Duration::from_secs(1));
        let settings = Settings { gc_interval: Some("500ms".into()), ..Default::default() };
        assert!(Config::resolve(Overrides { settings, config: None }).is_err());
    }

    #[test]
    fn tls_needs_both_files() {
        let settings = Settings { tls_cert: Some("c.pem".into()), ..Default::default() };
        assert!(Config::resolve(Overrides { settings, config: None }).is_err());
    }

    #[test]
    fn admin_commands_read_the_servers_file() {
        let dir = std::env::temp_dir().join(format!("coffer-config-admin-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("c.toml");
        std::fs::write(&file, "data_dir = \"/srv/coffer\"\nregion = \"eu-west-1\"\nshutdown_timeout = \"3s\"\n").unwrap();
        let admin = AdminOverrides { config: Some(file.clone()), ..Default::default() };
        let c = admin.resolve(None).unwrap();
        assert_eq!((c.data_dir, c.region.as_str()), (PathBuf::from("/srv/coffer"), "eu-west-1"));
        assert_eq!(c.shutdown_timeout, std::time::Duration::from_secs(3));
        let admin = AdminOverrides { data_dir: Some("/elsewhere".into()), ..admin };
        assert_eq!(admin.resolve(Some("r".into())).unwrap().data_dir, PathBuf::from("/elsewhere"));
        std::fs::remove_dir_all(dir).unwrap();
    }
}
