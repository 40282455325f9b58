//! Signatures of browser POST uploads: the base64 policy document signed with SigV4
//! (x-amz-credential, x-amz-date, x-amz-signature) or SigV2 (AWSAccessKeyId, signature).

use crate::credential::{parse_credential, Source};
use crate::error::{AuthError, SignatureMismatch};
use crate::keycache::signing_key;
use crate::signing::{ct_eq, hmac, hmac_sha1_base64};

/// The signature fields of a POST form.
pub enum PostSignature<'a> {
    V4 { credential: &'a str, amz_date: &'a str, signature: &'a str },
    V2 { access_key: &'a str, signature: &'a str },
}

/// Checks that `policy` (the base64 form field, exactly as sent) was signed by the holder of
/// the access key; returns the access key.
pub fn verify_post_policy(
    policy: &str,
    sig: &PostSignature<'_>,
    region: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<String, AuthError> {
    let mismatch = |access_key: &str, provided: &str| {
        AuthError::SignatureDoesNotMatch(Box::new(SignatureMismatch {
            access_key: access_key.to_string(),
            signature_provided: provided.to_string(),
            string_to_sign: policy.to_string(),
            canonical_request: String::new(),
        }))
    };
    match sig {
        PostSignature::V4 { credential, amz_date, signature } => {
            let cred = parse_credential(credential, region, Source::Query)?;
            if !amz_date.starts_with(cred.date) {
                return Err(AuthError::query_error("The x-amz-date does not match the date in the credential."));
            }
            let secret = lookup(cred.access_key).ok_or_else(|| AuthError::unknown_access_key(cred.access_key))?;
            let key = signing_key(cred.access_key, &secret, cred.date, cred.region);
            let expected = hex::encode(hmac(&key, policy.as_bytes()));
            if !ct_eq(expected.as_bytes(), signature.trim().to_ascii_lowercase().as_bytes()) {
                return Err(mismatch(cred.access_key, signature));
            }
            Ok(cred.access_key.to_string())
        }
        PostSignature::V2 { access_key, signature } => {
            let secret = lookup(access_key).ok_or_else(|| AuthError::unknown_access_key(access_key))?;
            let expected = hmac_sha1_base64(secret.as_bytes(), policy.as_bytes());
            if !ct_eq(expected.as_bytes(), signature.trim().as_bytes()) {
                return Err(mismatch(access_key, signature));
            }
            Ok(access_key.to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use base64::engine::general_purpose::STANDARD as BASE64;
    use base64::Engine as _;

    use super::*;
    use crate::testutil::{lookup, AKID, SECRET};

    #[test]
    fn v4_signature_over_the_policy() {
        let policy = BASE64.encode(br#"{"expiration":"2030-01-01T00:00:00Z","conditions":[{"bucket":"b"}]}"#);
        let key = signing_key(AKID, SECRET, "20260101", "us-east-1");
        let good = hex::encode(hmac(&key, policy.as_bytes()));
        let credential = format!("{AKID}/20260101/us-east-1/s3/aws4_request");
        let sig = PostSignature::V4 { credential: &credential, amz_date: "20260101T000000Z", signature: &good };
        assert_eq!(verify_post_policy(&policy, &sig, "us-east-1", &lookup).unwrap(), AKID);
        let bad = PostSignature::V4 { credential: &credential, amz_date: "20260101T000000Z", signature: "00" };
        assert_eq!(verify_post_policy(&policy, &bad, "us-east-1", &lookup).unwrap_err().code(), "SignatureDoesNotMatch");
        let unknown = format!("NOPE/20260101/us-east-1/s3/aws4_request");
        let sig = PostSignature::V4 { credential: &unknown, amz_date: "20260101T000000Z", signature: &good };
        assert_eq!(verify_post_policy(&policy, &sig, "us-east-1", &lookup).unwrap_err().code(), "InvalidAccessKeyId");
    }

    #[test]
    fn v2_signature_over_the_policy() {
        let policy = BASE64.encode(br#"{"expiration":"2030-01-01T00:00:00Z","conditions":[]}"#);
        let good = hmac_sha1_base64(SECRET.as_bytes(), policy.as_bytes());
        let sig = PostSignature::V2 { access_key: AKID, signature: &good };
        assert_eq!(verify_post_policy(&policy, &sig, "us-east-1", &lookup).unwrap(), AKID);
        let sig = PostSignature::V2 { access_key: AKID, signature: "bad" };
        assert!(verify_post_policy(&policy, &sig, "us-east-1", &lookup).is_err());
    }
}
