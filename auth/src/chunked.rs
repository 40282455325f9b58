//! The aws-chunked body decoder: a `Stream` adapter that strips chunk framing, verifies
//! each chunk's signature chain and the trailer, and yields the object bytes.
//!
//! Data is passed through as it arrives (no chunk is buffered); a chunk's signature is
//! checked when its closing CRLF arrives, so any failure surfaces as an error item before
//! the stream ends. Callers must therefore poll to the end before committing anything.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_core::Stream;
use sha2::{Digest, Sha256};

use crate::error::{AuthError, SignatureMismatch};
use crate::payload::StreamingContext;
use crate::signing::{ct_eq, hmac_keyed, hmac_with, parse_signature, HmacSha256, EMPTY_SHA256_HEX};
use crate::trailer::{TrailerHandle, TrailerSection};

/// The largest chunk accepted (SDKs use 64 KiB to 1 MiB).
pub const MAX_CHUNK_SIZE: u64 = 16 * 1024 * 1024;
/// The longest chunk-header or trailer line accepted, CRLF excluded.
const MAX_LINE: usize = 8 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Expecting `hex-size[;ext...]\r\n`.
    Header,
    /// Inside a chunk's data.
    Data { remaining: u64 },
    /// Expecting the CRLF that closes a chunk's data.
    DataEnd,
    /// After the zero-length chunk (no trailer): expecting the final CRLF.
    AfterLast,
    /// After the zero-length chunk (trailer modes): trailer lines until an empty line.
    /// `blank_seen`: an empty line came before any trailer (tolerated once).
    Trailers { blank_seen: bool },
    /// The body is complete; only end of input may follow.
    Done,
}

/// Decodes an aws-chunked request body (see the module docs).
///
/// Input and output are `Stream<Item = io::Result<Bytes>>`. Failures of ours are
/// `io::Error::other(AuthError)`; recover them with [`AuthError::from_io`].
pub struct AwsChunkedDecoder<S> {
    inner: S,
    ctx: StreamingContext,
    /// HMAC keyed with the signing key, cloned for each signature.
    mac: HmacSha256,
    state: State,
    /// Unconsumed rest of the current input item.
    input: Bytes,
    /// A partial line carried across input items.
    line: Vec<u8>,
    /// Hash of the current chunk's data (signed mode).
    hasher: Sha256,
    /// The signature the current chunk header declared.
    chunk_signature: Option<[u8; 32]>,
    /// The last verified signature (the seed at first).
    prev_signature: [u8; 32],
    decoded: u64,
    section: TrailerSection,
    trailers: Option<Vec<(String, String)>>,
    handle: TrailerHandle,
    finished: bool,
}

impl<S> AwsChunkedDecoder<S> {
    /// Wraps the raw body `inner` of a request whose payload mode was streaming.
    pub fn new(inner: S, ctx: StreamingContext) -> Self {
        let prev_signature = ctx.seed_signature;
        AwsChunkedDecoder {
            inner,
            mac: hmac_keyed(&ctx.signing_key),
            ctx,
            state: State::Header,
            input: Bytes::new(),
            line: Vec::new(),
            hasher: Sha256::new(),
            chunk_signature: None,
            prev_signature,
            decoded: 0,
            section: TrailerSection::default(),
            trailers: None,
            handle: TrailerHandle::default(),
            finished: false,
        }
    }

    /// A handle that holds the verified trailers once the stream has ended successfully.
    pub fn trailers(&self) -> TrailerHandle {
        self.handle.clone()
    }

    /// Decoded bytes yielded so far.
    pub fn decoded_len(&self) -> u64 {
        self.decoded
    }

    /// Consumes buffered input; `Ok(Some)` is data to yield, `Ok(None)` means all input
    /// was consumed and more is needed (or, in `Done`, end of input is awaited).
    fn advance(&mut self) -> Result<Option<Bytes>, AuthError> {
        loop {
            match self.state {
                State::Header => {
                    let Some(line) = self.take_line()? else {
                        return Ok(None);
                    };
                    let (size, signature) = parse_chunk_header(&line, self.ctx.signed_chunks)?;
                    self.chunk_signature = signature;
                    if size == 0 {
                        if self.ctx.signed_chunks {
                            self.verify_chunk()?;
                        }
                        self.state = if self.ctx.trailer {
                            State::Trailers { blank_seen: false }
                        } else {
                            State::AfterLast
                        };
                        continue;
                    }
                    if let Some(limit) = self.ctx.decoded_content_length {
                        if self.decoded + size > limit {
                            return Err(AuthError::incomplete(
                                "The aws-chunked body is longer than x-amz-decoded-content-length.",
                            ));
                        }
                    }
                    self.state = State::Data { remaining: size };
                }
                State::Data { remaining } => {
                    if self.input.is_empty() {
                        return Ok(None);
                    }
                    let n = remaining.min(self.input.len() as u64);
                    let data = self.input.split_to(n as usize);
                    if self.ctx.signed_chunks {
                        self.hasher.update(&data);
                    }
                    self.decoded += n;
                    self.state = if n == remaining {
                        State::DataEnd
                    } else {
                        State::Data {
                            remaining: remaining - n,
                        }
                    };
                    return Ok(Some(data));
                }
                State::DataEnd => {
                    let Some(line) = self.take_line()? else {
                        return Ok(None);
                    };
                    if !line.is_empty() {
                        return Err(AuthError::incomplete(
                            "An aws-chunked chunk is longer than its declared size.",
                        ));
                    }
                    if self.ctx.signed_chunks {
                        self.verify_chunk()?;
                    }
                    self.state = State::Header;
                }
                State::AfterLast => {
                    let Some(line) = self.take_line()? else {
                        return Ok(None);
                    };
                    if !line.is_empty() {
                        return Err(trailing_garbage());
                    }
                    self.state = State::Done;
                }
                State::Trailers { blank_seen } => {
                    let Some(line) = self.take_line()? else {
                        return Ok(None);
                    };
                    if !line.is_empty() {
                        self.section.push_line(&line, self.ctx.signed_chunks)?;
                    } else if !self.section.is_empty() {
                        self.finish_trailers()?;
                        self.state = State::Done;
                    } else if !blank_seen {
                        // "0\r\n\r\n": either the end (no trailers) or a client that puts a
                        // blank line before its trailers; decided by what follows.
                        self.state = State::Trailers { blank_seen: true };
                    } else {
                        return Err(trailing_garbage());
                    }
                }
                State::Done => {
                    if !self.input.is_empty() {
                        return Err(trailing_garbage());
                    }
                    return Ok(None);
                }
            }
        }
    }

    /// End of input: accept it if the body is complete (tolerating a missing final CRLF).
    fn at_eof(&mut self) -> Result<(), AuthError> {
        match self.state {
            State::Done => {}
            State::AfterLast if self.line.is_empty() || self.line == b"\r" => {}
            State::Trailers { .. } => {
                // A last trailer line without CRLF, or no terminating blank line.
                let mut partial = std::mem::take(&mut self.line);
                if partial.last() == Some(&b'\r') {
                    partial.pop();
                }
                if !partial.is_empty() {
                    self.section.push_line(&partial, self.ctx.signed_chunks)?;
                }
                self.finish_trailers()?;
            }
            State::Header if self.line.is_empty() && self.decoded > 0 => {
                return Err(AuthError::incomplete(
                    "The aws-chunked body ended without its final zero-length chunk.",
                ));
            }
            _ => {
                return Err(AuthError::incomplete(
                    "You did not provide the number of bytes specified by the Content-Length HTTP header.",
                ));
            }
        }
        if let Some(limit) = self.ctx.decoded_content_length {
            if self.decoded != limit {
                return Err(AuthError::incomplete(
                    "You did not provide the number of bytes specified by the x-amz-decoded-content-length HTTP header.",
                ));
            }
        }
        self.handle
            .publish(self.trailers.take().unwrap_or_default());
        Ok(())
    }

    fn finish_trailers(&mut self) -> Result<(), AuthError> {
        let section = std::mem::take(&mut self.section);
        self.trailers = Some(section.finish(&self.ctx, &self.mac, &self.prev_signature)?);
        Ok(())
    }

    /// Checks the current chunk's signature over the data hashed so far, then chains it.
    fn verify_chunk(&mut self) -> Result<(), AuthError> {
        let provided = self.chunk_signature.take().ok_or_else(|| {
            AuthError::incomplete("An aws-chunked chunk header lacks its chunk-signature.")
        })?;
        let data_hash = hex::encode(self.hasher.finalize_reset());
        let sts = format!(
            "AWS4-HMAC-SHA256-PAYLOAD\n{}\n{}\n{}\n{EMPTY_SHA256_HEX}\n{data_hash}",
            self.ctx.amz_date,
            self.ctx.scope,
            hex::encode(self.prev_signature),
        );
        if !ct_eq(&hmac_with(&self.mac, sts.as_bytes()), &provided) {
            return Err(AuthError::mismatch(SignatureMismatch {
                access_key: String::new(),
                signature_provided: hex::encode(provided),
                string_to_sign: sts,
                canonical_request: String::new(),
            }));
        }
        self.prev_signature = provided;
        Ok(())
    }

    /// Moves input up to the next LF into the line buffer; returns the line without its
    /// CRLF once complete, or `None` after consuming all input.
    fn take_line(&mut self) -> Result<Option<Vec<u8>>, AuthError> {
        let too_long =
            || AuthError::incomplete("An aws-chunked header or trailer line is too long.");
        match self.input.iter().position(|&b| b == b'\n') {
            None => {
                if self.line.len() + self.input.len() > MAX_LINE + 1 {
                    return Err(too_long());
                }
                self.line.extend_from_slice(&self.input);
                self.input = Bytes::new();
                Ok(None)
            }
            Some(pos) => {
                if self.line.len() + pos > MAX_LINE + 1 {
                    return Err(too_long());
                }
                let part = self.input.split_to(pos + 1);
                self.line.extend_from_slice(&part);
                let mut line = std::mem::take(&mut self.line);
                if !line.ends_with(b"\r\n") {
                    return Err(AuthError::incomplete(
                        "An aws-chunked line does not end with CRLF.",
                    ));
                }
                line.truncate(line.len() - 2);
                Ok(Some(line))
            }
        }
    }
}

fn trailing_garbage() -> AuthError {
    AuthError::incomplete("Unexpected data after the end of the aws-chunked body.")
}

/// Parses `hex-size[;name=value]*`; returns the size and the `chunk-signature`, if any.
/// In signed mode the signature is required; other extensions are ignored.
fn parse_chunk_header(line: &[u8], signed: bool) -> Result<(u64, Option<[u8; 32]>), AuthError> {
    let bad = || AuthError::incomplete("An aws-chunked chunk header is malformed.");
    let line = std::str::from_utf8(line).map_err(|_| bad())?;
    let mut parts = line.split(';');
    let size = parts.next().unwrap_or("").trim_matches([' ', '\t']);
    if size.is_empty() || size.len() > 16 || !size.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad());
    }
    let size = u64::from_str_radix(size, 16).map_err(|_| bad())?;
    if size > MAX_CHUNK_SIZE {
        return Err(AuthError::incomplete(format!(
            "An aws-chunked chunk of {size} bytes exceeds the {MAX_CHUNK_SIZE}-byte limit."
        )));
    }
    let mut signature = None;
    for ext in parts {
        let (name, value) = ext.split_once('=').unwrap_or((ext, ""));
        if name.trim() == "chunk-signature" && signed {
            signature = Some(parse_signature(value.trim()).ok_or_else(bad)?);
        }
    }
    if signed && signature.is_none() {
        return Err(AuthError::incomplete(
            "An aws-chunked chunk header lacks its chunk-signature.",
        ));
    }
    Ok((size, signature))
}

impl<S> Stream for AwsChunkedDecoder<S>
where
    S: Stream<Item = io::Result<Bytes>> + Unpin,
{
    type Item = io::Result<Bytes>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            if this.finished {
                return Poll::Ready(None);
            }
            match this.advance() {
                Ok(Some(data)) => return Poll::Ready(Some(Ok(data))),
                Ok(None) => debug_assert!(this.input.is_empty()),
                Err(e) => {
                    this.finished = true;
                    return Poll::Ready(Some(Err(io::Error::other(e))));
                }
            }
            match Pin::new(&mut this.inner).poll_next(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Ok(data))) => this.input = data,
                Poll::Ready(Some(Err(e))) => {
                    this.finished = true;
                    return Poll::Ready(Some(Err(e)));
                }
                Poll::Ready(None) => {
                    this.finished = true;
                    return match this.at_eof() {
                        Ok(()) => Poll::Ready(None),
                        Err(e) => Poll::Ready(Some(Err(io::Error::other(e)))),
                    };
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use futures::executor::block_on;
    use futures::stream::{self, StreamExt};

    use super::*;
    use crate::signing::{hmac, sha256_hex};
    use crate::testutil::{example_key, AMZ_DATE, SCOPE};

    type Body = Vec<io::Result<Bytes>>;

    /// Decodes `items` fully; returns the bytes or the first error, and the trailers.
    fn decode(items: Body, ctx: StreamingContext) -> (Result<Vec<u8>, io::Error>, TrailerHandle) {
        let mut dec = AwsChunkedDecoder::new(stream::iter(items), ctx);
        let handle = dec.trailers();
        let result = block_on(async {
            let mut out = Vec::new();
            while let Some(item) = dec.next().await {
                out.extend_from_slice(&item?);
            }
            // Fused: nothing after the end.
            assert!(dec.next().await.is_none());
            Ok(out)
        });
        (result, handle)
    }

    fn code(r: &Result<Vec<u8>, io::Error>) -> &'static str {
        let e = r.as_ref().expect_err("decoding should fail");
        AuthError::from_io(e)
            .map(AuthError::code)
            .unwrap_or("foreign")
    }

    fn whole(body: &[u8]) -> Body {
        vec![Ok(Bytes::copy_from_slice(body))]
    }

    fn bytewise(body: &[u8]) -> Body {
        body.iter()
            .map(|b| Ok(Bytes::copy_from_slice(&[*b])))
            .collect()
    }

    /// Splits `body` at pseudo-random points (xorshift; deterministic per seed).
    fn random_split(body: &[u8], seed: u64, max_piece: usize) -> Body {
        let mut x = seed | 1;
        let mut out = Vec::new();
        let mut i = 0;
        while i < body.len() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let n = 1 + (x as usize % max_piece);
            let end = (i + n).min(body.len());
            out.push(Ok(Bytes::copy_from_slice(&body[i..end])));
            // Empty items must be harmless.
            if x.is_multiple_of(7) {
                out.push(Ok(Bytes::new()));
            }
            i = end;
        }
        out
    }

    fn hexsig(s: &str) -> [u8; 32] {
        parse_signature(s).unwrap()
    }

    // ---- The AWS documented example (sigv4-streaming): 66560 bytes of 'a' in 64 KiB + 1 KiB. ----

    const SEED: &str = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9";

    fn aws_example_body() -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(b"10000;chunk-signature=ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648\r\n");
        b.extend(std::iter::repeat_n(b'a', 65536));
        b.extend_from_slice(b"\r\n400;chunk-signature=0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497\r\n");
        b.extend(std::iter::repeat_n(b'a', 1024));
        b.extend_from_slice(b"\r\n0;chunk-signature=b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9\r\n\r\n");
        b
    }

    fn aws_example_ctx(decoded: Option<u64>) -> StreamingContext {
        StreamingContext::new(
            example_key(),
            hexsig(SEED),
            AMZ_DATE,
            SCOPE,
            true,
            false,
            decoded,
            vec![],
        )
    }

    #[test]
    fn aws_example_decodes() {
        let body = aws_example_body();
        assert_eq!(body.len(), 66824); // the example's Content-Length
        let (out, trailers) = decode(whole(&body), aws_example_ctx(Some(66560)));
        let out = out.unwrap();
        assert_eq!(out.len(), 66560);
        assert!(out.iter().all(|&b| b == b'a'));
        assert!(trailers.is_complete());
        assert!(trailers.get().is_empty());
    }

    #[test]
    fn aws_example_bytewise_and_random_splits() {
        let body = aws_example_body();
        let (out, _) = decode(bytewise(&body), aws_example_ctx(Some(66560)));
        assert_eq!(out.unwrap().len(), 66560);
        for seed in 1..40 {
            for max in [3, 90, 5000, 70000] {
                let (out, _) = decode(random_split(&body, seed, max), aws_example_ctx(Some(66560)));
                assert_eq!(out.unwrap().len(), 66560, "seed {seed} max {max}");
            }
        }
    }

    #[test]
    fn aws_example_tampering() {
        let body = aws_example_body();
        // A flipped data byte in either chunk.
        for pos in [100, 66000] {
            let mut b = body.clone();
            b[pos] = b'b';
            let (out, trailers) = decode(whole(&b), aws_example_ctx(None));
            assert_eq!(code(&out), "SignatureDoesNotMatch");
            assert!(!trailers.is_complete());
        }
        // A wrong seed breaks the first chunk.
        let ctx = StreamingContext::new(
            example_key(),
            [0; 32],
            AMZ_DATE,
            SCOPE,
            true,
            false,
            None,
            vec![],
        );
        assert_eq!(code(&decode(whole(&body), ctx).0), "SignatureDoesNotMatch");
        // Wrong key.
        let ctx = StreamingContext::new(
            [1; 32],
            hexsig(SEED),
            AMZ_DATE,
            SCOPE,
            true,
            false,
            None,
            vec![],
        );
        assert_eq!(code(&decode(whole(&body), ctx).0), "SignatureDoesNotMatch");
        // Declared length disagrees.
        assert_eq!(
            code(&decode(whole(&body), aws_example_ctx(Some(66561))).0),
            "IncompleteBody"
        );
        assert_eq!(
            code(&decode(whole(&body), aws_example_ctx(Some(1000))).0),
            "IncompleteBody"
        );
        // Garbage after the end.
        let mut b = body.clone();
        b.extend_from_slice(b"x");
        assert_eq!(
            code(&decode(whole(&b), aws_example_ctx(None)).0),
            "IncompleteBody"
        );
    }

    #[test]
    fn aws_example_every_truncation_fails() {
        let body = aws_example_body();
        // Cut points around every structural element, plus a sweep.
        let mut cuts: Vec<usize> = (0..200).collect();
        cuts.extend((65500..66000).step_by(7));
        cuts.extend(body.len() - 120..body.len() - 2);
        for cut in cuts {
            let (out, trailers) = decode(whole(&body[..cut]), aws_example_ctx(None));
            assert!(out.is_err(), "cut at {cut} decoded");
            assert!(!trailers.is_complete());
        }
        // Only the final CRLF may be missing.
        for cut in [body.len() - 2, body.len() - 1] {
            decode(whole(&body[..cut]), aws_example_ctx(Some(66560)))
                .0
                .unwrap();
        }
    }

    // ---- The AWS documented trailer example (sigv4-streaming-trailers). ----

    const TRAILER_SEED: &str = "106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e";

    fn aws_trailer_body(blank_before_trailers: bool) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(b"10000;chunk-signature=b474d8862b1487a5145d686f57f013e54db672cee1c953b3010fb58501ef5aa2\r\n");
        b.extend(std::iter::repeat_n(b'a', 65536));
        b.extend_from_slice(b"\r\n400;chunk-signature=1c1344b170168f8e65b41376b44b20fe354e373826ccbbe2c1d40a8cae51e5c7\r\n");
        b.extend(std::iter::repeat_n(b'a', 1024));
        b.extend_from_slice(b"\r\n0;chunk-signature=2ca2aba2005185cf7159c6277faf83795951dd77a3a99e6e65d5c9f85863f992\r\n");
        if blank_before_trailers {
            b.extend_from_slice(b"\r\n");
        }
        b.extend_from_slice(b"x-amz-checksum-crc32c:sOO8/Q==\r\n");
        b.extend_from_slice(b"x-amz-trailer-signature:d81f82fc3505edab99d459891051a732e8730629a2e4a59689829ca17fe2e435\r\n\r\n");
        b
    }

    fn aws_trailer_ctx(names: &[&str]) -> StreamingContext {
        StreamingContext::new(
            example_key(),
            hexsig(TRAILER_SEED),
            AMZ_DATE,
            SCOPE,
            true,
            true,
            Some(66560),
            names.iter().map(|s| s.to_string()).collect(),
        )
    }

    #[test]
    fn aws_trailer_example() {
        for blank in [false, true] {
            let body = aws_trailer_body(blank);
            for items in [whole(&body), bytewise(&body), random_split(&body, 7, 300)] {
                let (out, trailers) = decode(items, aws_trailer_ctx(&["x-amz-checksum-crc32c"]));
                assert_eq!(out.unwrap().len(), 66560);
                assert_eq!(
                    trailers.get(),
                    [("x-amz-checksum-crc32c".to_owned(), "sOO8/Q==".to_owned())]
                );
                assert_eq!(
                    trailers.value("x-amz-checksum-crc32c").as_deref(),
                    Some("sOO8/Q==")
                );
            }
        }
        // Without the closing blank line, or without the last CRLF too.
        let body = aws_trailer_body(false);
        for cut in [2, 4] {
            let (out, trailers) = decode(whole(&body[..body.len() - cut]), aws_trailer_ctx(&[]));
            out.unwrap();
            assert_eq!(trailers.get().len(), 1);
        }
    }

    #[test]
    fn aws_trailer_example_tampering() {
        let body = aws_trailer_body(false);
        let s = String::from_utf8_lossy(&body).into_owned();
        // A different checksum value is not what was signed.
        let forged = s.replace("sOO8/Q==", "AAAAAA==");
        let (out, trailers) = decode(whole(forged.as_bytes()), aws_trailer_ctx(&[]));
        assert_eq!(code(&out), "SignatureDoesNotMatch");
        assert!(trailers.get().is_empty());
        // The trailer signature removed.
        let cut = s.find("x-amz-trailer-signature").unwrap();
        let stripped = format!("{}\r\n", &s[..cut]);
        assert_eq!(
            code(&decode(whole(stripped.as_bytes()), aws_trailer_ctx(&[])).0),
            "MalformedTrailerError"
        );
        // An undeclared trailer, or a declared one missing.
        assert_eq!(
            code(&decode(whole(&body), aws_trailer_ctx(&["x-amz-checksum-crc32"])).0),
            "MalformedTrailerError"
        );
        // Data after the trailer section.
        let mut extra = body.clone();
        extra.extend_from_slice(b"more");
        assert_eq!(
            code(&decode(whole(&extra), aws_trailer_ctx(&[])).0),
            "IncompleteBody"
        );
    }

    // ---- Bodies produced by a test-side encoder. ----

    struct Encoder {
        key: [u8; 32],
        prev: String,
    }

    impl Encoder {
        fn new() -> Self {
            Encoder {
                key: example_key(),
                prev: hex::encode([5u8; 32]),
            }
        }

        fn ctx(&self, signed: bool, trailer: bool, decoded: Option<u64>) -> StreamingContext {
            StreamingContext::new(
                self.key,
                [5; 32],
                AMZ_DATE,
                SCOPE,
                signed,
                trailer,
                decoded,
                vec![],
            )
        }

        fn sign(&mut self, data: &[u8]) -> String {
            let sts = format!(
                "AWS4-HMAC-SHA256-PAYLOAD\n{AMZ_DATE}\n{SCOPE}\n{}\n{EMPTY_SHA256_HEX}\n{}",
                self.prev,
                sha256_hex(data)
            );
            self.prev = hex::encode(hmac(&self.key, sts.as_bytes()));
            self.prev.clone()
        }

        fn signed_body(&mut self, chunks: &[&[u8]], trailers: &[(&str, &str)]) -> Vec<u8> {
            let mut b = Vec::new();
            for c in chunks.iter().chain([&&b""[..]]) {
                let sig = self.sign(c);
                b.extend_from_slice(format!("{:x};chunk-signature={sig}\r\n", c.len()).as_bytes());
                b.extend_from_slice(c);
                if !c.is_empty() {
                    b.extend_from_slice(b"\r\n");
                }
            }
            if trailers.is_empty() {
                b.extend_from_slice(b"\r\n");
                return b;
            }
            let mut canonical = String::new();
            for (n, v) in trailers {
                b.extend_from_slice(format!("{n}:{v}\r\n").as_bytes());
                canonical.push_str(&format!("{n}:{v}\n"));
            }
            let sts = format!(
                "AWS4-HMAC-SHA256-TRAILER\n{AMZ_DATE}\n{SCOPE}\n{}\n{}",
                self.prev,
                sha256_hex(canonical.as_bytes())
            );
            let sig = hex::encode(hmac(&self.key, sts.as_bytes()));
            b.extend_from_slice(format!("x-amz-trailer-signature:{sig}\r\n\r\n").as_bytes());
            b
        }
    }

    #[test]
    fn signed_chunks_of_many_sizes_with_splits() {
        let data: Vec<u8> = (0..20_000u32).map(|i| (i * 7 + i / 251) as u8).collect();
        let pieces: Vec<&[u8]> = vec![&data[..1], &data[1..8193], &data[8193..8200], &data[8200..]];
        let mut enc = Encoder::new();
        let body = enc.signed_body(&pieces, &[("x-amz-checksum-crc32", "AAAAAA==")]);
        for seed in 0..30 {
            let (out, trailers) = decode(
                random_split(&body, seed, 64),
                enc.ctx(true, true, Some(20_000)),
            );
            assert_eq!(out.unwrap(), data, "seed {seed}");
            assert_eq!(
                trailers.get(),
                [("x-amz-checksum-crc32".to_owned(), "AAAAAA==".to_owned())]
            );
        }
        let (out, _) = decode(bytewise(&body), enc.ctx(true, true, None));
        assert_eq!(out.unwrap(), data);
    }

    #[test]
    fn reordered_chunks_fail() {
        let mut enc = Encoder::new();
        let body = enc.signed_body(&[b"first", b"second"], &[]);
        let s = String::from_utf8(body).unwrap();
        let parts: Vec<&str> = s.split_inclusive("\r\n").collect();
        // parts: hdr1, "first\r\n", hdr2, "second\r\n", hdr0, "\r\n"
        let swapped = [parts[2], parts[3], parts[0], parts[1], parts[4], parts[5]].concat();
        let (out, _) = decode(whole(swapped.as_bytes()), enc.ctx(true, false, None));
        assert_eq!(code(&out), "SignatureDoesNotMatch");
    }

    #[test]
    fn empty_object() {
        let mut enc = Encoder::new();
        let body = enc.signed_body(&[], &[]);
        let (out, _) = decode(whole(&body), enc.ctx(true, false, Some(0)));
        assert!(out.unwrap().is_empty());
        let (out, _) = decode(whole(b"0\r\n\r\n"), enc.ctx(false, true, Some(0)));
        assert!(out.unwrap().is_empty());
    }

    #[test]
    fn unsigned_trailer_mode() {
        let enc = Encoder::new();
        let body = b"3\r\nabc\r\n4;ext=1\r\ndefg\r\n0\r\nx-amz-checksum-crc32:NSRBwg==\r\n\r\n";
        for items in [whole(body), bytewise(body), random_split(body, 3, 5)] {
            let (out, trailers) = decode(items, enc.ctx(false, true, Some(7)));
            assert_eq!(out.unwrap(), b"abcdefg");
            assert_eq!(
                trailers.get(),
                [("x-amz-checksum-crc32".to_owned(), "NSRBwg==".to_owned())]
            );
        }
        // Chunk signatures that appear anyway are ignored; uppercase hex sizes are fine.
        let body = b"A;chunk-signature=deadbeef\r\n0123456789\r\n0\r\n\r\n";
        let (out, trailers) = decode(whole(body), enc.ctx(false, true, None));
        assert_eq!(out.unwrap(), b"0123456789");
        assert!(trailers.get().is_empty() && trailers.is_complete());
        // Data containing CRLF is data.
        let (out, _) = decode(
            whole(b"4\r\na\r\nb\r\n0\r\n\r\n"),
            enc.ctx(false, true, None),
        );
        assert_eq!(out.unwrap(), b"a\r\nb");
    }

    #[test]
    fn framing_errors() {
        let enc = Encoder::new();
        let cases: &[(&[u8], &str)] = &[
            (b"", "IncompleteBody"),
            (b"zz\r\nhello\r\n0\r\n\r\n", "IncompleteBody"),
            (b"\r\n", "IncompleteBody"),
            (b"-5\r\nhello\r\n0\r\n\r\n", "IncompleteBody"),
            (b"5\r\nhello world\r\n0\r\n\r\n", "IncompleteBody"),
            (b"5\nhello\r\n0\r\n\r\n", "IncompleteBody"),
            (b"5\r\nhello", "IncompleteBody"),
            (b"5\r\nhello\r\n", "IncompleteBody"),
            (b"5\r\nhe", "IncompleteBody"),
            (b"1000001\r\n", "IncompleteBody"),
            (b"ffffffffffffffffff\r\n", "IncompleteBody"),
            (b"0\r\nbad trailer\r\n\r\n", "MalformedTrailerError"),
            (b"0\r\n\r\n\r\n", "IncompleteBody"),
        ];
        for (body, expected) in cases {
            let (out, trailers) = decode(whole(body), enc.ctx(false, true, None));
            assert_eq!(code(&out), *expected, "{:?}", String::from_utf8_lossy(body));
            assert!(!trailers.is_complete());
        }
        // A header line without end is cut off.
        let long = vec![b'1'; MAX_LINE + 10];
        assert_eq!(
            code(&decode(whole(&long), enc.ctx(false, true, None)).0),
            "IncompleteBody"
        );
        // 16 MiB exactly is allowed as a size (the body is short, so it fails later, differently).
        let (out, _) = decode(whole(b"1000000\r\nabc"), enc.ctx(false, true, None));
        assert_eq!(code(&out), "IncompleteBody");
        // Declared length exceeded by a chunk header: rejected before the data arrives.
        let (out, _) = decode(whole(b"5\r\n"), enc.ctx(false, true, Some(4)));
        let e = out.unwrap_err();
        assert!(AuthError::from_io(&e)
            .unwrap()
            .to_string()
            .contains("longer"));
    }

    #[test]
    fn signed_mode_requires_signatures() {
        let enc = Encoder::new();
        let (out, _) = decode(
            whole(b"5\r\nhello\r\n0\r\n\r\n"),
            enc.ctx(true, false, None),
        );
        assert_eq!(code(&out), "IncompleteBody");
        let (out, _) = decode(
            whole(b"5;chunk-signature=xyz\r\nhello\r\n"),
            enc.ctx(true, false, None),
        );
        assert_eq!(code(&out), "IncompleteBody");
    }

    #[test]
    fn inner_errors_pass_through() {
        let enc = Encoder::new();
        let items: Body = vec![
            Ok(Bytes::from_static(b"5\r\nhel")),
            Err(io::Error::new(io::ErrorKind::ConnectionReset, "reset")),
        ];
        let (out, trailers) = decode(items, enc.ctx(false, true, None));
        let e = out.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::ConnectionReset);
        assert!(AuthError::from_io(&e).is_none());
        assert!(!trailers.is_complete());
    }

    #[test]
    fn decoder_is_send_and_unpin() {
        fn assert_traits<T: Send + Unpin>() {}
        assert_traits::<AwsChunkedDecoder<stream::Iter<std::vec::IntoIter<io::Result<Bytes>>>>>();
        fn assert_handle<T: Send + Sync + Clone>() {}
        assert_handle::<TrailerHandle>();
    }

    #[tokio::test]
    async fn works_with_a_slow_async_body() {
        let mut enc = Encoder::new();
        let body = enc.signed_body(&[b"hello ", b"world"], &[]);
        let (tx, rx) = tokio::sync::mpsc::channel::<io::Result<Bytes>>(1);
        let feeder = tokio::spawn(async move {
            for b in body {
                tx.send(Ok(Bytes::copy_from_slice(&[b]))).await.unwrap();
                tokio::task::yield_now().await;
            }
        });
        let rx = stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|x| (x, rx)) });
        let mut dec = AwsChunkedDecoder::new(Box::pin(rx), enc.ctx(true, false, Some(11)));
        let mut out = Vec::new();
        while let Some(item) = dec.next().await {
            out.extend_from_slice(&item.unwrap());
        }
        feeder.await.unwrap();
        assert_eq!(out, b"hello world");
        assert_eq!(dec.decoded_len(), 11);
    }
}
