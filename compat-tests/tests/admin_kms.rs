//! The built-in KMS keyring's admin commands (`coffer admin kms create/list/rotate/disable/
//! enable`) run against the data dir of a running server.

use coffer_compat_tests::{coffer_binary, TestServer};
use std::process::Output;

/// Runs `coffer admin kms ARGS` and returns its stdout, panicking unless it succeeded.
fn kms_ok(server: &TestServer, args: &[&str]) -> String {
    let out = kms(server, args);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "coffer admin kms {args:?} failed ({}):\nstdout: {stdout}\nstderr: {stderr}", out.status);
    stdout
}

/// Runs `coffer admin kms ARGS` and returns its stderr, panicking unless it failed.
fn kms_err(server: &TestServer, args: &[&str]) -> String {
    let out = kms(server, args);
    let (stdout, stderr) = text(&out);
    assert!(!out.status.success(), "coffer admin kms {args:?} should have failed:\nstdout: {stdout}");
    assert!(stdout.is_empty(), "a failed command printed to stdout: {stdout}");
    stderr
}

fn kms(server: &TestServer, args: &[&str]) -> Output {
    let mut all = vec!["kms"];
    all.extend_from_slice(args);
    server.admin(&all)
}

fn text(out: &Output) -> (String, String) {
    (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

fn field<'a>(out: &'a str, name: &str) -> &'a str {
    out.lines().find_map(|l| l.strip_prefix(name)).map(str::trim).unwrap_or_else(|| panic!("no {name} in {out}"))
}

/// The `list` row of key `name`: name, id, enabled, version, created.
fn row(list: &str, name: &str) -> Vec<String> {
    let mut lines = list.lines();
    let header: Vec<&str> = lines.next().expect("a header line").split_whitespace().collect();
    assert_eq!(header, ["NAME", "ID", "ENABLED", "VERSION", "CREATED"]);
    lines
        .map(|l| l.split_whitespace().map(str::to_string).collect::<Vec<_>>())
        .find(|cells| cells[0] == name)
        .unwrap_or_else(|| panic!("no {name} in\n{list}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn kms_admin_commands_manage_the_keyring_of_a_running_server() {
    let server = TestServer::start();
    assert_eq!(kms_ok(&server, &["list"]).lines().count(), 1, "a new keyring lists only the header");

    let created = kms_ok(&server, &["create", "k1"]);
    assert_eq!(field(&created, "name:"), "k1");
    let id = field(&created, "id:").to_string();
    assert_eq!(id.len(), 36, "a UUID: {id}");
    assert_eq!(field(&created, "arn:"), format!("arn:aws:kms:us-east-1:000000000000:key/{id}"));
    assert_eq!(field(&created, "version:"), "1");
    assert!(kms_err(&server, &["create", "k1"]).contains("already exists"));
    assert!(kms_err(&server, &["create", "bad name"]).contains("invalid key name"));

    let listed = kms_ok(&server, &["list"]);
    let k1 = row(&listed, "k1");
    assert_eq!(k1[1..4], [id.clone(), "yes".into(), "1".into()]);
    assert!(k1[4].ends_with('Z') && k1[4].contains('T'), "an RFC 3339 time: {}", k1[4]);

    assert!(kms_ok(&server, &["rotate", "k1"]).contains("k1: rotated to version 2"));
    assert!(kms_ok(&server, &["rotate", "alias/k1"]).contains("k1: rotated to version 3"));
    assert_eq!(row(&kms_ok(&server, &["list"]), "k1")[3], "3");

    assert!(kms_ok(&server, &["disable", "k1"]).contains("k1: disabled"));
    assert_eq!(row(&kms_ok(&server, &["list"]), "k1")[2], "no");
    assert!(kms_ok(&server, &["enable", &id]).contains("k1: enabled"));
    assert_eq!(row(&kms_ok(&server, &["list"]), "k1")[2..4], ["yes".to_string(), "3".into()]);

    for command in ["rotate", "disable", "enable"] {
        assert!(kms_err(&server, &[command, "nope"]).contains("no KMS key 'nope'"), "{command}");
    }

    // A second key, and the first is unchanged.
    kms_ok(&server, &["create", "alias/k2"]);
    let listed = kms_ok(&server, &["list"]);
    assert_eq!(row(&listed, "k2")[3], "1");
    assert_eq!(row(&listed, "k1")[1], id);

    // The keyring is private to the server's user, and the server is undisturbed.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(server.data_dir().join("kms/keyring.json")).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let keyring = std::fs::read_to_string(server.data_dir().join("kms/keyring.json")).unwrap();
    assert!(keyring.contains(&id) && keyring.contains("\"k1\""));
    server.client().list_buckets().send().await.expect("the server still answers");
}

/// Every admin command that stores or reads sealed secrets (KMS keys, secret access keys,
/// TOTP seeds) refuses a master key other than the one the data dir was used with.
#[test]
fn admin_commands_refuse_a_master_key_the_data_dir_was_not_used_with() {
    let server = TestServer::start();
    kms_ok(&server, &["create", "k1"]);
    let other = server.data_dir().parent().unwrap().join("other-master.key");
    std::fs::write(&other, format!("{}=\n", "A".repeat(43))).unwrap();
    for args in [&["kms", "list"][..], &["user", "create", "mallory"], &["mfa", "enable", "root"]] {
        // Run directly so that a COFFER_MASTER_KEY in the environment cannot override the file.
        let out = std::process::Command::new(coffer_binary())
            .arg("admin")
            .args(args)
            .arg("--master-key-file")
            .arg(&other)
            .arg("--data-dir")
            .arg(server.data_dir())
            .env_remove("COFFER_MASTER_KEY")
            .output()
            .unwrap();
        let (stdout, stderr) = text(&out);
        assert!(!out.status.success(), "coffer admin {args:?} with another master key worked: {stdout}");
        assert!(stderr.contains("not the one"), "{stderr}");
    }
}
