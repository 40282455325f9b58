//! The parts of a request that routing and authentication read, borrowed from either an
//! actix-web request or a bare actix-http request (before its body is accepted).

use actix_web::http::header::HeaderMap;
use actix_web::http::{Method, Uri};
use actix_http::HttpMessage;
use actix_web::HttpRequest;

#[derive(Clone, Copy)]
pub struct Head<'a> {
    pub method: &'a Method,
    pub uri: &'a Uri,
    pub headers: &'a HeaderMap,
}

impl<'a> From<&'a HttpRequest> for Head<'a> {
    fn from(r: &'a HttpRequest) -> Head<'a> {
        Head { method: r.method(), uri: r.uri(), headers: r.headers() }
    }
}

impl<'a> From<&'a actix_http::Request> for Head<'a> {
    fn from(r: &'a actix_http::Request) -> Head<'a> {
        Head { method: r.method(), uri: r.uri(), headers: r.headers() }
    }
}
