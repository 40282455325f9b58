//! Browser POST uploads: the first line is the Content-Type header value, the rest the
//! multipart/form-data body, read as PostObject reads it.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let split = data.iter().position(|&b| b == b'\n').unwrap_or(data.len());
    let Ok(content_type) = std::str::from_utf8(&data[..split]) else { return };
    let body = data.get(split + 1..).unwrap_or_default();
    coffer_server::fuzzing::post_form(content_type.trim_end_matches('\r'), body);
});
