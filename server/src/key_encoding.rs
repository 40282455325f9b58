//! S3's `encoding-type=url` for listings: keys, prefixes and markers in a response are
//! URL-encoded when the request asks, so that any key survives XML 1.0.

use crate::ctx::Ctx;
use crate::error::{S3Error, S3Result};

/// Applies the request's encoding-type to names in the response.
pub struct Encoder {
    url: bool,
}

impl Encoder {
    pub fn from_ctx(ctx: &Ctx<'_>) -> S3Result<Encoder> {
        match ctx.query.get("encoding-type") {
            None => Ok(Encoder { url: false }),
            Some(t) if t.eq_ignore_ascii_case("url") => Ok(Encoder { url: true }),
            Some(_) => Err(S3Error::invalid_argument("Invalid Encoding Method specified in Request").with("ArgumentName", "encoding-type")),
        }
    }

    pub fn name(&self, s: &str) -> String {
        if self.url {
            crate::object_headers::url_path(s)
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
