//! Request bodies: the raw actix payload as a stream of io results, aws-chunked decoding when
//! the signature says so, and reading small XML bodies whole.

use crate::http::error::{body_error, ErrorCode, IncompleteBody, S3Error, S3Result};
use actix_web::error::PayloadError;
use actix_web::web;
use bytes::{Bytes, BytesMut};
use coffer_auth::{AwsChunkedDecoder, Payload, TrailerHandle};
use futures::{Stream, StreamExt};
use std::io;
use std::pin::Pin;

/// An object body on its way in.
pub type BodyStream = Pin<Box<dyn Stream<Item = io::Result<Bytes>>>>;

fn payload_error(e: PayloadError) -> io::Error {
    match e {
        PayloadError::Incomplete(_) => io::Error::other(IncompleteBody),
        other => io::Error::other(other.to_string()),
    }
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
