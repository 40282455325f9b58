//! `coffer admin bucket list|info|quota` and `coffer admin info`: what each bucket holds
//! (objects, versions, logical and stored bytes, configuration), its quota, and the store as a
//! whole. Safe while the server runs; a quota change applies from the next write.

use crate::admin::{open_store, runtime};
use crate::service::Running;
use crate::table::{self, Table};
use coffer_storage::{Bucket, BucketSpace, IndexCounts, Quota, Site, Store, Usage};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// What `coffer admin bucket quota` is asked to do.
pub enum QuotaAction {
    Show,
    /// Set these limits; None in a field keeps that limit as it is.
    Set(Quota),
    Clear,
}

#[derive(Serialize)]
struct BucketRow {
    name: String,
    owner: String,
    created_ms: i64,
    versioning: &'static str,
    #[serde(flatten)]
    usage: Usage,
    quota: Quota,
}

#[derive(Serialize)]
struct BucketInfo {
    name: String,
    owner: String,
    region: String,
    created_ms: i64,
    versioning: &'static str,
    object_lock: bool,
    #[serde(flatten)]
    space: BucketSpace,
    /// The kinds of configuration the bucket has (policy, lifecycle, cors, ...).
    configuration: Vec<String>,
}

async fn bucket(store: &Store, name: &str) -> Result<Bucket, String> {
    store.bucket(name).await.map_err(|e| match e {
        coffer_storage::StorageError::NoSuchBucket => format!("no bucket called {name}"),
        other => other.to_string(),
    })
}

/// A limit for people: the number, or "-" for none.
fn limit(v: Option<u64>, show: fn(u64) -> String) -> String {
    v.map(show).unwrap_or_else(|| "-".into())
}

fn quota_text(q: &Quota) -> String {
    match q.is_set() {
        true => format!("max bytes {}, max objects {}", limit(q.max_bytes, table::bytes), limit(q.max_objects, |n| n.to_string())),
        false => "none".into(),
    }
}

pub fn list(site: &Site, json: bool) -> Result<(), String> {
    let store = open_store(site)?;
    runtime()?.block_on(async {
        let mut rows = Vec::new();
        for b in store.all_buckets().await.map_err(|e| e.to_string())? {
            let (usage, quota) = store.bucket_usage(b.id).await.map_err(|e| e.to_string())?;
            rows.push(BucketRow { name: b.name, owner: b.owner.name, created_ms: b.created_ms, versioning: b.versioning.as_str(), usage, quota });
        }
        table::print(json, &rows, |rows| {
            let mut t = Table::new(&["NAME", "OWNER", "OBJECTS", "VERSIONS", "BYTES", "MAX BYTES", "MAX OBJECTS", "VERSIONING", "CREATED"]);
            for r in rows {
                t.row(vec![
                    r.name.clone(),
                    r.owner.clone(),
                    r.usage.objects.to_string(),
                    r.usage.versions.to_string(),
                    r.usage.logical_bytes.to_string(),
                    limit(r.quota.max_bytes, |n| n.to_string()),
                    limit(r.quota.max_objects, |n| n.to_string()),
                    r.versioning.to_string(),
                    table::time(r.created_ms),
                ]);
            }
            t.render()
        })
    })
}

pub fn info(site: &Site, name: &str, json: bool) -> Result<(), String> {
    let store = open_store(site)?;
    runtime()?.block_on(async {
        let b = bucket(&store, name).await?;
        let space = store.bucket_space(b.id).await.map_err(|e| e.to_string())?;
        let configuration = store.bucket_config_kinds(b.id).await.map_err(|e| e.to_string())?;
        let info = BucketInfo {
            object_lock: configuration.iter().any(|k| k == coffer_storage::LOCK_KIND),
            name: b.name,
            owner: b.owner.name,
            region: b.region,
            created_ms: b.created_ms,
            versioning: b.versioning.as_str(),
            space,
            configuration,
        };
        table::print(json, &info, |i| {
            let u = &i.space.usage;
            table::fields(&[
                ("bucket", i.name.clone()),
                ("owner", i.owner.clone()),
                ("region", i.region.clone()),
                ("created", table::time(i.created_ms)),
                ("versioning", i.versioning.to_string()),
                ("object lock", if i.object_lock { "on" } else { "off" }.to_string()),
                ("objects", u.objects.to_string()),
                ("versions", u.versions.to_string()),
                ("delete markers", u.delete_markers.to_string()),
                ("logical bytes", table::bytes(u.logical_bytes)),
                ("stored bytes", table::bytes(i.space.stored_bytes)),
                ("quota", quota_text(&i.space.quota)),
                ("configuration", if i.configuration.is_empty() { "(none)".into() } else { i.configuration.join(", ") }),
            ])
        })
    })
}

pub fn quota(site: &Site, name: &str, action: QuotaAction, json: bool) -> Result<(), String> {
    let store = open_store(site)?;
    runtime()?.block_on(async {
        let b = bucket(&store, name).await?;
        let (usage, mut quota) = store.bucket_usage(b.id).await.map_err(|e| e.to_string())?;
        match action {
            QuotaAction::Show => {}
            QuotaAction::Clear => quota = Quota::default(),
            QuotaAction::Set(q) => {
                quota.max_bytes = q.max_bytes.or(quota.max_bytes);
                quota.max_objects = q.max_objects.or(quota.max_objects);
            }
        }
        store.set_bucket_quota(b.id, quota).await.map_err(|e| e.to_string())?;
        let shown = serde_json::json!({ "bucket": name, "quota": quota, "usage": usage });
        table::print(json, &shown, |_| {
            table::fields(&[
                ("bucket", name.to_string()),
                ("quota", quota_text(&quota)),
                ("used", format!("{} objects, {}", usage.objects, table::bytes(usage.logical_bytes))),
            ])
        })
    })
}

/// Parses a size for `--max-bytes`: a number of bytes, or one with a unit (KB, MB, GB, TB
/// are powers of 1000; KiB, MiB, GiB, TiB powers of 1024).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (number, unit) = (&t[..split], t[split..].trim());
    let factor: u64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1000,
        "m" | "mb" => 1000_u64.pow(2),
        "g" | "gb" => 1000_u64.pow(3),
        "t" | "tb" => 1000_u64.pow(4),
        "ki" | "kib" => 1 << 10,
        "mi" | "mib" => 1 << 20,
        "gi" | "gib" => 1 << 30,
        "ti" | "tib" => 1 << 40,
        _ => return Err(format!("{text:?}: unknown unit {unit:?} (use B, KB, MB, GB, TB, KiB, MiB, GiB or TiB)")),
    };
    let value: f64 = number.parse().map_err(|_| format!("{text:?} is not a size"))?;
    Ok((value * factor as f64).round() as u64)
}

/// What `coffer admin info` shows.
#[derive(Serialize)]
struct StoreInfo {
    /// This command's version (the server's is under `server`).
    version: &'static str,
    data_dir: PathBuf,
    /// The server running on the data dir, if any.
    server: Option<RunningServer>,
    disk: Disk,
    counts: IndexCounts,
    #[serde(flatten)]
    usage: Usage,
}

#[derive(Serialize)]
struct RunningServer {
    #[serde(flatten)]
    running: Running,
    uptime_secs: i64,
}

#[derive(Serialize)]
struct Disk {
    /// The index file with its write-ahead log.
    index_bytes: u64,
    /// Blob files on the local store that something references.
    blob_bytes: u64,
    filesystem_bytes: u64,
    filesystem_free_bytes: u64,
}

fn disk(data_dir: &Path, index_bytes: u64, blob_bytes: u64) -> Result<Disk, String> {
    let fs = rustix::fs::statvfs(data_dir).map_err(|e| format!("statvfs {}: {e}", data_dir.display()))?;
    Ok(Disk {
        index_bytes,
        blob_bytes,
        filesystem_bytes: fs.f_blocks * fs.f_frsize,
        filesystem_free_bytes: fs.f_bavail * fs.f_frsize,
    })
}

pub fn store_info(site: &Site, json: bool) -> Result<(), String> {
    let store = open_store(site)?;
    let data_dir = site.data_dir.as_path();
    runtime()?.block_on(async {
        let counts = store.index_counts().await.map_err(|e| e.to_string())?;
        let usage = store.total_usage().await.map_err(|e| e.to_string())?;
        let server = Running::find(data_dir).map(|running| RunningServer { uptime_secs: (coffer_storage::now_ms() - running.started_ms) / 1000, running });
        let info = StoreInfo { version: env!("CARGO_PKG_VERSION"), data_dir: data_dir.to_path_buf(), server, disk: disk(data_dir, store.index_bytes(), counts.blob_bytes)?, counts, usage };
        table::print(json, &info, |i| {
            let server = match &i.server {
                Some(s) => format!(
                    "running (pid {}, version {}, on {}, up {})",
                    s.running.pid,
                    s.running.version,
                    s.running.address,
                    humantime::format_duration(std::time::Duration::from_secs(s.uptime_secs.max(0) as u64))
                ),
                None => "not running".into(),
            };
            table::fields(&[
                ("version", i.version.to_string()),
                ("data dir", i.data_dir.display().to_string()),
                ("server", server),
                ("users", i.counts.users.to_string()),
                ("buckets", i.counts.buckets.to_string()),
                ("objects", i.usage.objects.to_string()),
                ("versions", i.usage.versions.to_string()),
                ("delete markers", i.usage.delete_markers.to_string()),
                ("logical bytes", table::bytes(i.usage.logical_bytes)),
                ("blobs", i.counts.blobs.to_string()),
                ("blob bytes", table::bytes(i.disk.blob_bytes)),
                ("index bytes", table::bytes(i.disk.index_bytes)),
                ("filesystem", format!("{} free of {}", table::bytes(i.disk.filesystem_free_bytes), table::bytes(i.disk.filesystem_bytes))),
            ])
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_with_units() {
        assert_eq!(parse_size("1234").unwrap(), 1234);
        assert_eq!(parse_size("10 GB").unwrap(), 10_000_000_000);
        assert_eq!(parse_size("1.5MiB").unwrap(), 1_572_864);
        assert_eq!(parse_size("2kib").unwrap(), 2048);
        assert!(parse_size("5 parsecs").is_err());
        assert!(parse_size("lots").is_err());
    }
}
