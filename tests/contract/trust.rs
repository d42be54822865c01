//! Trust nothing paystat did not choose: configuration only from where its user said, files
//! only that user can change, credentials that cannot be borrowed. Each case here was once a
//! way around paystat's promise.

use std::os::unix::fs::PermissionsExt;

use crate::helpers::{LEDGER_TOKEN, paystat, write_config};

/// A server that counts every request it gets: where a hostile config would send the key.
fn listening_server() -> (httpmock::MockServer, usize) {
    let server = httpmock::MockServer::start();
    let id = server
        .mock(|when, then| {
            when.any_request();
            then.status(200).body("{}");
        })
        .id();
    (server, id)
}

fn hits(server: &httpmock::MockServer, id: usize) -> usize {
    httpmock::Mock::new(id, server).calls()
}

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn chmod(path: &std::path::Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// Whether this process may give files away (root, as in CI).
fn is_root() -> bool {
    paystat::ownership::me() == 0
}

#[test]
fn a_config_file_in_the_working_directory_is_not_read() {
    let dir = tempfile::tempdir().unwrap();
    let (attacker, mock) = listening_server();
    std::fs::write(
        dir.path().join("paystat.toml"),
        format!("[ledger]\nbase_url = \"{}\"\n", attacker.url("/v1")),
    )
    .unwrap();
    let check = |extra: &[&str]| {
        paystat(dir.path())
            .env("PAYSTAT_LEDGER_TOKEN", LEDGER_TOKEN)
            .args(["check", "--max-attempts", "1", "--timeout", "1s"])
            .args(extra)
            .arg("txn_001")
            .output()
            .unwrap()
    };
    let output = check(&[]);
    assert_eq!(hits(&attacker, mock), 0, "{}", stderr(&output));
    assert!(
        stderr(&output).contains(
            "paystat: paystat.toml in this directory is not read (paystat reads only the file you name"
        ),
        "{}",
        stderr(&output)
    );
    // Named, the same file is the user's choice: it is read, and said.
    let named = check(&["--config", "paystat.toml"]);
    assert_eq!(hits(&attacker, mock), 1, "{}", stderr(&named));
    assert!(stderr(&named).starts_with("paystat: configuration from paystat.toml\n"));
}

#[test]
fn paystat_config_names_the_file_and_the_user_file_is_the_default() {
    let dir = tempfile::tempdir().unwrap();
    let (gateway, mock) = listening_server();
    let text = format!("[ledger]\nbase_url = \"{}\"\n", gateway.url("/v1"));
    std::fs::write(dir.path().join("team.toml"), &text).unwrap();
    let run = |config: Option<&str>| {
        let mut command = paystat(dir.path());
        if let Some(config) = config {
            command.env("PAYSTAT_CONFIG", config);
        }
        command
            .args(["check", "--max-attempts", "1", "--timeout", "1s", "txn_001"])
            .output()
            .unwrap()
    };
    run(Some("team.toml"));
    assert_eq!(hits(&gateway, mock), 1);
    let user_file = write_config(dir.path(), &text);
    let output = run(None);
    assert_eq!(hits(&gateway, mock), 2);
    assert!(
        stderr(&output).starts_with(&format!(
            "paystat: configuration from {}\n",
            user_file.display()
        )),
        "{}",
        stderr(&output)
    );
}

#[test]
fn files_others_can_change_are_refused_with_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "[ledger]\ntimeout = \"2s\"\n");
    let run = || {
        paystat(dir.path())
            .args(["check", "--base-url", &crate::helpers::refused_base_url()])
            .arg("txn_001")
            .output()
            .unwrap()
    };
    chmod(&config, 0o664);
    let output = run();
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        stderr(&output).trim_end(),
        format!(
            "paystat: the config file {0} is writable by its group or others (mode 0664); run `chmod go-w {0}` (shared use goes through `paystat serve`, not a shared file)",
            config.display()
        )
    );
    chmod(&config, 0o644);
    // A CA file or an audit key file others can write is refused the same way.
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, "").unwrap();
    chmod(&ca, 0o666);
    std::fs::write(&config, format!("ca_cert = {:?}\n", ca)).unwrap();
    assert!(
        stderr(&run()).contains("the CA certificate file") && stderr(&run()).contains("mode 0666")
    );
    let key = dir.path().join("audit.key");
    std::fs::write(&key, "audit-key-canary-55e1").unwrap();
    chmod(&key, 0o660);
    std::fs::write(&config, format!("[audit]\nkey_file = {:?}\n", key)).unwrap();
    let output = run();
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("the audit key file"),
        "{}",
        stderr(&output)
    );
    assert!(
        crate::helpers::live_trail(dir.path()).is_empty(),
        "nothing was checked"
    );
    if !is_root() {
        eprintln!("skipped the other-owner case: only root can give a file to another user");
        return;
    }
    std::fs::write(&config, "").unwrap();
    chmod(&config, 0o600);
    std::os::unix::fs::chown(&config, Some(65_534), None).unwrap();
    let output = run();
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("belongs to user 65534, not to the user running paystat (0)"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn a_credential_variable_may_not_be_one_paystat_reads_for_something_else() {
    let dir = tempfile::tempdir().unwrap();
    let (attacker, mock) = listening_server();
    write_config(
        dir.path(),
        &format!(
            "[stripe]\nbase_url = \"{}\"\nkey_env = \"PAYSTAT_AUDIT_KEY\"\n",
            attacker.url("")
        ),
    );
    let output = paystat(dir.path())
        .env("PAYSTAT_AUDIT_KEY", "audit-key-canary-0c4f")
        .args([
            "check",
            "--gateway",
            "stripe",
            "pi_3MtwBwLkdIwHu7ix28a3tqPa",
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(hits(&attacker, mock), 0);
    assert!(
        stderr(&output).contains(
            "[stripe] key_env names PAYSTAT_AUDIT_KEY, which paystat reads as the audit key"
        ),
        "{}",
        stderr(&output)
    );
    assert!(!stderr(&output).contains("audit-key-canary"));
}

/// A ledger at `server` that answers `txn_003` with `status`, marking its reply with the header
/// paystat's own mock sends.
fn ledger_answering(server: &httpmock::MockServer, status: &str) {
    let body = format!(
        r#"{{"id": "txn_003", "status": "{status}", "amount": 75.50, "currency": "USD", "created_at": "2025-01-06T10:30:00Z"}}"#
    );
    server.mock(|when, then| {
        when.path("/v1/payments/txn_003");
        then.status(200)
            .header("Content-Type", "application/json")
            .header("X-Paystat-Mock", "1")
            .body(body);
    });
}

fn check_json(dir: &std::path::Path, base: &str, mock: bool) -> serde_json::Value {
    check_with(dir, base, mock, Some(LEDGER_TOKEN))
}

fn check_with(
    dir: &std::path::Path,
    base: &str,
    mock: bool,
    token: Option<&str>,
) -> serde_json::Value {
    let mut command = paystat(dir);
    if mock {
        command.env("PAYSTAT_LEDGER_ENVIRONMENT", "mock");
    }
    if let Some(token) = token {
        command.env("PAYSTAT_LEDGER_TOKEN", token);
    }
    let output = command
        .args(["check", "--format", "json", "--base-url", base, "txn_003"])
        .output()
        .unwrap();
    let results: serde_json::Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", stderr(&output)));
    results[0].clone()
}

#[test]
fn a_reply_header_cannot_relabel_the_trail() {
    let dir = tempfile::tempdir().unwrap();
    let server = httpmock::MockServer::start();
    ledger_answering(&server, "completed");
    check_json(dir.path(), &server.url("/v1"), false);
    let trail = crate::helpers::live_trail(dir.path());
    assert!(trail.contains(r#""environment":"live""#), "{trail}");
    assert!(!trail.contains(r#""environment":"mock""#), "{trail}");
}

#[test]
fn mock_and_live_answers_never_meet_on_one_port() {
    let dir = tempfile::tempdir().unwrap();
    let server = httpmock::MockServer::start();
    let base = server.url("/v1");
    // A mock on the port: its final "failed" is cached as the mock's.
    ledger_answering(&server, "failed");
    let mocked = check_json(dir.path(), &base, true);
    assert_eq!(mocked["status"], "failed", "{mocked}");
    // The mock stops; the live ledger on the same port knows better. A live run asks it.
    server.reset();
    ledger_answering(&server, "completed");
    let live = check_json(dir.path(), &base, false);
    assert_eq!(
        (&live["status"], &live["source"]),
        (&"completed".into(), &"gateway".into())
    );
    // And the mock's own runs still reuse the mock's answer.
    let again = check_json(dir.path(), &base, true);
    assert_eq!(
        (&again["status"], &again["source"]),
        (&"failed".into(), &"cache".into())
    );
}

#[test]
fn only_a_gateway_on_this_machine_can_be_marked_as_a_mock() {
    let dir = tempfile::tempdir().unwrap();
    let output = paystat(dir.path())
        .env("PAYSTAT_STRIPE_ENVIRONMENT", "mock")
        .env("PAYSTAT_STRIPE_KEY", crate::helpers::STRIPE_KEY)
        .args([
            "check",
            "--gateway",
            "stripe",
            "pi_3MtwBwLkdIwHu7ix28a3tqPa",
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        stderr(&output).trim_end(),
        "paystat: the stripe base URL `https://api.stripe.com/` is not on this machine, so PAYSTAT_STRIPE_ENVIRONMENT=mock cannot mark it as paystat's mock; unset PAYSTAT_STRIPE_ENVIRONMENT"
    );
}

#[test]
fn a_cached_answer_is_served_only_to_the_credentials_that_asked() {
    let dir = tempfile::tempdir().unwrap();
    let server = httpmock::MockServer::start();
    let base = server.url("/v1");
    ledger_answering(&server, "failed");
    check_with(dir.path(), &base, false, Some(LEDGER_TOKEN));
    // The gateway now knows better; only a run with the same credential may reuse the
    // answer that credential obtained.
    server.reset();
    ledger_answering(&server, "completed");
    let source_and_status = |token| {
        let result = check_with(dir.path(), &base, false, token);
        (result["source"].clone(), result["status"].clone())
    };
    assert_eq!(
        source_and_status(Some(LEDGER_TOKEN)),
        ("cache".into(), "failed".into())
    );
    for other in [Some("tok_another_operator_77"), None] {
        assert_eq!(
            source_and_status(other),
            ("gateway".into(), "completed".into()),
            "{other:?}"
        );
    }
    // The cache holds a salted fingerprint, never the credential, in any form.
    let cache = std::fs::read(dir.path().join("state/paystat/cache.sqlite3")).unwrap();
    let cache = String::from_utf8_lossy(&cache);
    for form in crate::helpers::secret_forms(LEDGER_TOKEN) {
        assert!(!cache.contains(&form), "the cache holds {form}");
    }
}

#[test]
fn state_others_can_change_is_refused_before_any_request() {
    let dir = tempfile::tempdir().unwrap();
    let (gateway, mock) = listening_server();
    let state = dir.path().join("state/paystat");
    let run = || {
        paystat(dir.path())
            .args(["check", "--max-attempts", "1", "--base-url"])
            .arg(gateway.url("/v1"))
            .arg("txn_001")
            .output()
            .unwrap()
    };
    // A first run creates the state private, whatever the umask.
    run();
    let first_hits = hits(&gateway, mock);
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&state), 0o700);
    assert_eq!(mode(&state.join("audit")), 0o700);
    assert_eq!(mode(&state.join("cache.sqlite3")), 0o600);
    let day = std::fs::read_dir(state.join("audit"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .unwrap();
    assert_eq!(mode(&day), 0o600);
    let refused = |path: &std::path::Path, exit: i32, said: &str| {
        let output = run();
        assert_eq!(output.status.code(), Some(exit), "{}", stderr(&output));
        assert!(stderr(&output).contains(said), "{}", stderr(&output));
        assert!(stderr(&output).contains(&path.display().to_string()));
        assert_eq!(hits(&gateway, mock), first_hits, "nothing was asked");
    };
    for (path, mode, exit, what) in [
        (&state, 0o777, 2, "the state directory"),
        (&state.join("audit"), 0o770, 4, "the audit directory"),
        (&day, 0o666, 4, "the audit day file"),
        (&state.join("cache.sqlite3"), 0o660, 2, "the status cache"),
    ] {
        let before = std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
        chmod(path, mode);
        refused(path, exit, &format!("{what} "));
        chmod(path, before);
    }
    // A day file that is a link is refused, wherever it points.
    let real = dir.path().join("elsewhere.jsonl");
    std::fs::rename(&day, &real).unwrap();
    std::os::unix::fs::symlink(&real, &day).unwrap();
    refused(&day, 4, "is a symbolic link");
    std::fs::remove_file(&day).unwrap();
    std::fs::rename(&real, &day).unwrap();
    if !is_root() {
        eprintln!("skipped the other-owner case: only root can give a file to another user");
        return;
    }
    std::os::unix::fs::chown(&day, Some(65_534), None).unwrap();
    refused(&day, 4, "belongs to user 65534");
}

#[test]
fn exports_and_tables_are_safe_to_open() {
    let dir = tempfile::tempdir().unwrap();
    let server = httpmock::MockServer::start();
    let id = "@evil|id";
    let word = "=HYPERLINK(\"http://x\")|\u{1b}]8;;http://x\u{7}";
    let body = serde_json::json!({
        "id": id, "status": word, "amount": 1.00, "currency": "USD",
        "created_at": "2025-01-06T10:30:00Z"
    });
    server.mock(|when, then| {
        when.any_request();
        then.status(200)
            .header("Content-Type", "application/json")
            .body(body.to_string());
    });
    let run = |args: &[&str]| {
        let output = paystat(dir.path()).args(args).output().unwrap();
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    let base = server.url("/v1");
    let csv = run(&["check", "--format", "csv", "--base-url", &base, id]);
    let export = run(&["audit", "export", "--format", "csv"]);
    let history = run(&["audit", "history", id]);
    for (what, text) in [("check csv", &csv), ("export csv", &export)] {
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let headers = reader.headers().unwrap().clone();
        let row = reader.records().next().unwrap().unwrap();
        let cell = |name: &str| row[headers.iter().position(|h| h == name).unwrap()].to_owned();
        assert_eq!(cell("payment_id"), "'@evil|id", "{what}: {text}");
        assert_eq!(
            cell("gateway_status"),
            "'=HYPERLINK(\"http://x\")|\\u{1b}]8;;http://x\\u{7}",
            "{what}: {text}"
        );
        assert!(
            !text.contains('\u{1b}') && !text.contains('\u{7}'),
            "{what}"
        );
    }
    assert!(
        history.contains("=HYPERLINK(\\\"http://x\\\")\\|\\u{1b}]8;;http://x\\u{7}"),
        "{history}"
    );
    assert!(!history.contains('\u{1b}'), "{history}");
    // The JSON-lines export keeps the exact text.
    let jsonl = run(&["audit", "export"]);
    let line: serde_json::Value = serde_json::from_str(jsonl.lines().next().unwrap()).unwrap();
    assert_eq!(line["gateway_status"], word);
    assert_eq!(line["payment_id"], id);
}

/// `paystat check` over `input` on standard input, against a ledger that knows every id.
fn check_input(
    dir: &std::path::Path,
    server: &httpmock::MockServer,
    input: &[u8],
    flags: &[&str],
) -> std::process::Output {
    use std::io::Write;
    let mut child = paystat(dir)
        .args(["check", "--format", "jsonl", "--ordered", "--base-url"])
        .arg(server.url("/v1"))
        .args(flags)
        .arg("-")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

/// A ledger that answers every id as completed.
fn every_id_server() -> httpmock::MockServer {
    let server = httpmock::MockServer::start();
    server.mock(|when, then| {
        when.path_includes("/v1/payments/");
        then.status(200)
            .header("Content-Type", "application/json")
            .body(r#"{"id": "x", "status": "completed", "amount": 1.00, "currency": "USD"}"#);
    });
    server
}

fn checked_ids(output: &std::process::Output) -> Vec<String> {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["payment_id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect()
}

#[test]
fn no_id_is_lost_without_a_word() {
    let dir = tempfile::tempdir().unwrap();
    let server = every_id_server();
    // `#1001` is an id unless comments are asked for.
    let output = check_input(dir.path(), &server, b"txn_1\n#1001\n\ntxn_2\n", &[]);
    assert_eq!(checked_ids(&output), ["txn_1", "#1001", "txn_2"]);
    let output = check_input(dir.path(), &server, b"txn_1\n#1001\n", &["--skip-comments"]);
    assert_eq!(checked_ids(&output), ["txn_1"]);
    // A record that does not parse stops the input: the ids before it are checked and shown,
    // and the run exits 2 naming the line.
    for (input, said) in [
        (
            &b"id,note\ntxn_1,a\n\"txn_2,b\ntxn_3,c\n"[..],
            "line 3 of the input opens a quote that is never closed",
        ),
        (
            b"txn_1\ntxn_c\rd\ntxn_4\n",
            "line 2 of the input holds a carriage return (CR) inside it (save it with ordinary line breaks)",
        ),
        (
            b"amount,id\n5,txn_1\n6\n7,txn_3\n",
            "line 3 of the input has 1 cell, but the ids are in column 2",
        ),
    ] {
        let output = check_input(dir.path(), &server, input, &[]);
        assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
        assert_eq!(checked_ids(&output), ["txn_1"], "{}", stderr(&output));
        let last = stderr(&output).lines().last().unwrap().to_owned();
        assert_eq!(
            last,
            format!(
                "paystat: {said}; 1 id read before it: 1 checked, 0 rejected; the rest of the input was not read"
            ),
        );
    }
}

#[test]
fn an_endless_record_ends_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let output = paystat(dir.path())
        .args(["check", "--base-url", &crate::helpers::refused_base_url()])
        .args(["--ids-file", "/dev/zero"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        stderr(&output).trim_end(),
        "paystat: line 1 of the input is longer than 64 KiB; no payment id is that long; 0 ids read before it: 0 checked, 0 rejected; the rest of the input was not read"
    );
}

/// The longest record paystat takes, held in memory: its peak, read from /proc while it waits
/// for the rest of the record, stays small; one byte more ends the run.
#[test]
fn the_longest_record_keeps_memory_flat() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let mut child = paystat(dir.path())
        .args([
            "check",
            "--base-url",
            &crate::helpers::refused_base_url(),
            "-",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let record = vec![b'x'; 64 * 1024];
    stdin.write_all(&record).unwrap();
    stdin.flush().unwrap();
    let proc = |file: &str| std::fs::read_to_string(format!("/proc/{}/{file}", child.id()));
    // Wait (without sleeping) until the child has read the whole record.
    let read = |io: &str| -> u64 {
        io.lines()
            .find_map(|l| l.strip_prefix("rchar: "))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or(0)
    };
    let started = std::time::Instant::now();
    while proc("io").map(|io| read(&io)).unwrap_or(0) < record.len() as u64 {
        assert!(
            started.elapsed().as_secs() < 60,
            "the child never read its input"
        );
        std::thread::yield_now();
    }
    let status = proc("status").unwrap();
    let peak_kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    assert!(peak_kib < 64 * 1024, "peak memory {peak_kib} KiB");
    stdin.write_all(b"x").unwrap();
    drop(stdin);
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("line 1 of the input is longer than 64 KiB"));
}

/// Every way a gateway can echo `secret`, as it would send it.
fn echo_forms(secret: &str, basic_user: Option<&str>) -> Vec<(&'static str, String)> {
    use base64::Engine;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
    let mut forms = vec![
        ("raw", secret.to_owned()),
        (
            "json-escaped",
            secret
                .chars()
                .map(|c| format!("\\u{:04x}", c as u32))
                .collect(),
        ),
        (
            "percent-encoded",
            secret.bytes().map(|b| format!("%{b:02X}")).collect(),
        ),
        ("base64", STANDARD.encode(secret)),
        ("base64url", URL_SAFE_NO_PAD.encode(format!("::{secret}"))),
    ];
    if let Some(user) = basic_user {
        forms.push((
            "basic",
            format!("Basic {}", STANDARD.encode(format!("{user}:{secret}"))),
        ));
    }
    forms
}

/// A gateway that refuses every request and echoes `form` in its body, its request id and a
/// byte that is not UTF-8.
fn echoing_server(form: &str) -> (httpmock::MockServer, usize) {
    let server = httpmock::MockServer::start();
    let mut body = format!(
        r#"{{"error": "unauthorized", "message": "bad credential {form}", "error_message": "bad credential {form}", "request_id": "{form}", "error": {{"type": "invalid_request_error", "message": "bad key {form}"}}}}"#
    )
    .into_bytes();
    body.extend_from_slice(b"\xff");
    body.extend_from_slice(form.as_bytes());
    let id = server
        .mock(|when, then| {
            when.any_request();
            then.status(401)
                .header("Content-Type", "application/json")
                .header("X-Request-Id", form)
                .header("Request-Id", form)
                .body(body);
        })
        .id();
    (server, id)
}

/// A gateway, an id of its, the credential variables, the secret among them, and the Basic
/// user when the secret is a password.
type EchoCase<'a> = (
    &'a str,
    &'a str,
    Vec<(&'a str, &'a str)>,
    &'a str,
    Option<&'a str>,
);

#[test]
fn an_echoed_secret_never_leaves_in_any_form() {
    use crate::helpers::{PLAID_CLIENT_ID, PLAID_SECRET, STRIPE_KEY};
    const PASSWORD: &str = "pw_echo_canary_3c1e";
    let cases: [EchoCase; 4] = [
        (
            "ledger",
            "txn_001",
            vec![("PAYSTAT_LEDGER_TOKEN", LEDGER_TOKEN)],
            LEDGER_TOKEN,
            None,
        ),
        (
            "ledger",
            "txn_001",
            vec![
                ("PAYSTAT_LEDGER_USER", "opsuser"),
                ("PAYSTAT_LEDGER_PASSWORD", PASSWORD),
            ],
            PASSWORD,
            Some("opsuser"),
        ),
        (
            "stripe",
            "pi_3MtwBwLkdIwHu7ix28a3tqPa",
            vec![("PAYSTAT_STRIPE_KEY", STRIPE_KEY)],
            STRIPE_KEY,
            None,
        ),
        (
            "plaid",
            "460cbe92-2dcc-8eae-5ad6-b37d0ec90fd9",
            vec![
                ("PAYSTAT_PLAID_CLIENT_ID", PLAID_CLIENT_ID),
                ("PAYSTAT_PLAID_SECRET", PLAID_SECRET),
            ],
            PLAID_SECRET,
            None,
        ),
    ];
    for (gateway, id, env, secret, user) in cases {
        for (form_name, form) in echo_forms(secret, user) {
            let dir = tempfile::tempdir().unwrap();
            let (server, mock) = echoing_server(&form);
            let base = match gateway {
                "ledger" => server.url("/v1"),
                _ => server.base_url(),
            };
            let with_env = |command: &mut std::process::Command| {
                for (name, value) in &env {
                    command.env(name, value);
                }
                command.env("RUST_LOG", "paystat=trace");
            };
            let mut check = paystat(dir.path());
            with_env(&mut check);
            let checked = check
                .args([
                    "check",
                    "--format",
                    "json",
                    "--max-attempts",
                    "1",
                    "--gateway",
                    gateway,
                    "--base-url",
                    &base,
                    id,
                ])
                .output()
                .unwrap();
            let mut record = paystat(dir.path());
            with_env(&mut record);
            let recorded = record
                .args([
                    "record",
                    "--gateway",
                    gateway,
                    "--base-url",
                    &base,
                    "--out",
                    "echo.toml",
                    id,
                ])
                .output()
                .unwrap();
            assert_eq!(hits(&server, mock), 2, "{gateway} {form_name}: both asked");
            assert_eq!(recorded.status.code(), Some(0), "{}", stderr(&recorded));
            let mut everything = vec![
                ("check stdout", checked.stdout.clone()),
                ("check stderr and logs", checked.stderr.clone()),
                ("record stdout", recorded.stdout.clone()),
                ("record stderr and logs", recorded.stderr.clone()),
            ];
            for file in crate::helpers::walk(dir.path()) {
                if !file.to_string_lossy().contains("/config/") {
                    everything.push(("a file paystat wrote", std::fs::read(&file).unwrap()));
                }
            }
            assert!(
                everything
                    .iter()
                    .any(|(_, b)| String::from_utf8_lossy(b).contains("[REDACTED]"))
            );
            for (what, bytes) in everything {
                let text = String::from_utf8_lossy(&bytes);
                for needle in [secret, form.as_str(), form.trim_start_matches("Basic ")] {
                    assert!(
                        !text.contains(needle),
                        "{gateway} {form_name}: {what} holds the secret: {text}"
                    );
                }
            }
        }
    }
}

#[test]
fn an_actor_is_a_name_not_a_document() {
    let dir = tempfile::tempdir().unwrap();
    let long = "a".repeat(257);
    let output = paystat(dir.path())
        .args([
            "check",
            "--actor",
            &long,
            "--base-url",
            &crate::helpers::refused_base_url(),
            "txn_001",
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        stderr(&output).trim_end(),
        "paystat: --actor is 257 characters long; say who is checking in at most 256"
    );
    assert!(crate::helpers::live_trail(dir.path()).is_empty());
}

#[test]
fn an_id_that_holds_a_credential_is_neither_sent_nor_written_down() {
    let dir = tempfile::tempdir().unwrap();
    let (gateway, mock) = listening_server();
    let output = paystat(dir.path())
        .env("PAYSTAT_LEDGER_TOKEN", LEDGER_TOKEN)
        .args([
            "check",
            "--format",
            "json",
            "--base-url",
            &gateway.url("/v1"),
        ])
        .arg(format!("txn_{LEDGER_TOKEN}"))
        .output()
        .unwrap();
    assert_eq!(hits(&gateway, mock), 0);
    assert_eq!(output.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains(r#""payment_id": "[REDACTED]""#), "{stdout}");
    let trail = crate::helpers::live_trail(dir.path());
    assert!(trail.contains(r#""payment_id":"[REDACTED]""#), "{trail}");
    for text in [stdout.as_ref(), trail.as_str(), &stderr(&output)] {
        assert!(!text.contains(LEDGER_TOKEN), "{text}");
    }
}

/// What `record` asks of a fixture before writing it: any form of any configured credential.
#[test]
fn the_last_look_before_a_recording_finds_every_form() {
    use base64::Engine;
    let dir = tempfile::tempdir().unwrap();
    let checker = crate::helpers::checker_for(
        dir.path(),
        paystat::GatewayKind::Stripe,
        &crate::helpers::refused_server(),
    );
    let key = crate::helpers::STRIPE_KEY;
    let base64 = base64::engine::general_purpose::STANDARD.encode(format!("x{key}"));
    assert_eq!(
        checker.echoed_secret(format!("body = '''{base64}'''").as_bytes()),
        Some((paystat::GatewayKind::Stripe, "base64-encoded"))
    );
    assert!(
        checker
            .echoed_secret(key.replace('s', "\\u0073").as_bytes())
            .is_some()
    );
    assert_eq!(checker.echoed_secret(b"body = '''{}'''"), None);
}
