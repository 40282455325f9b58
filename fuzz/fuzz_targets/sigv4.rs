//! SigV4 header and presigned-query parsing: the scheme detection, the `Authorization`
//! header, credential scope, signed headers, dates, `x-amz-content-sha256` and the query.
#![no_main]

use coffer_fuzz::{lookup, sigv4_example_time, RawRequest};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some(req) = RawRequest::parse(data) else { return };
    let signed = req.signed();
    let _ = coffer_auth::auth_scheme(&signed);
    let _ = coffer_auth::verify_sigv4(&signed, sigv4_example_time(), "us-east-1", &lookup);
});
