//! S3's `encoding-type=url` for listings: keys, prefixes and markers in a response are
//! URL-encoded when the request asks, so that any key survives XML 1.0.

use crate::http::error::{S3Error, S3Result};
use crate::http::router::Query;

/// Applies the request's encoding-type to names in the response.
pub struct Encoder {
    url: bool,
}

impl Encoder {
    pub fn from_query(query: &Query) -> S3Result<Encoder> {
        match query.get("encoding-type") {
            None => Ok(Encoder { url: false }),
            Some(t) if t.eq_ignore_ascii_case("url") => Ok(Encoder { url: true }),
            Some(_) => Err(S3Error::invalid_argument("Invalid Encoding Method specified in Request").with("ArgumentName", "encoding-type")),
        }
    }

    pub fn name(&self, s: &str) -> String {
        if self.url {
            url_path(s)
        } else {
            s.to_string()
        }
    }

    pub fn opt(&self, s: Option<&str>) -> Option<String> {
        s.map(|s| self.name(s))
    }

    /// The EncodingType element of the response.
    pub fn encoding_type(&self) -> Option<&'static str> {
        self.url.then_some("url")
    }
}

/// What a key keeps as it is in a URL: S3's unreserved characters and '/'.
const KEY_IN_URL: &percent_encoding::AsciiSet =
    &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~').remove(b'/');

/// `key` as a URL path (also S3's encoding-type=url), so that '#', '?', '%', '+', spaces and
/// non-ASCII letters stay part of it.
pub fn url_path(key: &str) -> String {
    percent_encoding::utf8_percent_encode(key, KEY_IN_URL).to_string()
}
