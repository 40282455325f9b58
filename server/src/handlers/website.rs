//! Static website hosting: Put/Get/DeleteBucketWebsite on the S3 endpoint, and the website
//! listener that serves a bucket's objects to anonymous browsers with index and error
//! documents, redirects and routing rules, answering errors as HTML.

use crate::http::body::{read_all, request_body};
use crate::request::ctx::Ctx;
use crate::http::error::{ErrorCode, S3Error, S3Result};
use crate::request::object_headers::object_headers;
use crate::http::router::Query;
use crate::state::AppState;
use crate::bucket_config::website::{malformed, WebsiteConfiguration};
use crate::http::xml::{self, escape};
use actix_web::body::SizedStream;
use actix_web::http::{Method, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use coffer_storage::{Body, Bucket, ObjectRecord, Permission};
use percent_encoding::percent_decode_str;

/// The bucket configuration document holding the website configuration (as JSON).
const WEBSITE: &str = "website";
const BODY_LIMIT: usize = 256 * 1024;

async fn load(state: &AppState, bucket_id: i64) -> S3Result<Option<WebsiteConfiguration>> {
    crate::bucket_config::load(&state.store, bucket_id, WEBSITE).await
}

pub async fn put_bucket_website(ctx: &Ctx<'_>, bucket_name: &str, payload: web::Payload) -> S3Result<HttpResponse> {
    let bucket = ctx.owned_bucket(bucket_name).await?;
    let body = read_all(request_body(payload, &ctx.payload).stream, BODY_LIMIT, ErrorCode::MalformedXML).await?;
    crate::request::upload::check_payload_hash(&ctx.payload, &body)?;
    let config: WebsiteConfiguration = xml::parse(&body).map_err(|_| malformed())?;
    config.validate()?;
    crate::bucket_config::save(&ctx.state.store, bucket.id, WEBSITE, Some(&config)).await?;
    Ok(HttpResponse::Ok().finish())
}

pub async fn get_bucket_website(ctx: &Ctx<'_>, bucket_name: &str) -> S3Result<HttpResponse> {
    let bucket = ctx.owned_bucket(bucket_name).await?;
    let mut config = load(ctx.state, bucket.id).await?.ok_or_else(|| no_website(bucket_name))?;
    config.xmlns = xml::S3_NAMESPACE;
    xml::ok("WebsiteConfiguration", &config)
}

pub async fn delete_bucket_website(ctx: &Ctx<'_>, bucket_name: &str) -> S3Result<HttpResponse> {
    let bucket = ctx.owned_bucket(bucket_name).await?;
    ctx.state.store.set_bucket_config(bucket.id, WEBSITE, None).await?;
    Ok(HttpResponse::NoContent().finish())
}

fn no_website(bucket: &str) -> S3Error {
    S3Error::custom("NoSuchWebsiteConfiguration", StatusCode::NOT_FOUND, "The specified bucket does not have a website configuration")
        .with("BucketName", bucket)
}

// ---------------------------------------------------------------- the website listener

/// An HTML error page, as S3's website endpoint shows one.
fn html_error(status: StatusCode, code: &str, message: &str, head: bool) -> HttpResponse {
    let mut resp = HttpResponse::build(status);
    resp.content_type("text/html; charset=utf-8");
    if head {
        return resp.finish();
    }
    resp.body(format!(
        "<html>\n<head><title>{status}</title></head>\n<body>\n<h1>{status}</h1>\n<ul>\n<li>Code: {}</li>\n<li>Message: {}</li>\n</ul>\n<hr/>\n</body>\n</html>\n",
        escape(code),
        escape(message),
        status = status
    ))
}

fn redirect(location: &str, status: u16) -> HttpResponse {
    HttpResponse::build(StatusCode::from_u16(status).unwrap_or(StatusCode::MOVED_PERMANENTLY))
        .insert_header(("Location", location.to_string()))
        .finish()
}

fn request_host(req: &HttpRequest) -> String {
    req.headers().get("host").and_then(|h| h.to_str().ok()).unwrap_or("").to_string()
}

fn bucket_from_host(host: &str, domain: Option<&str>) -> String {
    let name = host.rsplit_once(':').filter(|(_, p)| p.chars().all(|c| c.is_ascii_digit())).map_or(host, |(h, _)| h);
    match domain {
        Some(d) => name.strip_suffix(d).and_then(|b| b.strip_suffix('.')).unwrap_or(name).to_string(),
        None => name.to_string(),
    }
}

/// The object a website request reads, if it exists and anonymous callers may read it.
enum Lookup {
    Found(ObjectRecord, Body),
    Missing,
    Denied,
}

async fn lookup(ctx: &Ctx<'_>, bucket: &Bucket, key: &str) -> S3Result<Lookup> {
    match ctx.state.store.object(bucket.id, key, None).await {
        Ok((rec, _)) if rec.delete_marker => Ok(Lookup::Missing),
        Ok((rec, body)) => match ctx.check_object(&rec, Permission::Read).await {
            Ok(()) if website_servable(&rec) => Ok(Lookup::Found(rec, body)),
            _ => Ok(Lookup::Denied),
        },
        Err(coffer_storage::StorageError::NoSuchKey) => Ok(Lookup::Missing),
        Err(e) => Err(e.into()),
    }
}

/// S3's website endpoints serve SSE-S3 objects but not SSE-KMS or SSE-C ones (their readers
/// must ask for them through the S3 API).
fn website_servable(rec: &ObjectRecord) -> bool {
    rec.meta.encryption.as_ref().is_none_or(|e| e.mode == coffer_storage::EncryptionMode::S3)
}

fn object_response(ctx: &Ctx<'_>, rec: &ObjectRecord, body: &Body, status: StatusCode, head: bool) -> HttpResponse {
    let key = match ctx.state.keys.open(rec.meta.encryption.as_ref(), None, !head) {
        Ok(key) => key,
        Err(e) => return html_error(e.status, e.code, &e.message, head),
    };
    let mut resp = HttpResponse::build(status);
    object_headers(&mut resp, rec, &Query::default(), false, false);
    resp.insert_header(("Content-Type", rec.meta.content_type.clone().unwrap_or_else(|| "binary/octet-stream".into())));
    if head {
        return resp.body(SizedStream::new(rec.size, futures::stream::empty::<Result<bytes::Bytes, std::io::Error>>()));
    }
    resp.body(SizedStream::new(rec.size, ctx.state.store.read_body(rec, body, 0, rec.size, key.as_ref())))
}

pub async fn serve(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let head = req.method() == Method::HEAD;
    if req.method() != Method::GET && !head {
        return html_error(StatusCode::METHOD_NOT_ALLOWED, "MethodNotAllowed", "The specified method is not allowed against this resource.", head);
    }
    match serve_website(&req, &state, head).await {
        Ok(resp) => resp,
        Err(e) => html_error(e.status, e.code, &e.message, head),
    }
}

async fn serve_website(req: &HttpRequest, state: &AppState, head: bool) -> S3Result<HttpResponse> {
    let host = request_host(req);
    let bucket_name = bucket_from_host(&host, state.website_domain.as_deref());
    let bucket = state.store.bucket(&bucket_name).await.map_err(|_| S3Error::no_such_bucket(&bucket_name))?;
    let config = load(state, bucket.id).await?.ok_or_else(|| no_website(&bucket_name))?;
    let scheme = "http";
    if let Some(all) = &config.redirect_all_requests_to {
        let proto = all.protocol.as_deref().unwrap_or(scheme);
        let path_and_query = req.uri().path_and_query().map(|p| p.as_str()).unwrap_or("/");
        return Ok(redirect(&format!("{proto}://{}{path_and_query}", all.host_name), 301));
    }
    let suffix = config.index_document.as_ref().map(|i| i.suffix.clone()).unwrap_or_default();
    let raw = req.uri().path().trim_start_matches('/');
    let requested = percent_decode_str(raw).decode_utf8().map_err(|_| S3Error::invalid_request("Invalid URI"))?.into_owned();
    let key = if requested.is_empty() || requested.ends_with('/') { format!("{requested}{suffix}") } else { requested.clone() };
    if let Some(rule) = config.route(&key, None) {
        let (location, code) = rule.target(&key, &host, scheme);
        return Ok(redirect(&location, code));
    }

    let target = crate::request::ctx::Target { action: "s3:GetObject", bucket: Some(bucket_name.clone()), key: Some(key.clone()) };
    let ctx = Ctx { state, req, query: Query::default(), principal: None, payload: coffer_auth::Payload::Unsigned, target, request_id: String::new(), lock_request: Default::default() };
    let status = match lookup(&ctx, &bucket, &key).await? {
        Lookup::Found(rec, body) => {
            if let Some(location) = &rec.meta.website_redirect {
                return Ok(redirect(location, 301));
            }
            return Ok(object_response(&ctx, &rec, &body, StatusCode::OK, head));
        }
        Lookup::Missing => {
            // `dir` without its slash, where `dir/index.html` exists: send the browser to `dir/`.
            if key == requested && !requested.is_empty() {
                if let Lookup::Found(..) = lookup(&ctx, &bucket, &format!("{requested}/{suffix}")).await? {
                    return Ok(redirect(&format!("/{}/", crate::http::key_encoding::url_path(&requested)), 302));
                }
            }
            // Whoever may not list the bucket is told "forbidden", not "missing".
            match ctx.check_bucket(&bucket, Permission::Read).await {
                Ok(()) => StatusCode::NOT_FOUND,
                Err(_) => StatusCode::FORBIDDEN,
            }
        }
        Lookup::Denied => StatusCode::FORBIDDEN,
    };
    if let Some(rule) = config.route(&key, Some(status.as_u16())) {
        let (location, code) = rule.target(&key, &host, scheme);
        return Ok(redirect(&location, code));
    }
    if let Some(doc) = &config.error_document {
        if let Lookup::Found(rec, body) = lookup(&ctx, &bucket, &doc.key).await? {
            return Ok(object_response(&ctx, &rec, &body, status, head));
        }
    }
    Err(if status == StatusCode::NOT_FOUND { S3Error::no_such_key(&key) } else { S3Error::new(ErrorCode::AccessDenied) })
}

#[cfg(test)]
mod tests {
    use super::bucket_from_host;

    #[test]
    fn bucket_names_from_hosts() {
        assert_eq!(bucket_from_host("www.example.test:8080", None), "www.example.test");
        assert_eq!(bucket_from_host("site.web.test:80", Some("web.test")), "site");
        assert_eq!(bucket_from_host("site", Some("web.test")), "site");
    }
}
