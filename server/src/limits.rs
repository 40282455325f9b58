//! The resource limits a public endpoint needs (connections, requests in flight, timeouts,
//! request heads): settings as the config file and flags give them, and their defaults.

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// actix-http parses at most this many headers and answers `431` with no body beyond it.
pub const ACTIX_MAX_HEADERS: usize = 96;
/// actix-http buffers a request head up to this many bytes and answers `431` beyond it.
pub const ACTIX_MAX_HEAD_BYTES: usize = 128 * 1024;

/// How long a connection answered before its request body was read (an early error) goes on
/// reading and dropping that body before it closes. Closing with the body unread resets the
/// connection, which can destroy the answer on its way: a balancer in front then reports no
/// answer at all. (actix-http calls this the client disconnect timeout; zero would not linger.)
pub const LINGER: Duration = Duration::from_secs(2);

/// One limit setting each, all optional: the `[limits]` table of the config file, and the
/// flags and environment variables of `coffer serve`.
#[derive(Debug, Default, Clone, Serialize, Deserialize, clap::Args)]
#[serde(deny_unknown_fields)]
pub struct LimitSettings {
    /// Open client connections at most (all listeners' workers together); more wait in the
    /// listen backlog until one closes.
    #[arg(long, env = "COFFER_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,
    /// Requests being handled at once at most; more wait for a place (see
    /// `request_queue_wait`).
    #[arg(long, env = "COFFER_MAX_REQUESTS_IN_FLIGHT")]
    pub max_requests_in_flight: Option<usize>,
    /// Seconds a request past `max_requests_in_flight` waits for a place before it is answered
    /// 503 SlowDown (0: at once).
    #[arg(long, env = "COFFER_REQUEST_QUEUE_WAIT")]
    pub request_queue_wait: Option<u64>,
    /// Seconds a client may take to send a request head (from connecting, or from the first
    /// byte of a further request on a kept-alive connection).
    #[arg(long, env = "COFFER_REQUEST_HEAD_TIMEOUT")]
    pub request_head_timeout: Option<u64>,
    /// Seconds a request body may stall (no bytes arriving) before the request fails with
    /// 400 RequestTimeout and the connection is closed.
    #[arg(long, env = "COFFER_BODY_TIMEOUT")]
    pub body_timeout: Option<u64>,
    /// Seconds an idle kept-alive connection stays open.
    #[arg(long, env = "COFFER_KEEP_ALIVE")]
    pub keep_alive: Option<u64>,
    /// Request headers at most (up to 96); more are 400 RequestHeaderSectionTooLarge.
    #[arg(long, env = "COFFER_MAX_HEADER_COUNT")]
    pub max_header_count: Option<usize>,
    /// Bytes of request headers at most (names and values); more are 400 RequestHeaderSectionTooLarge.
    #[arg(long, env = "COFFER_MAX_HEADER_BYTES")]
    pub max_header_bytes: Option<usize>,
}

/// The limits the server runs with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    pub max_connections: usize,
    pub max_requests_in_flight: usize,
    pub request_queue_wait: Duration,
    pub request_head_timeout: Duration,
    pub body_timeout: Duration,
    pub keep_alive: Duration,
    pub max_header_count: usize,
    pub max_header_bytes: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_connections: 4096,
            max_requests_in_flight: 256,
            request_queue_wait: Duration::from_secs(10),
            request_head_timeout: Duration::from_secs(30),
            body_timeout: Duration::from_secs(60),
            keep_alive: Duration::from_secs(75),
            max_header_count: 64,
            max_header_bytes: 16 * 1024,
        }
    }
}

impl Limits {
    /// The defaults, overridden by the config file's settings, overridden by the flags'.
    pub fn resolve(flags: LimitSettings, file: LimitSettings) -> Result<Limits, String> {
        let d = Limits::default();
        let secs = |flag: Option<u64>, file: Option<u64>, default: Duration| flag.or(file).map(Duration::from_secs).unwrap_or(default);
        let limits = Limits {
            max_connections: flags.max_connections.or(file.max_connections).unwrap_or(d.max_connections),
            max_requests_in_flight: flags.max_requests_in_flight.or(file.max_requests_in_flight).unwrap_or(d.max_requests_in_flight),
            request_queue_wait: secs(flags.request_queue_wait, file.request_queue_wait, d.request_queue_wait),
            request_head_timeout: secs(flags.request_head_timeout, file.request_head_timeout, d.request_head_timeout),
            body_timeout: secs(flags.body_timeout, file.body_timeout, d.body_timeout),
            keep_alive: secs(flags.keep_alive, file.keep_alive, d.keep_alive),
            max_header_count: flags.max_header_count.or(file.max_header_count).unwrap_or(d.max_header_count),
            max_header_bytes: flags.max_header_bytes.or(file.max_header_bytes).unwrap_or(d.max_header_bytes),
        };
        limits.validate()?;
        Ok(limits)
    }

    fn validate(&self) -> Result<(), String> {
        if self.max_connections == 0 || self.max_requests_in_flight == 0 {
            return Err("max_connections and max_requests_in_flight must be at least 1".into());
        }
        if self.request_head_timeout.is_zero() || self.body_timeout.is_zero() {
            return Err("request_head_timeout and body_timeout must be at least 1 second".into());
        }
        if !(1..=ACTIX_MAX_HEADERS).contains(&self.max_header_count) {
            return Err(format!("max_header_count must be between 1 and {ACTIX_MAX_HEADERS}"));
        }
        if !(1024..=ACTIX_MAX_HEAD_BYTES).contains(&self.max_header_bytes) {
            return Err(format!("max_header_bytes must be between 1024 and {ACTIX_MAX_HEAD_BYTES}"));
        }
        Ok(())
    }

    /// Connections per worker thread, so that all workers together keep to `max_connections`.
    pub fn connections_per_worker(&self, workers: usize) -> usize {
        self.max_connections.div_ceil(workers.max(1)).max(1)
    }
}

/// Raises this process's soft limit on open files to its hard limit, so that the connection
/// limit, not the file limit, decides how many clients are served; returns the new soft limit.
pub fn raise_open_files_limit() -> std::io::Result<u64> {
    rlimit::increase_nofile_limit(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_override_file_override_defaults() {
        let file = LimitSettings { max_connections: Some(10), body_timeout: Some(5), ..Default::default() };
        let flags = LimitSettings { max_connections: Some(20), ..Default::default() };
        let l = Limits::resolve(flags, file).unwrap();
        assert_eq!(l.max_connections, 20);
        assert_eq!(l.body_timeout, Duration::from_secs(5));
        assert_eq!(l.keep_alive, Limits::default().keep_alive);
    }

    #[test]
    fn rejects_limits_actix_cannot_keep() {
        let too_many = LimitSettings { max_header_count: Some(200), ..Default::default() };
        assert!(Limits::resolve(too_many, LimitSettings::default()).is_err());
        let zero = LimitSettings { max_requests_in_flight: Some(0), ..Default::default() };
        assert!(Limits::resolve(LimitSettings::default(), zero).is_err());
    }

    #[test]
    fn connections_split_over_workers() {
        let l = Limits { max_connections: 1001, ..Limits::default() };
        assert_eq!(l.connections_per_worker(2), 501);
        assert_eq!(l.connections_per_worker(0), 1001);
    }

    #[test]
    fn open_files_limit_is_raised_to_the_hard_limit() {
        let soft = raise_open_files_limit().unwrap();
        let (now_soft, hard) = rlimit::getrlimit(rlimit::Resource::NOFILE).unwrap();
        assert_eq!((soft, now_soft), (hard, hard));
    }
}
