//! POST policy documents (the JSON of a browser form's base64 `policy` field), parsed and
//! checked against a typical form.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| coffer_server::fuzzing::post_policy(data));
