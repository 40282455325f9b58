//! Test harness for end-to-end compatibility tests: starts the real `coffer` binary on a free
//! loopback port with a throwaway data directory, and builds AWS SDK clients pointed at it.
//!
//! The binary is `$COFFER_BIN` if set, else the newest of `target/{release,debug}/coffer`
//! in the workspace (build it first: `cargo build --release -p coffer-server`).

use std::fs::File;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use aws_credential_types::Credentials;
use aws_sdk_s3::config::{BehaviorVersion, Region};
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode, TlsContext, TrustStore};
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use aws_smithy_runtime_api::http::Response;

pub use aws_sdk_s3;

/// Root credentials every test server starts with.
pub const ROOT_ACCESS_KEY: &str = "COFFERTESTROOTKEY000";
pub const ROOT_SECRET_KEY: &str = "coffer-test-root-secret-key-0123456789abcd";
pub const REGION: &str = "us-east-1";

const STARTUP_TIMEOUT: Duration = Duration::from_secs(20);

/// A certificate authority and a server certificate for 127.0.0.1/localhost, all PEM.
pub struct TestTls {
    pub ca_cert_pem: String,
    pub server_cert_pem: String,
    pub server_key_pem: String,
}

impl TestTls {
    /// Generates a fresh CA and a server certificate signed by it.
    pub fn generate() -> TestTls {
        use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa};
        use rcgen::{KeyPair, KeyUsagePurpose};

        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "Coffer test CA");
        let ca_key = KeyPair::generate().expect("CA key");
        let ca = CertifiedIssuer::self_signed(ca_params, ca_key).expect("CA certificate");

        let mut leaf_params =
            CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
                .expect("server certificate params");
        leaf_params
            .distinguished_name
            .push(DnType::CommonName, "coffer test server");
        let leaf_key = KeyPair::generate().expect("server key");
        let leaf = leaf_params
            .signed_by(&leaf_key, &ca)
            .expect("server certificate");

        TestTls {
            ca_cert_pem: ca.pem(),
            server_cert_pem: leaf.pem(),
            server_key_pem: leaf_key.serialize_pem(),
        }
    }
}

/// A running `coffer serve`; killed when dropped. Its stderr goes to `log_path()`, and is
/// echoed to the test's output if the test panics.
fn spawn_server(binary: &Path, data_dir: &Path, addr: SocketAddr, extra: &[PathBuf], log_path: &Path) -> Child {
    let log = File::create(log_path).expect("create server log");
    Command::new(binary)
        .arg("serve")
        .arg("--data-dir")
        .arg(data_dir)
        .arg("--address")
        .arg(addr.to_string())
        .args(extra)
        .env("COFFER_ROOT_ACCESS_KEY", ROOT_ACCESS_KEY)
        .env("COFFER_ROOT_SECRET_KEY", ROOT_SECRET_KEY)
        .env("RUST_BACKTRACE", "1")
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("clone log handle"))
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()))
}

pub struct TestServer {
    child: Child,
    addr: SocketAddr,
    data_dir: PathBuf,
    log_path: PathBuf,
    tls_ca_pem: Option<String>,
    /// Extra `serve` arguments (not TLS ones), given again on a restart.
    serve_args: Vec<PathBuf>,
    /// How many times `crash_and_restart` has run; each restart logs to a file of its own.
    restarts: u32,
    // Declared last so the directory outlives the process's use of it.
    _temp: tempfile::TempDir,
}

impl TestServer {
    /// Starts a plain-HTTP server and waits until `GET /health` answers 200.
    pub fn start() -> TestServer {
        Self::start_inner(None, &[], None)
    }

    /// Starts a plain-HTTP server on the data dir `data_dir` (created if missing), e.g. one on
    /// a small filesystem of its own.
    pub fn start_in(data_dir: &Path) -> TestServer {
        Self::start_inner(None, &[], Some(data_dir))
    }

    /// Starts a plain-HTTP server with extra `coffer serve` arguments (e.g.
    /// `--sse-c-allow-http`).
    pub fn start_with_args(args: &[&str]) -> TestServer {
        Self::start_inner(None, args, None)
    }

    /// Starts an HTTPS server with a certificate from `tls`, and waits until its port accepts
    /// connections.
    pub fn start_tls(tls: &TestTls) -> TestServer {
        Self::start_inner(Some(tls), &[], None)
    }

    fn start_inner(tls: Option<&TestTls>, args: &[&str], data_dir: Option<&Path>) -> TestServer {
        let serve_args: Vec<PathBuf> = args.iter().map(PathBuf::from).collect();
        let binary = coffer_binary();
        let temp = tempfile::Builder::new()
            .prefix("coffer-compat-")
            .tempdir()
            .expect("create temp dir");
        let data_dir = data_dir.map_or_else(|| temp.path().join("data"), Path::to_path_buf);
        std::fs::create_dir_all(&data_dir).expect("create data dir");

        let mut extra_args = serve_args.clone();
        if let Some(tls) = tls {
            let cert = temp.path().join("server-cert.pem");
            let key = temp.path().join("server-key.pem");
            std::fs::write(&cert, &tls.server_cert_pem).expect("write cert");
            std::fs::write(&key, &tls.server_key_pem).expect("write key");
            extra_args.extend(["--tls-cert".into(), cert, "--tls-key".into(), key]);
        }

        // A free port can be taken by someone else between our probe and the server's bind,
        // so try a few.
        let mut last_failure = String::new();
        for attempt in 0..3 {
            let port = free_port();
            let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
            let log_path = temp.path().join(format!("server-{attempt}.log"));
            let mut child = spawn_server(&binary, &data_dir, addr, &extra_args, &log_path);
            match wait_ready(&mut child, addr, tls.is_some()) {
                Ok(()) => {
                    return TestServer {
                        child,
                        addr,
                        data_dir,
                        log_path,
                        tls_ca_pem: tls.map(|t| t.ca_cert_pem.clone()),
                        serve_args,
                        restarts: 0,
                        _temp: temp,
                    }
                }
                Err(reason) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                    last_failure = format!("{reason}\n--- server log ---\n{log}");
                }
            }
        }
        panic!("coffer did not start: {last_failure}");
    }

    /// Kills the server with SIGKILL (no shutdown of any kind, as in a crash or power loss of
    /// the process) and starts it again on the same data dir and address. Plain HTTP only.
    pub fn crash_and_restart(&mut self) {
        let data_dir = self.data_dir.clone();
        self.restart_on(data_dir);
    }

    /// Kills the server (SIGKILL) and starts it again on the same address with another data
    /// dir, e.g. one restored from a backup. Plain HTTP only.
    pub fn restart_on(&mut self, data_dir: PathBuf) {
        assert!(self.tls_ca_pem.is_none(), "restarts support plain-HTTP servers");
        self.data_dir = data_dir;
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.restarts += 1;
        let log_path = self._temp.path().join(format!("server-restart-{}.log", self.restarts));
        self.child = spawn_server(&coffer_binary(), &self.data_dir, self.addr, &self.serve_args, &log_path);
        self.log_path = log_path;
        if let Err(reason) = wait_ready(&mut self.child, self.addr, false) {
            panic!("coffer did not restart: {reason}\n{}", self.log());
        }
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The server's peak resident memory so far (VmHWM), in bytes.
    pub fn peak_rss(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).expect("read /proc status");
        let kb: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmHWM in /proc status");
        kb * 1024
    }

    /// `http://127.0.0.1:PORT` or `https://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        let scheme = if self.tls_ca_pem.is_some() {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// Everything the server has logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// A client authenticated as the root user.
    pub fn client(&self) -> aws_sdk_s3::Client {
        self.client_with(ROOT_ACCESS_KEY, ROOT_SECRET_KEY)
    }

    /// A client with the given credentials (which need not be valid).
    pub fn client_with(&self, access_key: &str, secret_key: &str) -> aws_sdk_s3::Client {
        let http_client = match &self.tls_ca_pem {
            Some(ca) => https_client_trusting(ca),
            None => aws_smithy_http_client::Builder::new().build_http(),
        };
        sdk_client(&self.endpoint(), access_key, secret_key, http_client)
    }

    /// Runs `coffer admin ARGS --data-dir DIR` against this server's data directory.
    pub fn admin(&self, args: &[&str]) -> Output {
        Command::new(coffer_binary())
            .arg("admin")
            .args(args)
            .arg("--data-dir")
            .arg(&self.data_dir)
            .env("COFFER_ROOT_ACCESS_KEY", ROOT_ACCESS_KEY)
            .env("COFFER_ROOT_SECRET_KEY", ROOT_SECRET_KEY)
            .stdin(Stdio::null())
            .output()
            .expect("run coffer admin")
    }

    /// Creates a user with `coffer admin user create` and panics unless it succeeds and
    /// prints the access key.
    pub fn create_user(&self, name: &str, access_key: &str, secret_key: &str) {
        let out = self.admin(&[
            "user",
            "create",
            name,
            "--access-key",
            access_key,
            "--secret-key",
            secret_key,
        ]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "coffer admin user create failed ({}):\nstdout: {stdout}\nstderr: {stderr}",
            out.status
        );
        assert!(
            stdout.contains(access_key),
            "coffer admin user create did not print the access key:\n{stdout}"
        );
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let log = self.log();
            let tail: String = tail_lines(&log, 60);
            eprintln!(
                "--- coffer log ({}), last lines ---\n{tail}",
                self.log_path.display()
            );
        }
    }
}

fn tail_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Builds an SDK client for `endpoint`: path-style, region us-east-1, static credentials.
pub fn sdk_client(
    endpoint: &str,
    access_key: &str,
    secret_key: &str,
    http_client: SharedHttpClient,
) -> aws_sdk_s3::Client {
    let credentials = Credentials::new(access_key, secret_key, None, None, "coffer-compat-tests");
    let config = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .endpoint_url(endpoint)
        .credentials_provider(credentials)
        .force_path_style(true)
        .http_client(http_client)
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

/// An HTTPS client (rustls with ring) that trusts only the given PEM CA certificate.
pub fn https_client_trusting(ca_pem: &str) -> SharedHttpClient {
    let context = TlsContext::builder()
        .with_trust_store(TrustStore::empty().with_pem_certificate(ca_pem.as_bytes()))
        .build()
        .expect("TLS context");
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .tls_context(context)
        .build_https()
}

/// The S3 error code of a failed call, if the server sent one.
pub fn error_code<E: ProvideErrorMetadata>(err: &SdkError<E, Response>) -> Option<String> {
    err.as_service_error()
        .and_then(|e| e.code())
        .map(str::to_owned)
}

/// The HTTP status of a failed call, if a response arrived.
pub fn http_status<E>(err: &SdkError<E, Response>) -> Option<u16> {
    err.raw_response().map(|r| r.status().as_u16())
}

/// Panics unless `result` failed with S3 error `code` (and HTTP `status`).
#[track_caller]
pub fn assert_s3_error<T: std::fmt::Debug, E: ProvideErrorMetadata + std::fmt::Debug>(
    result: Result<T, SdkError<E, Response>>,
    status: u16,
    code: &str,
) {
    match result {
        Ok(v) => panic!("expected {status} {code}, got success: {v:?}"),
        Err(err) => {
            let got_code = error_code(&err);
            let got_status = http_status(&err);
            assert!(
                got_code.as_deref() == Some(code) && got_status == Some(status),
                "expected {status} {code}, got {got_status:?} {got_code:?}: {err:?}"
            );
        }
    }
}

/// Panics unless `result` failed with HTTP `status` (for bodiless answers such as HEAD's 404
/// or a 304, where there is no error code).
#[track_caller]
pub fn assert_http_error<T: std::fmt::Debug, E: std::fmt::Debug>(
    result: Result<T, SdkError<E, Response>>,
    status: u16,
) {
    match result {
        Ok(v) => panic!("expected HTTP {status}, got success: {v:?}"),
        Err(err) => assert_eq!(http_status(&err), Some(status), "{err:?}"),
    }
}

/// Percent-encodes `bucket/key` for the `x-amz-copy-source` header.
pub fn copy_source(bucket: &str, key: &str) -> String {
    use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
    const KEEP: &AsciiSet = &NON_ALPHANUMERIC
        .remove(b'/')
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    format!("{bucket}/{}", utf8_percent_encode(key, KEEP))
}

/// `len` random bytes.
pub fn random_bytes(len: usize) -> Vec<u8> {
    let mut data = vec![0u8; len];
    rand::fill(&mut data[..]);
    data
}

/// The path of the `coffer` binary to test.
pub fn coffer_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("COFFER_BIN") {
        return PathBuf::from(path);
    }
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf();
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|t| {
            if t.is_absolute() {
                t
            } else {
                workspace.join(t)
            }
        })
        .unwrap_or_else(|| workspace.join("target"));
    let newest = ["release", "debug"]
        .iter()
        .map(|profile| target.join(profile).join("coffer"))
        .filter_map(|path| {
            let modified = path.metadata().ok()?.modified().ok()?;
            Some((modified, path))
        })
        .max();
    match newest {
        Some((_, path)) => path,
        None => panic!(
            "no coffer binary under {}: run `cargo build --release -p coffer-server` or set COFFER_BIN",
            target.display()
        ),
    }
}

/// Waits until the server answers: `GET /health` with 200 for HTTP, an accepted TCP
/// connection for HTTPS.
fn wait_ready(child: &mut Child, addr: SocketAddr, tls: bool) -> Result<(), String> {
    let deadline = Instant::now() + STARTUP_TIMEOUT;
    loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            return Err(format!("coffer exited during startup with {status}"));
        }
        let ready = if tls {
            TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_ok()
        } else {
            health_status(addr) == Some(200)
        };
        if ready {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!(
                "no healthy answer on {addr} within {STARTUP_TIMEOUT:?}"
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("find a free port")
}

/// Status code of `GET /health`, or `None` if nothing answered.
fn health_status(addr: SocketAddr) -> Option<u16> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_millis(500)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    let request = format!("GET /health HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).ok()?;
    let mut head = [0u8; 64];
    let mut filled = 0;
    while filled < 12 {
        let n = stream.read(&mut head[filled..]).ok()?;
        if n == 0 {
            break;
        }
        filled += n;
    }
    // "HTTP/1.1 200 OK"
    let line = std::str::from_utf8(&head[..filled]).ok()?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_source_encodes_key_but_not_slashes() {
        assert_eq!(
            copy_source("b", "dir/a b+c%d ключ"),
            "b/dir/a%20b%2Bc%25d%20%D0%BA%D0%BB%D1%8E%D1%87"
        );
    }

    #[test]
    fn generated_tls_material_is_pem() {
        let tls = TestTls::generate();
        assert!(tls.ca_cert_pem.starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(tls
            .server_cert_pem
            .starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(tls.server_key_pem.contains("PRIVATE KEY-----"));
    }
}
