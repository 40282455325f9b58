//! Bucket policy JSON as PutBucketPolicy receives it: parsed, validated, evaluated.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(doc) = std::str::from_utf8(data) {
        coffer_server::fuzzing::bucket_policy(doc);
    }
});
