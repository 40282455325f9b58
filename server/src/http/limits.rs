//! Per-request limits on the wire: the gate that bounds requests in flight (past it a request
//! waits its turn, and is answered 503 SlowDown if none comes in time; a request holds its
//! place, and its access-log record, until its response body is sent;
//! a stopping server closes the gate so responses end their connections), and request header
//! limits.

use crate::http::error::{ErrorCode, S3Error, S3Result};
use actix_web::body::{BodySize, BoxBody, MessageBody};
use actix_web::http::header::HeaderMap;
use actix_web::HttpResponse;
use bytes::Bytes;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// At most `max` requests are handled at once; the others wait for a place in the order they
/// came (only their heads are held, and connections are bounded, so the queue is too), and are
/// turned away if none frees up within `queue_wait`.
pub struct RequestGate {
    places: Arc<Semaphore>,
    max: usize,
    queue_wait: Duration,
    waiting: Arc<AtomicI64>,
    closing: Arc<AtomicBool>,
}

/// A request's place in the gate, given back when dropped.
pub struct Place {
    _permit: OwnedSemaphorePermit,
    closing: Arc<AtomicBool>,
}

impl RequestGate {
    /// A gate of `max` places; `waiting` is kept at the number of requests waiting for one.
    pub fn new(max: usize, queue_wait: Duration, waiting: Arc<AtomicI64>) -> RequestGate {
        RequestGate { places: Arc::new(Semaphore::new(max)), max, queue_wait, waiting, closing: Arc::default() }
    }

    /// A place for one more request, once one is free, or S3's answer to an overloaded endpoint
    /// when none frees up in time.
    pub async fn enter(&self) -> S3Result<Place> {
        let permit = match self.places.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) if self.queue_wait.is_zero() => return Err(S3Error::new(ErrorCode::SlowDown)),
            Err(_) => {
                let _counted = Waiting::count(&self.waiting);
                match tokio::time::timeout(self.queue_wait, self.places.clone().acquire_owned()).await {
                    Ok(Ok(permit)) => permit,
                    _ => return Err(S3Error::new(ErrorCode::SlowDown)),
                }
            }
        };
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

/// Counts one waiting request until dropped: also when its client goes away and the wait is
/// dropped with the request.
struct Waiting<'a>(&'a AtomicI64);

impl<'a> Waiting<'a> {
    fn count(waiting: &'a AtomicI64) -> Waiting<'a> {
        waiting.fetch_add(1, Ordering::Relaxed);
        Waiting(waiting)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
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

    #[tokio::test]
    async fn gate_without_a_queue_turns_away_past_its_size_and_reopens() {
        let gate = RequestGate::new(2, Duration::ZERO, Arc::default());
        let (a, _b) = (gate.enter().await.unwrap(), gate.enter().await.unwrap());
        assert_eq!(gate.enter().await.err().unwrap().code, "SlowDown");
        assert_eq!(gate.in_flight(), 2);
        drop(a);
        assert_eq!(gate.in_flight(), 1);
        assert!(gate.enter().await.is_ok());
    }

    #[tokio::test]
    async fn requests_past_the_size_wait_their_turn_then_give_up() {
        let waiting = Arc::new(AtomicI64::new(0));
        let gate = Arc::new(RequestGate::new(1, Duration::from_millis(300), waiting.clone()));
        let first = gate.enter().await.unwrap();
        let second = tokio::spawn({
            let gate = gate.clone();
            async move { gate.enter().await.map(|_| ()) }
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(waiting.load(Ordering::Relaxed), 1);
        drop(first);
        assert!(second.await.unwrap().is_ok(), "a place freed within the wait goes to the waiting request");
        let _held = gate.enter().await.unwrap();
        let started = std::time::Instant::now();
        assert_eq!(gate.enter().await.err().unwrap().code, "SlowDown");
        assert!(started.elapsed() >= Duration::from_millis(300), "turned away only after the wait");
        assert_eq!(waiting.load(Ordering::Relaxed), 0);
        // A request whose client goes away while it waits is no longer counted.
        let gone = tokio::spawn({
            let gate = gate.clone();
            async move { gate.enter().await.map(|_| ()) }
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(waiting.load(Ordering::Relaxed), 1);
        gone.abort();
        let _ = gone.await;
        assert_eq!(waiting.load(Ordering::Relaxed), 0);
    }

    #[actix_web::test]
    async fn place_is_held_until_a_streamed_body_is_sent() {
        let gate = RequestGate::new(1, Duration::ZERO, Arc::default());
        let streamed = HttpResponse::Ok().streaming(futures::stream::iter([Ok::<_, std::io::Error>(Bytes::from_static(b"x"))]));
        let resp = hold_until_sent(streamed, gate.enter().await.unwrap());
        assert!(gate.enter().await.is_err());
        let body = actix_web::body::to_bytes(resp.into_body()).await.ok().unwrap();
        assert_eq!(&body[..], b"x");
        assert!(gate.enter().await.is_ok());
        // A body in memory gives its place back at once.
        let resp = hold_until_sent(HttpResponse::Ok().body("small"), gate.enter().await.unwrap());
        assert!(gate.enter().await.is_ok());
        assert_eq!(resp.head().connection_type(), actix_web::http::ConnectionType::KeepAlive);
        gate.close();
        let resp = hold_until_sent(HttpResponse::Ok().body("small"), gate.enter().await.unwrap());
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
