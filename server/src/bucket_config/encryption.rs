//! A bucket's default encryption (Put/Get/DeleteBucketEncryption): the XML document, its
//! validation, and the stored setting that writes without SSE headers of their own follow.

use crate::http::error::{ErrorCode, S3Error, S3Result};
use coffer_storage::Store;
use serde::{Deserialize, Serialize};

/// The bucket configuration document holding the default encryption (as JSON).
const ENCRYPTION: &str = "encryption";
/// The root element of the XML document.
pub const ROOT: &str = "ServerSideEncryptionConfiguration";

const AES256: &str = "AES256";
const AWS_KMS: &str = "aws:kms";
/// Algorithms S3's schema knows but Coffer does not offer.
const UNSUPPORTED: &[&str] = &["aws:kms:dsse", "aws:fsx", "aws:backup"];

/// How objects written without encryption headers are encrypted.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub enum DefaultAlgorithm {
    /// SSE-S3: under the server's master key.
    #[serde(rename = "AES256")]
    Aes256,
    /// SSE-KMS: under the named KMS key, else the keyring's default `aws/s3` key.
    #[serde(rename = "aws:kms")]
    Kms { key_id: Option<String> },
}

/// A bucket's default encryption, as stored.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct DefaultEncryption {
    pub algorithm: DefaultAlgorithm,
    /// BucketKeyEnabled, kept and returned as sent.
    #[serde(default)]
    pub bucket_key: bool,
}

/// The bucket's default encryption, if one is set.
pub async fn default_encryption(store: &Store, bucket_id: i64) -> S3Result<Option<DefaultEncryption>> {
    crate::bucket_config::load(store, bucket_id, ENCRYPTION).await
}

/// Sets (Some) or removes (None) the bucket's default encryption.
pub async fn set_default_encryption(store: &Store, bucket_id: i64, config: Option<&DefaultEncryption>) -> S3Result<()> {
    crate::bucket_config::save(store, bucket_id, ENCRYPTION, config).await
}

// ---------------------------------------------------------------- the XML document

/// `ServerSideEncryptionConfiguration`: PutBucketEncryption's body, GetBucketEncryption's answer.
#[derive(Serialize, Deserialize, Debug, Default)]
pub struct Document {
    #[serde(rename = "@xmlns", default, skip_deserializing)]
    xmlns: &'static str,
    #[serde(rename = "Rule", default)]
    rules: Vec<Rule>,
}

#[derive(Serialize, Deserialize, Debug, Default)]
#[serde(rename_all = "PascalCase")]
struct Rule {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    apply_server_side_encryption_by_default: Option<ByDefault>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    bucket_key_enabled: Option<bool>,
    #[serde(default, skip_serializing)]
    blocked_encryption_types: Option<BlockedEncryptionTypes>,
}

#[derive(Serialize, Deserialize, Debug, Default)]
struct ByDefault {
    #[serde(rename = "SSEAlgorithm", default)]
    sse_algorithm: Option<String>,
    #[serde(rename = "KMSMasterKeyID", default, skip_serializing_if = "Option::is_none")]
    kms_master_key_id: Option<String>,
}

#[derive(Serialize, Deserialize, Debug, Default)]
struct BlockedEncryptionTypes {
    #[serde(rename = "EncryptionType", default)]
    types: Vec<String>,
}

fn malformed() -> S3Error {
    S3Error::new(ErrorCode::MalformedXML)
}

impl DefaultEncryption {
    /// Parses and validates a PutBucketEncryption body: exactly one Rule with
    /// ApplyServerSideEncryptionByDefault and an SSEAlgorithm Coffer offers.
    pub fn from_xml(body: &[u8]) -> S3Result<DefaultEncryption> {
        let doc: Document = crate::http::xml::parse(body)?;
        let [rule] = <[Rule; 1]>::try_from(doc.rules).map_err(|_| malformed())?;
        let by_default = rule.apply_server_side_encryption_by_default.ok_or_else(malformed)?;
        let sse = by_default.sse_algorithm.ok_or_else(malformed)?;
        let key_id = by_default.kms_master_key_id.filter(|k| !k.trim().is_empty());
        let algorithm = match sse.as_str() {
            AES256 => DefaultAlgorithm::Aes256,
            AWS_KMS => DefaultAlgorithm::Kms { key_id: None },
            other if UNSUPPORTED.contains(&other) => {
                return Err(S3Error::invalid_argument(format!(
                    "The encryption method specified is not supported: Coffer offers {AES256} and {AWS_KMS}"
                ))
                .with("ArgumentName", "SSEAlgorithm")
                .with("ArgumentValue", other));
            }
            // Not a value of S3's schema at all.
            _ => return Err(malformed()),
        };
        let algorithm = match (algorithm, key_id) {
            (DefaultAlgorithm::Kms { .. }, key_id) => DefaultAlgorithm::Kms { key_id },
            (a, None) => a,
            (_, Some(_)) => {
                return Err(S3Error::invalid_argument(
                    "a KMSMasterKeyID is not applicable if the default sse algorithm is not aws:kms or aws:kms:dsse",
                )
                .with("ArgumentName", "ApplyServerSideEncryptionByDefault"));
            }
        };
        let blocked = rule.blocked_encryption_types.map(|b| b.types).unwrap_or_default();
        if blocked.iter().any(|t| t != "NONE") {
            // Accepting it without enforcing it would leave the bucket open to what the owner meant to block.
            return Err(S3Error::new(ErrorCode::NotImplemented)
                .with_message("BlockedEncryptionTypes is not implemented by Coffer yet; the configuration was not changed."));
        }
        Ok(DefaultEncryption { algorithm, bucket_key: rule.bucket_key_enabled.unwrap_or(false) })
    }

    /// The document GetBucketEncryption answers with (root element `ROOT`).
    pub fn to_document(&self) -> Document {
        let (sse, key_id) = match &self.algorithm {
            DefaultAlgorithm::Aes256 => (AES256, None),
            DefaultAlgorithm::Kms { key_id } => (AWS_KMS, key_id.clone()),
        };
        Document {
            xmlns: crate::http::xml::S3_NAMESPACE,
            rules: vec![Rule {
                apply_server_side_encryption_by_default: Some(ByDefault { sse_algorithm: Some(sse.to_string()), kms_master_key_id: key_id }),
                bucket_key_enabled: Some(self.bucket_key),
                blocked_encryption_types: None,
            }],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(xml: &str) -> S3Result<DefaultEncryption> {
        DefaultEncryption::from_xml(xml.as_bytes())
    }

    fn doc(by_default: &str, rest: &str) -> String {
        format!(
            "<ServerSideEncryptionConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Rule>\
             <ApplyServerSideEncryptionByDefault>{by_default}</ApplyServerSideEncryptionByDefault>{rest}</Rule>\
             </ServerSideEncryptionConfiguration>"
        )
    }

    #[test]
    fn parses_aes256_and_kms() {
        let c = parse(&doc("<SSEAlgorithm>AES256</SSEAlgorithm>", "")).unwrap();
        assert_eq!(c, DefaultEncryption { algorithm: DefaultAlgorithm::Aes256, bucket_key: false });
        let c = parse(&doc("<SSEAlgorithm>aws:kms</SSEAlgorithm><KMSMasterKeyID>alias/app</KMSMasterKeyID>", "<BucketKeyEnabled>true</BucketKeyEnabled>")).unwrap();
        assert_eq!(c, DefaultEncryption { algorithm: DefaultAlgorithm::Kms { key_id: Some("alias/app".into()) }, bucket_key: true });
        let c = parse(&doc("<SSEAlgorithm>aws:kms</SSEAlgorithm>", "<BucketKeyEnabled>false</BucketKeyEnabled>")).unwrap();
        assert_eq!(c.algorithm, DefaultAlgorithm::Kms { key_id: None });
        // BucketKeyEnabled is kept for SSE-S3 too, as S3 does.
        assert!(parse(&doc("<SSEAlgorithm>AES256</SSEAlgorithm>", "<BucketKeyEnabled>true</BucketKeyEnabled>")).unwrap().bucket_key);
        // Blocking nothing is the same as not saying.
        let none = "<BlockedEncryptionTypes><EncryptionType>NONE</EncryptionType></BlockedEncryptionTypes>";
        assert!(parse(&doc("<SSEAlgorithm>AES256</SSEAlgorithm>", none)).is_ok());
    }

    #[test]
    fn malformed_documents() {
        let code = |xml: &str| parse(xml).unwrap_err().code;
        assert_eq!(code("<ServerSideEncryptionConfiguration"), "MalformedXML");
        assert_eq!(code("<ServerSideEncryptionConfiguration/>"), "MalformedXML");
        assert_eq!(code("<ServerSideEncryptionConfiguration><Rule><BucketKeyEnabled>true</BucketKeyEnabled></Rule></ServerSideEncryptionConfiguration>"), "MalformedXML");
        assert_eq!(code(&doc("<KMSMasterKeyID>k</KMSMasterKeyID>", "")), "MalformedXML");
        assert_eq!(code(&doc("<SSEAlgorithm>AES256</SSEAlgorithm>", "<BucketKeyEnabled>maybe</BucketKeyEnabled>")), "MalformedXML");
        assert_eq!(code(&doc("<SSEAlgorithm>rot13</SSEAlgorithm>", "")), "MalformedXML");
        let two = "<ServerSideEncryptionConfiguration>\
            <Rule><ApplyServerSideEncryptionByDefault><SSEAlgorithm>AES256</SSEAlgorithm></ApplyServerSideEncryptionByDefault></Rule>\
            <Rule><ApplyServerSideEncryptionByDefault><SSEAlgorithm>aws:kms</SSEAlgorithm></ApplyServerSideEncryptionByDefault></Rule>\
            </ServerSideEncryptionConfiguration>";
        assert_eq!(code(two), "MalformedXML");
    }

    #[test]
    fn refuses_what_coffer_cannot_honour() {
        let e = parse(&doc("<SSEAlgorithm>AES256</SSEAlgorithm><KMSMasterKeyID>k</KMSMasterKeyID>", "")).unwrap_err();
        assert_eq!((e.code, e.status.as_u16()), ("InvalidArgument", 400));
        assert!(e.extra.contains(&("ArgumentName", "ApplyServerSideEncryptionByDefault".to_string())));
        let e = parse(&doc("<SSEAlgorithm>aws:kms:dsse</SSEAlgorithm>", "")).unwrap_err();
        assert_eq!((e.code, e.status.as_u16()), ("InvalidArgument", 400));
        let sse_c = "<BlockedEncryptionTypes><EncryptionType>SSE-C</EncryptionType></BlockedEncryptionTypes>";
        assert_eq!(parse(&doc("<SSEAlgorithm>AES256</SSEAlgorithm>", sse_c)).unwrap_err().code, "NotImplemented");
    }

    #[test]
    fn renders_what_s3_returns() {
        let kms = DefaultEncryption { algorithm: DefaultAlgorithm::Kms { key_id: Some("k1".into()) }, bucket_key: true };
        assert_eq!(
            crate::http::xml::render(ROOT, &kms.to_document()).unwrap(),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ServerSideEncryptionConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
             <Rule><ApplyServerSideEncryptionByDefault><SSEAlgorithm>aws:kms</SSEAlgorithm><KMSMasterKeyID>k1</KMSMasterKeyID>\
             </ApplyServerSideEncryptionByDefault><BucketKeyEnabled>true</BucketKeyEnabled></Rule></ServerSideEncryptionConfiguration>"
        );
        let aes = DefaultEncryption { algorithm: DefaultAlgorithm::Aes256, bucket_key: false };
        let xml = crate::http::xml::render(ROOT, &aes.to_document()).unwrap();
        assert!(xml.contains("<Rule><ApplyServerSideEncryptionByDefault><SSEAlgorithm>AES256</SSEAlgorithm></ApplyServerSideEncryptionByDefault><BucketKeyEnabled>false</BucketKeyEnabled></Rule>"), "{xml}");
        // What is rendered parses back to the same setting.
        for c in [kms, aes] {
            assert_eq!(DefaultEncryption::from_xml(crate::http::xml::render(ROOT, &c.to_document()).unwrap().as_bytes()).unwrap(), c);
        }
    }

    #[test]
    fn stored_form_is_stable() {
        let kms = DefaultEncryption { algorithm: DefaultAlgorithm::Kms { key_id: Some("k1".into()) }, bucket_key: true };
        let json = serde_json::to_string(&kms).unwrap();
        assert_eq!(json, r#"{"algorithm":{"aws:kms":{"key_id":"k1"}},"bucket_key":true}"#);
        assert_eq!(serde_json::from_str::<DefaultEncryption>(&json).unwrap(), kms);
        let aes: DefaultEncryption = serde_json::from_str(r#"{"algorithm":"AES256"}"#).unwrap();
        assert_eq!(aes, DefaultEncryption { algorithm: DefaultAlgorithm::Aes256, bucket_key: false });
    }
}
