//! The listing algorithm every index backend runs, as a state machine: it names the key range to
//! fetch next and turns each fetched batch of rows into the page (keys sharing a delimited prefix
//! fold into one common prefix, and the scan seeks past the rest of them).

use crate::keys::{common_prefix, just_after, prefix_end};
use crate::model::*;

/// Rows fetched per query while scanning, at most.
const SCAN_BATCH: usize = 1000;

/// Rows fetched after a common prefix (the rows past it are likely under the next one, whose
/// keys the scan skips), and first when a delimiter is given; doubling while batches fold none.
const AFTER_FOLD: usize = 16;

/// The next query of a scan: rows whose key is at least `lower` and below `upper` (`None`: to
/// the end of the bucket), in raw byte order of keys (versions: newest first within a key), at
/// most `limit` of them. When `resume` is `(key, seq)`, rows of that key count only with a
/// sequence number below `seq` (versions only: the rest of a key already listed).
pub(crate) struct Fetch<'s> {
    pub lower: &'s [u8],
    pub upper: Option<&'s [u8]>,
    pub resume: Option<(&'s [u8], i64)>,
    pub limit: usize,
}

/// Where a scan stands between batches.
struct Cursor {
    lower: Vec<u8>,
    upper: Option<Vec<u8>>,
    resume: Option<(Vec<u8>, i64)>,
    /// Rows still wanted on the page (before it is truncated).
    room: usize,
    /// Rows passed over so far (delete markers): batches grow by as many.
    skipped: usize,
    /// The batch size while ramping up after a common prefix (`SCAN_BATCH`: not ramping).
    ramp: usize,
    /// No more queries: the page is complete.
    done: bool,
}

impl Cursor {
    /// The range a listing scans: from the prefix, or past the marker and past the marker's own
    /// common prefix when it is one (or lies inside one) already returned, up to the end of the
    /// prefix's keys (`None`: the end of the bucket).
    fn new(prefix: &str, delimiter: Option<&str>, after: Option<&str>, max_keys: usize) -> Cursor {
        let from_prefix = prefix.as_bytes().to_vec();
        let past_marker = after.map(|m| match common_prefix(m, prefix, delimiter) {
            Some(cp) => prefix_end(cp.as_bytes()),
            None => Some(just_after(m.as_bytes())),
        });
        let (lower, done) = match past_marker {
            None => (from_prefix, max_keys == 0),
            Some(None) => (from_prefix, true),
            Some(Some(past)) => (from_prefix.max(past), max_keys == 0),
        };
        let ramp = if delimiter.is_some_and(|d| !d.is_empty()) { AFTER_FOLD } else { SCAN_BATCH };
        Cursor { lower, upper: prefix_end(prefix.as_bytes()), resume: None, room: max_keys, skipped: 0, ramp, done }
    }

    fn fetch(&self) -> Option<Fetch<'_>> {
        (!self.done).then(|| Fetch {
            lower: &self.lower,
            upper: self.upper.as_deref(),
            resume: self.resume.as_ref().map(|(k, s)| (k.as_slice(), *s)),
            limit: self.limit(),
        })
    }

    /// Enough rows to fill the page and see whether more follow (more once rows were passed
    /// over, so that a run of them takes few queries), within the ramp and `SCAN_BATCH`.
    fn limit(&self) -> usize {
        self.room.saturating_add(1).saturating_add(self.skipped).min(self.ramp).min(SCAN_BATCH)
    }

    /// After a batch taken whole: the scan goes on where it ended, with a larger one.
    fn next_batch(&mut self, exhausted: bool) {
        self.done |= exhausted;
        self.ramp = self.ramp.saturating_mul(2).min(SCAN_BATCH);
    }

    /// Continues the scan past every key under common prefix `cp`.
    fn skip_prefix(&mut self, cp: &str) {
        self.resume = None;
        self.ramp = AFTER_FOLD;
        match prefix_end(cp.as_bytes()) {
            Some(end) => self.lower = end,
            None => self.done = true,
        }
    }
}

/// A page of latest versions being listed (ListObjects): ask `fetch` for the next query over
/// the bucket's latest versions, hand its rows to `feed`, until `fetch` says `None`.
pub(crate) struct LatestScan<'p> {
    p: &'p ListParams,
    at: Cursor,
    page: ListPage,
}

impl<'p> LatestScan<'p> {
    pub(crate) fn new(p: &'p ListParams) -> Self {
        let at = Cursor::new(&p.prefix, p.delimiter.as_deref(), p.after.as_deref(), p.max_keys);
        LatestScan { p, at, page: ListPage::default() }
    }

    /// The next query (`resume` is always `None` here), or `None` when the page is complete.
    pub(crate) fn fetch(&self) -> Option<Fetch<'_>> {
        self.at.fetch()
    }

    /// Whether this scan's queries have an upper bound (the same for every query of a scan).
    pub(crate) fn bounded(&self) -> bool {
        self.at.upper.is_some()
    }

    /// Takes the rows the last `fetch` asked for. Delete markers are passed over.
    pub(crate) fn feed(&mut self, rows: Vec<ObjectRecord>) {
        let exhausted = rows.len() < self.at.limit();
        for rec in rows {
            self.at.lower = just_after(rec.key.as_bytes());
            if rec.delete_marker {
                self.at.skipped += 1;
                continue;
            }
            if self.at.room == 0 {
                self.page.is_truncated = true;
                self.at.done = true;
                return;
            }
            self.at.room -= 1;
            if let Some(cp) = common_prefix(&rec.key, &self.p.prefix, self.p.delimiter.as_deref()) {
                self.page.items.push(ListItem::Prefix(cp.to_string()));
                self.at.skip_prefix(cp);
                return;
            }
            self.page.items.push(ListItem::Object(rec));
        }
        self.at.next_batch(exhausted);
    }

    pub(crate) fn finish(self) -> ListPage {
        self.page
    }
}

/// A page of versions being listed (ListObjectVersions): first ask `version_marker` and give
/// `resume_after` the marker version's sequence number, then alternate `fetch` and `feed` over
/// every version row (with its sequence number) until `fetch` says `None`.
pub(crate) struct VersionScan<'p> {
    p: &'p VersionListParams,
    at: Cursor,
    page: VersionPage,
    /// The key and version id (empty for a common prefix) the page ends on so far.
    last: Option<(String, String)>,
}

impl<'p> VersionScan<'p> {
    pub(crate) fn new(p: &'p VersionListParams) -> Self {
        let at = Cursor::new(&p.prefix, p.delimiter.as_deref(), p.key_marker.as_deref(), p.max_keys);
        VersionScan { p, at, page: VersionPage::default(), last: None }
    }

    /// The (key, version id) the listing continues after, whose sequence number `resume_after`
    /// wants; `None` when there is none to look up.
    pub(crate) fn version_marker(&self) -> Option<(&'p str, &'p str)> {
        match (&self.p.key_marker, &self.p.version_id_marker) {
            (Some(k), Some(v)) if !self.at.done => Some((k.as_str(), v.as_str())),
            _ => None,
        }
    }

    /// Continues inside the marker's key with the versions older than the marker version
    /// (`seq`, when that version exists; otherwise the listing goes on after the key).
    pub(crate) fn resume_after(&mut self, seq: Option<i64>) {
        if let (Some(seq), Some(key)) = (seq, &self.p.key_marker) {
            self.at.lower = key.as_bytes().to_vec();
            self.at.resume = Some((self.at.lower.clone(), seq));
        }
    }

    /// The next query, or `None` when the page is complete.
    pub(crate) fn fetch(&self) -> Option<Fetch<'_>> {
        self.at.fetch()
    }

    /// Whether this scan's queries have an upper bound (the same for every query of a scan).
    pub(crate) fn bounded(&self) -> bool {
        self.at.upper.is_some()
    }

    /// Takes the rows (with their sequence numbers) the last `fetch` asked for.
    pub(crate) fn feed(&mut self, rows: Vec<(ObjectRecord, i64)>) {
        let exhausted = rows.len() < self.at.limit();
        for (rec, seq) in rows {
            if self.at.room == 0 {
                self.page.is_truncated = true;
                self.at.done = true;
                return;
            }
            self.at.room -= 1;
            if let Some(cp) = common_prefix(&rec.key, &self.p.prefix, self.p.delimiter.as_deref()) {
                self.last = Some((cp.to_string(), String::new()));
                self.page.items.push(ListItem::Prefix(cp.to_string()));
                self.at.skip_prefix(cp);
                return;
            }
            self.last = Some((rec.key.clone(), rec.version_id.clone()));
            self.at.lower = rec.key.as_bytes().to_vec();
            self.at.resume = Some((self.at.lower.clone(), seq));
            self.page.items.push(ListItem::Object(rec));
        }
        self.at.next_batch(exhausted);
    }

    /// The page, with the markers to continue from when it is truncated.
    pub(crate) fn finish(self) -> VersionPage {
        let mut page = self.page;
        if page.is_truncated {
            if let Some((k, v)) = self.last {
                page.next_key_marker = Some(k);
                page.next_version_id_marker = (!v.is_empty()).then_some(v);
            }
        }
        page
    }
}
