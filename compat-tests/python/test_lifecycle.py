"""Bucket lifecycle through boto3 and the aws CLI: the configuration as put and its errors,
x-amz-expiration headers, and the background worker carrying rules out on a server whose
lifecycle "day" lasts LC_DAY seconds (`--lifecycle-day-secs`), including after a kill -9."""

from __future__ import annotations

import datetime
import email.utils
import json
import re
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from botocore.exceptions import ClientError

from harness import aws_runner, empty_and_delete_bucket, random_bucket_name, start_server, stop_server, wait_until

LC_DAY = 2


@pytest.fixture(scope="module")
def lc_server(tmp_root):
    srv = start_server(tmp_root, "http", ("--lifecycle-day-secs", str(LC_DAY)))
    yield srv
    stop_server(srv)


@pytest.fixture
def lc(lc_server):
    return lc_server.client()


@pytest.fixture
def lc_bucket(lc):
    name = random_bucket_name("lc")
    lc.create_bucket(Bucket=name)
    yield name
    empty_and_delete_bucket(lc, name)


def versioned(client, bucket):
    client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})


def put_rules(client, bucket, *rules):
    client.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": list(rules)})


def keys(client, bucket):
    return sorted(o["Key"] for o in client.list_objects_v2(Bucket=bucket).get("Contents", []))


def versions(client, bucket):
    r = client.list_object_versions(Bucket=bucket)
    return r.get("Versions", []), r.get("DeleteMarkers", [])


def error_code(excinfo):
    return excinfo.value.response["Error"]["Code"]


# ------------------------------------------------------------------------- configuration


def test_rules_come_back_exactly_as_put(lc, lc_bucket):
    with pytest.raises(ClientError) as e:
        lc.get_bucket_lifecycle_configuration(Bucket=lc_bucket)
    assert error_code(e) == "NoSuchLifecycleConfiguration"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    rules = [
        {"ID": "legacy", "Prefix": "logs/", "Status": "Enabled", "Expiration": {"Days": 90}},
        {"ID": "tagged", "Filter": {"And": {"Prefix": "a/", "Tags": [{"Key": "k", "Value": "v"}], "ObjectSizeGreaterThan": 10}},
         "Status": "Disabled", "NoncurrentVersionExpiration": {"NoncurrentDays": 30, "NewerNoncurrentVersions": 2}},
        {"ID": "tiers", "Filter": {"Prefix": "cold/"}, "Status": "Enabled",
         "Transitions": [{"Days": 30, "StorageClass": "STANDARD_IA"}, {"Days": 60, "StorageClass": "GLACIER"}],
         "NoncurrentVersionTransitions": [{"NoncurrentDays": 10, "StorageClass": "GLACIER"}]},
        {"ID": "uploads", "Filter": {}, "Status": "Enabled", "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7}},
        {"ID": "markers", "Filter": {"Prefix": ""}, "Status": "Enabled", "Expiration": {"ExpiredObjectDeleteMarker": True}},
    ]
    put_rules(lc, lc_bucket, *rules)
    assert lc.get_bucket_lifecycle_configuration(Bucket=lc_bucket)["Rules"] == rules
    # A rule without an ID gets one; a Date comes back as the date.
    put_rules(lc, lc_bucket, {"Prefix": "x/", "Status": "Enabled", "Expiration": {"Date": "2030-01-01"}})
    got = lc.get_bucket_lifecycle_configuration(Bucket=lc_bucket)["Rules"][0]
    assert got["ID"] and got["Expiration"]["Date"] == datetime.datetime(2030, 1, 1, tzinfo=datetime.timezone.utc)
    assert lc.delete_bucket_lifecycle(Bucket=lc_bucket)["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(ClientError) as e:
        lc.get_bucket_lifecycle_configuration(Bucket=lc_bucket)
    assert error_code(e) == "NoSuchLifecycleConfiguration"


@pytest.mark.parametrize("rule, code", [
    ({"ID": "r", "Prefix": "", "Status": "enabled", "Expiration": {"Days": 1}}, "MalformedXML"),
    ({"ID": "r", "Prefix": "", "Status": "Enabled", "Expiration": {"Days": 0}}, "InvalidArgument"),
    ({"ID": "r" * 256, "Prefix": "", "Status": "Enabled", "Expiration": {"Days": 1}}, "InvalidArgument"),
    ({"ID": "r", "Prefix": "", "Status": "Enabled", "Expiration": {"Date": "2030-01-01T12:00:00Z"}}, "InvalidArgument"),
    ({"ID": "r", "Filter": {"Tag": {"Key": "k", "Value": "v"}}, "Status": "Enabled",
      "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1}}, "InvalidRequest"),
    ({"ID": "r", "Prefix": "", "Status": "Enabled"}, "InvalidRequest"),
])
def test_invalid_rules_get_s3_errors(lc, lc_bucket, rule, code):
    with pytest.raises(ClientError) as e:
        put_rules(lc, lc_bucket, rule)
    assert error_code(e) == code
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_duplicate_ids_are_refused(lc, lc_bucket):
    rule = {"ID": "same", "Prefix": "a/", "Status": "Enabled", "Expiration": {"Days": 1}}
    with pytest.raises(ClientError) as e:
        put_rules(lc, lc_bucket, rule, dict(rule, Prefix="b/"))
    assert error_code(e) == "InvalidArgument"


def test_awscli_puts_and_gets_rules(lc_server, lc_bucket, tmp_path):
    aws = aws_runner(lc_server)
    config = {"Rules": [
        {"ID": "noncurrent-30", "Filter": {"Prefix": ""}, "Status": "Enabled",
         "NoncurrentVersionExpiration": {"NoncurrentDays": 30}},
        {"ID": "uploads-7", "Filter": {"Prefix": ""}, "Status": "Enabled",
         "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7}},
        {"ID": "logs-90", "Filter": {"Prefix": "logs/"}, "Status": "Enabled", "Expiration": {"Days": 90}},
    ]}
    path = tmp_path / "lifecycle.json"
    path.write_text(json.dumps(config))
    aws("s3api", "put-bucket-lifecycle-configuration", "--bucket", lc_bucket, "--lifecycle-configuration", f"file://{path}")
    got = json.loads(aws("s3api", "get-bucket-lifecycle-configuration", "--bucket", lc_bucket).stdout)
    assert got["Rules"] == config["Rules"]
    aws("s3api", "delete-bucket-lifecycle", "--bucket", lc_bucket)
    missing = aws("s3api", "get-bucket-lifecycle-configuration", "--bucket", lc_bucket, check=False)
    assert missing.returncode != 0 and "NoSuchLifecycleConfiguration" in missing.stderr


# ------------------------------------------------------------------------------ headers


def expiry(resp):
    value = resp["ResponseMetadata"]["HTTPHeaders"].get("x-amz-expiration")
    if value is None:
        return None
    m = re.fullmatch(r'expiry-date="(.+)", rule-id="(.+)"', value)
    assert m, value
    return email.utils.parsedate_to_datetime(m.group(1)), m.group(2)


def test_expiration_header_on_put_get_head_copy_and_complete(lc, lc_bucket):
    put_rules(lc, lc_bucket,
              {"ID": "month", "Filter": {"Prefix": "days/"}, "Status": "Enabled", "Expiration": {"Days": 30}},
              {"ID": "one", "Filter": {"And": {"Prefix": "days/", "Tags": [{"Key": "short", "Value": "yes"}]}},
               "Status": "Enabled", "Expiration": {"Days": 1}})
    now = datetime.datetime.now(datetime.timezone.utc)

    def check(resp, rule, days):
        at, rule_id = expiry(resp)
        assert rule_id == rule
        assert (at.hour, at.minute, at.second) == (0, 0, 0)
        # Real days even though the server's lifecycle day is LC_DAY seconds.
        assert datetime.timedelta(days=days) <= at - now <= datetime.timedelta(days=days + 1, minutes=5)

    check(lc.put_object(Bucket=lc_bucket, Key="days/a", Body=b"x"), "month", 30)
    check(lc.head_object(Bucket=lc_bucket, Key="days/a"), "month", 30)
    check(lc.get_object(Bucket=lc_bucket, Key="days/a"), "month", 30)
    check(lc.put_object(Bucket=lc_bucket, Key="days/t", Body=b"x", Tagging="short=yes"), "one", 1)
    check(lc.copy_object(Bucket=lc_bucket, Key="days/copy", CopySource={"Bucket": lc_bucket, "Key": "days/a"}), "month", 30)
    up = lc.create_multipart_upload(Bucket=lc_bucket, Key="days/mp")
    part = lc.upload_part(Bucket=lc_bucket, Key="days/mp", UploadId=up["UploadId"], PartNumber=1, Body=b"y" * 100)
    done = lc.complete_multipart_upload(Bucket=lc_bucket, Key="days/mp", UploadId=up["UploadId"],
                                        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]})
    check(done, "month", 30)
    assert expiry(lc.put_object(Bucket=lc_bucket, Key="other/a", Body=b"x")) is None
    assert expiry(lc.head_object(Bucket=lc_bucket, Key="other/a")) is None


# ------------------------------------------------------------------------------- worker


def test_expiration_deletes_in_unversioned_buckets(lc, lc_bucket):
    for k in ["expire/a", "expire/b", "keep/a"]:
        lc.put_object(Bucket=lc_bucket, Key=k, Body=b"x")
    put_rules(lc, lc_bucket, {"ID": "r", "Prefix": "expire/", "Status": "Enabled", "Expiration": {"Days": 1}})
    wait_until(lambda: keys(lc, lc_bucket) == ["keep/a"], what="expire/ to go")
    assert versions(lc, lc_bucket)[1] == []


def test_expiration_adds_delete_markers_in_versioned_buckets(lc, lc_bucket):
    versioned(lc, lc_bucket)
    v = lc.put_object(Bucket=lc_bucket, Key="a", Body=b"x")["VersionId"]
    put_rules(lc, lc_bucket, {"ID": "r", "Filter": {}, "Status": "Enabled", "Expiration": {"Days": 1}})
    wait_until(lambda: keys(lc, lc_bucket) == [], what="a delete marker")
    time.sleep(2 * LC_DAY)
    vs, markers = versions(lc, lc_bucket)
    assert [x["VersionId"] for x in vs] == [v]
    assert len(markers) == 1 and markers[0]["IsLatest"]


def test_noncurrent_expiration_keeps_newer_noncurrent_versions(lc, lc_bucket):
    versioned(lc, lc_bucket)
    ids = [lc.put_object(Bucket=lc_bucket, Key="k", Body=str(i).encode())["VersionId"] for i in range(6)]
    lc.put_object(Bucket=lc_bucket, Key="other", Body=b"x")
    put_rules(lc, lc_bucket, {"ID": "r", "Filter": {"Prefix": "k"}, "Status": "Enabled",
                              "NoncurrentVersionExpiration": {"NoncurrentDays": 1, "NewerNoncurrentVersions": 2}})
    # The current version and the two newest noncurrent ones stay.
    wait_until(lambda: len([x for x in versions(lc, lc_bucket)[0] if x["Key"] == "k"]) == 3, what="noncurrent expiry")
    time.sleep(2 * LC_DAY)
    left = [x["VersionId"] for x in versions(lc, lc_bucket)[0] if x["Key"] == "k"]
    assert left == ids[::-1][:3]


def test_expired_delete_markers_are_removed(lc, lc_bucket):
    versioned(lc, lc_bucket)
    lc.put_object(Bucket=lc_bucket, Key="gone", Body=b"x")
    lc.delete_object(Bucket=lc_bucket, Key="gone")
    lc.put_object(Bucket=lc_bucket, Key="kept", Body=b"x")
    lc.delete_object(Bucket=lc_bucket, Key="kept")
    lc.put_object(Bucket=lc_bucket, Key="kept", Body=b"y")
    put_rules(lc, lc_bucket, {"ID": "r", "Filter": {"Prefix": ""}, "Status": "Enabled",
                              "NoncurrentVersionExpiration": {"NoncurrentDays": 1},
                              "Expiration": {"ExpiredObjectDeleteMarker": True}})

    def state():
        vs, markers = versions(lc, lc_bucket)
        return sorted((x["Key"], x["IsLatest"]) for x in vs), len(markers)
    # gone: its version expires, then its lone marker goes; kept: only the current version stays.
    wait_until(lambda: state() == ([("kept", True)], 0), what="markers and noncurrent versions to go")


def test_incomplete_uploads_are_aborted(lc, lc_bucket):
    old = lc.create_multipart_upload(Bucket=lc_bucket, Key="up/a")["UploadId"]
    lc.upload_part(Bucket=lc_bucket, Key="up/a", UploadId=old, PartNumber=1, Body=b"z" * 1000)
    lc.create_multipart_upload(Bucket=lc_bucket, Key="elsewhere/b")
    put_rules(lc, lc_bucket, {"ID": "r", "Prefix": "up/", "Status": "Enabled",
                              "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1}})

    def uploads():
        return sorted(u["Key"] for u in lc.list_multipart_uploads(Bucket=lc_bucket).get("Uploads", []))
    wait_until(lambda: uploads() == ["elsewhere/b"], what="the upload to be aborted")
    with pytest.raises(ClientError) as e:
        lc.list_parts(Bucket=lc_bucket, Key="up/a", UploadId=old)
    assert error_code(e) == "NoSuchUpload"
    for u in lc.list_multipart_uploads(Bucket=lc_bucket).get("Uploads", []):
        lc.abort_multipart_upload(Bucket=lc_bucket, Key=u["Key"], UploadId=u["UploadId"])


def test_tag_and_size_filters(lc, lc_bucket):
    lc.put_object(Bucket=lc_bucket, Key="tagged", Body=b"x", Tagging="temp=yes")
    lc.put_object(Bucket=lc_bucket, Key="untagged", Body=b"x")
    lc.put_object(Bucket=lc_bucket, Key="big", Body=b"x" * 3000)
    lc.put_object(Bucket=lc_bucket, Key="small", Body=b"x" * 10)
    put_rules(lc, lc_bucket,
              {"ID": "tag", "Filter": {"Tag": {"Key": "temp", "Value": "yes"}}, "Status": "Enabled", "Expiration": {"Days": 1}},
              {"ID": "size", "Filter": {"ObjectSizeGreaterThan": 2000}, "Status": "Enabled", "Expiration": {"Days": 1}})
    wait_until(lambda: keys(lc, lc_bucket) == ["small", "untagged"], what="tagged and big objects to expire")


def test_kill_9_mid_pass_then_restart_finishes(tmp_root):
    srv = start_server(tmp_root, "http", ("--lifecycle-day-secs", "1"))
    client = srv.client()
    bucket = random_bucket_name("lc")
    client.create_bucket(Bucket=bucket)
    count = 1500
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: client.put_object(Bucket=bucket, Key=f"old/{i:05}", Body=b"x"), range(count)))
    client.put_object(Bucket=bucket, Key="young/a", Body=b"x")

    def left():
        n, token = 0, None
        while True:
            kw = {"ContinuationToken": token} if token else {}
            r = client.list_objects_v2(Bucket=bucket, Prefix="old/", **kw)
            n += r.get("KeyCount", 0)
            if not r.get("IsTruncated"):
                return n
            token = r["NextContinuationToken"]

    put_rules(client, bucket, {"ID": "r", "Prefix": "old/", "Status": "Enabled", "Expiration": {"Days": 1}})
    wait_until(lambda: left() < count, timeout=30, what="the pass to start")
    srv.proc.kill()
    srv.proc.wait(timeout=15)
    restarted = start_server(tmp_root, "http", ("--lifecycle-day-secs", "1"), data_dir=srv.data_dir)
    try:
        client = restarted.client()
        wait_until(lambda: left() == 0, timeout=60, what="the restarted worker to finish")
        assert keys(client, bucket) == ["young/a"]
        empty_and_delete_bucket(client, bucket)
    finally:
        stop_server(restarted)
        if srv._log_file is not None:
            srv._log_file.close()
