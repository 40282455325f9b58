//! Request bodies: the raw actix payload as a stream of io results (cut off when it stalls),
//! aws-chunked decoding when the signature says so, and reading small XML bodies whole.

use crate::http::error::{body_error, BodyStalled, ErrorCode, IncompleteBody, S3Error, S3Result};
use actix_web::error::PayloadError;
use actix_web::{dev, web, FromRequest, HttpRequest};
use bytes::{Bytes, BytesMut};
use coffer_auth::{AwsChunkedDecoder, Payload, TrailerHandle};
use futures::{Stream, StreamExt};
use std::io;
use std::cell::{Cell, RefCell};
use std::pin::Pin;
use std::rc::Rc;
use std::time::Duration;

/// An object body on its way in.
pub type BodyStream = Pin<Box<dyn Stream<Item = io::Result<Bytes>>>>;

fn payload_error(e: PayloadError) -> io::Error {
    match e {
        PayloadError::Incomplete(_) => io::Error::other(IncompleteBody),
        PayloadError::Io(e) => e,
        other => io::Error::other(other.to_string()),
    }
}

/// The request's payload, failing with `BodyStalled` (S3's RequestTimeout) once no bytes have
/// arrived for `timeout`, so a client that sends part of a body and stops cannot hold a
/// request (and its staging file) forever. The bytes that arrive are added to `received`. The
/// `Unread` half keeps what the handler leaves of the payload, for `drain_refused`.
pub async fn with_stall_timeout(req: &HttpRequest, payload: web::Payload, timeout: Duration, received: Rc<Cell<u64>>) -> (web::Payload, Unread) {
    let slot = Rc::new(RefCell::new(Rest::Pending(payload)));
    let unread = Unread(slot.clone());
    let stream = futures::stream::unfold(slot, move |slot| {
        let received = received.clone();
        async move {
        // Taken out while a read is in flight: a handler that drops its body mid-read leaves it lost.
        let Rest::Pending(mut payload) = slot.replace(Rest::Lost) else { return None };
        match tokio::time::timeout(timeout, payload.next()).await {
            Ok(Some(item)) => {
                if let Ok(chunk) = &item {
                    received.set(received.get() + chunk.len() as u64);
                }
                slot.replace(Rest::Pending(payload));
                Some((item, slot))
            }
            Ok(None) => {
                slot.replace(Rest::Done);
                None
            }
            Err(_) => Some((Err(PayloadError::Io(io::Error::new(io::ErrorKind::TimedOut, BodyStalled))), slot)),
        }
        }
    });
    let boxed: actix_http::BoxedPayloadStream = Box::pin(stream);
    // web::Payload has no public constructor; its extractor takes any dev::Payload as it is.
    let payload = web::Payload::from_request(req, &mut dev::Payload::from(boxed)).await.expect("the Payload extractor never fails");
    (payload, unread)
}

/// What is left of a request's payload after its handler.
enum Rest {
    /// Not read to its end yet.
    Pending(web::Payload),
    /// Read to its end.
    Done,
    /// Stalled, or dropped in the middle of a read: the connection cannot be reused.
    Lost,
}

/// The part of a request's payload its handler did not read.
pub struct Unread(Rc<RefCell<Rest>>);

/// The largest body a refused request has drained (read and dropped) before its error answer.
pub const DRAIN_LIMIT: u64 = 1024 * 1024;

/// Reads and drops what is left of a refused request's body when the body is small (a
/// Content-Length of at most `DRAIN_LIMIT`, or none and no chunked encoding) and arrives within
/// `timeout`, so the connection stays usable and the client reads the error answer instead of
/// a reset. False when the connection must close after the answer instead (a larger or
/// chunked body, a slow or cut one).
pub async fn drain_refused(req: &HttpRequest, unread: Unread, timeout: Duration) -> bool {
    let headers = req.headers();
    let length = match headers.get(actix_web::http::header::CONTENT_LENGTH) {
        Some(v) => v.to_str().ok().and_then(|v| v.parse::<u64>().ok()),
        None if headers.contains_key(actix_web::http::header::TRANSFER_ENCODING) => None,
        None => Some(0),
    };
    let mut payload = match unread.0.replace(Rest::Lost) {
        Rest::Done => return true,
        Rest::Lost => return false,
        Rest::Pending(payload) if length.is_some_and(|n| n <= DRAIN_LIMIT) => payload,
        Rest::Pending(_) => return false,
    };
    let drained = async {
        while let Some(chunk) = payload.next().await {
            if chunk.is_err() {
                return false;
            }
        }
        true
    };
    tokio::time::timeout(timeout, drained).await.unwrap_or(false)
}

/// The decoded body and, for aws-chunked bodies, the handle its trailers arrive on.
pub struct RequestBody {
    pub stream: BodyStream,
    pub trailers: Option<TrailerHandle>,
}

pub fn request_body(payload: web::Payload, auth_payload: &Payload) -> RequestBody {
    let raw = payload.map(|r| r.map_err(payload_error));
    match auth_payload {
        Payload::Streaming(ctx) => {
            let decoder = AwsChunkedDecoder::new(raw, ctx.clone());
            let trailers = decoder.trailers();
            RequestBody { stream: Box::pin(decoder), trailers: Some(trailers) }
        }
        _ => RequestBody { stream: Box::pin(raw), trailers: None },
    }
}

/// Reads a whole (small) body, failing with `too_big` past `limit` bytes.
pub async fn read_all(mut body: BodyStream, limit: usize, too_big: ErrorCode) -> S3Result<Bytes> {
    let mut buf = BytesMut::new();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(body_error)?;
        if buf.len() + chunk.len() > limit {
            return Err(S3Error::new(too_big));
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf.freeze())
}
