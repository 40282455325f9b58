//! The aws-chunked decoder fed arbitrary bytes in arbitrary splits, in every streaming mode
//! (signed chunks, signed chunks with a signed trailer, unsigned chunks with a trailer).
//!
//! Input: byte 0 picks the mode (bits 0-1), whether `x-amz-decoded-content-length` is known
//! (bit 2) and the largest piece (bits 3-7, 0 = one piece); byte 1 seeds the split; byte 2 is
//! the decoded length when known; the rest is the body. The chunk signatures of the seeds
//! are made with the AWS documentation's example key, date and seed signatures.
#![no_main]

use std::io;
use std::sync::OnceLock;

use bytes::Bytes;
use coffer_auth::{AuthError, AwsChunkedDecoder, StreamingContext};
use coffer_fuzz::{split, SECRET};
use futures::executor::block_on;
use futures::stream::{self, StreamExt};
use hmac::{Hmac, KeyInit, Mac};
use libfuzzer_sys::fuzz_target;
use sha2::Sha256;

const AMZ_DATE: &str = "20130524T000000Z";
const SCOPE: &str = "20130524/us-east-1/s3/aws4_request";
/// Seed signature of the AWS streaming example (signed chunks, no trailer).
const SEED: &str = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9";
/// Seed signature of the AWS streaming-with-trailer example.
const TRAILER_SEED: &str = "106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e";

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

fn signing_key() -> [u8; 32] {
    static KEY: OnceLock<[u8; 32]> = OnceLock::new();
    *KEY.get_or_init(|| {
        let k = hmac(format!("AWS4{SECRET}").as_bytes(), b"20130524");
        let k = hmac(&k, b"us-east-1");
        let k = hmac(&k, b"s3");
        hmac(&k, b"aws4_request")
    })
}

fn sig(hex_text: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(&hex_text[2 * i..2 * i + 2], 16).unwrap();
    }
    out
}

fn context(mode: u8, decoded: Option<u64>) -> StreamingContext {
    let (seed, signed, trailer, names): (&str, bool, bool, &[&str]) = match mode {
        0 => (SEED, true, false, &[]),
        1 => (TRAILER_SEED, true, true, &["x-amz-checksum-crc32c"]),
        2 => (SEED, false, true, &["x-amz-checksum-crc32"]),
        _ => (SEED, false, true, &[]),
    };
    let names = names.iter().map(|s| s.to_string()).collect();
    StreamingContext::new(signing_key(), sig(seed), AMZ_DATE, SCOPE, signed, trailer, decoded, names)
}

/// Decodes `pieces` to the end: the bytes, or the first error's code; and the decoded length
/// the decoder reports.
fn decode(pieces: Vec<Bytes>, ctx: StreamingContext) -> (Result<Vec<u8>, String>, u64, bool) {
    let inner = stream::iter(pieces.into_iter().map(Ok::<Bytes, io::Error>));
    let mut decoder = AwsChunkedDecoder::new(inner, ctx);
    let trailers = decoder.trailers();
    let mut out = Vec::new();
    let result = block_on(async {
        while let Some(item) = decoder.next().await {
            match item {
                Ok(data) => out.extend_from_slice(&data),
                Err(e) => return Err(AuthError::from_io(&e).map_or("io", |a| a.code()).to_string()),
            }
        }
        Ok(out)
    });
    (result, decoder.decoded_len(), trailers.is_complete())
}

fuzz_target!(|data: &[u8]| {
    let [flags, seed, len, body @ ..] = data else { return };
    let mode = flags & 3;
    let decoded = (flags & 4 != 0).then_some(u64::from(*len));
    let max_piece = usize::from(flags >> 3);
    let ctx = context(mode, decoded);

    let (split_result, split_len, split_complete) = decode(split(body, *seed, max_piece), ctx.clone());
    let (whole_result, _, _) = decode(vec![Bytes::copy_from_slice(body)], ctx.clone());
    // How the body arrives never changes what it decodes to.
    assert_eq!(split_result, whole_result, "split and whole decodes differ");
    if let Ok(out) = split_result {
        assert_eq!(out.len() as u64, split_len);
        assert!(out.len() <= body.len());
        if let Some(n) = decoded {
            assert_eq!(n, split_len, "accepted a body of the wrong decoded length");
        }
        if ctx.has_trailer() {
            assert!(split_complete, "accepted a trailer-mode body without publishing its trailers");
        }
    }
});
