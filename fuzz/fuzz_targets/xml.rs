//! Every XML request body Coffer accepts; the first byte picks the document (see
//! `coffer_server::fuzzing::XML_DOCUMENTS`), the rest is the body.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let [kind, body @ ..] = data else { return };
    coffer_server::fuzzing::xml_document(*kind, body);
});
