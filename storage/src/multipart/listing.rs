//! ListMultipartUploads' walk, shared by the index backends: uploads by key and then by row
//! number, keys under a delimiter folded into common prefixes; the backend only fetches rows.

use crate::keys::{common_prefix, prefix_end};
use crate::model::{Upload, UploadListItem, UploadListParams, UploadPage};

/// Rows fetched per query while listing uploads.
const SCAN_BATCH: usize = 1000;

/// One query of the walk: at most `limit` uploads of the bucket with `lower <= key` (and
/// `key < upper` when there is one) and `(key, seq) > (after_key, after_seq)`, by key and seq.
pub(crate) struct Batch<'a> {
    pub lower: &'a [u8],
    pub upper: Option<&'a [u8]>,
    pub after_key: &'a [u8],
    pub after_seq: i64,
    pub limit: i64,
}

/// A listing in progress: ask `next_batch`, fetch it, hand the rows to `take`, until
/// `next_batch` says the page is done.
pub(crate) struct UploadScan<'p> {
    p: &'p UploadListParams,
    lower: Vec<u8>,
    upper: Option<Vec<u8>>,
    after_key: Vec<u8>,
    after_seq: i64,
    /// The upload id marker, while the row number it resumes after is still to be looked up.
    marker: Option<&'p str>,
    page: UploadPage,
    done: bool,
}

impl<'p> UploadScan<'p> {
    pub(crate) fn new(p: &'p UploadListParams) -> UploadScan<'p> {
        let mut scan = UploadScan {
            p,
            lower: p.prefix.as_bytes().to_vec(),
            upper: prefix_end(p.prefix.as_bytes()),
            after_key: Vec::new(),
            after_seq: i64::MAX,
            marker: None,
            page: UploadPage::default(),
            done: p.max_uploads == 0,
        };
        let Some(key) = p.key_marker.as_deref().filter(|k| !k.is_empty()) else { return scan };
        scan.after_key = key.as_bytes().to_vec();
        // A marker that is a common prefix (the last entry of a folded page) resumes past it.
        match common_prefix(key, &p.prefix, p.delimiter.as_deref()).map(|cp| prefix_end(cp.as_bytes())) {
            Some(Some(end)) => (scan.after_key, scan.after_seq) = (end, i64::MIN),
            Some(None) => {}
            None => scan.marker = p.upload_id_marker.as_deref(),
        }
        scan
    }

    /// The key marker and upload id marker whose row number the backend must look up (and
    /// give to `resume_after`) before the first batch.
    pub(crate) fn marker(&self) -> Option<(&[u8], &'p str)> {
        self.marker.map(|id| (self.after_key.as_slice(), id))
    }

    /// Resumes after row `seq` of the key marker (None: an unknown upload, so after every
    /// upload of that key).
    pub(crate) fn resume_after(&mut self, seq: Option<i64>) {
        self.after_seq = seq.unwrap_or(i64::MAX);
        self.marker = None;
    }

    /// The next rows to fetch, or None when the page is complete.
    pub(crate) fn next_batch(&self) -> Option<Batch<'_>> {
        (!self.done).then(|| Batch {
            lower: &self.lower,
            upper: self.upper.as_deref(),
            after_key: &self.after_key,
            after_seq: self.after_seq,
            limit: SCAN_BATCH as i64,
        })
    }

    /// Takes the rows (row number and upload) the last batch fetched.
    pub(crate) fn take(&mut self, rows: Vec<(i64, Upload)>) {
        let exhausted = rows.len() < SCAN_BATCH;
        for (seq, upload) in rows {
            if self.page.items.len() == self.p.max_uploads {
                self.page.is_truncated = true;
                self.done = true;
                return;
            }
            if let Some(cp) = common_prefix(&upload.key, &self.p.prefix, self.p.delimiter.as_deref()) {
                self.page.items.push(UploadListItem::Prefix(cp.to_string()));
                match prefix_end(cp.as_bytes()) {
                    // Skip the rest of the prefix's keys; none of them is listed.
                    Some(end) => self.lower = end,
                    None => self.done = true,
                }
                return;
            }
            self.after_key = upload.key.as_bytes().to_vec();
            self.after_seq = seq;
            self.page.items.push(UploadListItem::Upload(upload));
        }
        self.done = exhausted;
    }

    pub(crate) fn page(self) -> UploadPage {
        self.page
    }
}
