//! XML in and out: typed serde structs rendered with quick-xml, and request bodies parsed
//! into typed structs with MalformedXML on any mistake.

use crate::http::error::{ErrorCode, S3Error, S3Result};
use actix_web::HttpResponse;
use serde::de::DeserializeOwned;
use serde::Serialize;

pub const S3_NAMESPACE: &str = "http://s3.amazonaws.com/doc/2006-03-01/";
const DECLARATION: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";

/// Renders `value` as a document whose root element is `root`.
pub fn render<T: Serialize>(root: &str, value: &T) -> S3Result<String> {
    let mut out = String::from(DECLARATION);
    let ser = quick_xml::se::Serializer::with_root(&mut out, Some(root)).map_err(S3Error::internal)?;
    value.serialize(ser).map_err(S3Error::internal)?;
    Ok(out)
}

/// A 200 response carrying `value` as XML.
pub fn ok<T: Serialize>(root: &str, value: &T) -> S3Result<HttpResponse> {
    Ok(HttpResponse::Ok().content_type("application/xml").body(render(root, value)?))
}

/// Parses an XML request body.
pub fn parse<T: DeserializeOwned>(body: &[u8]) -> S3Result<T> {
    let text = std::str::from_utf8(body).map_err(|_| S3Error::new(ErrorCode::MalformedXML))?;
    quick_xml::de::from_str(text).map_err(|e| {
        tracing::debug!("malformed xml: {e}");
        S3Error::new(ErrorCode::MalformedXML)
    })
}

/// Escapes text for an XML element (used by the error body, which is built by hand so that
/// rendering an error can never fail).
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// S3's timestamp form in XML: 2006-02-03T16:45:09.000Z.
pub fn timestamp(ms: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        t.month() as u8,
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_look_like_s3() {
        assert_eq!(timestamp(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(timestamp(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
    }

    #[test]
    fn escape_covers_markup() {
        assert_eq!(escape("a<b>&'\""), "a&lt;b&gt;&amp;&apos;&quot;");
    }
}

/// The Owner (or Initiator) element of listings and ACLs.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Owner {
    #[serde(rename = "ID")]
    pub id: String,
    pub display_name: String,
}

impl Owner {
    pub fn of(user: &coffer_storage::User) -> Owner {
        Owner { id: user.id.clone(), display_name: user.name.clone() }
    }
}
