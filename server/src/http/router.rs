//! Turns (method, host, path, query, a few headers) into one `Operation`: the table of contents
//! of the S3 API. Resolves path-style and virtual-hosted-style addressing.

use crate::http::error::{ErrorCode, S3Error, S3Result};
use actix_web::http::Method;
use crate::http::head::Head;
use percent_encoding::percent_decode_str;

/// Every S3 operation Coffer knows, with the bucket and key it addresses. Its variants' names
/// (`Operation::iter()`, `<&str>::from(&op)`) are what logs and the authorization sweep use.
#[derive(Clone, Debug, PartialEq, Eq, strum::EnumIter, strum::IntoStaticStr)]
pub enum Operation {
    ListBuckets,
    CreateBucket { bucket: String },
    DeleteBucket { bucket: String },
    HeadBucket { bucket: String },
    GetBucketLocation { bucket: String },
    GetBucketVersioning { bucket: String },
    GetBucketAcl { bucket: String },
    /// A browser form upload.
    PostObject { bucket: String },
    GetBucketPolicy { bucket: String },
    PutBucketPolicy { bucket: String },
    DeleteBucketPolicy { bucket: String },
    GetBucketPolicyStatus { bucket: String },
    GetBucketWebsite { bucket: String },
    PutBucketWebsite { bucket: String },
    DeleteBucketWebsite { bucket: String },
    GetBucketLogging { bucket: String },
    PutBucketLogging { bucket: String },
    GetBucketOwnershipControls { bucket: String },
    PutBucketOwnershipControls { bucket: String },
    DeleteBucketOwnershipControls { bucket: String },
    GetPublicAccessBlock { bucket: String },
    PutPublicAccessBlock { bucket: String },
    DeletePublicAccessBlock { bucket: String },
    GetBucketEncryption { bucket: String },
    PutBucketEncryption { bucket: String },
    DeleteBucketEncryption { bucket: String },
    GetBucketLifecycleConfiguration { bucket: String },
    PutBucketLifecycleConfiguration { bucket: String },
    DeleteBucketLifecycle { bucket: String },
    GetBucketNotificationConfiguration { bucket: String },
    PutBucketNotificationConfiguration { bucket: String },
    GetBucketReplication { bucket: String },
    PutBucketReplication { bucket: String },
    DeleteBucketReplication { bucket: String },
    GetBucketCors { bucket: String },
    PutBucketCors { bucket: String },
    DeleteBucketCors { bucket: String },
    /// An OPTIONS request on a bucket or an object in it.
    CorsPreflight { bucket: String },
    GetObjectTagging { bucket: String, key: String },
    GetBucketTagging { bucket: String },
    PutBucketTagging { bucket: String },
    DeleteBucketTagging { bucket: String },
    PutObjectTagging { bucket: String, key: String },
    DeleteObjectTagging { bucket: String, key: String },
    PutBucketAcl { bucket: String },
    GetObjectAcl { bucket: String, key: String },
    PutObjectAcl { bucket: String, key: String },
    PutBucketVersioning { bucket: String },
    ListObjects { bucket: String },
    ListObjectsV2 { bucket: String },
    ListObjectVersions { bucket: String },
    DeleteObjects { bucket: String },
    GetObject { bucket: String, key: String },
    HeadObject { bucket: String, key: String },
    PutObject { bucket: String, key: String },
    CopyObject { bucket: String, key: String },
    DeleteObject { bucket: String, key: String },
    GetObjectAttributes { bucket: String, key: String },
    ListMultipartUploads { bucket: String },
    CreateMultipartUpload { bucket: String, key: String },
    UploadPart { bucket: String, key: String },
    UploadPartCopy { bucket: String, key: String },
    CompleteMultipartUpload { bucket: String, key: String },
    AbortMultipartUpload { bucket: String, key: String },
    ListParts { bucket: String, key: String },
    RestoreObject { bucket: String, key: String },
    GetObjectLockConfiguration { bucket: String },
    PutObjectLockConfiguration { bucket: String },
    GetObjectRetention { bucket: String, key: String },
    PutObjectRetention { bucket: String, key: String },
    GetObjectLegalHold { bucket: String, key: String },
    PutObjectLegalHold { bucket: String, key: String },
    /// A Coffer extension, not S3: the bucket's object count and bytes (`GET /BUCKET?coffer-usage`).
    GetBucketUsage { bucket: String },
    /// A real S3 operation that Coffer does not provide yet.
    NotImplemented { name: &'static str },
}

impl Operation {
    /// The IAM action a bucket policy names this operation by (versioned forms when the
    /// request names a version). Empty for requests no policy governs (CORS preflight).
    pub fn action(&self, query: &Query) -> &'static str {
        use Operation::*;
        let versioned = query.has("versionId");
        let pick = |plain: &'static str, version: &'static str| if versioned { version } else { plain };
        match self {
            ListBuckets => "s3:ListAllMyBuckets",
            CreateBucket { .. } => "s3:CreateBucket",
            DeleteBucket { .. } => "s3:DeleteBucket",
            HeadBucket { .. } | ListObjects { .. } | ListObjectsV2 { .. } | GetBucketUsage { .. } => "s3:ListBucket",
            GetBucketLocation { .. } => "s3:GetBucketLocation",
            GetBucketVersioning { .. } => "s3:GetBucketVersioning",
            PutBucketVersioning { .. } => "s3:PutBucketVersioning",
            GetBucketAcl { .. } => "s3:GetBucketAcl",
            PutBucketAcl { .. } => "s3:PutBucketAcl",
            GetBucketPolicy { .. } => "s3:GetBucketPolicy",
            PutBucketPolicy { .. } => "s3:PutBucketPolicy",
            DeleteBucketPolicy { .. } => "s3:DeleteBucketPolicy",
            GetBucketPolicyStatus { .. } => "s3:GetBucketPolicyStatus",
            GetBucketWebsite { .. } => "s3:GetBucketWebsite",
            PutBucketWebsite { .. } => "s3:PutBucketWebsite",
            DeleteBucketWebsite { .. } => "s3:DeleteBucketWebsite",
            GetBucketLogging { .. } => "s3:GetBucketLogging",
            PutBucketLogging { .. } => "s3:PutBucketLogging",
            GetBucketOwnershipControls { .. } => "s3:GetBucketOwnershipControls",
            PutBucketOwnershipControls { .. } | DeleteBucketOwnershipControls { .. } => "s3:PutBucketOwnershipControls",
            GetPublicAccessBlock { .. } => "s3:GetBucketPublicAccessBlock",
            PutPublicAccessBlock { .. } | DeletePublicAccessBlock { .. } => "s3:PutBucketPublicAccessBlock",
            GetBucketEncryption { .. } => "s3:GetEncryptionConfiguration",
            PutBucketEncryption { .. } | DeleteBucketEncryption { .. } => "s3:PutEncryptionConfiguration",
            GetBucketLifecycleConfiguration { .. } => "s3:GetLifecycleConfiguration",
            PutBucketLifecycleConfiguration { .. } | DeleteBucketLifecycle { .. } => "s3:PutLifecycleConfiguration",
            GetBucketNotificationConfiguration { .. } => "s3:GetBucketNotification",
            PutBucketNotificationConfiguration { .. } => "s3:PutBucketNotification",
            GetBucketReplication { .. } => "s3:GetReplicationConfiguration",
            PutBucketReplication { .. } | DeleteBucketReplication { .. } => "s3:PutReplicationConfiguration",
            GetBucketCors { .. } => "s3:GetBucketCORS",
            PutBucketCors { .. } | DeleteBucketCors { .. } => "s3:PutBucketCORS",
            GetBucketTagging { .. } => "s3:GetBucketTagging",
            PutBucketTagging { .. } | DeleteBucketTagging { .. } => "s3:PutBucketTagging",
            GetObjectTagging { .. } => pick("s3:GetObjectTagging", "s3:GetObjectVersionTagging"),
            PutObjectTagging { .. } => pick("s3:PutObjectTagging", "s3:PutObjectVersionTagging"),
            DeleteObjectTagging { .. } => pick("s3:DeleteObjectTagging", "s3:DeleteObjectVersionTagging"),
            GetObjectAcl { .. } => pick("s3:GetObjectAcl", "s3:GetObjectVersionAcl"),
            PutObjectAcl { .. } => pick("s3:PutObjectAcl", "s3:PutObjectVersionAcl"),
            ListObjectVersions { .. } => "s3:ListBucketVersions",
            DeleteObjects { .. } => "s3:DeleteObject",
            GetObject { .. } | HeadObject { .. } => pick("s3:GetObject", "s3:GetObjectVersion"),
            GetObjectAttributes { .. } => pick("s3:GetObjectAttributes", "s3:GetObjectVersionAttributes"),
            PutObject { .. } | CopyObject { .. } | CreateMultipartUpload { .. } | UploadPart { .. } | UploadPartCopy { .. }
            | CompleteMultipartUpload { .. }
            | PostObject { .. } => "s3:PutObject",
            DeleteObject { .. } => pick("s3:DeleteObject", "s3:DeleteObjectVersion"),
            ListMultipartUploads { .. } => "s3:ListBucketMultipartUploads",
            AbortMultipartUpload { .. } => "s3:AbortMultipartUpload",
            ListParts { .. } => "s3:ListMultipartUploadParts",
            RestoreObject { .. } => "s3:RestoreObject",
            GetObjectLockConfiguration { .. } => "s3:GetBucketObjectLockConfiguration",
            PutObjectLockConfiguration { .. } => "s3:PutBucketObjectLockConfiguration",
            GetObjectRetention { .. } => "s3:GetObjectRetention",
            PutObjectRetention { .. } => "s3:PutObjectRetention",
            GetObjectLegalHold { .. } => "s3:GetObjectLegalHold",
            PutObjectLegalHold { .. } => "s3:PutObjectLegalHold",
            CorsPreflight { .. } | NotImplemented { .. } => "",
        }
    }
}

/// Decoded query parameters, in the order sent.
#[derive(Clone, Debug, Default)]
pub struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    pub fn parse(raw: &str) -> Query {
        let pairs = raw
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (decode_query_part(k), decode_query_part(v))
            })
            .collect();
        Query { pairs }
    }

    /// The decoded (name, value) pairs, in the order sent.
    pub fn into_pairs(self) -> Vec<(String, String)> {
        self.pairs
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    pub fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    pub fn has(&self, name: &str) -> bool {
        self.pairs.iter().any(|(k, _)| k == name)
    }
}

fn decode_query_part(s: &str) -> String {
    let spaced = s.replace('+', " ");
    percent_decode_str(&spaced).decode_utf8_lossy().into_owned()
}

/// Splits the request into bucket and key: virtual-hosted when the Host header is
/// `<bucket>.<base domain>`, path-style otherwise.
pub fn address(head: Head<'_>, base_domain: Option<&str>) -> S3Result<(Option<String>, Option<String>)> {
    let raw_path = head.uri.path();
    if let Some(bucket) = host_bucket(head, base_domain) {
        let key = raw_path.strip_prefix('/').unwrap_or(raw_path);
        return Ok((Some(bucket.to_string()), non_empty(decode_path(key)?)));
    }
    let path = raw_path.strip_prefix('/').unwrap_or(raw_path);
    let (bucket, key) = match path.split_once('/') {
        Some((b, k)) => (b, Some(k)),
        None => (path, None),
    };
    let bucket = non_empty(decode_path(bucket)?);
    let key = match key {
        Some(k) => non_empty(decode_path(k)?),
        None => None,
    };
    Ok((bucket, key))
}

/// The bucket a virtual-hosted-style request names in its Host (`<bucket>.<base domain>`).
pub fn host_bucket<'a>(head: Head<'a>, base_domain: Option<&str>) -> Option<&'a str> {
    let host = strip_port(head.headers.get("host")?.to_str().ok()?);
    host.strip_suffix(base_domain?)?.strip_suffix('.').filter(|b| !b.is_empty())
}

fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        // `[v6]` or `[v6]:port`; a bracket never closed is no address and stays as sent.
        return host.find(']').map_or(host, |end| &host[..=end]);
    }
    host.rsplit_once(':').map(|(h, _)| h).unwrap_or(host)
}

fn non_empty(s: String) -> Option<String> {
    (!s.is_empty()).then_some(s)
}

fn decode_path(s: &str) -> S3Result<String> {
    percent_decode_str(s)
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|_| S3Error::invalid_argument("The path is not valid UTF-8"))
}

/// The query parameter of GetBucketUsage, Coffer's own bucket subresource (prefixed, so that
/// it can never collide with one S3 adds).
pub const USAGE_SUBRESOURCE: &str = "coffer-usage";

/// Bucket sub-resources that name an operation Coffer does not offer yet, with its name.
const BUCKET_SUBRESOURCES: &[(&str, &str)] = &[
    ("accelerate", "BucketAccelerateConfiguration"),
    ("analytics", "BucketAnalyticsConfiguration"),
    ("intelligent-tiering", "BucketIntelligentTieringConfiguration"),
    ("inventory", "BucketInventoryConfiguration"),
    ("metrics", "BucketMetricsConfiguration"),
    ("requestPayment", "BucketRequestPayment"),
    ("versioning", "BucketVersioning"),
];

const OBJECT_SUBRESOURCES: &[(&str, &str)] = &[
    ("restore", "RestoreObject"),
    ("select", "SelectObjectContent"),
    ("torrent", "ObjectTorrent"),
];

fn subresource(query: &Query, table: &[(&str, &'static str)]) -> Option<&'static str> {
    table.iter().find(|(param, _)| query.has(param)).map(|(_, name)| *name)
}

/// Resolves the operation. `copy_source` tells a PUT that copies from a PUT that uploads.
pub fn route(method: &Method, bucket: Option<String>, key: Option<String>, query: &Query, copy_source: bool) -> S3Result<Operation> {
    use Operation::*;
    let m = method.as_str();
    let Some(bucket) = bucket else {
        return match m {
            "GET" => Ok(ListBuckets),
            _ => Err(S3Error::new(ErrorCode::MethodNotAllowed)),
        };
    };
    if m == "OPTIONS" {
        return Ok(CorsPreflight { bucket });
    }
    let Some(key) = key else {
        if query.has("policyStatus") {
            return match m {
                "GET" => Ok(GetBucketPolicyStatus { bucket }),
                _ => Err(S3Error::new(ErrorCode::MethodNotAllowed)),
            };
        }
        if query.has("policy") {
            return match m {
                "GET" => Ok(GetBucketPolicy { bucket }),
                "PUT" => Ok(PutBucketPolicy { bucket }),
                "DELETE" => Ok(DeleteBucketPolicy { bucket }),
                _ => Err(S3Error::new(ErrorCode::MethodNotAllowed)),
            };
        }
        if query.has("logging") {
            return match m {
                "GET" => Ok(GetBucketLogging { bucket }),
                "PUT" => Ok(PutBucketLogging { bucket }),
                _ => Err(S3Error::new(ErrorCode::MethodNotAllowed)),
            };
        }
        if query.has("website") {
            return match m {
                "GET" => Ok(GetBucketWebsite { bucket }),
                "PUT" => Ok(PutBucketWebsite { bucket }),
                "DELETE" => Ok(DeleteBucketWebsite { bucket }),
                _ => Err(S3Error::new(ErrorCode::MethodNotAllowed)),
            };
        }
        if query.has("ownershipControls") {
            return match m {
                "GET" => Ok(GetBucketOwnershipControls { bucket }),
                "PUT" => Ok(PutBucketOwnershipControls { bucket }),
                "DELETE" => Ok(DeleteBucketOwnershipControls { bucket }),
                _ => Err(S3Error::new(ErrorCode::MethodNotAllowed)),
            };
        }
        if query.has("publicAccessBlock") {
            return match m {
                "GET" => Ok(GetPublicAccessBlock { bucket }),
                "PUT" => Ok(PutPublicAccessBlock { bucket }),
                "DELETE" => Ok(DeletePublicAccessBlock { bucket }),
                _ => Err(S3Error::new(ErrorCode::MethodNotAllowed)),
            };
        }
        if query.has("encryption") {
            return match m {
                "GET" => Ok(GetBucketEncryption { bucket }),
                "PUT" => Ok(PutBucketEncryption { bucket }),
                "DELETE" => Ok(DeleteBucketEncryption { bucket }),
                _ => Err(S3Error::new(ErrorCode::MethodNotAllowed)),
            };
        }
        if query.has("lifecycle") {
            return match m {
                "GET" => Ok(GetBucketLifecycleConfiguration { bucket }),
                "PUT" => Ok(PutBucketLifecycleConfiguration { bucket }),
                "DELETE" => Ok(DeleteBucketLifecycle { bucket }),
                _ => Err(S3Error::new(ErrorCode::MethodNotAllowed)),
            };
        }
        if query.has("notification") {
            return match m {
                "GET" => Ok(GetBucketNotificationConfiguration { bucket }),
                "PUT" => Ok(PutBucketNotificationConfiguration { bucket }),
                _ => Err(S3Error::new(ErrorCode::MethodNotAllowed)),
            };
        }
        if query.has("replication") {
            return match m {
                "GET" => Ok(GetBucketReplication { bucket }),
                "PUT" => Ok(PutBucketReplication { bucket }),
                "DELETE" => Ok(DeleteBucketReplication { bucket }),
                _ => Err(S3Error::new(ErrorCode::MethodNotAllowed)),
            };
        }
        if query.has("cors") {
            return match m {
                "GET" => Ok(GetBucketCors { bucket }),
                "PUT" => Ok(PutBucketCors { bucket }),
                "DELETE" => Ok(DeleteBucketCors { bucket }),
                _ => Err(S3Error::new(ErrorCode::MethodNotAllowed)),
            };
        }
        if query.has("tagging") {
            return match m {
                "GET" => Ok(GetBucketTagging { bucket }),
                "PUT" => Ok(PutBucketTagging { bucket }),
                "DELETE" => Ok(DeleteBucketTagging { bucket }),
                _ => Err(S3Error::new(ErrorCode::MethodNotAllowed)),
            };
        }
        if query.has("acl") {
            match m {
                "GET" => return Ok(GetBucketAcl { bucket }),
                "PUT" => return Ok(PutBucketAcl { bucket }),
                _ => {}
            }
        }
        if query.has("object-lock") {
            return match m {
                "GET" => Ok(GetObjectLockConfiguration { bucket }),
                "PUT" => Ok(PutObjectLockConfiguration { bucket }),
                _ => Err(S3Error::new(ErrorCode::MethodNotAllowed)),
            };
        }
        if query.has("versioning") {
            match m {
                "GET" => return Ok(GetBucketVersioning { bucket }),
                "PUT" => return Ok(PutBucketVersioning { bucket }),
                _ => {}
            }
        }
        if query.has(USAGE_SUBRESOURCE) {
            return match m {
                "GET" => Ok(GetBucketUsage { bucket }),
                _ => Err(S3Error::new(ErrorCode::MethodNotAllowed)),
            };
        }
        if let Some(name) = subresource(query, BUCKET_SUBRESOURCES) {
            return Ok(NotImplemented { name });
        }
        return match m {
            "GET" if query.has("location") => Ok(GetBucketLocation { bucket }),
            "GET" if query.has("versions") => Ok(ListObjectVersions { bucket }),
            "GET" if query.has("uploads") => Ok(ListMultipartUploads { bucket }),
            "GET" if query.get("list-type") == Some("2") => Ok(ListObjectsV2 { bucket }),
            "GET" => Ok(ListObjects { bucket }),
            "HEAD" => Ok(HeadBucket { bucket }),
            "PUT" => Ok(CreateBucket { bucket }),
            "DELETE" => Ok(DeleteBucket { bucket }),
            "POST" if query.has("delete") => Ok(DeleteObjects { bucket }),
            "POST" => Ok(PostObject { bucket }),
            _ => Err(S3Error::new(ErrorCode::MethodNotAllowed)),
        };
    };
    if query.has("tagging") {
        return match m {
            "GET" => Ok(GetObjectTagging { bucket, key }),
            "PUT" => Ok(PutObjectTagging { bucket, key }),
            "DELETE" => Ok(DeleteObjectTagging { bucket, key }),
            _ => Err(S3Error::new(ErrorCode::MethodNotAllowed)),
        };
    }
    if query.has("acl") {
        match m {
            "GET" => return Ok(GetObjectAcl { bucket, key }),
            "PUT" => return Ok(PutObjectAcl { bucket, key }),
            _ => {}
        }
    }
    if query.has("retention") {
        return match m {
            "GET" => Ok(GetObjectRetention { bucket, key }),
            "PUT" => Ok(PutObjectRetention { bucket, key }),
            _ => Err(S3Error::new(ErrorCode::MethodNotAllowed)),
        };
    }
    if query.has("legal-hold") {
        return match m {
            "GET" => Ok(GetObjectLegalHold { bucket, key }),
            "PUT" => Ok(PutObjectLegalHold { bucket, key }),
            _ => Err(S3Error::new(ErrorCode::MethodNotAllowed)),
        };
    }
    if query.has("restore") && m == "POST" {
        return Ok(RestoreObject { bucket, key });
    }
    if let Some(name) = subresource(query, OBJECT_SUBRESOURCES) {
        return Ok(NotImplemented { name });
    }
    let upload = query.has("uploadId");
    match m {
        "GET" if query.has("attributes") => Ok(GetObjectAttributes { bucket, key }),
        "GET" if upload => Ok(ListParts { bucket, key }),
        "POST" if query.has("uploads") => Ok(CreateMultipartUpload { bucket, key }),
        "POST" if upload => Ok(CompleteMultipartUpload { bucket, key }),
        "PUT" if upload && copy_source => Ok(UploadPartCopy { bucket, key }),
        "PUT" if upload => Ok(UploadPart { bucket, key }),
        "DELETE" if upload => Ok(AbortMultipartUpload { bucket, key }),
        "GET" => Ok(GetObject { bucket, key }),
        "HEAD" => Ok(HeadObject { bucket, key }),
        "PUT" if copy_source => Ok(CopyObject { bucket, key }),
        "PUT" => Ok(PutObject { bucket, key }),
        "DELETE" => Ok(DeleteObject { bucket, key }),
        _ => Err(S3Error::new(ErrorCode::MethodNotAllowed)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(method: &str, bucket: Option<&str>, key: Option<&str>, q: &str) -> Operation {
        route(&Method::from_bytes(method.as_bytes()).unwrap(), bucket.map(Into::into), key.map(Into::into), &Query::parse(q), false)
            .unwrap()
    }

    #[test]
    fn routes_bucket_operations() {
        assert_eq!(r("GET", None, None, ""), Operation::ListBuckets);
        assert_eq!(r("GET", Some("b"), None, "list-type=2&prefix=x"), Operation::ListObjectsV2 { bucket: "b".into() });
        assert_eq!(r("GET", Some("b"), None, "versions"), Operation::ListObjectVersions { bucket: "b".into() });
        assert_eq!(r("POST", Some("b"), None, "delete"), Operation::DeleteObjects { bucket: "b".into() });
        assert_eq!(r("GET", Some("b"), None, "cors"), Operation::GetBucketCors { bucket: "b".into() });
        assert_eq!(r("PUT", Some("b"), None, "lifecycle"), Operation::PutBucketLifecycleConfiguration { bucket: "b".into() });
        assert_eq!(r("DELETE", Some("b"), None, "lifecycle="), Operation::DeleteBucketLifecycle { bucket: "b".into() });
        assert_eq!(r("PUT", Some("b"), None, "encryption"), Operation::PutBucketEncryption { bucket: "b".into() });
        assert_eq!(r("DELETE", Some("b"), None, "encryption"), Operation::DeleteBucketEncryption { bucket: "b".into() });
        let q = Query::default();
        assert_eq!(r("GET", Some("b"), None, "encryption").action(&q), "s3:GetEncryptionConfiguration");
        assert_eq!(r("DELETE", Some("b"), None, "encryption").action(&q), "s3:PutEncryptionConfiguration");
        assert_eq!(r("OPTIONS", Some("b"), Some("k"), ""), Operation::CorsPreflight { bucket: "b".into() });
        assert_eq!(r("GET", Some("b"), None, "coffer-usage"), Operation::GetBucketUsage { bucket: "b".into() });
        assert_eq!(r("GET", Some("b"), None, "coffer-usage").action(&q), "s3:ListBucket");
    }

    #[test]
    fn routes_object_operations() {
        assert_eq!(r("GET", Some("b"), Some("k"), "x-id=GetObject"), Operation::GetObject { bucket: "b".into(), key: "k".into() });
        assert_eq!(r("PUT", Some("b"), Some("k"), "tagging"), Operation::PutObjectTagging { bucket: "b".into(), key: "k".into() });
        assert_eq!(r("PUT", Some("b"), None, "tagging"), Operation::PutBucketTagging { bucket: "b".into() });
        let (b, k) = (String::from("b"), String::from("k"));
        assert_eq!(r("POST", Some("b"), Some("k"), "uploads"), Operation::CreateMultipartUpload { bucket: b.clone(), key: k.clone() });
        assert_eq!(r("PUT", Some("b"), Some("k"), "partNumber=1&uploadId=u"), Operation::UploadPart { bucket: b.clone(), key: k.clone() });
        assert_eq!(r("GET", Some("b"), Some("k"), "uploadId=u"), Operation::ListParts { bucket: b.clone(), key: k.clone() });
        assert_eq!(r("GET", Some("b"), Some("k"), "attributes"), Operation::GetObjectAttributes { bucket: b.clone(), key: k.clone() });
        assert_eq!(r("GET", Some("b"), None, "uploads"), Operation::ListMultipartUploads { bucket: b });
    }

    /// The end-to-end authorization sweep must send every operation anonymously and as a user
    /// without grants; a new variant fails here until it has an entry there.
    #[test]
    fn every_operation_is_in_the_authorization_sweep() {
        use strum::IntoEnumIterator;
        let sweep = include_str!("../../../compat-tests/python/test_authz_sweep.py");
        let missing: Vec<&str> =
            Operation::iter().map(|op| <&str>::from(&op)).filter(|name| !sweep.contains(&format!("\"{name}\": Case("))).collect();
        assert!(missing.is_empty(), "add these operations to SWEEP in compat-tests/python/test_authz_sweep.py: {missing:?}");
    }

    #[test]
    fn host_ports_are_stripped() {
        assert_eq!(strip_port("b.s3.example.com:9000"), "b.s3.example.com");
        assert_eq!(strip_port("[::1]:9000"), "[::1]");
        assert_eq!(strip_port("[::1]"), "[::1]");
        // Found by fuzzing (fuzz/ target request_head): an unclosed bracket was sliced past
        // the end of the header.
        assert_eq!(strip_port("[::1"), "[::1");
        assert_eq!(strip_port("["), "[");
    }

    #[test]
    fn query_decoding() {
        let q = Query::parse("prefix=a%2Fb+c&delimiter=%2F&versions");
        assert_eq!(q.get("prefix"), Some("a/b c"));
        assert_eq!(q.get("delimiter"), Some("/"));
        assert!(q.has("versions"));
    }
}
