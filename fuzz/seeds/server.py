#!/usr/bin/env python3
"""Writes the seed corpora of the server fuzz targets (request_head, xml, bucket_policy,
post_policy, post_form) into fuzz/corpus/<target>/: request heads, XML documents and forms
as boto3, awscli and browsers send them."""
import base64, hashlib, hmac, json

from common import AKID, SECRET, head, signing_key, write
NS = 'xmlns="http://s3.amazonaws.com/doc/2006-03-01/"'
DECL = '<?xml version="1.0" encoding="UTF-8"?>\n'



def request_head():
    write("request_head", "get_range", head([
        "GET /bucket/photos/2024/a%20b.jpg?versionId=3HL4kqtJlcpXroDTDmjVBH40Nrjfkd",
        "host: 127.0.0.1:9000", "range: bytes=0-9",
        'if-none-match: "9bb58f26192e4ba00f01e2e7b136bbd8"',
        "if-modified-since: Wed, 21 Oct 2015 07:28:00 GMT",
    ]))
    write("request_head", "get_suffix_range", head([
        "GET /docs/index.html?response-content-type=text%2Fhtml&partNumber=1",
        "host: docs.s3.example.com", "range: bytes=-500",
        "if-unmodified-since: Tue, 14 Nov 2023 22:13:20 GMT", 'if-match: "*"',
    ]))
    write("request_head", "copy_object", head([
        "PUT /dest/copy.txt",
        "host: 127.0.0.1:9000",
        "x-amz-copy-source: /srcbucket/dir/a%20b.txt?versionId=null",
        "x-amz-metadata-directive: REPLACE",
        'x-amz-copy-source-if-match: "9bb58f26192e4ba00f01e2e7b136bbd8"',
        "x-amz-copy-source-if-modified-since: Wed, 21 Oct 2015 07:28:00 GMT",
        "x-amz-meta-color: blue",
    ]))
    write("request_head", "upload_part_copy", head([
        "PUT /dest/big?partNumber=2&uploadId=VXBsb2FkSWQ",
        "host: 127.0.0.1:9000",
        "x-amz-copy-source: srcbucket/big%2Bfile",
        "x-amz-copy-source-range: bytes=5242880-10485759",
        "x-amz-copy-source-server-side-encryption-customer-algorithm: AES256",
        "x-amz-copy-source-server-side-encryption-customer-key: MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
        "x-amz-copy-source-server-side-encryption-customer-key-md5: zLeU2z+ZrTpTrhGmJ5BYbA==",
    ]))
    write("request_head", "put_object", head([
        "PUT /bucket/key.bin?x-id=PutObject",
        "host: 127.0.0.1:9000", "content-length: 11", "content-type: application/octet-stream",
        "content-md5: XrY7u+Ae7tCTyyK7j1rNww==",
        "x-amz-checksum-crc32: DUoRhQ==", "x-amz-sdk-checksum-algorithm: CRC32",
        "x-amz-tagging: project=coffer&team=a%20b&empty=",
        "x-amz-acl: private",
        'x-amz-grant-read: id="79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be", uri="http://acs.amazonaws.com/groups/global/AllUsers"',
        "x-amz-server-side-encryption: aws:kms",
        "x-amz-server-side-encryption-aws-kms-key-id: alias/backups",
        "x-amz-server-side-encryption-context: " + base64.b64encode(b'{"project":"coffer"}').decode(),
        "x-amz-server-side-encryption-bucket-key-enabled: true",
        "x-amz-meta-author: alice", "cache-control: max-age=60",
        "expires: Thu, 01 Dec 2033 16:00:00 GMT",
        "x-amz-storage-class: STANDARD", "x-amz-object-ownership: BucketOwnerEnforced",
    ]))
    write("request_head", "put_sse_c", head([
        "PUT /bucket/secret",
        "host: 127.0.0.1:9000",
        "x-amz-server-side-encryption-customer-algorithm: AES256",
        "x-amz-server-side-encryption-customer-key: MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
        "x-amz-server-side-encryption-customer-key-md5: zLeU2z+ZrTpTrhGmJ5BYbA==",
        "x-amz-content-sha256: STREAMING-UNSIGNED-PAYLOAD-TRAILER",
        "x-amz-decoded-content-length: 1048576", "x-amz-trailer: x-amz-checksum-crc64nvme",
    ]))
    write("request_head", "list_v2_virtual_host", head([
        "GET /?list-type=2&prefix=a%2Fb&delimiter=%2F&max-keys=1000&continuation-token=abc%3D&encoding-type=url&fetch-owner=true",
        "host: bucket.s3.example.com:9000",
    ]))
    for name, line in [
        ("create_multipart", "POST /bucket/big?uploads"),
        ("complete_multipart", "POST /bucket/big?uploadId=VXBsb2FkSWQ"),
        ("list_parts", "GET /bucket/big?uploadId=VXBsb2FkSWQ&max-parts=10&part-number-marker=2"),
        ("delete_objects", "POST /bucket?delete"),
        ("list_versions", "GET /bucket?versions&key-marker=a&version-id-marker=null"),
        ("bucket_subresources", "PUT /bucket?cors"),
        ("object_tagging", "GET /bucket/key?tagging&versionId=v1"),
        ("object_attributes", "GET /bucket/key?attributes"),
        ("bucket_policy_status", "GET /bucket?policyStatus"),
        ("list_buckets", "GET /"),
        ("preflight", "OPTIONS /bucket/key"),
        ("post_object", "POST /bucket"),
    ]:
        write("request_head", name, head([line, "host: [::1]:9000", "x-amz-object-attributes: ETag,ObjectSize"]))


XML = {
    "create_bucket": (0, f"<CreateBucketConfiguration {NS}><LocationConstraint>us-west-2</LocationConstraint></CreateBucketConfiguration>"),
    "tagging": (1, f"<Tagging {NS}><TagSet><Tag><Key>project</Key><Value>coffer</Value></Tag><Tag><Key>a b</Key><Value></Value></Tag></TagSet></Tagging>"),
    "complete_multipart": (2, f'<CompleteMultipartUpload {NS}><Part><ETag>"7778aef83f66abc1fa1e8477f296d394"</ETag><PartNumber>1</PartNumber></Part>'
                              f'<Part><ChecksumCRC32>DUoRhQ==</ChecksumCRC32><ETag>"e1b0c4b2"</ETag><PartNumber>2</PartNumber></Part></CompleteMultipartUpload>'),
    "delete": (3, f"<Delete {NS}><Object><Key>a.txt</Key></Object><Object><Key>b &amp; c</Key><VersionId>null</VersionId></Object><Quiet>true</Quiet></Delete>"),
    "website": (4, f"<WebsiteConfiguration {NS}><IndexDocument><Suffix>index.html</Suffix></IndexDocument><ErrorDocument><Key>error.html</Key></ErrorDocument>"
                   "<RoutingRules><RoutingRule><Condition><KeyPrefixEquals>docs/</KeyPrefixEquals></Condition><Redirect><ReplaceKeyPrefixWith>documents/</ReplaceKeyPrefixWith></Redirect></RoutingRule>"
                   "<RoutingRule><Condition><HttpErrorCodeReturnedEquals>404</HttpErrorCodeReturnedEquals></Condition><Redirect><Protocol>https</Protocol><HostName>example.com</HostName>"
                   "<ReplaceKeyWith>404.html</ReplaceKeyWith><HttpRedirectCode>302</HttpRedirectCode></Redirect></RoutingRule></RoutingRules></WebsiteConfiguration>"),
    "website_redirect_all": (4, f"<WebsiteConfiguration {NS}><RedirectAllRequestsTo><HostName>www.example.com</HostName><Protocol>https</Protocol></RedirectAllRequestsTo></WebsiteConfiguration>"),
    "cors": (5, f"<CORSConfiguration {NS}><CORSRule><ID>web</ID><AllowedHeader>*</AllowedHeader><AllowedMethod>PUT</AllowedMethod><AllowedMethod>GET</AllowedMethod>"
                "<AllowedOrigin>https://*.example.com</AllowedOrigin><ExposeHeader>ETag</ExposeHeader><MaxAgeSeconds>3000</MaxAgeSeconds></CORSRule>"
                "<CORSRule><AllowedMethod>HEAD</AllowedMethod><AllowedOrigin>*</AllowedOrigin></CORSRule></CORSConfiguration>"),
    "acl": (6, f'<AccessControlPolicy {NS}><Owner><ID>owner-id</ID><DisplayName>owner</DisplayName></Owner><AccessControlList>'
               '<Grant><Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="CanonicalUser"><ID>owner-id</ID></Grantee><Permission>FULL_CONTROL</Permission></Grant>'
               '<Grant><Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="Group"><URI>http://acs.amazonaws.com/groups/global/AllUsers</URI></Grantee><Permission>READ</Permission></Grant>'
               '<Grant><Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="CanonicalUser"><ID>other-user</ID></Grantee><Permission>WRITE_ACP</Permission></Grant>'
               '</AccessControlList></AccessControlPolicy>'),
    "encryption": (7, f"<ServerSideEncryptionConfiguration {NS}><Rule><ApplyServerSideEncryptionByDefault><SSEAlgorithm>aws:kms</SSEAlgorithm>"
                      "<KMSMasterKeyID>alias/backups</KMSMasterKeyID></ApplyServerSideEncryptionByDefault><BucketKeyEnabled>true</BucketKeyEnabled></Rule></ServerSideEncryptionConfiguration>"),
    "encryption_aes": (7, f"<ServerSideEncryptionConfiguration {NS}><Rule><ApplyServerSideEncryptionByDefault><SSEAlgorithm>AES256</SSEAlgorithm></ApplyServerSideEncryptionByDefault></Rule></ServerSideEncryptionConfiguration>"),
    "public_access_block": (8, f"<PublicAccessBlockConfiguration {NS}><BlockPublicAcls>true</BlockPublicAcls><IgnorePublicAcls>false</IgnorePublicAcls>"
                               "<BlockPublicPolicy>true</BlockPublicPolicy><RestrictPublicBuckets>false</RestrictPublicBuckets></PublicAccessBlockConfiguration>"),
    "versioning": (9, f"<VersioningConfiguration {NS}><Status>Enabled</Status><MfaDelete>Disabled</MfaDelete></VersioningConfiguration>"),
    "lifecycle": (11, f"<LifecycleConfiguration {NS}><Rule><ID>expire-logs</ID><Filter><Prefix>logs/</Prefix></Filter><Status>Enabled</Status>"
                      "<Expiration><Days>30</Days></Expiration><NoncurrentVersionExpiration><NoncurrentDays>7</NoncurrentDays></NoncurrentVersionExpiration>"
                      "<AbortIncompleteMultipartUpload><DaysAfterInitiation>3</DaysAfterInitiation></AbortIncompleteMultipartUpload></Rule>"
                      "<Rule><ID>tmp</ID><Filter><And><Prefix>tmp/</Prefix><Tag><Key>a</Key><Value>b</Value></Tag><ObjectSizeGreaterThan>100</ObjectSizeGreaterThan></And></Filter>"
                      "<Status>Disabled</Status><Transition><Days>30</Days><StorageClass>GLACIER</StorageClass></Transition><Expiration><Days>365</Days></Expiration></Rule>"
                      "<Rule><Filter><Tag><Key>t</Key><Value>v</Value></Tag></Filter><Status>Enabled</Status><Expiration><Date>2030-01-01T00:00:00Z</Date></Expiration></Rule></LifecycleConfiguration>"),
    "ownership": (10, f"<OwnershipControls {NS}><Rule><ObjectOwnership>BucketOwnerEnforced</ObjectOwnership></Rule></OwnershipControls>"),
}


def xml():
    for name, (kind, doc) in XML.items():
        write("xml", name, bytes([kind]) + (DECL + doc).encode())


POLICIES = {
    "public_read": {"Version": "2012-10-17", "Statement": [{"Sid": "PublicRead", "Effect": "Allow", "Principal": "*",
                    "Action": ["s3:GetObject", "s3:GetObjectVersion"], "Resource": ["arn:aws:s3:::b/*"]}]},
    "deny_insecure": {"Version": "2012-10-17", "Id": "tls", "Statement": {"Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "s3:*",
                      "Resource": ["arn:aws:s3:::b", "arn:aws:s3:::b/*"], "Condition": {"Bool": {"aws:SecureTransport": "false"}}}},
    "home_dirs": {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": ["arn:aws:iam::123456789012:user/alice", "owner-id"]}, "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::b",
         "Condition": {"StringLike": {"s3:prefix": ["home/${aws:username}/*", ""]}, "NumericLessThanEquals": {"s3:max-keys": "1000"}}},
        {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"}, "Action": ["s3:Get*", "s3:Put*"], "Resource": "arn:aws:s3:::b/home/${aws:username}/*"}]},
    "ip_and_not": {"Version": "2008-10-17", "Statement": [
        {"Effect": "Deny", "NotPrincipal": {"AWS": "owner-id"}, "NotAction": ["s3:GetObject"], "NotResource": "arn:aws:s3:::b/public/*",
         "Condition": {"NotIpAddress": {"aws:SourceIp": ["192.168.0.0/16", "2001:db8::/32"]}, "StringNotEquals": {"aws:Referer": "https://www.example.com/*"}}},
        {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*",
         "Condition": {"StringEqualsIgnoreCase": {"s3:ExistingObjectTag/team": "Blue"}, "DateGreaterThan": {"aws:CurrentTime": "2020-01-01T00:00:00Z"},
                       "ForAnyValue:StringEquals": {"s3:x-amz-acl": ["private"]}, "Null": {"s3:x-amz-server-side-encryption": "true"}}}]},
}


def bucket_policy():
    for name, doc in POLICIES.items():
        write("bucket_policy", name, json.dumps(doc, indent=2))


POST_POLICY = {"expiration": "2030-01-01T12:00:00.000Z", "conditions": [
    {"bucket": "b"}, ["starts-with", "$key", "user/alice/"], {"acl": "public-read"},
    {"success_action_status": "201"}, ["starts-with", "$Content-Type", "image/"],
    ["content-length-range", 1, 10485760], ["eq", "$x-amz-meta-tag", "holiday"],
    {"x-amz-credential": f"{AKID}/20300101/us-east-1/s3/aws4_request"},
    {"x-amz-algorithm": "AWS4-HMAC-SHA256"}, {"x-amz-date": "20300101T000000Z"}]}


def post_policy():
    write("post_policy", "sigv4_form", json.dumps(POST_POLICY))
    write("post_policy", "minimal", '{"expiration":"2030-01-01T00:00:00Z","conditions":[{"bucket":"b"},["starts-with","$key",""]]}')
    write("post_policy", "base64_field", base64.b64encode(json.dumps(POST_POLICY).encode()))


def form(fields, boundary="----WebKitFormBoundary7MA4YWxkTrZu0gW"):
    out = ""
    for name, value in fields:
        if name == "file":
            out += f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="photo.png"\r\nContent-Type: image/png\r\n\r\n{value}\r\n'
        else:
            out += f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
    return f"multipart/form-data; boundary={boundary}\n" + out + f"--{boundary}--\r\n"


def post_form():
    policy = base64.b64encode(json.dumps(POST_POLICY).encode()).decode()
    v4 = hmac.new(signing_key("20300101"), policy.encode(), hashlib.sha256).hexdigest()
    tagging = f"<Tagging><TagSet><Tag><Key>team</Key><Value>blue</Value></Tag></TagSet></Tagging>"
    write("post_form", "sigv4", form([
        ("key", "user/alice/${filename}"), ("acl", "public-read"), ("success_action_status", "201"),
        ("Content-Type", "image/png"), ("x-amz-meta-tag", "holiday"), ("tagging", tagging),
        ("X-Amz-Credential", f"{AKID}/20300101/us-east-1/s3/aws4_request"), ("X-Amz-Algorithm", "AWS4-HMAC-SHA256"),
        ("X-Amz-Date", "20300101T000000Z"), ("Policy", policy), ("X-Amz-Signature", v4), ("file", "\x89PNG fake image"),
    ]))
    v2 = base64.b64encode(hmac.new(SECRET.encode(), policy.encode(), hashlib.sha1).digest()).decode()
    write("post_form", "sigv2", form([
        ("key", "user/alice/a.txt"), ("AWSAccessKeyId", AKID), ("policy", policy), ("signature", v2),
        ("x-amz-server-side-encryption", "AES256"), ("file", "hello"),
    ], boundary="9431149156168"))
    write("post_form", "anonymous", form([("key", "public/${filename}"), ("file", "")], boundary="b"))


if __name__ == "__main__":
    for f in (request_head, xml, bucket_policy, post_policy, post_form):
        f()
