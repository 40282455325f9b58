//! The web console's listener: the S3 API exactly as on the S3 port (same routes, same
//! authentication and authorization), plus the console's page under /_console/, built from
//! console/ and embedded here (console/dist is committed, so cargo alone builds it).

use crate::entry;
use crate::state::AppState;
use actix_web::http::{header, Method};
use actix_web::{web, HttpRequest, HttpResponse};

/// Where the page lives: `_` cannot start a bucket name, so no S3 path is ever shadowed.
pub const PREFIX: &str = "/_console/";

/// One file of the built console: its name under [`PREFIX`], media type and bytes.
struct Asset {
    name: &'static str,
    media_type: &'static str,
    bytes: &'static [u8],
}

macro_rules! asset {
    ($name:literal, $media_type:literal) => {
        Asset { name: $name, media_type: $media_type, bytes: include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/../console/dist/", $name)) }
    };
}

/// Every file of console/dist (a test checks that the list and the directory agree).
const ASSETS: &[Asset] = &[
    asset!("index.html", "text/html; charset=utf-8"),
    asset!("app.js", "text/javascript; charset=utf-8"),
    asset!("app.css", "text/css; charset=utf-8"),
    asset!("favicon.svg", "image/svg+xml"),
];

/// The page may load and talk to nothing but this origin, and may not be framed.
const CONTENT_SECURITY_POLICY: &str =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// Answers a request to the console listener: the page's files, a redirect from `/` to the
/// page for a browser, and every other request (the page's own signed S3 calls) as S3.
pub async fn handle(req: HttpRequest, payload: web::Payload, state: web::Data<AppState>) -> HttpResponse {
    match page(&req) {
        Some(resp) => resp,
        None => entry::handle(req, payload, state).await,
    }
}

fn page(req: &HttpRequest) -> Option<HttpResponse> {
    let path = req.path();
    if (path == "/" && is_browser_visit(req)) || path == PREFIX.trim_end_matches('/') {
        return Some(HttpResponse::Found().insert_header((header::LOCATION, PREFIX)).finish());
    }
    let name = path.strip_prefix(PREFIX)?;
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return Some(HttpResponse::MethodNotAllowed().insert_header((header::ALLOW, "GET, HEAD")).finish());
    }
    let name = if name.is_empty() { "index.html" } else { name };
    Some(match ASSETS.iter().find(|a| a.name == name) {
        Some(asset) => HttpResponse::Ok()
            .insert_header((header::CONTENT_TYPE, asset.media_type))
            .insert_header((header::CACHE_CONTROL, "no-cache"))
            .insert_header((header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY))
            .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
            .insert_header((header::REFERRER_POLICY, "no-referrer"))
            .body(asset.bytes),
        None => HttpResponse::NotFound().content_type("text/plain; charset=utf-8").body("not found\n"),
    })
}

/// A plain GET of `/` with no query and no credentials: a person opening the console's address.
/// Anything signed (ListBuckets is `GET /` too) goes on to S3.
fn is_browser_visit(req: &HttpRequest) -> bool {
    req.method() == Method::GET && req.uri().query().is_none_or(str::is_empty) && !req.headers().contains_key(header::AUTHORIZATION)
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    #[test]
    fn assets_are_exactly_the_built_files() {
        let dist = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../console/dist");
        let mut on_disk: Vec<String> = std::fs::read_dir(dist).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        let mut listed: Vec<String> = ASSETS.iter().map(|a| a.name.to_string()).collect();
        on_disk.sort();
        listed.sort();
        assert_eq!(listed, on_disk);
    }

    #[test]
    fn serves_the_page_and_leaves_s3_alone() {
        let status = |method: Method, uri: &str, signed: bool| {
            let mut r = TestRequest::default().method(method).uri(uri);
            if signed {
                r = r.insert_header((header::AUTHORIZATION, "AWS4-HMAC-SHA256 Credential=x"));
            }
            page(&r.to_http_request()).map(|resp| resp.status().as_u16())
        };
        assert_eq!(status(Method::GET, "/", false), Some(302));
        assert_eq!(status(Method::GET, "/_console", false), Some(302));
        assert_eq!(status(Method::GET, "/_console/", false), Some(200));
        assert_eq!(status(Method::GET, "/_console/app.js", false), Some(200));
        assert_eq!(status(Method::GET, "/_console/nope.js", false), Some(404));
        assert_eq!(status(Method::PUT, "/_console/app.js", false), Some(405));
        // ListBuckets, anonymous listings and objects are S3's.
        assert_eq!(status(Method::GET, "/", true), None);
        assert_eq!(status(Method::GET, "/?x-id=ListBuckets", false), None);
        assert_eq!(status(Method::GET, "/bucket/key", false), None);
        assert_eq!(status(Method::PUT, "/", false), None);
    }
}
