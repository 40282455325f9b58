//! SigV2 header and presigned-query parsing: `Authorization: AWS AKID:sig`, the lenient
//! dates, canonical `x-amz-*` headers and the sub-resources of the signed resource.
#![no_main]

use coffer_fuzz::{lookup, sigv2_example_time, RawRequest};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some(req) = RawRequest::parse(data) else { return };
    let signed = req.signed();
    let _ = coffer_auth::verify_sigv2_hosted(&signed, req.host_bucket(), sigv2_example_time(), &lookup);
    // The dispatching entry point the server calls, path-style.
    let _ = coffer_auth::verify(&signed, sigv2_example_time(), "us-east-1", &lookup);
});
