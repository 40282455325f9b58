"""Start and stop `coffer serve` for the compatibility suite, plus small helpers.

Used by conftest.py (fixtures) and the test modules (CLI runners, bucket names, users,
policy documents, anonymous and website requests).

Environment:
  COFFER_BIN        path of the coffer binary (default: <repo>/target/release/coffer,
                    or $CARGO_TARGET_DIR/release/coffer when that is set)
  COFFER_TEST_LOG   RUST_LOG value for the servers (default: info)
  COFFER_TEST_METADATA=postgres   every data dir the tests create keeps its index in a
                    fresh database of the PostgreSQL server COFFER_TEST_POSTGRES names
                    (a libpq URL of a role that may create databases)
  COFFER_TEST_BLOBS=s3   every server keeps its blobs in an S3 service: moto, or the one
                    COFFER_TEST_BLOBS_ENDPOINT names (with _ACCESS_KEY, _SECRET_KEY, _REGION
                    and _BUCKET; scripts/garage.sh prints them for a local Garage)
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import boto3
import pytest
import urllib3
from botocore import UNSIGNED
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.exceptions import ClientError

REPO_ROOT = Path(__file__).resolve().parents[2]
ROOT_ACCESS_KEY = "COFFERTESTROOTKEY01"
VIRTUAL_HOST_DOMAIN = "coffer.test"
# The website listener serves `<bucket>.website.coffer.test` (and a bare bucket name as Host).
WEBSITE_DOMAIN = "website." + VIRTUAL_HOST_DOMAIN
ROOT_SECRET_KEY = "coffer-test-root-secret-key-0123456789ab"
REGION = "us-east-1"
STARTUP_TIMEOUT_S = 60


def coffer_binary() -> Path:
    env = os.environ.get("COFFER_BIN")
    if env:
        return Path(env).resolve()
    target = os.environ.get("CARGO_TARGET_DIR")
    if target:
        t = Path(target)
        if not t.is_absolute():
            t = REPO_ROOT / t
        return t / "release" / "coffer"
    return REPO_ROOT / "target" / "release" / "coffer"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_tls_material(directory: Path) -> tuple[Path, Path, Path]:
    """Write a throwaway CA and a server certificate for 127.0.0.1/localhost.

    Returns (ca_cert, server_cert, server_key) paths, all PEM.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    not_before = now - datetime.timedelta(hours=1)
    not_after = now + datetime.timedelta(days=2)

    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Coffer compat-test CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True,
                crl_sign=True, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName([
                x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                x509.DNSName("localhost"),
            ]),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )

    ca_path = directory / "ca.pem"
    cert_path = directory / "server.pem"
    key_path = directory / "server-key.pem"
    ca_path.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return ca_path, cert_path, key_path


@dataclass(frozen=True)
class User:
    """A user made with `coffer admin user create` (see create_user)."""

    name: str
    access_key: str
    secret_key: str


@dataclass
class CofferServer:
    """One running `coffer serve` process."""

    scheme: str
    port: int
    data_dir: Path
    log_path: Path
    proc: subprocess.Popen
    ca_bundle: Path | None = None
    website_port: int | None = None
    access_key: str = ROOT_ACCESS_KEY
    secret_key: str = ROOT_SECRET_KEY
    _log_file: object = field(default=None, repr=False)
    # For a balancer in front of several nodes (cluster.py): the nodes, stopped with it.
    members: list = field(default_factory=list)

    @property
    def endpoint(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    @property
    def host_port(self) -> str:
        return f"127.0.0.1:{self.port}"

    def website_url(self, bucket: str, path: str = "/") -> str:
        """The address a browser uses for `bucket`'s website (resolve *.coffer.test to 127.0.0.1)."""
        return f"http://{bucket}.{WEBSITE_DOMAIN}:{self.website_port}{path}"

    def client(self, user: User | None = None, **config_kwargs):
        """A boto3 S3 client for `user`, by default the root user (path-style addressing)."""
        cfg = {"s3": {"addressing_style": "path"}, "retries": {"max_attempts": 1, "mode": "standard"}}
        cfg.update(config_kwargs)
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=user.access_key if user else self.access_key,
            aws_secret_access_key=user.secret_key if user else self.secret_key,
            region_name=REGION,
            verify=str(self.ca_bundle) if self.ca_bundle else True,
            config=Config(**cfg),
        )

    def client_env(self, user: User | None = None) -> dict[str, str]:
        """Environment for CLI clients (awscli) talking to this server as `user` (default root)."""
        env = dict(os.environ)
        env.update({
            "AWS_ACCESS_KEY_ID": user.access_key if user else self.access_key,
            "AWS_SECRET_ACCESS_KEY": user.secret_key if user else self.secret_key,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_CONFIG_FILE": str(self.data_dir.parent / "aws-config-none"),
            "AWS_SHARED_CREDENTIALS_FILE": str(self.data_dir.parent / "aws-credentials-none"),
            "AWS_PAGER": "",
        })
        env.pop("AWS_PROFILE", None)
        env.pop("AWS_SESSION_TOKEN", None)
        if self.ca_bundle:
            env["AWS_CA_BUNDLE"] = str(self.ca_bundle)
        return env

    def log_size(self) -> int:
        try:
            return self.log_path.stat().st_size
        except OSError:
            return 0

    def log_since(self, offset: int, limit: int = 20000) -> str:
        try:
            with open(self.log_path, "rb") as f:
                f.seek(offset)
                data = f.read()
        except OSError:
            return ""
        text = data.decode("utf-8", "replace")
        if len(text) > limit:
            text = "... (cut) ...\n" + text[-limit:]
        return text

    def alive(self) -> bool:
        return self.proc.poll() is None


def _ssl_context(ca_bundle: Path | None):
    if ca_bundle is None:
        return None
    return ssl.create_default_context(cafile=str(ca_bundle))


@dataclass(frozen=True)
class S3Service:
    """An S3 service that is not Coffer, for blobs (`--blobs s3://...`) and remotes: where it
    is, the key the tests use there, and the bucket to share (None: a bucket per data dir)."""
    endpoint: str
    access_key: str
    secret_key: str
    region: str = "us-east-1"
    bucket: str | None = None

    def client(self):
        return boto3.client("s3", endpoint_url=self.endpoint, aws_access_key_id=self.access_key,
                            aws_secret_access_key=self.secret_key, region_name=self.region,
                            config=Config(s3={"addressing_style": "path"}))


def start_moto(log_dir: Path):
    """Starts moto's S3 server on loopback (an S3 service that is not Coffer); returns its
    process and its S3Service."""
    port = free_port()
    moto_bin = Path(os.environ.get("VIRTUAL_ENV", "")) / "bin" / "moto_server"
    binary = str(moto_bin) if moto_bin.exists() else "moto_server"
    log = open(log_dir / f"moto-{port}.log", "wb")
    proc = subprocess.Popen([binary, "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=subprocess.STDOUT)
    service = S3Service(f"http://127.0.0.1:{port}", "moto", "moto-secret")
    client = service.client()
    deadline = time.monotonic() + 30
    while True:
        try:
            client.list_buckets()
            return proc, service
        except Exception:  # noqa: BLE001 - not up yet
            if time.monotonic() > deadline or proc.poll() is not None:
                raise
            time.sleep(0.2)


# With COFFER_TEST_BLOBS=s3, every server the tests start keeps its blobs in an S3 service
# (`--blobs s3://...`), so a whole test file runs against the S3 blob store: by default in a
# bucket per server of one moto server; with COFFER_TEST_BLOBS_ENDPOINT set, under a prefix per
# server in the bucket COFFER_TEST_BLOBS_BUCKET of that endpoint (scripts/garage.sh prints these
# for a local Garage), reached with COFFER_TEST_BLOBS_ACCESS_KEY, _SECRET_KEY and _REGION.
BLOB_REMOTE = "blob-tier"
_blob_service: list = []


def external_s3_service() -> S3Service | None:
    """The S3 service COFFER_TEST_BLOBS_ENDPOINT and its companions name, if any."""
    endpoint = os.environ.get("COFFER_TEST_BLOBS_ENDPOINT")
    if not endpoint:
        return None
    env = lambda name: os.environ[f"COFFER_TEST_BLOBS_{name}"]  # noqa: E731
    return S3Service(endpoint, env("ACCESS_KEY"), env("SECRET_KEY"),
                     os.environ.get("COFFER_TEST_BLOBS_REGION", "us-east-1"), env("BUCKET"))


def blob_service(log_dir: Path) -> S3Service:
    """The S3 service of COFFER_TEST_BLOBS=s3: the external one, or moto (started once)."""
    if not _blob_service:
        service = external_s3_service()
        if service is None:
            proc, service = start_moto(log_dir)
            import atexit
            atexit.register(proc.terminate)
        _blob_service.append(service)
    return _blob_service[0]


def use_s3_blobs(data_dir: Path, service: S3Service, prefix: str = "") -> tuple[str, ...]:
    """Registers `service` as a remote of the (new) data dir and returns the `serve` arguments
    that keep the blobs there: in a new bucket, or under a new prefix of the service's shared
    bucket."""
    if service.bucket is None:
        bucket = f"blobs-{uuid.uuid4().hex[:12]}"
        service.client().create_bucket(Bucket=bucket)
    else:
        bucket, prefix = service.bucket, f"{uuid.uuid4().hex[:12]}/{prefix}"
    run_cli([str(coffer_binary()), "admin", "remote", "add", BLOB_REMOTE, "--endpoint", service.endpoint,
             "--access-key", service.access_key, "--secret-key", service.secret_key, "--region", service.region,
             "--data-dir", str(data_dir)], timeout=60)
    return ("--blobs", f"s3://{BLOB_REMOTE}/{bucket}/{prefix}")


# With COFFER_TEST_METADATA=postgres, each data dir's index is a database of its own on the
# COFFER_TEST_POSTGRES server; servers and admin commands on that data dir get its URL through
# COFFER_METADATA (the way an operator would pass it).
_metadata_of: dict[str, str] = {}


def on_postgres() -> bool:
    return os.environ.get("COFFER_TEST_METADATA") == "postgres"


def new_postgres_database() -> str:
    """A new, empty database on the COFFER_TEST_POSTGRES server: its libpq URL."""
    admin = os.environ["COFFER_TEST_POSTGRES"]
    name = f"coffer_compat_{uuid.uuid4().hex[:16]}"
    run_cli(["psql", admin, "-q", "-c", f"CREATE DATABASE {name}"], timeout=60)
    parts = [p for p in admin.split() if not p.startswith("dbname=")]
    return " ".join([*parts, f"dbname={name}"])


def metadata_of(data_dir: Path) -> str | None:
    """The metadata URL of `data_dir` (a new database the first time), or None on SQLite."""
    if not on_postgres():
        return None
    key = str(Path(data_dir).resolve())
    if key not in _metadata_of:
        _metadata_of[key] = new_postgres_database()
    return _metadata_of[key]


def with_metadata(args, env):
    """`env` (None: this process's) plus COFFER_METADATA for a command naming `--data-dir`."""
    args = list(map(str, args))
    if not on_postgres() or "--data-dir" not in args:
        return env
    url = metadata_of(Path(args[args.index("--data-dir") + 1]))
    return {**(os.environ if env is None else env), "COFFER_METADATA": url}


def start_server(tmp_root: Path, scheme: str, extra_args: tuple[str, ...] = (),
                 data_dir: Path | None = None, port: int | None = None,
                 env_extra: dict[str, str] | None = None,
                 tls: tuple[Path, Path, Path] | None = None) -> CofferServer:
    """Start `coffer serve` over `scheme` in a new data dir under tmp_root (or in `data_dir`,
    to restart a server on its data, and on `port` to keep its address); `extra_args` go to
    `serve` (e.g. "--sse-c-allow-http"), `env_extra` into its environment. An HTTPS server
    gets a fresh certificate unless `tls` gives one (CA, certificate, key)."""
    binary = coffer_binary()
    if not binary.is_file():
        pytest.exit(
            f"coffer binary not found at {binary}; build it with `cargo build --release` "
            "or set COFFER_BIN",
            returncode=3,
        )
    base = Path(tempfile.mkdtemp(prefix=f"{scheme}-", dir=tmp_root))
    if data_dir is None:
        data_dir = base / "data"
        data_dir.mkdir()
        if os.environ.get("COFFER_TEST_BLOBS") == "s3" and "--blobs" not in extra_args:
            extra_args = (*extra_args, *use_s3_blobs(data_dir, blob_service(tmp_root)))
    port = port or free_port()
    args = [str(binary), "serve", "--data-dir", str(data_dir), "--address", f"127.0.0.1:{port}"]
    ca_bundle = None
    if scheme == "https":
        ca_bundle, cert, key = tls or make_tls_material(base)
        args += ["--tls-cert", str(cert), "--tls-key", str(key)]
    args += list(extra_args)
    env = dict(with_metadata(args, None) or os.environ)
    env["COFFER_ROOT_ACCESS_KEY"] = ROOT_ACCESS_KEY
    env["COFFER_ROOT_SECRET_KEY"] = ROOT_SECRET_KEY
    # Virtual-hosted-style requests to <bucket>.coffer.test are tested with a resolver that
    # maps that domain to 127.0.0.1 (test_addressing.py); path-style works as ever.
    env["COFFER_DOMAIN"] = VIRTUAL_HOST_DOMAIN
    # The plain-HTTP server also runs the static website listener (test_website.py,
    # test_browser.py), for `<bucket>.website.coffer.test` or a bare bucket name as Host.
    website_port = free_port() if scheme == "http" else None
    if website_port:
        env["COFFER_WEBSITE_ADDRESS"] = f"127.0.0.1:{website_port}"
        env["COFFER_WEBSITE_DOMAIN"] = WEBSITE_DOMAIN
    env.update(env_extra or {})
    env.setdefault("RUST_LOG", os.environ.get("COFFER_TEST_LOG", "info"))
    env.setdefault("RUST_BACKTRACE", "1")
    log_path = base / "server.log"
    log_file = open(log_path, "wb")
    proc = subprocess.Popen(
        args, stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        env=env, cwd=base,
    )
    srv = CofferServer(scheme, port, data_dir, log_path, proc, ca_bundle, website_port=website_port, _log_file=log_file)

    ctx = _ssl_context(ca_bundle)
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    last_err = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            stop_server(srv)
            raise RuntimeError(
                f"coffer ({scheme}) exited with {proc.returncode} during startup; log:\n"
                + srv.log_since(0)
            )
        try:
            with urllib.request.urlopen(f"{srv.endpoint}/health", timeout=2, context=ctx) as r:
                if r.status == 200:
                    return srv
                last_err = f"HTTP {r.status}"
        except Exception as e:  # noqa: BLE001 - any failure means "not yet"
            last_err = repr(e)
        time.sleep(0.1)
    stop_server(srv)
    raise RuntimeError(
        f"coffer ({scheme}) did not answer /health within {STARTUP_TIMEOUT_S}s "
        f"(last error: {last_err}); log:\n" + srv.log_since(0)
    )


def index_contents(data_dir: Path) -> bytes:
    """Every byte the index of `data_dir` holds: SQLite's files, or a dump of its PostgreSQL
    database (for checks that no secret is stored in the clear)."""
    url = metadata_of(data_dir)
    if url:
        return subprocess.run(["pg_dump", url], capture_output=True, check=True, timeout=120).stdout
    files = [Path(data_dir) / name for name in ("index.sqlite", "index.sqlite-wal")]
    return b"".join(f.read_bytes() for f in files if f.exists())


def hash_of(blob_name: str) -> str:
    """The hash a blob's name starts with: a store whose index other nodes share (PostgreSQL)
    names each blob `<sha256>-g<generation>`."""
    return blob_name.split("-g")[0]


def blob_hashes(root: Path) -> set[str]:
    """The hashes of the blob files under `root`/blobs (a data dir, a shared dir, a tier's)."""
    blobs = Path(root) / "blobs"
    return {hash_of(p.name) for p in blobs.rglob("*") if p.is_file()} if blobs.exists() else set()


def stop_server(srv: CofferServer) -> None:
    for member in srv.members:
        stop_server(member)
    if srv.proc.poll() is None:
        srv.proc.send_signal(signal.SIGTERM)
        try:
            srv.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            srv.proc.kill()
            srv.proc.wait(timeout=15)
    if srv._log_file is not None:
        srv._log_file.close()


# ----------------------------------------------------------------------- CLI helpers


def tool_path(name: str) -> str | None:
    """Find a CLI, preferring the one next to this interpreter (the venv's awscli)."""
    local = Path(sys.executable).parent / name
    if local.exists():
        return str(local)
    return shutil.which(name)


def debian_tool(name: str, packages: str) -> str:
    """The path of a CLI from Debian packages (./scripts/test.sh installs them); the test fails
    with the apt-get line when it is missing."""
    exe = shutil.which(name)
    if exe is None:
        pytest.fail(f"{name} is not installed (apt-get install {packages})")
    return exe


def env_without(*prefixes: str) -> dict[str, str]:
    """This process's environment minus variables with these prefixes. Go clients (rclone,
    restic) refuse to start when AWS_CA_BUNDLE names a file they cannot use, and none of the
    tools should pick up the machine's own AWS_* or tool settings."""
    return {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}


def run_cli(args, env=None, timeout=180, check=True, cwd=None) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        args, env=with_metadata(args, env), cwd=cwd, capture_output=True, text=True, timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"command failed with exit code {proc.returncode}: {' '.join(map(str, args))}\n"
            f"--- stdout ---\n{proc.stdout[-6000:]}\n--- stderr ---\n{proc.stderr[-6000:]}"
        )
    return proc


def aws_runner(server: CofferServer, user: User | None = None, **env_overrides: str):
    """A function running the `aws` CLI against `server` as `user` (default root), with
    `env_overrides` added to its environment: run("s3", "ls", check=True) -> CompletedProcess."""
    exe = tool_path("aws")
    if exe is None:
        pytest.fail("the `aws` CLI is not installed (pip install -r compat-tests/python/requirements.txt)")
    env = server.client_env(user)
    env["AWS_MAX_ATTEMPTS"] = "1"
    env["AWS_RETRY_MODE"] = "standard"
    env.update(env_overrides)

    def run(*args, check=True, timeout=300):
        return run_cli([exe, "--endpoint-url", server.endpoint, *map(str, args)], env=env,
                       check=check, timeout=timeout)

    return run


def create_user(server: CofferServer, prefix: str = "user") -> User:
    """A new user with fresh keys, made with `coffer admin user create` while the server runs."""
    name = prefix + uuid.uuid4().hex[:8]
    user = User(name, "AK" + uuid.uuid4().hex[:16].upper(), uuid.uuid4().hex)
    run_cli([str(coffer_binary()), "admin", "user", "create", name, "--access-key", user.access_key,
             "--secret-key", user.secret_key, "--data-dir", str(server.data_dir)])
    return user


@dataclass(frozen=True)
class KmsKey:
    """A key of the built-in KMS keyring, as `coffer admin kms create` prints it."""

    name: str
    id: str
    arn: str


def coffer_admin(server: CofferServer, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Runs `coffer admin ARGS --data-dir <server's data dir>` (fine while the server runs)."""
    return run_cli([str(coffer_binary()), "admin", *map(str, args), "--data-dir", str(server.data_dir)],
                   check=check, timeout=60)


def create_kms_key(server: CofferServer, prefix: str = "key") -> KmsKey:
    """A new key in `server`'s KMS keyring (`coffer admin kms create`), with a unique name."""
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    out = coffer_admin(server, "kms", "create", name).stdout
    fields = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
    return KmsKey(fields["name"].strip(), fields["id"].strip(), fields["arn"].strip())


# --------------------------------------------------------------- policies and requests


def statement(effect, principal, action, resource, condition=None) -> dict:
    """One bucket-policy statement."""
    s = {"Effect": effect, "Principal": principal, "Action": action, "Resource": resource}
    if condition:
        s["Condition"] = condition
    return s


def policy(*statements) -> str:
    """A bucket-policy document (JSON text) of `statements`."""
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def anonymous_get(server: CofferServer, path: str) -> int:
    """The status of an unsigned GET of `path` on the S3 endpoint (HTTP server only)."""
    return urllib3.PoolManager(retries=False).request("GET", server.endpoint + path).status


def website_get(server: CofferServer, host: str, path: str, method: str = "GET"):
    """A request to the website listener with `host` as Host header (redirects not followed)."""
    http = urllib3.PoolManager(retries=False)
    return http.request(method, f"http://127.0.0.1:{server.website_port}{path}", headers={"Host": host}, redirect=False)


def post_form(url, fields, filename="photo.jpg", data=b"picture bytes"):
    """A browser's POST upload of `fields` (e.g. from boto3's generate_presigned_post) and a file."""
    body = dict(fields)
    body["file"] = (filename, data, "image/jpeg")  # the file comes last, as browsers send it
    return urllib3.PoolManager(retries=False).request("POST", url, fields=body, redirect=False)


def bucket_usage_request(client, bucket: str) -> urllib3.BaseHTTPResponse:
    """GetBucketUsage (`GET /BUCKET?coffer-usage`, Coffer's own extension, which boto3 has no
    method for), signed with the boto3 client's credentials (unsigned for an UNSIGNED client)."""
    request = AWSRequest(method="GET", url=f"{client.meta.endpoint_url}/{bucket}?coffer-usage")
    if client.meta.config.signature_version is not UNSIGNED:
        creds = client._request_signer._credentials.get_frozen_credentials()
        S3SigV4Auth(creds, "s3", client.meta.region_name).add_auth(request)
    prepared = request.prepare()
    return urllib3.PoolManager(retries=False).request("GET", prepared.url, headers=dict(prepared.headers))


def bucket_usage(client, bucket: str) -> dict[str, int]:
    """The bucket's usage figures (Objects, Versions, DeleteMarkers, LogicalBytes, and
    MaxBytes/MaxObjects under a quota); a refusal raises with S3's error code."""
    r = bucket_usage_request(client, bucket)
    root = ET.fromstring(r.data)
    if r.status != 200:
        raise AssertionError(f"{r.status} {root.findtext('Code')}: {root.findtext('Message')}")
    return {child.tag: int(child.text) for child in root if child.tag != "Bucket"}


def wait_until(check, timeout: float = 30, what: str = "condition"):
    """Polls `check` until it returns something true (which is returned), failing after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what} (last: {value!r})")
        time.sleep(0.25)


def random_bucket_name(prefix: str = "ct") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:20]}"


def empty_and_delete_bucket(client, bucket: str) -> None:
    """Best-effort cleanup: remove every object (and version) and the bucket."""
    try:
        paginator = client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=bucket):
            keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
            if keys:
                client.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})
    except ClientError:
        pass
    try:
        paginator = client.get_paginator("list_object_versions")
        for page in paginator.paginate(Bucket=bucket):
            items = page.get("Versions", []) + page.get("DeleteMarkers", [])
            objs = [{"Key": v["Key"], "VersionId": v["VersionId"]} for v in items]
            if objs:
                client.delete_objects(Bucket=bucket, Delete={"Objects": objs, "Quiet": True})
    except ClientError:
        pass
    try:
        client.delete_bucket(Bucket=bucket)
    except ClientError:
        pass


# ------------------------------------------------------------------ local file helpers


def write_random_file(path: Path, size: int) -> bytes:
    """Write `size` random bytes to `path` (creating parents) and return them."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = os.urandom(size)
    path.write_bytes(data)
    return data


def tree_digest(root: Path) -> dict[str, str]:
    """Map of relative POSIX path -> SHA-256 hex of every regular file under root."""
    import hashlib

    out = {}
    for p in sorted(root.rglob("*")):
        if p.is_file():
            out[p.relative_to(root).as_posix()] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def make_sample_tree(root: Path) -> dict[str, str]:
    """A small directory tree with nested folders, an empty file and odd names."""
    sizes = {
        "a.txt": 10,
        "empty.bin": 0,
        "docs/readme.md": 1500,
        "docs/guide/chapter 1.txt": 70_000,
        "docs/guide/chapter-2.txt": 4096,
        "img/photo.jpg": 300_000,
        "img/nested/deeper/leaf.dat": 1,
        "data/blob-1.bin": 1_048_577,
        "data/blob+plus=eq.bin": 2048,
        "unicodé/naïve.txt": 321,
    }
    for rel, size in sizes.items():
        write_random_file(root / rel, size)
    return tree_digest(root)
