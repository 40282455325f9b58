//! Request timestamps: parsing and formatting the ISO 8601 basic form SigV4 uses
//! (`20130524T000000Z`), reading the `Date` header, and the 15-minute skew rule.

use std::time::{Duration, SystemTime};

use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time};

use crate::error::AuthError;

/// How far the request time may be from the server's clock.
pub(crate) const MAX_SKEW: Duration = Duration::from_secs(15 * 60);

/// Parses `YYYYMMDD'T'HHMMSS'Z'`.
pub(crate) fn parse_amz_date(s: &str) -> Option<SystemTime> {
    let b = s.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let date = parse_ymd(&s[..8])?;
    let hour = digits(&b[9..11])?;
    let minute = digits(&b[11..13])?;
    let second = digits(&b[13..15])?;
    let time = Time::from_hms(hour as u8, minute as u8, second as u8).ok()?;
    Some(PrimitiveDateTime::new(date, time).assume_utc().into())
}

/// Parses `YYYYMMDD` (the date of a credential scope).
pub(crate) fn parse_ymd(s: &str) -> Option<Date> {
    let b = s.as_bytes();
    if b.len() != 8 {
        return None;
    }
    let year = digits(&b[..4])?;
    let month = Month::try_from(digits(&b[4..6])? as u8).ok()?;
    let day = digits(&b[6..8])?;
    Date::from_calendar_date(year as i32, month, day as u8).ok()
}

/// Parses an HTTP `Date` header (IMF-fixdate, RFC 850 or asctime). A UTC zone written as a
/// numeric offset (`+0000`, `-0000`, as Python's email.utils writes it) or `UTC` is accepted too.
pub(crate) fn parse_http_date(s: &str) -> Option<SystemTime> {
    let s = s.trim();
    if let Ok(t) = httpdate::parse_http_date(s) {
        return Some(t);
    }
    let head = ["+0000", "-0000", "UTC", "Z"].iter().find_map(|zone| s.strip_suffix(zone))?;
    httpdate::parse_http_date(&format!("{}GMT", head)).ok()
}

/// Formats a time as `YYYYMMDD'T'HHMMSS'Z'`.
pub(crate) fn format_amz_date(t: SystemTime) -> String {
    let t = OffsetDateTime::from(t);
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// Refuses a header-signed request whose time is more than [`MAX_SKEW`] from `now`;
/// `sent` is the date as the client wrote it, for the error.
pub(crate) fn check_skew(
    now: SystemTime,
    request_time: SystemTime,
    sent: &str,
) -> Result<(), AuthError> {
    if distance(now, request_time) > MAX_SKEW {
        return Err(AuthError::RequestTimeTooSkewed {
            request_time: sent.to_owned(),
            server_time: format_amz_date(now),
        });
    }
    Ok(())
}

/// The absolute distance between two instants.
fn distance(a: SystemTime, b: SystemTime) -> Duration {
    match a.duration_since(b) {
        Ok(d) => d,
        Err(e) => e.duration(),
    }
}

fn digits(b: &[u8]) -> Option<u32> {
    b.iter().try_fold(0u32, |acc, &c| {
        c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
    })
}

#[cfg(test)]
mod numeric_zone_tests {
    use super::*;

    #[test]
    fn utc_offsets_in_http_dates() {
        let gmt = parse_http_date("Mon, 23 Nov 2026 09:29:04 GMT").unwrap();
        assert_eq!(parse_http_date("Mon, 23 Nov 2026 09:29:04 -0000"), Some(gmt));
        assert_eq!(parse_http_date("Mon, 23 Nov 2026 09:29:04 +0000"), Some(gmt));
        assert_eq!(parse_http_date("Mon, 23 Nov 2026 09:29:04 +0100"), None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    const EXAMPLE: u64 = 1_369_353_600; // 2013-05-24T00:00:00Z

    #[test]
    fn parses_amz_date() {
        let t = parse_amz_date("20130524T000000Z").unwrap();
        assert_eq!(t, UNIX_EPOCH + Duration::from_secs(EXAMPLE));
        assert_eq!(format_amz_date(t), "20130524T000000Z");
        let t = parse_amz_date("20240229T235959Z").unwrap();
        assert_eq!(format_amz_date(t), "20240229T235959Z");
    }

    #[test]
    fn rejects_bad_amz_dates() {
        for s in [
            "",
            "20130524",
            "20130524T000000",
            "2013-05-24T00:00:00Z",
            "20131324T000000Z",
            "20130230T000000Z",
            "20130524T250000Z",
            "2013052AT000000Z",
            "20130524X000000Z",
        ] {
            assert!(parse_amz_date(s).is_none(), "{s}");
        }
    }

    #[test]
    fn parses_http_date() {
        let t = parse_http_date("Fri, 24 May 2013 00:00:00 GMT").unwrap();
        assert_eq!(t, UNIX_EPOCH + Duration::from_secs(EXAMPLE));
        assert!(parse_http_date("yesterday").is_none());
    }

    #[test]
    fn distance_is_symmetric() {
        let a = UNIX_EPOCH + Duration::from_secs(100);
        let b = UNIX_EPOCH + Duration::from_secs(40);
        assert_eq!(distance(a, b), Duration::from_secs(60));
        assert_eq!(distance(b, a), Duration::from_secs(60));
    }
}
