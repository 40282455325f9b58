"""Static website hosting: a bucket configured with boto3 and served by the website listener
(the Host header names the bucket): index documents, the dir -> dir/ redirect, error
documents with the original status, routing rules, object redirects and HTML errors."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from harness import create_kms_key
from harness import website_get as fetch


@pytest.fixture
def site(http_server, http_bucket):
    s3 = http_server.client()
    b = http_bucket
    for key, body, ctype in [
        ("index.html", b"<h1>home</h1>", "text/html"),
        ("style.css", b"h1{color:red}", "text/css"),
        ("docs/index.html", b"<h1>docs</h1>", "text/html"),
        ("404.html", b"<h1>not here</h1>", "text/html"),
        ("private.html", b"secret", "text/html"),
    ]:
        acl = "private" if key == "private.html" else "public-read"
        s3.put_object(Bucket=b, Key=key, Body=body, ContentType=ctype, ACL=acl)
    s3.put_object(Bucket=b, Key="old.html", Body=b"", ACL="public-read", WebsiteRedirectLocation="/index.html")
    # A listable bucket lets the site say "not found"; otherwise missing keys are "forbidden".
    s3.put_bucket_acl(Bucket=b, ACL="public-read")
    s3.put_bucket_website(Bucket=b, WebsiteConfiguration={
        "IndexDocument": {"Suffix": "index.html"},
        "ErrorDocument": {"Key": "404.html"},
        "RoutingRules": [{"Condition": {"KeyPrefixEquals": "blog/"},
                          "Redirect": {"ReplaceKeyPrefixWith": "docs/", "HttpRedirectCode": "302"}}],
    })
    return b


def test_website_configuration_round_trip(http_server, http_bucket):
    s3 = http_server.client()
    with pytest.raises(ClientError) as e:
        s3.get_bucket_website(Bucket=http_bucket)
    assert e.value.response["Error"]["Code"] == "NoSuchWebsiteConfiguration"
    s3.put_bucket_website(Bucket=http_bucket, WebsiteConfiguration={"IndexDocument": {"Suffix": "index.html"}})
    assert s3.get_bucket_website(Bucket=http_bucket)["IndexDocument"] == {"Suffix": "index.html"}
    with pytest.raises(ClientError) as e:
        s3.put_bucket_website(Bucket=http_bucket, WebsiteConfiguration={"ErrorDocument": {"Key": "e.html"}})
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    s3.delete_bucket_website(Bucket=http_bucket)


def test_site_pages_redirects_and_errors(http_server, site):
    r = fetch(http_server, site, "/")
    assert (r.status, r.data, r.headers["Content-Type"]) == (200, b"<h1>home</h1>", "text/html")
    assert fetch(http_server, site, "/style.css").data == b"h1{color:red}"
    assert fetch(http_server, site, "/docs/").data == b"<h1>docs</h1>"
    r = fetch(http_server, site, "/docs")
    assert (r.status, r.headers["Location"]) == (302, "/docs/")
    r = fetch(http_server, site, "/nope.html")
    assert (r.status, r.data) == (404, b"<h1>not here</h1>"), "the error document comes with the original status"
    r = fetch(http_server, site, "/private.html")
    assert (r.status, r.data) == (403, b"<h1>not here</h1>")
    http_server.client().put_bucket_acl(Bucket=site, ACL="private")
    assert fetch(http_server, site, "/nope.html").status == 403
    http_server.client().put_bucket_acl(Bucket=site, ACL="public-read")
    r = fetch(http_server, site, "/blog/post.html")
    assert r.status == 302 and r.headers["Location"].endswith("/docs/post.html")
    r = fetch(http_server, site, "/old.html")
    assert (r.status, r.headers["Location"]) == (301, "/index.html")
    r = fetch(http_server, site, "/", method="HEAD")
    assert r.status == 200 and r.headers["Content-Length"] == str(len(b"<h1>home</h1>"))
    r = fetch(http_server, site, "/", method="PUT")
    assert r.status == 405 and b"<html>" in r.data


def test_html_errors_without_error_document(http_server, http_bucket):
    r = fetch(http_server, http_bucket, "/")
    assert r.status == 404 and b"NoSuchWebsiteConfiguration" in r.data and r.headers["Content-Type"].startswith("text/html")
    r = fetch(http_server, "no-such-bucket-anywhere", "/")
    assert r.status == 404 and b"NoSuchBucket" in r.data
    s3 = http_server.client()
    s3.put_bucket_website(Bucket=http_bucket, WebsiteConfiguration={"RedirectAllRequestsTo": {"HostName": "example.test", "Protocol": "https"}})
    r = fetch(http_server, http_bucket, "/a/b?x=1")
    assert (r.status, r.headers["Location"]) == (301, "https://example.test/a/b?x=1")


def test_encrypted_pages(http_server, site):
    """SSE-S3 pages are served decrypted (bucket default encryption or per object); SSE-KMS
    and SSE-C objects are not served by the website endpoint, as in S3."""
    s3 = http_server.client()
    s3.put_bucket_encryption(Bucket=site, ServerSideEncryptionConfiguration={
        "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]})
    page = b"<h1>sealed at rest</h1>" * 5000  # several packages
    s3.put_object(Bucket=site, Key="sealed.html", Body=page, ContentType="text/html", ACL="public-read")
    assert s3.head_object(Bucket=site, Key="sealed.html")["ServerSideEncryption"] == "AES256"
    r = fetch(http_server, site, "/sealed.html")
    assert (r.status, r.data) == (200, page)
    r = fetch(http_server, site, "/sealed.html", method="HEAD")
    assert (r.status, r.headers["Content-Length"]) == (200, str(len(page)))
    key = create_kms_key(http_server, "site")
    s3.put_object(Bucket=site, Key="kms.html", Body=b"kms", ACL="public-read",
                  ServerSideEncryption="aws:kms", SSEKMSKeyId=key.name)
    r = fetch(http_server, site, "/kms.html")
    assert (r.status, r.data) == (403, b"<h1>not here</h1>")
    s3.delete_bucket_encryption(Bucket=site)
