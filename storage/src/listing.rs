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

    /// Takes a place on the page for the row of `key`: none left ends the scan (the page is
    /// truncated), and a common prefix moves it past the prefix's keys.
    fn place<'k>(&mut self, key: &'k str, prefix: &str, delimiter: Option<&str>) -> Place<'k> {
        if self.room == 0 {
            self.done = true;
            return Place::Full;
        }
        self.room -= 1;
        match common_prefix(key, prefix, delimiter) {
            Some(cp) => {
                self.skip_prefix(cp);
                Place::Prefix(cp)
            }
            None => Place::Item,
        }
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

/// What a listed row becomes on the page.
enum Place<'k> {
    /// Nothing: the page is full.
    Full,
    /// This common prefix.
    Prefix(&'k str),
    /// An item of its own.
    Item,
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
            match self.at.place(&rec.key, &self.p.prefix, self.p.delimiter.as_deref()) {
                Place::Full => {
                    self.page.is_truncated = true;
                    return;
                }
                Place::Prefix(cp) => {
                    self.page.items.push(ListItem::Prefix(cp.to_string()));
                    return;
                }
                Place::Item => self.page.items.push(ListItem::Object(rec)),
            }
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
            match self.at.place(&rec.key, &self.p.prefix, self.p.delimiter.as_deref()) {
                Place::Full => {
                    self.page.is_truncated = true;
                    return;
                }
                Place::Prefix(cp) => {
                    self.last = Some((cp.to_string(), String::new()));
                    self.page.items.push(ListItem::Prefix(cp.to_string()));
                    return;
                }
                Place::Item => {}
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A version row: key, sequence number, delete marker, latest.
    type Row = (String, i64, bool, bool);

    /// What an index returns for `f`, from `rows` sorted by key bytes, then newest first.
    fn serve(rows: &[Row], f: &Fetch, latest_only: bool) -> Vec<(ObjectRecord, i64)> {
        rows.iter()
            .filter(|(k, seq, _, latest)| {
                let k = k.as_bytes();
                k >= f.lower && f.upper.is_none_or(|u| k < u) && (*latest || !latest_only) && f.resume.is_none_or(|(rk, rs)| k != rk || *seq < rs)
            })
            .take(f.limit)
            .map(|(k, seq, marker, latest)| (record(k, *seq, *marker, *latest), *seq))
            .collect()
    }

    fn record(key: &str, seq: i64, delete_marker: bool, is_latest: bool) -> ObjectRecord {
        ObjectRecord {
            bucket_id: 1,
            key: key.into(),
            version_id: format!("v{seq}"),
            is_latest,
            delete_marker,
            size: 0,
            etag: String::new(),
            modified_ms: 0,
            owner_id: String::new(),
            meta: ObjectMeta::default(),
            placement: Placement::default(),
            replication: None,
        }
    }

    /// The items S3 lists, by definition: keys (and versions) past the marker under the prefix,
    /// each key under a common prefix replaced by it once, except a prefix the marker is in or past.
    fn naive<'r>(rows: impl Iterator<Item = &'r Row>, prefix: &str, delimiter: Option<&str>, marker: Option<&str>) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for (k, seq, dm, _) in rows.filter(|(k, ..)| k.starts_with(prefix)) {
            let item = match common_prefix(k, prefix, delimiter) {
                Some(cp) if marker.is_some_and(|m| m.starts_with(cp) || m > cp) => continue,
                Some(cp) => format!("{cp}*"),
                None if marker.is_some_and(|m| k.as_str() <= m) => continue,
                None => format!("{k} {seq} {dm}"),
            };
            if out.last() != Some(&item) || !item.ends_with('*') {
                out.push(item);
            }
        }
        out
    }

    fn names(items: &[ListItem]) -> Vec<String> {
        items
            .iter()
            .map(|i| match i {
                ListItem::Object(o) => format!("{} {} {}", o.key, &o.version_id[1..], o.delete_marker),
                ListItem::Prefix(p) => format!("{p}*"),
            })
            .collect()
    }

    /// Random rows over an alphabet of bytes around '/' and multi-byte characters: keys of up to
    /// four characters, each with one to three versions, some of them delete markers.
    fn random_rows(seed: &mut u64, count: usize) -> Vec<Row> {
        let mut rows: Vec<Row> = Vec::new();
        let mut seq = 0;
        for _ in 0..count {
            let key = random_key(seed, 4);
            if rows.iter().any(|r| r.0 == key) {
                continue;
            }
            for v in 0..1 + next(seed) % 3 {
                seq += 1;
                rows.push((key.clone(), seq, next(seed).is_multiple_of(4), v == 0));
            }
        }
        rows.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()).then(b.1.cmp(&a.1)));
        rows
    }

    fn random_key(seed: &mut u64, max_len: u64) -> String {
        const ALPHABET: [&str; 7] = ["a", "b", "/", "+", "0", "é", "\u{ffff}"];
        (0..next(seed) % (max_len + 1)).map(|_| ALPHABET[(next(seed) % 7) as usize]).collect()
    }

    /// A reproducible pseudo-random number (xorshift).
    fn next(seed: &mut u64) -> u64 {
        *seed ^= *seed << 13;
        *seed ^= *seed >> 7;
        *seed ^= *seed << 17;
        *seed
    }

    #[test]
    fn scans_list_what_the_definition_says() {
        let mut seed = 0x9e37_79b9_7f4a_7c15;
        for round in 0..300 {
            let rows = random_rows(&mut seed, 2 + round % 60);
            let prefix = random_key(&mut seed, 2);
            let delimiter = [None, Some("/"), Some("b"), Some("//"), Some("é")][(next(&mut seed) % 5) as usize];
            let marker = (!next(&mut seed).is_multiple_of(3)).then(|| random_key(&mut seed, 4));
            let max_keys = [0, 1, 2, 3, 7, 1000][(next(&mut seed) % 6) as usize];
            let p = ListParams { prefix: prefix.clone(), delimiter: delimiter.map(Into::into), after: marker.clone(), max_keys };
            let mut scan = LatestScan::new(&p);
            while let Some(f) = scan.fetch() {
                let batch = serve(&rows, &f, true).into_iter().map(|(r, _)| r).collect();
                scan.feed(batch);
            }
            let page = scan.finish();
            let want = naive(rows.iter().filter(|r| r.3 && !r.2), &prefix, delimiter, marker.as_deref());
            assert_eq!(names(&page.items), want[..want.len().min(max_keys)], "{p:?}");
            assert_eq!(page.is_truncated, max_keys > 0 && want.len() > max_keys, "{p:?}");

            // Versions: page through with the scan's own markers, from no marker or a key marker.
            let vp = VersionListParams { prefix: prefix.clone(), delimiter: delimiter.map(Into::into), key_marker: marker.clone(), version_id_marker: None, max_keys };
            let mut listed = Vec::new();
            let mut vp = VersionListParams { max_keys: max_keys.max(1), ..vp };
            for _ in 0..1000 {
                let mut scan = VersionScan::new(&vp);
                if let Some((key, version)) = scan.version_marker() {
                    let seq = rows.iter().find(|r| r.0 == key && format!("v{}", r.1) == version).map(|r| r.1);
                    scan.resume_after(seq);
                }
                while let Some(f) = scan.fetch() {
                    let batch = serve(&rows, &f, false);
                    scan.feed(batch);
                }
                let page = scan.finish();
                listed.extend(names(&page.items));
                if !page.is_truncated {
                    break;
                }
                assert!(page.items.len() == vp.max_keys);
                vp.key_marker = page.next_key_marker;
                vp.version_id_marker = page.next_version_id_marker;
            }
            assert_eq!(listed, naive(rows.iter(), &prefix, delimiter, marker.as_deref()), "{vp:?}");
        }
    }
}
