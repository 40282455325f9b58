//! The check's report as text for a person: counts, what was repaired, and every problem left
//! with the objects it touches.

use super::{CheckReport, Damage};
use std::fmt;

impl fmt::Display for CheckReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "checked {} object versions in blobs, {} inline, {} upload parts; {} indexed blobs, {} blob files, {} bytes hashed",
            self.objects, self.inline_objects, self.parts, self.blobs_indexed, self.blob_files, self.bytes_hashed
        )?;
        writeln!(f, "awaiting garbage collection: {} blobs; in-flight writes: {} files", self.awaiting_gc, self.in_flight)?;
        let r = &self.repaired;
        if !r.refcounts.is_empty() || !r.orphans_removed.is_empty() {
            writeln!(f, "repaired: {} reference counts, {} orphan files removed", r.refcounts.len(), r.orphans_removed.len())?;
        }
        for d in &self.damaged {
            let what = match &d.damage {
                Damage::Missing => "missing".to_string(),
                Damage::WrongSize { expected, actual } => format!("{actual} bytes, expected {expected}"),
                Damage::WrongHash { actual } => format!("bytes hash to {actual}"),
                Damage::Unreadable { error } => format!("unreadable: {error}"),
            };
            writeln!(f, "DAMAGED blob {}: {what} (cannot be repaired)", d.hash)?;
            for user in &d.used_by {
                writeln!(f, "  lost: {user}")?;
            }
        }
        for t in &self.torn {
            writeln!(f, "TORN object {}/{} (version {}): {}", t.bucket, t.key, t.version_id, t.reason)?;
        }
        for m in &self.refcount_mismatches {
            let recorded = m.recorded.map_or("no row".to_string(), |r| r.to_string());
            writeln!(f, "REFCOUNT blob {}: recorded {recorded}, used {} times (--repair fixes)", m.hash, m.actual)?;
        }
        for o in &self.orphans {
            writeln!(f, "ORPHAN blob file {o} (--repair removes)")?;
        }
        match self.problems() {
            0 => write!(f, "clean"),
            n => write!(f, "{n} problems"),
        }
    }
}
