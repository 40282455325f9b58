//! A remote S3 endpoint (another Coffer, AWS, anything that speaks S3) as registered once and
//! shared by tiers, the `--blobs` store and replication, and the SDK client that reaches it.

use aws_credential_types::Credentials;
use aws_sdk_s3::config::{BehaviorVersion, Region};
use serde::{Deserialize, Serialize};

/// A remote S3 endpoint as registered by `coffer admin remote add` (its secret key is kept
/// apart, sealed).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteSpec {
    pub name: String,
    pub endpoint: String,
    #[serde(default = "default_region")]
    pub region: String,
    pub access_key: String,
    /// Path-style addressing (`endpoint/bucket/key`), which most self-hosted servers need.
    #[serde(default = "yes")]
    pub path_style: bool,
}

fn default_region() -> String {
    "us-east-1".into()
}

fn yes() -> bool {
    true
}

impl RemoteSpec {
    /// An SDK client for the endpoint with `secret_key`.
    pub fn client(&self, secret_key: &str) -> aws_sdk_s3::Client {
        let credentials = Credentials::new(&self.access_key, secret_key, None, None, "coffer-remote");
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring))
            .build_https();
        let config = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(self.region.clone()))
            .endpoint_url(&self.endpoint)
            .credentials_provider(credentials)
            .force_path_style(self.path_style)
            .http_client(http)
            .build();
        aws_sdk_s3::Client::from_conf(config)
    }
}

impl RemoteSpec {
    /// Whether `bucket` answers on the endpoint with these credentials; the error says why not.
    pub async fn check_bucket(&self, secret_key: &str, bucket: &str) -> Result<(), String> {
        let client = self.client(secret_key);
        if client.head_bucket().bucket(bucket).send().await.is_ok() {
            return Ok(());
        }
        // An answer to HEAD has no body to say why; a listing of one key gets the reason in words.
        let why = match client.list_objects_v2().bucket(bucket).max_keys(1).send().await {
            Ok(_) => return Ok(()),
            Err(e) => refusal(&e),
        };
        // A service that checks the region of the signature (Garage, AWS) names the scope.
        let hint = match why.contains("AuthorizationHeaderMalformed") || why.to_ascii_lowercase().contains("region") {
            true => format!(" (the remote's region is {}: remove it with `coffer admin remote remove` and add it again with `--region`)", self.region),
            false => String::new(),
        };
        Err(format!("bucket {bucket} on remote {}: {why}{hint}", self.name))
    }
}

/// An S3 service's refusal as a line: its status, code and message, or what the SDK says.
fn refusal<E>(e: &aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>) -> String
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + 'static,
{
    use aws_sdk_s3::error::ProvideErrorMetadata;
    match (e.raw_response(), e.code()) {
        (Some(raw), Some(code)) => format!("HTTP {} {code}: {}", raw.status().as_u16(), e.message().unwrap_or("")),
        _ => aws_smithy_types::error::display::DisplayErrorContext(e).to_string(),
    }
}
