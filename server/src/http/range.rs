//! The Range header of GetObject: `bytes=first-last`, `bytes=first-` and `bytes=-suffix`,
//! resolved against an object's size.

use crate::http::error::{ErrorCode, S3Error, S3Result};

/// A resolved, satisfiable byte range: `start..start+len`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ByteRange {
    pub start: u64,
    pub len: u64,
}

impl ByteRange {
    pub fn content_range(&self, size: u64) -> String {
        format!("bytes {}-{}/{}", self.start, self.start + self.len - 1, size)
    }
}

/// Resolves a Range header. `Ok(None)` means "send the whole object": no header, or a header
/// S3 ignores (not bytes, several ranges, unparseable). Unsatisfiable ranges are InvalidRange.
pub fn resolve(header: Option<&str>, size: u64) -> S3Result<Option<ByteRange>> {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return Ok(None);
    };
    let (first, last) = (first.trim(), last.trim());
    let unsatisfiable = || S3Error::new(ErrorCode::InvalidRange).with("RangeRequested", header.unwrap_or("")).with("ActualObjectSize", size.to_string());
    if first.is_empty() {
        let Ok(suffix) = last.parse::<u64>() else { return Ok(None) };
        if suffix == 0 || size == 0 {
            return Err(unsatisfiable());
        }
        let len = suffix.min(size);
        return Ok(Some(ByteRange { start: size - len, len }));
    }
    let Ok(start) = first.parse::<u64>() else { return Ok(None) };
    let end = if last.is_empty() {
        u64::MAX
    } else {
        match last.parse::<u64>() {
            Ok(e) if e >= start => e,
            _ => return Ok(None),
        }
    };
    if start >= size {
        return Err(unsatisfiable());
    }
    let end = end.min(size - 1);
    Ok(Some(ByteRange { start, len: end - start + 1 }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        assert_eq!(resolve(Some("bytes=0-9"), 100).unwrap(), Some(ByteRange { start: 0, len: 10 }));
        assert_eq!(resolve(Some("bytes=90-"), 100).unwrap(), Some(ByteRange { start: 90, len: 10 }));
        assert_eq!(resolve(Some("bytes=-10"), 100).unwrap(), Some(ByteRange { start: 90, len: 10 }));
        assert_eq!(resolve(Some("bytes=-1000"), 100).unwrap(), Some(ByteRange { start: 0, len: 100 }));
        assert_eq!(resolve(Some("bytes=50-1000"), 100).unwrap(), Some(ByteRange { start: 50, len: 50 }));
    }

    #[test]
    fn ignored_and_unsatisfiable() {
        assert_eq!(resolve(None, 100).unwrap(), None);
        assert_eq!(resolve(Some("bytes=5-1"), 100).unwrap(), None);
        assert_eq!(resolve(Some("items=0-1"), 100).unwrap(), None);
        assert_eq!(resolve(Some("bytes=0-1,5-6"), 100).unwrap(), None);
        assert_eq!(resolve(Some("bytes=100-"), 100).unwrap_err().code, "InvalidRange");
        assert_eq!(resolve(Some("bytes=0-"), 0).unwrap_err().code, "InvalidRange");
    }

    #[test]
    fn content_range_header() {
        assert_eq!(ByteRange { start: 90, len: 10 }.content_range(100), "bytes 90-99/100");
    }
}
