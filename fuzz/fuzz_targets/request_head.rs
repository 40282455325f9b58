//! The request head as the server reads it: addressing (path- and virtual-hosted-style), the
//! query, the Operation router, and the header parsers (Range, x-amz-copy-source and its
//! range, conditional headers, SSE, checksums, ACL grants, tagging, metadata, lengths).
#![no_main]

use coffer_fuzz::RawRequest;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some(req) = RawRequest::parse(data) else { return };
    let target = if req.query.is_empty() { req.path.clone() } else { format!("{}?{}", req.path, req.query) };
    coffer_server::fuzzing::request_head(&req.method, &target, &req.header_lines());
});
