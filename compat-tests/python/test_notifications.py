"""Event notifications: Put/GetBucketNotificationConfiguration through boto3 and the aws CLI
with S3's checks, and delivery of every event of a mixed workload to a webhook on loopback
and to a real RabbitMQ (started here, on loopback, in a temporary directory) while Coffer is
killed with kill -9 in the middle of slow webhook deliveries and restarted on its data, the
webhook is down for a while and the AMQP target points at a dead port for a while: every
(key, version, event) arrives at least once (duplicates, by eventId, are counted), in commit
order per key, and only what the filters take."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.parse
import uuid
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import urllib3
from botocore.exceptions import ClientError

from harness import (
    aws_runner,
    coffer_admin,
    empty_and_delete_bucket,
    free_port,
    random_bucket_name,
    start_server,
    stop_server,
    wait_until,
)

RABBITMQ_SERVER = "/usr/lib/rabbitmq/bin/rabbitmq-server"
TOKEN = "webhook-token-" + uuid.uuid4().hex[:8]


# ------------------------------------------------------------------------ the receivers


class Webhook:
    """An HTTP receiver on loopback that keeps every record POSTed to it (checking the bearer
    token), and can be stopped and started again on the same port."""

    def __init__(self, token: str | None = None):
        self.port = free_port()
        self.token = token
        self.records: list[dict] = []
        self.unauthorized = 0
        # While set, each POST's records are kept but the POST is not answered until it is
        # cleared: deliveries held in flight, for a kill -9 to catch. `held` counts them.
        self.holding = threading.Event()
        self.held = 0
        self.lock = threading.Lock()
        self.server = None
        self.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/events"

    def start(self):
        hook = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as a real receiver would

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                if hook.token and self.headers.get("authorization") != f"Bearer {hook.token}":
                    with hook.lock:
                        hook.unauthorized += 1
                    self.send_response(401)
                else:
                    with hook.lock:
                        hook.records += json.loads(body)["Records"]
                        holding = hook.holding.is_set()
                        hook.held += holding
                    while holding and hook.holding.is_set():
                        time.sleep(0.01)
                    self.send_response(200)
                self.send_header("content-length", "0")
                try:
                    self.end_headers()
                except OSError:
                    pass  # the sender was killed meanwhile

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def received(self) -> list[dict]:
        with self.lock:
            return list(self.records)


class RabbitMQ:
    """A RabbitMQ broker of its own: a unique node name, loopback ports and a temporary
    directory for its database, logs and Erlang cookie."""

    def __init__(self):
        self.dir = Path(tempfile.mkdtemp(prefix="coffer-rabbitmq-"))
        self.port, self.dist_port, self.epmd_port = free_port(), free_port(), free_port()
        (self.dir / "enabled_plugins").write_text("[].\n")
        self.env = {
            **os.environ,
            "HOME": str(self.dir),
            "RABBITMQ_NODENAME": f"coffer-test-{uuid.uuid4().hex[:8]}@localhost",
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
            "ERL_EPMD_PORT": str(self.epmd_port),
            "RABBITMQ_MNESIA_BASE": str(self.dir / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.dir / "log"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.dir / "enabled_plugins"),
            "RABBITMQ_CONFIG_FILE": str(self.dir / "rabbitmq"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(self.dir / "advanced.config"),
        }
        self.log = open(self.dir / "server.out", "wb")
        self.proc = subprocess.Popen([RABBITMQ_SERVER], env=self.env, stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/%2f"

    def connect(self):
        import pika

        return pika.BlockingConnection(pika.URLParameters(self.url))

    def wait_ready(self, timeout: float = 90):
        def ready():
            if self.proc.poll() is not None:
                raise AssertionError("rabbitmq-server exited:\n" + (self.dir / "server.out").read_text()[-3000:])
            try:
                self.connect().close()
                return True
            except Exception:  # noqa: BLE001 - not up yet
                return False

        wait_until(ready, timeout=timeout, what="RabbitMQ to accept connections")

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, 15)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, 9)
                self.proc.wait(timeout=10)
        # The broker started an epmd of its own on its own port: end it too.
        subprocess.run(["epmd", "-port", str(self.epmd_port), "-kill"], env=self.env, capture_output=True, timeout=10, check=False)
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="module")
def rabbitmq():
    if not os.path.exists(RABBITMQ_SERVER):
        pytest.skip("rabbitmq-server is not installed (apt-get install rabbitmq-server; scripts/test.sh does)")
    pytest.importorskip("pika", reason="pika is not installed (pip install -r compat-tests/python/requirements.txt)")
    broker = RabbitMQ()
    try:
        broker.wait_ready()
        yield broker
    finally:
        broker.stop()


class Consumer:
    """Collects every message of an exchange through a queue of its own, in a thread."""

    def __init__(self, broker: RabbitMQ, exchange: str):
        self.records: list[dict] = []
        self.lock = threading.Lock()
        self.connection = broker.connect()
        channel = self.connection.channel()
        channel.exchange_declare(exchange, exchange_type="topic", durable=True)
        queue = channel.queue_declare("", exclusive=True).method.queue
        channel.queue_bind(queue, exchange, routing_key="#")
        self.properties: list = []

        def on_message(ch, method, properties, body):
            with self.lock:
                self.records += json.loads(body)["Records"]
                self.properties.append(properties)
            ch.basic_ack(method.delivery_tag)

        channel.basic_consume(queue, on_message)
        self.channel = channel
        self.thread = threading.Thread(target=channel.start_consuming, daemon=True)
        self.thread.start()

    def received(self) -> list[dict]:
        with self.lock:
            return list(self.records)

    def close(self):
        self.connection.add_callback_threadsafe(self.channel.stop_consuming)
        self.thread.join(timeout=10)
        self.connection.close()


# ---------------------------------------------------------------------------- helpers


def code(excinfo) -> str:
    return excinfo.value.response["Error"]["Code"]


def add_webhook(server, name: str, url: str, *extra: str) -> str:
    out = coffer_admin(server, "notify", "add", name, "--webhook", url, *extra).stdout
    return out.strip().rsplit(" ", 1)[-1]


def triple(record: dict) -> tuple[str, str | None, str]:
    o = record["s3"]["object"]
    return urllib.parse.unquote_plus(o["key"]), o.get("versionId"), record["eventName"]


def check_delivery(received: list[dict], expected: list[tuple[str, str | None, str]], name: str) -> int:
    """Every expected (key, version, event) arrived, nothing else did, and each key's events
    came in commit order. Returns how many duplicates arrived."""
    got = Counter(triple(r) for r in received)
    missing = [e for e in expected if e not in got]
    assert not missing, f"{name}: missing {missing}"
    unexpected = [t for t in got if t not in set(expected)]
    assert not unexpected, f"{name}: events the filters should have kept out: {unexpected}"
    ids = Counter(r["eventId"] for r in received)
    duplicates = sum(n - 1 for n in ids.values())
    assert sum(got.values()) - len(expected) == duplicates, f"{name}: a redelivery is the same event (same eventId)"
    # First receipts in order: per key, sequencers grow and follow the order of the workload.
    seen, per_key = set(), {}
    for r in received:
        if r["eventId"] in seen:
            continue
        seen.add(r["eventId"])
        per_key.setdefault(triple(r)[0], []).append((r["s3"]["object"]["sequencer"], triple(r)))
    for key, events in per_key.items():
        sequencers = [s for s, _ in events]
        assert sequencers == sorted(sequencers) and len(set(sequencers)) == len(sequencers), f"{name}: {key} out of order: {events}"
        assert [t for _, t in events] == [e for e in expected if e[0] == key], f"{name}: {key} not in commit order"
    return duplicates


# ------------------------------------------------------------------------------ tests


@pytest.fixture
def bucket(http_server):
    s3 = http_server.client()
    name = random_bucket_name("notify")
    s3.create_bucket(Bucket=name)
    yield s3, name
    empty_and_delete_bucket(s3, name)


def test_configuration_with_boto3_and_the_aws_cli(http_server, bucket):
    s3, name = bucket
    hook = add_webhook(http_server, "cfg-" + uuid.uuid4().hex[:6], "http://127.0.0.1:9/")
    assert s3.get_bucket_notification_configuration(Bucket=name).get("QueueConfigurations") is None, "none yet: empty, not 404"

    aws = aws_runner(http_server)
    config = {
        "QueueConfigurations": [{
            "Id": "new-images", "QueueArn": hook, "Events": ["s3:ObjectCreated:*", "s3:ObjectRemoved:Delete"],
            "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "img/"}, {"Name": "suffix", "Value": ".jpg"}]}},
        }],
        "TopicConfigurations": [{"TopicArn": hook, "Events": ["s3:ObjectTagging:*"]}],
    }
    aws("s3api", "put-bucket-notification-configuration", "--bucket", name, "--notification-configuration", json.dumps(config))
    got = json.loads(aws("s3api", "get-bucket-notification-configuration", "--bucket", name).stdout)
    assert got["QueueConfigurations"] == config["QueueConfigurations"]
    topic = got["TopicConfigurations"][0]
    assert (topic["TopicArn"], topic["Events"]) == (hook, ["s3:ObjectTagging:*"]) and topic["Id"], "an Id is given"

    def put(cfg):
        s3.put_bucket_notification_configuration(Bucket=name, NotificationConfiguration=cfg)

    queue = lambda **kw: {"QueueArn": hook, "Events": ["s3:ObjectCreated:*"], **kw}
    rules = lambda *r: {"Key": {"FilterRules": [{"Name": n, "Value": v} for n, v in r]}}
    refused = [
        ({"QueueConfigurations": [queue(Events=["s3:ObjectCreated:Patch"])]}, "The event is not supported"),
        ({"QueueConfigurations": [queue(QueueArn="arn:coffer:sqs::nobody:webhook")]}, "Unable to validate the following destination configurations"),
        ({"QueueConfigurations": [queue(QueueArn=hook.replace(":webhook", ":amqp"))]}, "Unable to validate"),
        ({"QueueConfigurations": [queue(Filter=rules(("prefix", "a"), ("prefix", "b")))]}, "more than one prefix"),
        ({"QueueConfigurations": [queue(Filter=rules(("prefix", "logs/"))), queue(Events=["s3:ObjectCreated:Put"], Filter=rules(("prefix", "logs/2024/")))]},
         "Configurations overlap"),
    ]
    for cfg, message in refused:
        with pytest.raises(ClientError) as e:
            put(cfg)
        assert code(e) == "InvalidArgument" and message in e.value.response["Error"]["Message"], cfg
    put({"QueueConfigurations": [queue(Filter=rules(("prefix", "a/"))), queue(Filter=rules(("prefix", "b/")))]})
    assert len(s3.get_bucket_notification_configuration(Bucket=name)["QueueConfigurations"]) == 2
    put({})
    assert "QueueConfigurations" not in s3.get_bucket_notification_configuration(Bucket=name), "an empty PUT clears it"

    # A target a configuration names cannot be removed from under it.
    put({"QueueConfigurations": [queue()]})
    target = hook.split(":")[-2]
    assert "still names target" in coffer_admin(http_server, "notify", "remove", target, check=False).stderr
    put({})
    coffer_admin(http_server, "notify", "remove", target)


def test_a_full_backlog_drops_and_counts(http_server, bucket):
    s3, name = bucket
    target = "small-" + uuid.uuid4().hex[:6]
    dead = f"http://127.0.0.1:{free_port()}/"
    arn = add_webhook(http_server, target, dead, "--max-backlog", "5")
    s3.put_bucket_notification_configuration(Bucket=name, NotificationConfiguration={
        "QueueConfigurations": [{"QueueArn": arn, "Events": ["s3:ObjectCreated:Put"]}]})
    offset = http_server.log_size()
    for i in range(8):
        s3.put_object(Bucket=name, Key=f"k{i}", Body=b"x")
    listed = coffer_admin(http_server, "notify", "list").stdout
    line = listed[listed.index(target):].splitlines()[1]
    assert "queued 5 of at most 5" in line and "dropped 3" in line, listed
    assert f"notification backlog of target {target} is full" in http_server.log_since(offset)
    s3.put_bucket_notification_configuration(Bucket=name, NotificationConfiguration={})
    coffer_admin(http_server, "notify", "remove", target)


def test_every_event_arrives_through_down_receivers_and_kill_9(tmp_root, rabbitmq):
    started = time.monotonic()
    hook = Webhook(token=TOKEN)
    exchange = "coffer-events-" + uuid.uuid4().hex[:6]
    consumer = Consumer(rabbitmq, exchange)
    srv = start_server(tmp_root, "http")
    restarted = None
    try:
        web_arn = add_webhook(srv, "hook", hook.url, "--auth-token", TOKEN)
        mq_arn = coffer_admin(srv, "notify", "add", "mq", "--amqp", rabbitmq.url, "--exchange", exchange).stdout.strip().rsplit(" ", 1)[-1]
        assert (web_arn, mq_arn) == ("arn:coffer:sqs::hook:webhook", "arn:coffer:sqs::mq:amqp")
        s3 = srv.client()
        b = random_bucket_name("notify")
        s3.create_bucket(Bucket=b)
        s3.put_bucket_versioning(Bucket=b, VersioningConfiguration={"Status": "Enabled"})
        prefix = lambda p, s="": {"Key": {"FilterRules": [{"Name": "prefix", "Value": p}] + ([{"Name": "suffix", "Value": s}] if s else [])}}
        s3.put_bucket_notification_configuration(Bucket=b, NotificationConfiguration={
            "QueueConfigurations": [
                {"Id": "data", "QueueArn": web_arn, "Events": ["s3:ObjectCreated:*", "s3:ObjectRemoved:*", "s3:ObjectTagging:*"], "Filter": prefix("data/")},
                {"Id": "jpegs", "QueueArn": mq_arn, "Events": ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"], "Filter": prefix("img/", ".jpg")},
            ],
            "TopicConfigurations": [{"Id": "img-tags", "TopicArn": web_arn, "Events": ["s3:ObjectTagging:*"], "Filter": prefix("img/")}],
        })
        web, mq = [], []  # expected (key, version, event), in commit order

        def expect(key, version, event):
            if key.startswith("data/") or (key.startswith("img/") and event.startswith("ObjectTagging")):
                web.append((key, version, event))
            elif key.startswith("img/") and key.endswith(".jpg"):
                mq.append((key, version, event))

        def workload(s3, round_: int):
            def put(key, body=b"x"):
                vid = s3.put_object(Bucket=b, Key=key, Body=body)["VersionId"]
                expect(key, vid, "ObjectCreated:Put")
                return vid

            r = f"r{round_}"
            a = put(f"data/{r}/a")
            put(f"data/{r}/a", b"second version")
            c = put(f"data/{r}/c")
            put(f"data/{r}/with space+plus.txt")
            up = s3.create_multipart_upload(Bucket=b, Key=f"data/{r}/mp")["UploadId"]
            etag = s3.upload_part(Bucket=b, Key=f"data/{r}/mp", UploadId=up, PartNumber=1, Body=b"part")["ETag"]
            done = s3.complete_multipart_upload(Bucket=b, Key=f"data/{r}/mp", UploadId=up, MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]})
            expect(f"data/{r}/mp", done["VersionId"], "ObjectCreated:CompleteMultipartUpload")
            copied = s3.copy_object(Bucket=b, Key=f"data/{r}/copy", CopySource={"Bucket": b, "Key": f"data/{r}/a", "VersionId": a})
            expect(f"data/{r}/copy", copied["VersionId"], "ObjectCreated:Copy")
            post = s3.generate_presigned_post(b, f"data/{r}/posted")
            resp = urllib3.PoolManager(retries=False).request("POST", post["url"], fields={**post["fields"], "file": ("f", b"posted")})
            assert resp.status in (200, 204), resp.data
            expect(f"data/{r}/posted", s3.head_object(Bucket=b, Key=f"data/{r}/posted")["VersionId"], "ObjectCreated:Post")
            tagged = s3.put_object_tagging(Bucket=b, Key=f"data/{r}/a", Tagging={"TagSet": [{"Key": "k", "Value": "v"}]})["VersionId"]
            expect(f"data/{r}/a", tagged, "ObjectTagging:Put")
            untagged = s3.delete_object_tagging(Bucket=b, Key=f"data/{r}/a", VersionId=a)["VersionId"]
            expect(f"data/{r}/a", untagged, "ObjectTagging:Delete")
            marker = s3.delete_object(Bucket=b, Key=f"data/{r}/a")
            assert marker["DeleteMarker"]
            expect(f"data/{r}/a", marker["VersionId"], "ObjectRemoved:DeleteMarkerCreated")
            s3.delete_object(Bucket=b, Key=f"data/{r}/c", VersionId=c)
            expect(f"data/{r}/c", c, "ObjectRemoved:Delete")
            many = s3.delete_objects(Bucket=b, Delete={"Objects": [{"Key": f"data/{r}/mp"}, {"Key": f"data/{r}/copy"}]})["Deleted"]
            for d in many:
                expect(d["Key"], d["DeleteMarkerVersionId"], "ObjectRemoved:DeleteMarkerCreated")
            # The AMQP configuration's keys, and keys no configuration takes.
            one = put(f"img/{r}/1.jpg")
            put(f"img/{r}/2.jpg")
            copied = s3.copy_object(Bucket=b, Key=f"img/{r}/3.jpg", CopySource={"Bucket": b, "Key": f"img/{r}/1.jpg"})
            expect(f"img/{r}/3.jpg", copied["VersionId"], "ObjectCreated:Copy")
            gone = s3.delete_object(Bucket=b, Key=f"img/{r}/2.jpg")
            expect(f"img/{r}/2.jpg", gone["VersionId"], "ObjectRemoved:DeleteMarkerCreated")
            vid = s3.put_object_tagging(Bucket=b, Key=f"img/{r}/1.jpg", Tagging={"TagSet": [{"Key": "k", "Value": "v"}]})["VersionId"]
            expect(f"img/{r}/1.jpg", vid, "ObjectTagging:Put")
            assert vid == one
            put(f"img/{r}/x.png")
            put(f"other/{r}/z")
            s3.delete_object(Bucket=b, Key=f"other/{r}/z")

        # Round 0 with both receivers up.
        first_request = s3.put_object(Bucket=b, Key="data/first", Body=b"1")
        expect("data/first", first_request["VersionId"], "ObjectCreated:Put")
        workload(s3, 0)
        wait_until(lambda: len(hook.received()) >= 1, timeout=20, what="the first webhook delivery")
        # Round 1: a webhook that does not answer, the AMQP target moved to a dead port, and
        # kill -9 while a webhook delivery is in flight (it will come again).
        hook.holding.set()
        dead = f"amqp://guest:guest@127.0.0.1:{free_port()}/%2f"
        coffer_admin(srv, "notify", "add", "mq", "--amqp", dead, "--exchange", exchange)
        time.sleep(0.5)
        workload(s3, 1)
        wait_until(lambda: hook.held >= 1, timeout=20, what="a webhook delivery held in flight")
        srv.proc.kill()
        srv.proc.wait(timeout=15)
        stop_server(srv)
        # Round 2 after the restart with the webhook down too; then both come back.
        hook.holding.clear()
        hook.stop()
        restarted = start_server(tmp_root, "http", data_dir=srv.data_dir)
        s3 = restarted.client()
        workload(s3, 2)
        listed = coffer_admin(restarted, "notify", "list").stdout
        assert "last error" in listed, listed
        time.sleep(1.5)
        hook.start()
        coffer_admin(restarted, "notify", "add", "mq", "--amqp", rabbitmq.url, "--exchange", exchange)

        wait_until(lambda: {triple(r) for r in hook.received()} >= set(web), timeout=60, what="every webhook event")
        wait_until(lambda: {triple(r) for r in consumer.received()} >= set(mq), timeout=60, what="every AMQP event")
        wait_until(lambda: "queued 0 " in coffer_admin(restarted, "notify", "list").stdout.split("mq\t")[1], timeout=20, what="an empty AMQP queue")
        web_dups = check_delivery(hook.received(), web, "webhook")
        mq_dups = check_delivery(consumer.received(), mq, "amqp")
        assert hook.unauthorized == 0
        assert web_dups >= 1, "the delivery in flight at the kill came again"

        record = next(r for r in hook.received() if triple(r)[0] == "data/first")
        assert record["eventVersion"] == "2.1" and record["eventSource"] == "aws:s3" and record["awsRegion"] == "us-east-1"
        assert record["responseElements"]["x-amz-request-id"] == first_request["ResponseMetadata"]["RequestId"]
        assert record["requestParameters"]["sourceIPAddress"] == "127.0.0.1" and record["userIdentity"]["principalId"]
        assert record["s3"]["bucket"] == {"name": b, "ownerIdentity": record["s3"]["bucket"]["ownerIdentity"], "arn": f"arn:aws:s3:::{b}"}
        assert record["s3"]["configurationId"] == "data" and record["s3"]["object"]["size"] == 1
        assert record["s3"]["object"]["eTag"] == first_request["ETag"].strip('"')
        assert any(r["s3"]["object"]["key"] == "data/r0/with+space%2Bplus.txt" for r in hook.received()), "keys are URL-encoded as S3 does"
        assert all(p.delivery_mode == 2 and p.message_id for p in consumer.properties), "persistent messages with the event id"
        listed = coffer_admin(restarted, "notify", "list").stdout
        print(f"\nwebhook: {len(web)} events, {web_dups} duplicates; amqp: {len(mq)} events, {mq_dups} duplicates; "
              f"{time.monotonic() - started:.1f} s\n{listed}")
        assert "dropped 0" in listed
    finally:
        consumer.close()
        hook.stop()
        stop_server(restarted or srv)
