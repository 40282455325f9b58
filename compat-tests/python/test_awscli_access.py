"""Access control and publishing with the AWS CLI alone, checked with curl as a browser or a
script would: `aws s3 website`, `aws s3 presign` (valid, then expired), a bucket policy
naming a second user, and anonymous reads opened by a public policy and shut again by
`aws s3api put-public-access-block`."""

from __future__ import annotations

import calendar
import json
import time
import urllib.parse

import pytest

from harness import WEBSITE_DOMAIN, aws_runner, policy, run_cli, statement, website_get

pytestmark = pytest.mark.cli


def curl(url: str) -> tuple[int, str]:
    """An unsigned GET with Debian's curl: (status, body)."""
    out = run_cli(["curl", "-sS", "--noproxy", "*", "-w", "\n%{http_code}", url], timeout=30).stdout
    body, _, status = out.rpartition("\n")
    return int(status), body


def failure(result) -> str:
    """The error output of an `aws` command that must have failed."""
    assert result.returncode != 0, result.stdout
    return result.stderr


@pytest.fixture
def aws_root(http_server):
    return aws_runner(http_server)


@pytest.fixture
def upload(aws_root, http_bucket, tmp_path):
    """upload(key, text, *extra aws s3 cp args): a file written and copied with `aws s3 cp`."""
    def put(key: str, text: str, *args: str):
        src = tmp_path / key.replace("/", "_")
        src.write_text(text)
        aws_root("s3", "cp", src, f"s3://{http_bucket}/{key}", *args)
    return put


def test_s3_website(http_server, http_bucket, aws_root, upload):
    b, host = http_bucket, f"{http_bucket}.{WEBSITE_DOMAIN}"
    upload("index.html", "<h1>cli site</h1>", "--acl", "public-read", "--content-type", "text/html")
    upload("err.html", "<h1>cli error page</h1>", "--acl", "public-read", "--content-type", "text/html")
    assert website_get(http_server, host, "/").status == 404  # no website configuration yet

    aws_root("s3", "website", f"s3://{b}", "--index-document", "index.html", "--error-document", "err.html")
    conf = json.loads(aws_root("s3api", "get-bucket-website", "--bucket", b).stdout)
    assert (conf["IndexDocument"], conf["ErrorDocument"]) == ({"Suffix": "index.html"}, {"Key": "err.html"})
    r = website_get(http_server, host, "/")
    assert (r.status, r.data, r.headers["Content-Type"]) == (200, b"<h1>cli site</h1>", "text/html")
    # The bucket is not listable by everyone, so a missing page is "forbidden"...
    r = website_get(http_server, host, "/missing.html")
    assert (r.status, r.data) == (403, b"<h1>cli error page</h1>")
    # ...until it is.
    aws_root("s3api", "put-bucket-acl", "--bucket", b, "--acl", "public-read")
    r = website_get(http_server, host, "/missing.html")
    assert (r.status, r.data) == (404, b"<h1>cli error page</h1>")

    aws_root("s3api", "delete-bucket-website", "--bucket", b)
    r = website_get(http_server, host, "/")
    assert r.status == 404 and b"NoSuchWebsiteConfiguration" in r.data


def signed_until(url: str) -> float:
    """When a presigned URL (SigV4 or SigV2) stops being valid, in seconds since the epoch."""
    q = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))
    if "X-Amz-Date" in q:
        signed = calendar.timegm(time.strptime(q["X-Amz-Date"], "%Y%m%dT%H%M%SZ"))
        return signed + int(q["X-Amz-Expires"])
    return float(q["Expires"])


def test_presigned_urls_with_curl(http_server, http_bucket, aws_root, upload, tmp_path):
    """`aws s3 presign` signs with SigV2 by default and with SigV4 when configured so."""
    upload("report.txt", "quarterly numbers")
    config = tmp_path / "aws-config"
    config.write_text("[default]\ns3 =\n    signature_version = s3v4\n")
    aws_v4 = aws_runner(http_server, AWS_CONFIG_FILE=str(config))
    urls = []
    for run, signature in [(aws_root, "&Signature="), (aws_v4, "&X-Amz-Signature=")]:
        # Used at once: the link is valid for 4 s from its (whole-second) signing time.
        url = run("s3", "presign", f"s3://{http_bucket}/report.txt", "--expires-in", "4").stdout.strip()
        urls.append(url)
        assert url.startswith(f"{http_server.endpoint}/{http_bucket}/report.txt?") and signature in url
        assert curl(url) == (200, "quarterly numbers")
        # The same signature does not open another key.
        status, body = curl(url.replace("report.txt", "other.txt"))
        assert status == 403 and "<Code>SignatureDoesNotMatch</Code>" in body

    time.sleep(max(0.0, max(map(signed_until, urls)) - time.time()) + 1.5)
    for url in urls:
        status, body = curl(url)
        assert status == 403, body
        assert "<Code>AccessDenied</Code>" in body and "Request has expired" in body


def test_policy_for_a_second_user(http_server, http_bucket, aws_root, other_user, upload, tmp_path):
    b = http_bucket
    alt = aws_runner(http_server, other_user)
    upload("doc.txt", "for alt's eyes")
    out = tmp_path / "got.txt"
    r = alt("s3api", "get-object", "--bucket", b, "--key", "doc.txt", out, check=False)
    assert "AccessDenied" in failure(r)

    # The policy names the user by canonical id, as ListBuckets shows it to them.
    canonical_id = json.loads(alt("s3api", "list-buckets").stdout)["Owner"]["ID"]
    doc = tmp_path / "policy.json"
    doc.write_text(policy(statement("Allow", {"CanonicalUser": canonical_id}, "s3:GetObject", f"arn:aws:s3:::{b}/*")))
    aws_root("s3api", "put-bucket-policy", "--bucket", b, "--policy", f"file://{doc}")
    alt("s3api", "get-object", "--bucket", b, "--key", "doc.txt", out)
    assert out.read_text() == "for alt's eyes"
    assert alt("s3", "cp", f"s3://{b}/doc.txt", "-").stdout == "for alt's eyes"
    # Only GetObject was granted.
    assert "AccessDenied" in failure(alt("s3api", "put-object", "--bucket", b, "--key", "mine.txt", check=False))
    assert "AccessDenied" in failure(alt("s3", "ls", f"s3://{b}", check=False))
    # And not to anyone else.
    assert curl(f"{http_server.endpoint}/{b}/doc.txt")[0] == 403


def test_public_policy_and_public_access_block(http_server, http_bucket, aws_root, upload, tmp_path):
    b = http_bucket
    url = f"{http_server.endpoint}/{b}/pub/page.txt"
    upload("pub/page.txt", "public words")
    status, body = curl(url)
    assert status == 403 and "<Code>AccessDenied</Code>" in body

    doc = tmp_path / "public.json"
    doc.write_text(policy(statement("Allow", "*", "s3:GetObject", f"arn:aws:s3:::{b}/pub/*")))
    aws_root("s3api", "put-bucket-policy", "--bucket", b, "--policy", f"file://{doc}")
    assert curl(url) == (200, "public words")

    conf = "BlockPublicAcls=false,IgnorePublicAcls=false,BlockPublicPolicy=true,RestrictPublicBuckets=true"
    aws_root("s3api", "put-public-access-block", "--bucket", b, "--public-access-block-configuration", conf)
    got = json.loads(aws_root("s3api", "get-public-access-block", "--bucket", b).stdout)
    assert got["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": False, "IgnorePublicAcls": False, "BlockPublicPolicy": True, "RestrictPublicBuckets": True}
    status, body = curl(url)
    assert status == 403 and "<Code>AccessDenied</Code>" in body
    # The owner still reads; a public policy can no longer be put.
    assert aws_root("s3", "cp", f"s3://{b}/pub/page.txt", "-").stdout == "public words"
    r = aws_root("s3api", "put-bucket-policy", "--bucket", b, "--policy", f"file://{doc}", check=False)
    assert "AccessDenied" in failure(r)

    aws_root("s3api", "delete-public-access-block", "--bucket", b)
    assert curl(url) == (200, "public words")
