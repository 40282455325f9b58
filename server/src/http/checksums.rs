//! Flexible checksums on uploads: which algorithms a request asks for (header value, declared
//! trailer, or algorithm header), and checking the computed values against what was sent.

use crate::http::error::{ErrorCode, S3Error, S3Result};
use actix_web::http::header::HeaderMap;
use coffer_crypto::checksum::{Checksum, ChecksumAlgorithm};
use coffer_storage::Ingested;

/// What an upload asked for.
#[derive(Debug, Default)]
pub struct ChecksumRequest {
    /// Algorithms to compute while streaming.
    pub algorithms: Vec<ChecksumAlgorithm>,
    /// A value sent in an x-amz-checksum-* header.
    expected: Option<Checksum>,
    /// An algorithm whose value arrives in the aws-chunked trailer.
    trailer: Option<ChecksumAlgorithm>,
}

impl ChecksumRequest {
    /// Whether the request carries a checksum value to verify (a header or a trailer).
    pub fn carries_value(&self) -> bool {
        self.expected.is_some() || self.trailer.is_some()
    }
}

/// A value that is not a checksum of this algorithm cannot match what was computed.
fn invalid_value(alg: ChecksumAlgorithm) -> S3Error {
    S3Error::new(ErrorCode::BadDigest).with_message(format!("The {} you specified did not match the calculated checksum.", alg.as_str()))
}

impl ChecksumRequest {
    pub fn from_headers(headers: &HeaderMap) -> S3Result<ChecksumRequest> {
        let mut req = ChecksumRequest::default();
        for alg in ChecksumAlgorithm::ALL {
            if let Some(v) = headers.get(alg.header_name()) {
                if req.expected.is_some() {
                    return Err(S3Error::invalid_request("Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed."));
                }
                let value = v.to_str().ok().and_then(|s| Checksum::from_base64(alg, s.trim())).ok_or_else(|| invalid_value(alg))?;
                req.expected = Some(value);
            }
        }
        if let Some(t) = headers.get("x-amz-trailer").and_then(|v| v.to_str().ok()) {
            let alg = ChecksumAlgorithm::from_header_name(t.trim())
                .ok_or_else(|| S3Error::invalid_argument(format!("Unsupported trailer {t}")))?;
            req.trailer = Some(alg);
        }
        let declared = ["x-amz-sdk-checksum-algorithm", "x-amz-checksum-algorithm"]
            .iter()
            .find_map(|h| headers.get(*h).and_then(|v| v.to_str().ok()))
            .map(|name| ChecksumAlgorithm::parse(name).ok_or_else(|| S3Error::invalid_request("Checksum algorithm provided is unsupported.")))
            .transpose()?;
        let mut algs: Vec<ChecksumAlgorithm> = req.expected.iter().map(|c| c.algorithm).chain(req.trailer).chain(declared).collect();
        algs.dedup();
        req.algorithms = algs;
        Ok(req)
    }

    /// Compares what was computed with what the client sent (in a header or the trailer) and
    /// returns the checksum to store with the object, if any.
    pub fn verify(&self, ingested: &Ingested, trailers: &[(String, String)]) -> S3Result<Option<Checksum>> {
        let mut sent = self.expected.clone();
        if let Some(alg) = self.trailer {
            let value = trailers
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case(alg.header_name()))
                .map(|(_, v)| v.as_str());
            if let Some(v) = value {
                sent = Some(Checksum::from_base64(alg, v.trim()).ok_or_else(|| invalid_value(alg))?);
            }
        }
        if let Some(sent) = &sent {
            let computed = ingested.checksum(sent.algorithm).ok_or_else(|| S3Error::internal("checksum not computed"))?;
            if computed != sent {
                return Err(S3Error::new(ErrorCode::BadDigest)
                    .with_message(format!("The {} you specified did not match the calculated checksum.", sent.algorithm.as_str())));
            }
            return Ok(Some(sent.clone()));
        }
        Ok(self.algorithms.first().and_then(|a| ingested.checksum(*a)).cloned())
    }
}
