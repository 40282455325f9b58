//! Admin commands that keep a data dir's data safe, run next to a live server: the scrubber's
//! status, and online backups of the index with the small files beside it.

use crate::http::xml::timestamp;
use crate::keys::{kms, master_key};
use coffer_storage::{IndexCounts, ScrubPass, ScrubPosition};
use serde::Serialize;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The index copy's name in a backup (and in a data dir).
const INDEX_FILE: &str = "index.sqlite";
const MANIFEST_FILE: &str = "manifest.json";
const MASTER_KEY_FILE: &str = "master.key";

/// `coffer admin scrub status`: the pass under way, the last finished one, and every blob
/// recorded as corrupt.
pub fn scrub_status(data_dir: &Path, json: bool) -> Result<(), String> {
    let status = coffer_storage::scrub_status(data_dir).map_err(|e| e.to_string())?;
    crate::table::print(json, &status, |status| {
        let mut out = match &status.state.current {
            Some(pass) => format!("pass under way: {}\n", describe(pass)),
            None => "pass under way: none\n".to_string(),
        };
        out += &match &status.state.last {
            Some(pass) => format!("last finished pass: {}\n", describe(pass)),
            None => "last finished pass: none yet\n".to_string(),
        };
        out += &format!("corrupt blobs: {}\n", status.corrupt.len());
        for blob in &status.corrupt {
            out += &format!("  {}  found {} by {}\n", blob.hash, timestamp(blob.detected_ms), blob.source);
        }
        out
    })
}

/// `coffer admin replication status BUCKET`: the bucket's versions by replication status and
/// what waits in its outbox.
pub fn replication_status(site: &coffer_storage::Site, bucket: &str, json: bool) -> Result<(), String> {
    crate::admin::runtime()?.block_on(async {
        let store = crate::admin::open_store(site)?;
        let b = store.bucket(bucket).await.map_err(|e| format!("{bucket}: {e}"))?;
        let s = store.replication_status(b.id).await.map_err(|e| e.to_string())?;
        let resync = store.resync_position(b.id).await.map_err(|e| e.to_string())?;
        let mut shown = serde_json::to_value(&s).map_err(|e| e.to_string())?;
        shown["resync"] = match &resync {
            Some(c) => serde_json::json!({ "failed_only": c.failed_only, "after_key": c.after.as_ref().map(|(k, _)| k) }),
            None => serde_json::Value::Null,
        };
        crate::table::print(json, &shown, |_| {
            let mut out = format!("pending: {} versions, {} bytes\n", s.pending, s.pending_bytes);
            out += &format!("failed: {} versions, {} bytes\n", s.failed, s.failed_bytes);
            out += &format!("completed: {} versions\n", s.completed);
            out += &match s.oldest_pending_ms {
                Some(ms) => format!("oldest pending since: {}\n", timestamp(ms)),
                None => "oldest pending since: nothing pending\n".to_string(),
            };
            if let Some(e) = &s.last_error {
                out += &format!("last error: {e}\n");
            }
            out += &match &resync {
                Some(c) => {
                    let which = if c.failed_only { "failed versions" } else { "all versions" };
                    let at = c.after.as_ref().map(|(k, _)| format!("after key {k:?}")).unwrap_or_else(|| "at the start".into());
                    format!("resync: running ({which}), {at}\n")
                }
                None => "resync: none running\n".to_string(),
            };
            out
        })
    })
}

/// `coffer admin replication resync BUCKET [--failed]`: the running server does the walk.
pub fn start_resync(site: &coffer_storage::Site, bucket: &str, failed_only: bool) -> Result<(), String> {
    crate::admin::runtime()?.block_on(async {
        let store = crate::admin::open_store(site)?;
        let b = store.bucket(bucket).await.map_err(|e| format!("{bucket}: {e}"))?;
        if store.bucket_config(b.id, coffer_storage::ROUTES_KIND).await.map_err(|e| e.to_string())?.is_none() {
            return Err(format!("{bucket} has no replication configuration"));
        }
        store.start_resync(b.id, failed_only).await.map_err(|e| e.to_string())?;
        println!("resync of {bucket} started; the server walks the bucket (see: coffer admin replication status {bucket})");
        Ok(())
    })
}

/// `coffer admin replication versions BUCKET`: each version with a replication status, the
/// target it went to and the version id it has there, or why it failed.
pub fn replicated_versions(site: &coffer_storage::Site, bucket: &str) -> Result<(), String> {
    crate::admin::runtime()?.block_on(async {
        let store = crate::admin::open_store(site)?;
        let b = store.bucket(bucket).await.map_err(|e| format!("{bucket}: {e}"))?;
        let mut after = None;
        loop {
            let page = store.replicated_versions(b.id, after.take(), 1000).await.map_err(|e| e.to_string())?;
            for v in &page {
                let outcome = v.outcome.as_ref();
                let remote = outcome.and_then(|o| o.remote_version_id.as_deref()).unwrap_or("-");
                let error = outcome.and_then(|o| o.error.as_deref()).unwrap_or("");
                println!("{}\t{}\t{}\t{}\t{}\t{}", v.key, v.version_id, v.status, v.target.as_deref().unwrap_or("-"), remote, error);
            }
            match page.last() {
                Some(last) if page.len() == 1000 => after = Some((last.key.clone(), last.version_id.clone())),
                _ => return Ok(()),
            }
        }
    })
}

fn describe(pass: &ScrubPass) -> String {
    let mut text = format!("started {}", timestamp(pass.started_ms));
    if let Some(finished) = pass.finished_ms {
        text += &format!(", finished {}", timestamp(finished));
    } else {
        text += &match &pass.position {
            ScrubPosition::Blobs { after: Some(hash) } => format!(", at blob {hash}"),
            ScrubPosition::Blobs { after: None } => ", at the first blob".to_string(),
            ScrubPosition::Inline { after_seq } => format!(", at inline body {after_seq}"),
        };
    }
    text + &format!(
        "; {} blobs and {} inline bodies verified, {} bytes read, {} corrupt",
        pass.blobs, pass.inline, pass.bytes, pass.corrupt
    )
}

/// What `coffer admin backup` is asked to do.
pub struct BackupOptions {
    pub dest: PathBuf,
    /// Also copy the master key (mode 0600) into the backup.
    pub include_master_key: bool,
    pub master_key_file: Option<PathBuf>,
    /// How long the collector is held back for the copy of `blobs/` that follows.
    pub gc_hold: Duration,
}

/// `manifest.json` of a backup.
#[derive(Serialize)]
struct Manifest {
    created: String,
    coffer_version: &'static str,
    data_dir: String,
    counts: IndexCounts,
    files: Vec<String>,
    gc_held_until: String,
}

/// `coffer admin backup DEST`: holds the collector back, copies the index consistently
/// (SQLite's backup API), then the keyring and the key fingerprint (and the master key when
/// asked), and writes a manifest. The blob files are copied by the operator afterwards.
pub fn backup(data_dir: &Path, o: &BackupOptions) -> Result<(), String> {
    if !data_dir.join(INDEX_FILE).exists() {
        return Err(format!("no index in {}", data_dir.display()));
    }
    if o.dest.join(INDEX_FILE).exists() {
        return Err(format!("{} already holds a backup; choose an empty directory", o.dest.display()));
    }
    fs::DirBuilder::new().recursive(true).mode(0o700).create(&o.dest).map_err(|e| format!("creating {}: {e}", o.dest.display()))?;
    // Held before the snapshot, so no blob the snapshot names can be collected before the copy.
    let held_until = coffer_storage::now_ms() + o.gc_hold.as_millis() as i64;
    coffer_storage::hold_gc(data_dir, held_until).map_err(|e| format!("holding the collector: {e}"))?;
    let copied = copy_files(data_dir, o);
    if copied.is_err() {
        let _ = coffer_storage::release_gc_hold(data_dir);
    }
    let (counts, files) = copied?;
    let manifest = Manifest {
        created: timestamp(coffer_storage::now_ms()),
        coffer_version: env!("CARGO_PKG_VERSION"),
        data_dir: data_dir.display().to_string(),
        counts,
        files,
        gc_held_until: timestamp(held_until),
    };
    let text = serde_json::to_string_pretty(&manifest).map_err(|e| e.to_string())?;
    write_private(&o.dest.join(MANIFEST_FILE), text.as_bytes())?;
    fs::File::open(&o.dest).and_then(|d| d.sync_all()).map_err(|e| e.to_string())?;
    let c = &manifest.counts;
    println!("backup of the index written to {}", o.dest.display());
    println!("objects: {} ({} inline), buckets: {}, users: {}", c.objects, c.inline_objects, c.buckets, c.users);
    println!("blobs it names: {} ({} bytes)", c.blobs, c.blob_bytes);
    println!("files: {}", manifest.files.join(", "));
    println!("garbage collection is held until {}: copy the blobs now, e.g.", manifest.gc_held_until);
    println!("  rsync -a {}/blobs/ {}/blobs/", data_dir.display(), o.dest.display());
    println!("then run: coffer admin backup done --data-dir {}", data_dir.display());
    Ok(())
}

/// Copies the index, then the files beside it; returns the index's counts and the files written.
fn copy_files(data_dir: &Path, o: &BackupOptions) -> Result<(IndexCounts, Vec<String>), String> {
    let counts = coffer_storage::backup_index(data_dir, &o.dest.join(INDEX_FILE)).map_err(|e| format!("backing up the index: {e}"))?;
    let mut files = vec![INDEX_FILE.to_string()];
    // After the index: the keyring then holds every key the index's objects use.
    for source in [kms::keyring_file(data_dir), master_key::fingerprint_file(data_dir)] {
        let Ok(relative) = source.strip_prefix(data_dir) else { continue };
        match fs::read(&source) {
            Ok(bytes) => {
                let dest = o.dest.join(relative);
                if let Some(dir) = dest.parent() {
                    fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(|e| e.to_string())?;
                }
                write_private(&dest, &bytes)?;
                files.push(relative.display().to_string());
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(format!("reading {}: {e}", source.display())),
        }
    }
    if o.include_master_key {
        let key = master_key::load(&coffer_storage::Site::data_dir(data_dir), o.master_key_file.as_deref())?;
        master_key::export(&key, &o.dest.join(MASTER_KEY_FILE)).map_err(|e| format!("writing the master key: {e}"))?;
        files.push(MASTER_KEY_FILE.to_string());
    }
    Ok((counts, files))
}

/// `coffer admin backup done`: the blobs are copied; the collector may remove blobs again.
pub fn backup_done(data_dir: &Path) -> Result<(), String> {
    coffer_storage::release_gc_hold(data_dir).map_err(|e| e.to_string())?;
    println!("garbage collection resumed");
    Ok(())
}

/// Writes a new file only its owner can read, and makes it durable.
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let write = || -> std::io::Result<()> {
        let mut file = fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path)?;
        file.write_all(bytes)?;
        file.sync_all()
    };
    write().map_err(|e| format!("writing {}: {e}", path.display()))
}

