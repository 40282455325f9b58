//! What the clients were told: per key, the acknowledged state and the one write that may have
//! been in flight at the kill; after a restart the server must show the one or the other.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// The content of one object version, reproducible from its seed: bytes, content type,
/// user metadata `seed` and tag `seed`.
#[derive(Clone, Debug, PartialEq)]
pub struct Content {
    pub seed: u64,
    pub len: usize,
}

impl Content {
    pub fn bytes(&self) -> Vec<u8> {
        let mut data = vec![0u8; self.len];
        StdRng::seed_from_u64(self.seed).fill_bytes(&mut data);
        data
    }

    pub fn content_type(&self) -> &'static str {
        ["application/octet-stream", "text/plain", "image/png"][(self.seed % 3) as usize]
    }
}

/// What a GET (and GetObjectTagging) of one version showed.
#[derive(Debug)]
pub struct Observed {
    pub bytes: Vec<u8>,
    pub content_type: Option<String>,
    pub meta_seed: Option<String>,
    pub tags: Vec<(String, String)>,
}

impl Observed {
    pub fn is(&self, c: &Content) -> bool {
        let seed = c.seed.to_string();
        self.bytes == c.bytes()
            && self.content_type.as_deref() == Some(c.content_type())
            && self.meta_seed.as_deref() == Some(seed.as_str())
            && self.tags == [("seed".to_string(), seed)]
    }
}

/// A key of the unversioned bucket: `None` is absent.
#[derive(Default)]
pub struct PlainKey {
    pub acked: Option<Content>,
    /// The state the write in flight at the kill would have left.
    pub pending: Option<Option<Content>>,
}

/// One entry of a version history: an object, or a delete marker (`content: None`).
#[derive(Clone, Debug)]
pub struct Version {
    pub id: String,
    pub content: Option<Content>,
}

/// A write to a versioned key that may have been in flight.
#[derive(Clone, Debug)]
pub enum VersionOp {
    /// A new version (or delete marker) on top.
    Add(Option<Content>),
    /// A version deleted by id.
    Remove(String),
}

/// A key of the versioned bucket: its history, oldest first.
#[derive(Default)]
pub struct VersionedKey {
    pub acked: Vec<Version>,
    pub pending: Option<VersionOp>,
}

impl VersionedKey {
    /// Accepts the listed history (oldest first: id, is delete marker) if it is the acknowledged
    /// one, or the acknowledged one with the pending write applied; returns the resolved history.
    pub fn resolve(&self, listed: &[(String, bool)]) -> Result<Vec<Version>, String> {
        let ids = |v: &[Version]| v.iter().map(|v| (v.id.clone(), v.content.is_none())).collect::<Vec<_>>();
        if ids(&self.acked) == listed {
            return Ok(self.acked.clone());
        }
        match &self.pending {
            Some(VersionOp::Add(content)) if listed.len() == self.acked.len() + 1 && ids(&self.acked) == listed[..self.acked.len()] => {
                let (id, marker) = listed.last().expect("one more entry");
                if *marker == content.is_none() {
                    let mut v = self.acked.clone();
                    v.push(Version { id: id.clone(), content: content.clone() });
                    return Ok(v);
                }
            }
            Some(VersionOp::Remove(gone)) => {
                let v: Vec<Version> = self.acked.iter().filter(|v| &v.id != gone).cloned().collect();
                if ids(&v) == listed {
                    return Ok(v);
                }
            }
            _ => {}
        }
        Err(format!("history {listed:?}; acknowledged {:?}; in flight {:?}", ids(&self.acked), self.pending))
    }
}

/// Everything one client task wrote: its keys in both buckets and the next content seed.
pub struct TaskState {
    pub task: usize,
    pub plain: Vec<PlainKey>,
    pub versioned: Vec<VersionedKey>,
    next_seed: u64,
}

impl TaskState {
    pub fn new(task: usize, keys: usize) -> TaskState {
        TaskState {
            task,
            plain: (0..keys).map(|_| PlainKey::default()).collect(),
            versioned: (0..keys).map(|_| VersionedKey::default()).collect(),
            next_seed: (task as u64) << 40,
        }
    }

    pub fn key(&self, i: usize) -> String {
        format!("t{}/k{i:02}", self.task)
    }

    /// How many writes were in flight (unacknowledged) when the server was killed.
    pub fn in_flight(&self) -> usize {
        self.plain.iter().filter(|k| k.pending.is_some()).count() + self.versioned.iter().filter(|k| k.pending.is_some()).count()
    }

    /// A fresh content of `len` bytes.
    pub fn content(&mut self, run_seed: u64, len: usize) -> Content {
        self.next_seed += 1;
        Content { seed: run_seed ^ self.next_seed, len }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(id: &str, marker: bool) -> Version {
        Version { id: id.into(), content: (!marker).then_some(Content { seed: 1, len: 1 }) }
    }

    #[test]
    fn a_history_is_the_acknowledged_one_or_the_pending_write_applied() {
        let mut k = VersionedKey { acked: vec![v("a", false), v("b", true)], pending: Some(VersionOp::Add(None)) };
        let listed = |ids: &[(&str, bool)]| ids.iter().map(|(i, m)| (i.to_string(), *m)).collect::<Vec<_>>();
        assert!(k.resolve(&listed(&[("a", false), ("b", true)])).is_ok());
        assert_eq!(k.resolve(&listed(&[("a", false), ("b", true), ("c", true)])).unwrap().len(), 3);
        assert!(k.resolve(&listed(&[("a", false), ("b", true), ("c", false)])).is_err(), "an object is not a marker");
        assert!(k.resolve(&listed(&[("a", false)])).is_err(), "an acknowledged marker is lost");
        k.pending = Some(VersionOp::Remove("a".into()));
        assert_eq!(k.resolve(&listed(&[("b", true)])).unwrap().len(), 1);
    }
}
