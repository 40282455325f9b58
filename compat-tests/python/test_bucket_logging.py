"""S3 server access logging (Put/GetBucketLogging): boto3 turns it on, makes requests, and
parses the log objects Coffer delivers into the target bucket, in S3's record format. The
server here delivers every second (`--access-log-interval 1s`)."""

import re
import signal

import pytest
from botocore.exceptions import ClientError

from harness import create_user, random_bucket_name, start_server, stop_server, wait_until

INTERVAL = ("--access-log-interval", "1s")

# S3's record: owner bucket [time] ip requester request-id operation key "request-uri" status
# error bytes-sent object-size total turnaround "referer" "user-agent" version host-id sigv
# cipher auth host tls access-point acl-required.
RECORD = re.compile(
    r'(?P<owner>\S+) (?P<bucket>\S+) \[(?P<time>[^\]]+)\] (?P<ip>\S+) (?P<requester>\S+) (?P<request_id>\S+) '
    r'(?P<operation>\S+) (?P<key>\S+) "(?P<uri>[^"]*)" (?P<status>\d{3}) (?P<error>\S+) (?P<bytes_sent>\S+) '
    r'(?P<object_size>\S+) (?P<total>\d+) (?P<turnaround>\d+) (?P<referer>-|"[^"]*") (?P<agent>-|"(?:[^"\\]|\\.)*") '
    r'(?P<version>\S+) (?P<host_id>\S+) (?P<sigv>\S+) (?P<cipher>\S+) (?P<auth>\S+) (?P<host>\S+) (?P<tls>\S+) \S+ \S+$'
)


@pytest.fixture(scope="module")
def server(tmp_root):
    srv = start_server(tmp_root, "http", INTERVAL)
    yield srv
    stop_server(srv)


def logging_on(s3, source, target, prefix, partitioned=None):
    enabled = {"TargetBucket": target, "TargetPrefix": prefix}
    if partitioned:
        enabled["TargetObjectKeyFormat"] = {"PartitionedPrefix": {"PartitionDateSource": partitioned}}
    s3.put_bucket_logging(Bucket=source, BucketLoggingStatus={"LoggingEnabled": enabled})


def delivered(s3, target, prefix):
    """Every record delivered under `prefix` of `target`, parsed, with the log objects' keys."""
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=target, Prefix=prefix).get("Contents", [])]
    records = []
    for key in keys:
        for line in s3.get_object(Bucket=target, Key=key)["Body"].read().decode().splitlines():
            m = RECORD.match(line)
            assert m, f"not an S3 access log record: {line!r}"
            records.append(m.groupdict())
    return keys, records


def wait_for_records(s3, target, prefix, request_ids):
    def found():
        _, records = delivered(s3, target, prefix)
        by_id = {r["request_id"]: r for r in records}
        return by_id if set(request_ids) <= set(by_id) else None
    return wait_until(found, timeout=30, what="the access log records to be delivered")


def request_id(response):
    return response["ResponseMetadata"]["RequestId"]


def test_requests_are_delivered_as_s3_access_log_records(server):
    s3 = server.client()
    source, target = random_bucket_name("src"), random_bucket_name("logs")
    s3.create_bucket(Bucket=source)
    s3.create_bucket(Bucket=target)
    logging_on(s3, source, target, "web/")
    status = s3.get_bucket_logging(Bucket=source)["LoggingEnabled"]
    assert (status["TargetBucket"], status["TargetPrefix"]) == (target, "web/")

    ids = {
        "put": request_id(s3.put_object(Bucket=source, Key="dir/a b.txt", Body=b"hello")),
        "get": request_id(s3.get_object(Bucket=source, Key="dir/a b.txt")),
        "head": request_id(s3.head_object(Bucket=source, Key="dir/a b.txt")),
        "list": request_id(s3.list_objects_v2(Bucket=source)),
    }
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=source, Key="missing")
    ids["missing"] = request_id(e.value.response)

    by_id = wait_for_records(s3, target, "web/", ids.values())
    keys, _ = delivered(s3, target, "web/")
    assert all(re.fullmatch(r"web/\d{4}-\d\d-\d\d-\d\d-\d\d-\d\d-[0-9A-F]{16}", k) for k in keys), keys
    put, get, head, listing, missing = (by_id[ids[n]] for n in ("put", "get", "head", "list", "missing"))
    assert (put["operation"], put["key"], put["status"], put["bucket"]) == ("REST.PUT.OBJECT", "dir/a%20b.txt", "200", source)
    assert (get["operation"], get["bytes_sent"], get["object_size"]) == ("REST.GET.OBJECT", "5", "5")
    assert head["operation"] == "REST.HEAD.OBJECT"
    assert (listing["operation"], listing["key"]) == ("REST.GET.BUCKET", "-")
    assert (missing["status"], missing["error"]) == ("404", "NoSuchKey")
    assert get["uri"].startswith(f"GET /{source}/dir/a%20b.txt") and get["uri"].endswith("HTTP/1.1")
    assert (get["ip"], get["sigv"], get["auth"]) == ("127.0.0.1", "SigV4", "AuthHeader")
    assert get["agent"].startswith('"Boto3/') and get["requester"] == get["owner"] != "-"
    assert re.fullmatch(r"\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d \+0000", get["time"])

    # Turned off, requests are no longer logged.
    s3.put_bucket_logging(Bucket=source, BucketLoggingStatus={})
    assert "LoggingEnabled" not in s3.get_bucket_logging(Bucket=source)
    quiet = request_id(s3.get_object(Bucket=source, Key="dir/a b.txt"))
    marker = random_bucket_name("other")
    s3.create_bucket(Bucket=marker)
    logging_on(s3, marker, target, "marker/")
    wait_for_records(s3, target, "marker/", [request_id(s3.list_objects_v2(Bucket=marker))])
    _, records = delivered(s3, target, "web/")
    assert quiet not in {r["request_id"] for r in records}


def test_partitioned_keys_and_a_bucket_logging_into_itself(server):
    s3 = server.client()
    bucket = random_bucket_name("self")
    s3.create_bucket(Bucket=bucket)
    logging_on(s3, bucket, bucket, "logs/", partitioned="EventTime")
    rid = request_id(s3.put_object(Bucket=bucket, Key="data/k", Body=b"x"))
    wait_for_records(s3, bucket, "logs/", [rid])
    keys, records = delivered(s3, bucket, "logs/")
    owner = records[0]["owner"]
    assert all(re.fullmatch(rf"logs/{owner}/us-east-1/{bucket}/\d{{4}}/\d\d/\d\d/\d{{4}}-\d\d-\d\d-\d\d-\d\d-\d\d-[0-9A-F]{{16}}", k) for k in keys), keys
    # Delivering log objects into the logged bucket makes no records of its own: only the
    # requests above (and the listing and reads of this test) are ever logged.
    assert all(r["requester"] != "coffer" and r["operation"] != "REST.PUT.OBJECT" or r["key"] == "data/k" for r in records), records


def test_targets_must_exist_and_belong_to_the_same_owner(server):
    s3 = server.client()
    source = random_bucket_name("src")
    s3.create_bucket(Bucket=source)
    with pytest.raises(ClientError) as e:
        logging_on(s3, source, random_bucket_name("nowhere"), "p/")
    assert e.value.response["Error"]["Code"] == "InvalidTargetBucketForLogging"
    other = server.client(create_user(server, "logowner"))
    theirs = random_bucket_name("theirs")
    other.create_bucket(Bucket=theirs)
    with pytest.raises(ClientError) as e:
        logging_on(s3, source, theirs, "p/")
    assert e.value.response["Error"]["Code"] == "InvalidTargetBucketForLogging"
    # Only the bucket's owner may read or change its logging.
    with pytest.raises(ClientError) as e:
        other.get_bucket_logging(Bucket=source)
    assert e.value.response["Error"]["Code"] == "AccessDenied"


def test_answered_requests_survive_a_crash_before_delivery(tmp_root):
    # A long interval: nothing is delivered before the kill.
    srv = start_server(tmp_root, "http", ("--access-log-interval", "1h"))
    s3 = srv.client()
    source, target = random_bucket_name("src"), random_bucket_name("logs")
    s3.create_bucket(Bucket=source)
    s3.create_bucket(Bucket=target)
    logging_on(s3, source, target, "crash/")
    ids = [request_id(s3.put_object(Bucket=source, Key=f"k{i}", Body=b"v")) for i in range(20)]
    srv.proc.send_signal(signal.SIGKILL)
    srv.proc.wait(timeout=15)
    stop_server(srv)
    srv = start_server(tmp_root, "http", INTERVAL, data_dir=srv.data_dir, port=srv.port)
    try:
        wait_for_records(srv.client(), target, "crash/", ids)
    finally:
        stop_server(srv)
