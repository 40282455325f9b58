"""Virtual-hosted-style addressing: boto3 puts the bucket in the host name
(<bucket>.coffer.test) and the server, started with COFFER_DOMAIN=coffer.test, takes the
bucket from the Host header. Name resolution of *.coffer.test is pointed at 127.0.0.1 here.
"""

from __future__ import annotations

import socket

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from harness import REGION, VIRTUAL_HOST_DOMAIN


@pytest.fixture
def loopback_domain(monkeypatch):
    real = socket.getaddrinfo

    def resolve(host, *args, **kwargs):
        if isinstance(host, str) and (host == VIRTUAL_HOST_DOMAIN or host.endswith("." + VIRTUAL_HOST_DOMAIN)):
            host = "127.0.0.1"
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)


def virtual_client(server):
    return boto3.client(
        "s3",
        endpoint_url=f"http://{VIRTUAL_HOST_DOMAIN}:{server.port}",
        aws_access_key_id=server.access_key,
        aws_secret_access_key=server.secret_key,
        region_name=REGION,
        config=Config(s3={"addressing_style": "virtual"}, retries={"max_attempts": 1}),
    )


def test_virtual_hosted_style_round_trip(http_server, http_bucket, loopback_domain):
    s3 = virtual_client(http_server)
    captured = []
    s3.meta.events.register("before-send.s3.*", lambda request, **kw: captured.append(request.url))
    s3.put_object(Bucket=http_bucket, Key="dir/hello.txt", Body=b"virtual")
    assert captured[-1].startswith(f"http://{http_bucket}.{VIRTUAL_HOST_DOMAIN}:"), captured[-1]
    assert s3.get_object(Bucket=http_bucket, Key="dir/hello.txt")["Body"].read() == b"virtual"
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=http_bucket)["Contents"]]
    assert keys == ["dir/hello.txt"]
    # The same object through path-style addressing on the same server.
    assert http_server.client().get_object(Bucket=http_bucket, Key="dir/hello.txt")["Body"].read() == b"virtual"
    s3.delete_object(Bucket=http_bucket, Key="dir/hello.txt")
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=http_bucket, Key="dir/hello.txt")
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_virtual_hosted_unknown_bucket(http_server, loopback_domain):
    s3 = virtual_client(http_server)
    with pytest.raises(ClientError) as e:
        s3.list_objects_v2(Bucket="no-such-bucket-here")
    assert e.value.response["Error"]["Code"] == "NoSuchBucket"
