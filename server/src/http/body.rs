//! Request bodies: the raw actix payload as a stream of io results (cut off when it stalls),
//! aws-chunked decoding when the signature says so, and reading small XML bodies whole.

use crate::http::error::{body_error, BodyStalled, ErrorCode, IncompleteBody, S3Error, S3Result};
use actix_web::error::PayloadError;
use actix_web::{dev, web, FromRequest, HttpRequest};
use bytes::{Bytes, BytesMut};
use coffer_auth::{AwsChunkedDecoder, Payload, TrailerHandle};
use futures::{Stream, StreamExt};
use std::io;
use std::cell::Cell;
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
/// request (and its staging file) forever. The bytes that arrive are added to `received`.
pub async fn with_stall_timeout(req: &HttpRequest, payload: web::Payload, timeout: Duration, received: Rc<Cell<u64>>) -> web::Payload {
    let stream = futures::stream::unfold(Some(payload), move |payload| {
        let received = received.clone();
        async move {
        let mut payload = payload?;
        match tokio::time::timeout(timeout, payload.next()).await {
            Ok(Some(item)) => {
                if let Ok(chunk) = &item {
                    received.set(received.get() + chunk.len() as u64);
                }
                Some((item, Some(payload)))
            }
            Ok(None) => None,
            Err(_) => Some((Err(PayloadError::Io(io::Error::new(io::ErrorKind::TimedOut, BodyStalled))), None)),
        }
        }
    });
    let boxed: actix_http::BoxedPayloadStream = Box::pin(stream);
    // web::Payload has no public constructor; its extractor takes any dev::Payload as it is.
    web::Payload::from_request(req, &mut dev::Payload::from(boxed)).await.expect("the Payload extractor never fails")
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
