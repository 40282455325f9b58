//! The process figures: resident memory and open files (read from /proc at each scrape),
//! start time, uptime and the build's version.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::info::Info;
use prometheus_client::metrics::MetricType;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

#[derive(Debug)]
pub struct Process {
    started: Instant,
    started_unix: f64,
}

impl Process {
    pub fn new() -> Process {
        let started_unix = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0);
        Process { started: Instant::now(), started_unix }
    }
}

/// Resident set size in bytes, from `VmRSS` of /proc/self/status (Linux).
fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kib = status.lines().find_map(|l| l.strip_prefix("VmRSS:"))?.trim().strip_suffix("kB")?.trim().parse::<u64>().ok()?;
    Some(kib * 1024)
}

fn open_fds() -> Option<u64> {
    Some(std::fs::read_dir("/proc/self/fd").ok()?.count() as u64)
}

impl Collector for Process {
    fn encode(&self, mut e: DescriptorEncoder) -> std::fmt::Result {
        let mut gauge = |name: &str, help: &str, value: f64| ConstGauge::new(value).encode(e.encode_descriptor(name, help, None, MetricType::Gauge)?);
        if let Some(rss) = resident_bytes() {
            gauge("process_resident_memory_bytes", "Resident memory of the server process", rss as f64)?;
        }
        if let Some(fds) = open_fds() {
            gauge("process_open_fds", "File descriptors the server process has open", fds as f64)?;
        }
        if let Ok((soft, _)) = rlimit::getrlimit(rlimit::Resource::NOFILE) {
            gauge("process_max_fds", "The server process's limit of open file descriptors", soft as f64)?;
        }
        gauge("process_start_time_seconds", "When the server started (Unix time)", self.started_unix)?;
        gauge("process_uptime_seconds", "How long the server has been running", self.started.elapsed().as_secs_f64())?;
        let info = Info::new([("version", env!("CARGO_PKG_VERSION"))]);
        info.encode(e.encode_descriptor("build", "The running build of Coffer", None, MetricType::Info)?)
    }
}
