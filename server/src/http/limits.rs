//! Per-request limits on the wire: the gate that bounds requests in flight (503 SlowDown past
//! it; a request holds its place, and its access-log record, until its response body is sent;
//! a stopping server closes the gate so responses end their connections), and request header
//! limits.

use crate::http::error::{ErrorCode, S3Error, S3Result};
use actix_web::body::{BodySize, BoxBody, MessageBody};
use actix_web::http::header::HeaderMap;
use actix_web::HttpResponse;
use bytes::Bytes;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// At most `max` requests are handled at once; the others are turned away at once.
pub struct RequestGate {
    places: Arc<Semaphore>,
    max: usize,
    closing: Arc<AtomicBool>,
}

/// A request's place in the gate, given back when dropped.
pub struct Place {
    _permit: OwnedSemaphorePermit,
    closing: Arc<AtomicBool>,
}

impl RequestGate {
    pub fn new(max: usize) -> RequestGate {
        RequestGate { places: Arc::new(Semaphore::new(max)), max, closing: Arc::default() }
    }

    /// A place for one more request, or S3's answer to an overloaded endpoint.
    pub fn enter(&self) -> S3Result<Place> {
        let permit = self.places.clone().try_acquire_owned().map_err(|_| S3Error::new(ErrorCode::SlowDown))?;
        Ok(Place { _permit: permit, closing: self.closing.clone() })
    }

    /// Requests holding a place now (a stopping server waits for them).
    pub fn in_flight(&self) -> usize {
        self.max.saturating_sub(self.places.available_permits())
    }

    /// The server is stopping: from now on every response closes its connection, so
    /// keep-alive clients stop sending requests here.
    pub fn close(&self) {
        self.closing.store(true, Ordering::Release);
    }
}

/// What a response holds until its body has been sent: told of each piece of the body that
/// goes out, dropped when the last has (or the connection is dropped).
pub trait BodyGuard: Unpin + 'static {
    fn sent(&mut self, _bytes: usize) {}

    /// Whether the response must close its connection (the server is stopping).
    fn closes_connection(&self) -> bool {
        false
    }
}

impl BodyGuard for Place {
    fn closes_connection(&self) -> bool {
        self.closing.load(Ordering::Acquire)
    }
}

impl<A: BodyGuard, B: BodyGuard> BodyGuard for (A, B) {
    fn sent(&mut self, bytes: usize) {
        self.0.sent(bytes);
        self.1.sent(bytes);
    }

    fn closes_connection(&self) -> bool {
        self.0.closes_connection() || self.1.closes_connection()
    }
}

/// `resp` with `guard` held until its body has been sent (or the connection dropped); a
/// response of a closing gate closes its connection.
pub fn hold_until_sent<G: BodyGuard>(mut resp: HttpResponse, guard: G) -> HttpResponse {
    if guard.closes_connection() {
        resp.head_mut().set_connection_type(actix_web::http::ConnectionType::Close);
    }
    resp.map_body(|_, body| BoxBody::new(HeldBody { body, guard }))
}

struct HeldBody<G> {
    body: BoxBody,
    guard: G,
}

impl<G: BodyGuard> MessageBody for HeldBody<G> {
    type Error = Box<dyn std::error::Error>;

    fn size(&self) -> BodySize {
        self.body.size()
    }

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, Self::Error>>> {
        let this = self.get_mut();
        let next = Pin::new(&mut this.body).poll_next(cx);
        if let Poll::Ready(Some(Ok(chunk))) = &next {
            this.guard.sent(chunk.len());
        }
        next
    }

    /// A body already in memory needs no place: it is handed over and the guard let go.
    fn try_into_bytes(self) -> Result<Bytes, Self> {
        let HeldBody { body, mut guard } = self;
        match body.try_into_bytes() {
            Ok(bytes) => {
                guard.sent(bytes.len());
                Ok(bytes)
            }
            Err(body) => Err(HeldBody { body, guard }),
        }
    }
}

/// Refuses request heads with more than `max_count` headers or more than `max_bytes` bytes of
/// them (`name: value\r\n` each), as S3 does with RequestHeaderSectionTooLarge.
pub fn check_headers(headers: &HeaderMap, max_count: usize, max_bytes: usize) -> S3Result<()> {
    let bytes: usize = headers.iter().map(|(name, value)| name.as_str().len() + value.len() + 4).sum();
    if headers.len() > max_count || bytes > max_bytes {
        return Err(S3Error::new(ErrorCode::RequestHeaderSectionTooLarge).with("MaxSizeAllowed", max_bytes.to_string()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::{HeaderName, HeaderValue};

    #[test]
    fn gate_turns_away_past_its_size_and_reopens() {
        let gate = RequestGate::new(2);
        let (a, _b) = (gate.enter().unwrap(), gate.enter().unwrap());
        assert_eq!(gate.enter().err().unwrap().code, "SlowDown");
        assert_eq!(gate.in_flight(), 2);
        drop(a);
        assert_eq!(gate.in_flight(), 1);
        assert!(gate.enter().is_ok());
    }

    #[actix_web::test]
    async fn place_is_held_until_a_streamed_body_is_sent() {
        let gate = RequestGate::new(1);
        let streamed = HttpResponse::Ok().streaming(futures::stream::iter([Ok::<_, std::io::Error>(Bytes::from_static(b"x"))]));
        let resp = hold_until_sent(streamed, gate.enter().unwrap());
        assert!(gate.enter().is_err());
        let body = actix_web::body::to_bytes(resp.into_body()).await.ok().unwrap();
        assert_eq!(&body[..], b"x");
        assert!(gate.enter().is_ok());
        // A body in memory gives its place back at once.
        let resp = hold_until_sent(HttpResponse::Ok().body("small"), gate.enter().unwrap());
        assert!(gate.enter().is_ok());
        assert_eq!(resp.head().connection_type(), actix_web::http::ConnectionType::KeepAlive);
        gate.close();
        let resp = hold_until_sent(HttpResponse::Ok().body("small"), gate.enter().unwrap());
        assert_eq!(resp.head().connection_type(), actix_web::http::ConnectionType::Close, "a closing gate's responses end their connections");
    }

    #[test]
    fn header_count_and_size() {
        let mut h = HeaderMap::new();
        for i in 0..5 {
            h.append(HeaderName::from_bytes(format!("x-h{i}").as_bytes()).unwrap(), HeaderValue::from_static("v"));
        }
        assert!(check_headers(&h, 5, 1024).is_ok());
        assert_eq!(check_headers(&h, 4, 1024).unwrap_err().code, "RequestHeaderSectionTooLarge");
        // Each is "x-hN: v\r\n", 9 bytes.
        assert!(check_headers(&h, 10, 45).is_ok());
        assert!(check_headers(&h, 10, 44).is_err());
    }
}
