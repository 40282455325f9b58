//! The flexible-checksum elements of XML bodies (ChecksumCRC32, ..., ChecksumSHA256), shared
//! by multipart results, part listings and GetObjectAttributes.

use coffer_crypto::checksum::ChecksumAlgorithm;
use serde::Serialize;

/// At most one of these is set: the value for the object's or upload's algorithm.
#[derive(Serialize, Default, Debug)]
pub struct ChecksumFields {
    #[serde(rename = "ChecksumCRC32", skip_serializing_if = "Option::is_none", default)]
    crc32: Option<String>,
    #[serde(rename = "ChecksumCRC32C", skip_serializing_if = "Option::is_none", default)]
    crc32c: Option<String>,
    #[serde(rename = "ChecksumCRC64NVME", skip_serializing_if = "Option::is_none", default)]
    crc64nvme: Option<String>,
    #[serde(rename = "ChecksumSHA1", skip_serializing_if = "Option::is_none", default)]
    sha1: Option<String>,
    #[serde(rename = "ChecksumSHA256", skip_serializing_if = "Option::is_none", default)]
    sha256: Option<String>,
}

impl ChecksumFields {
    /// `value` under the element of `algorithm` (a name as in x-amz-checksum-algorithm).
    pub fn new(algorithm: Option<&str>, value: Option<String>) -> ChecksumFields {
        let mut f = ChecksumFields::default();
        if let (Some(alg), Some(v)) = (algorithm.and_then(ChecksumAlgorithm::parse), value) {
            *f.slot(alg) = Some(v);
        }
        f
    }

    fn slot(&mut self, alg: ChecksumAlgorithm) -> &mut Option<String> {
        match alg {
            ChecksumAlgorithm::Crc32 => &mut self.crc32,
            ChecksumAlgorithm::Crc32c => &mut self.crc32c,
            ChecksumAlgorithm::Crc64Nvme => &mut self.crc64nvme,
            ChecksumAlgorithm::Sha1 => &mut self.sha1,
            ChecksumAlgorithm::Sha256 => &mut self.sha256,
        }
    }
}
