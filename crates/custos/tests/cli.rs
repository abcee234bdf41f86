//! The `custos` binary as an operator uses it.

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn custos(args: &[&str], data_dir: &std::path::Path, stdin: Option<&str>, env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_custos"));
    cmd.args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .env_remove("CUSTOS_DATABASE_URL")
        .env_remove("CUSTOS_SMTP_URL")
        .env_remove("CUSTOS_MODE")
        .env("CUSTOS_ARGON2_MEMORY_KIB", "64")
        .env("CUSTOS_ARGON2_ITERATIONS", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("custos runs");
    if let Some(input) = stdin {
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    }
    drop(child.stdin.take());
    child.wait_with_output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A fresh directory per test (the counter keeps parallel tests apart).
fn temp_dir() -> std::path::PathBuf {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let d = std::env::temp_dir().join(format!("custos-cli-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn an_operator_creates_a_user_and_verifies_the_audit_trail() {
    let dir = temp_dir();
    let out = custos(
        &["user", "create", "--email", "ops.made@example.com"],
        &dir,
        Some("correct horse battery staple\n"),
        &[],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("with UID "), "{}", text(&out.stdout));

    let again = custos(
        &["user", "create", "--email", "ops.made@example.com"],
        &dir,
        Some("correct horse battery staple\n"),
        &[],
    );
    assert_eq!(again.status.code(), Some(2));
    assert!(text(&again.stderr).contains("email-taken"));

    let weak = custos(&["user", "create", "--email", "weak@example.com"], &dir, Some("short\n"), &[]);
    assert_eq!(weak.status.code(), Some(2));
    assert!(text(&weak.stderr).contains("password-too-short"));

    let verify = custos(&["audit", "verify"], &dir, None, &[]);
    assert!(verify.status.success(), "{}", text(&verify.stderr));
    assert!(
        text(&verify.stdout).contains("audit trail intact: 1 chains, 1 records"),
        "{}",
        text(&verify.stdout)
    );
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn migrate_creates_the_database_and_keygen_prints_a_root_key() {
    let dir = temp_dir();
    let out = custos(&["migrate"], &dir, None, &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(dir.join("custos.db").exists());
    let key = Command::new(env!("CARGO_BIN_EXE_custos")).arg("keygen").output().unwrap();
    let key = text(&key.stdout);
    assert_eq!(key.trim().len(), 64);
    assert!(key.trim().bytes().all(|b| b.is_ascii_hexdigit()));
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn production_refuses_to_start_without_a_master_key() {
    let dir = temp_dir();
    let out = custos(
        &["serve", "--listen", "127.0.0.1:0"],
        &dir,
        None,
        &[("CUSTOS_MODE", "production"), ("CUSTOS_PUBLIC_URL", "https://custos.example")],
    );
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("CUSTOS_MASTER_KEY"), "{}", text(&out.stderr));
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn dev_mode_refuses_a_public_listen_address() {
    let dir = temp_dir();
    let out = custos(&["serve", "--listen", "0.0.0.0:0"], &dir, None, &[]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("loopback"), "{}", text(&out.stderr));
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn an_operator_makes_a_service_token_and_credits_a_demo_deposit() {
    let dir = temp_dir();
    let out = custos(&["service-token", "create", "--name", "ledger-feed"], &dir, None, &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let token = text(&out.stdout).trim().to_owned();
    assert_eq!(token.len(), 43, "one base64url token on stdout: {token}");
    assert!(text(&out.stderr).contains("shown once"));

    let out = custos(
        &["user", "create", "--email", "saver@example.com"],
        &dir,
        Some("correct horse battery staple\n"),
        &[],
    );
    let uid = text(&out.stdout).rsplit(' ').next().unwrap().trim().to_owned();
    let out =
        custos(&["ledger", "deposit", "--uid", &uid, "--asset", "BTC", "--amount", "0.5"], &dir, None, &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("credited 0.5 BTC"));
    let out = custos(
        &["ledger", "deposit", "--uid", &uid, "--asset", "BTC", "--amount", "0.123456789"],
        &dir,
        None,
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("amount-invalid"), "{}", text(&out.stderr));

    // The audit trail holds the token's creation (and still verifies).
    let out = custos(&["audit", "verify"], &dir, None, &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
}

#[test]
fn support_freezes_from_the_command_line_and_only_two_operators_unfreeze() {
    let dir = temp_dir();
    let out = custos(
        &["user", "create", "--email", "called.support@example.com"],
        &dir,
        Some("correct horse battery staple\n"),
        &[],
    );
    let uid = text(&out.stdout).rsplit(' ').next().unwrap().trim().to_owned();
    let freeze = ["freeze", "--uid", &uid, "--reason", "caller verified, ticket 7", "--operator", "alice"];
    let out = custos(&freeze, &dir, None, &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let receipt: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("the receipt is JSON on stdout");
    assert_eq!((receipt["channel"].as_str(), receipt["uid"].to_string()), (Some("support"), uid.clone()));
    let again = custos(&freeze, &dir, None, &[]);
    assert!(again.status.success());
    assert!(text(&again.stderr).contains("already frozen"), "{}", text(&again.stderr));

    let unfreeze = |approver: &str| {
        custos(
            &[
                "unfreeze",
                "--uid",
                &uid,
                "--reason",
                "identity checked",
                "--operator",
                "alice",
                "--approved-by",
                approver,
                "--contact",
                "called.support@example.com",
            ],
            &dir,
            None,
            &[],
        )
    };
    let alone = unfreeze("alice");
    assert_eq!(alone.status.code(), Some(2));
    assert!(text(&alone.stderr).contains("same-operator"), "{}", text(&alone.stderr));
    let two = unfreeze("bob");
    assert!(two.status.success(), "{}", text(&two.stderr));
    assert!(text(&two.stdout).contains("is recovering"), "{}", text(&two.stdout));

    let out = custos(&["audit", "verify"], &dir, None, &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn an_operator_creates_lists_and_disables_staff_and_keeps_the_official_registry() {
    let dir = temp_dir();
    let out = custos(
        &["staff", "create", "--email", "dana@custos.example", "--name", "Dana Reyes", "--role", "analyst"],
        &dir,
        None,
        &[],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("with staff ID CS-"), "{stdout}");
    assert!(stdout.contains("/support/setup/"), "a one-time setup link is printed: {stdout}");

    let bad = custos(
        &["staff", "create", "--email", "x@custos.example", "--name", "X", "--role", "root"],
        &dir,
        None,
        &[],
    );
    assert_eq!(bad.status.code(), Some(2));
    assert!(text(&bad.stderr).contains("staff-role-invalid"), "{}", text(&bad.stderr));

    let relink = custos(&["staff", "setup-link", "--email", "dana@custos.example"], &dir, None, &[]);
    assert!(relink.status.success(), "{}", text(&relink.stderr));
    assert!(text(&relink.stdout).contains("/support/setup/"), "{}", text(&relink.stdout));

    let list = custos(&["staff", "list"], &dir, None, &[]);
    let listed = text(&list.stdout);
    assert!(listed.contains("analyst\tpending\tdana@custos.example\tDana Reyes"), "{listed}");
    assert!(!listed.contains("argon2"), "no secrets in the list");

    let off = custos(&["staff", "disable", "--email", "dana@custos.example"], &dir, None, &[]);
    assert!(off.status.success(), "{}", text(&off.stderr));
    assert!(text(&custos(&["staff", "list"], &dir, None, &[]).stdout).contains("disabled"));
    let unknown = custos(&["staff", "disable", "--email", "nobody@custos.example"], &dir, None, &[]);
    assert_eq!(unknown.status.code(), Some(2));

    let add = custos(
        &[
            "official",
            "add",
            "--kind",
            "domain",
            "--value",
            "https://www.Custos.Example/",
            "--note",
            "main site",
        ],
        &dir,
        None,
        &[],
    );
    assert!(add.status.success(), "{}", text(&add.stderr));
    assert!(text(&add.stdout).contains("official domain: custos.example"), "{}", text(&add.stdout));
    let garbage =
        custos(&["official", "add", "--kind", "domain", "--value", "not a domain"], &dir, None, &[]);
    assert_eq!(garbage.status.code(), Some(2));
    assert!(text(&garbage.stderr).contains("channel-invalid"));
    let listed = text(&custos(&["official", "list"], &dir, None, &[]).stdout);
    assert!(listed.contains("domain\tcustos.example\tmain site"), "{listed}");
    let rm =
        custos(&["official", "remove", "--kind", "domain", "--value", "custos.example"], &dir, None, &[]);
    assert!(rm.status.success(), "{}", text(&rm.stderr));
    assert!(!text(&custos(&["official", "list"], &dir, None, &[]).stdout).contains("custos.example"));

    let verify = custos(&["audit", "verify"], &dir, None, &[]);
    assert!(verify.status.success(), "{}", text(&verify.stderr));
    std::fs::remove_dir_all(dir).ok();
}
