"""CORS: bucket rules set and read with boto3, preflight OPTIONS requests answered without
credentials, and Access-Control-* headers on real responses for allowed origins."""

from __future__ import annotations

import pytest
import urllib3
from botocore.exceptions import ClientError

RULES = {
    "CORSRules": [
        {"AllowedMethods": ["GET", "HEAD"], "AllowedOrigins": ["https://*.example.com"],
         "AllowedHeaders": ["x-amz-*", "content-type"], "ExposeHeaders": ["ETag"], "MaxAgeSeconds": 600},
        {"AllowedMethods": ["PUT"], "AllowedOrigins": ["https://upload.test"]},
    ]
}


def options(server, path, headers):
    return urllib3.PoolManager(retries=False).request("OPTIONS", server.endpoint + path, headers=headers)


def test_cors_configuration_round_trip(http_server, http_bucket):
    s3 = http_server.client()
    with pytest.raises(ClientError) as e:
        s3.get_bucket_cors(Bucket=http_bucket)
    assert e.value.response["Error"]["Code"] == "NoSuchCORSConfiguration"
    s3.put_bucket_cors(Bucket=http_bucket, CORSConfiguration=RULES)
    got = s3.get_bucket_cors(Bucket=http_bucket)["CORSRules"]
    assert got[0]["AllowedOrigins"] == ["https://*.example.com"]
    assert got[0]["ExposeHeaders"] == ["ETag"] and got[0]["MaxAgeSeconds"] == 600
    with pytest.raises(ClientError) as e:
        s3.put_bucket_cors(Bucket=http_bucket, CORSConfiguration={"CORSRules": [{"AllowedMethods": ["PATCH"], "AllowedOrigins": ["*"]}]})
    assert e.value.response["Error"]["Code"] == "InvalidRequest"
    s3.delete_bucket_cors(Bucket=http_bucket)
    with pytest.raises(ClientError):
        s3.get_bucket_cors(Bucket=http_bucket)


def test_preflight_and_real_responses(http_server, http_bucket):
    s3 = http_server.client()
    s3.put_object(Bucket=http_bucket, Key="page.txt", Body=b"hello")
    path = f"/{http_bucket}/page.txt"
    # No rules yet: every preflight is refused.
    r = options(http_server, path, {"Origin": "https://www.example.com", "Access-Control-Request-Method": "GET"})
    assert r.status == 403
    s3.put_bucket_cors(Bucket=http_bucket, CORSConfiguration=RULES)

    r = options(http_server, path, {"Origin": "https://www.example.com", "Access-Control-Request-Method": "GET",
                                    "Access-Control-Request-Headers": "x-amz-meta-a, Content-Type"})
    assert r.status == 200
    assert r.headers["Access-Control-Allow-Origin"] == "https://www.example.com"
    assert "GET" in r.headers["Access-Control-Allow-Methods"]
    assert r.headers["Access-Control-Allow-Headers"] == "x-amz-meta-a, content-type"
    assert r.headers["Access-Control-Max-Age"] == "600"
    assert "Origin" in r.headers["Vary"]
    # Not allowed: another origin, another method, a header outside the rule, no origin at all.
    assert options(http_server, path, {"Origin": "https://evil.test", "Access-Control-Request-Method": "GET"}).status == 403
    assert options(http_server, path, {"Origin": "https://www.example.com", "Access-Control-Request-Method": "DELETE"}).status == 403
    assert options(http_server, path, {"Origin": "https://www.example.com", "Access-Control-Request-Method": "GET",
                                       "Access-Control-Request-Headers": "authorization"}).status == 403
    assert options(http_server, path, {"Access-Control-Request-Method": "GET"}).status == 400
    assert options(http_server, path, {"Origin": "https://upload.test", "Access-Control-Request-Method": "PUT"}).status == 200

    # A real, signed request from an allowed origin carries the CORS headers; others do not.
    seen = {}

    def with_origin(origin):
        def add(request, **kwargs):
            request.headers["Origin"] = origin
        return add

    def capture(http_response, **kwargs):
        seen.update({k.lower(): v for k, v in http_response.headers.items()})

    s3.meta.events.register("before-sign.s3.GetObject", with_origin("https://www.example.com"))
    s3.meta.events.register("after-call.s3.GetObject", lambda http_response, **kw: capture(http_response))
    assert s3.get_object(Bucket=http_bucket, Key="page.txt")["Body"].read() == b"hello"
    assert seen["access-control-allow-origin"] == "https://www.example.com"
    assert seen["access-control-expose-headers"] == "ETag"

    other = http_server.client()
    seen.clear()
    other.meta.events.register("before-sign.s3.GetObject", with_origin("https://evil.test"))
    other.meta.events.register("after-call.s3.GetObject", lambda http_response, **kw: capture(http_response))
    other.get_object(Bucket=http_bucket, Key="page.txt")
    assert "access-control-allow-origin" not in seen
