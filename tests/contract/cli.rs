//! The real binary: stdout, stderr and exit code of `check` and `demo`, snapshotted.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use paystat::GatewayKind;
use paystat::contract::EmbeddedMock;
use paystat::contract::ScenarioSet;

use crate::helpers::{self, fixtures_dir, paystat, refused_base_url, walk};

/// Snapshot settings: CLI snapshots live in `snapshots/cli/`; temp paths, ports and
/// durations are replaced by placeholders.
pub(crate) fn settings(dir: &Path) -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(concat!(env!("CARGO_MANIFEST_DIR"), "/snapshots/cli"));
    settings.set_prepend_module_to_snapshot(false);
    let dir = dir.canonicalize().unwrap();
    settings.add_filter(&regex_escape(&dir.display().to_string()), "[TMP]");
    settings.add_filter(r"127\.0\.0\.1:\d+", "127.0.0.1:[PORT]");
    settings.add_filter(r#""duration_ms": \d+"#, r#""duration_ms": "[ms]""#);
    settings.add_filter(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z", "[TIME]");
    settings.add_filter(r"\d{4}-\d\d-\d\d\.jsonl", "[DAY].jsonl");
    // The summary's timings (the run's, the percentiles, the slowest checks) vary run to run.
    settings.add_filter(
        r"(checks? in|p50|p95|p99|max) \d+(\.\d)? (ms|s|min)",
        "$1 [t]",
    );
    settings.add_filter(r"\d+(\.\d)? (ms|s|min) waiting", "[t] waiting");
    settings.add_filter(r"slowest: .*", "slowest: [the slowest checks]");
    // How old a cached answer is depends on how fast the test ran.
    settings.add_filter(r#""cache_age_s": ?\d+"#, r#""cache_age_s":"[age]""#);
    settings.add_filter(r",cache,\d+", ",cache,[age]");
    settings.add_filter(r"cache, \d+(\.\d)? (ms|s|min) old", "cache, [age] old");
    settings
}

/// Runs `cmd` and snapshots its exit code, stdout and stderr; `shown` is the command line as a
/// reader should see it (without ports or temp paths), kept in the snapshot header.
pub(crate) fn assert_run(name: &str, shown: &str, cmd: &mut Command) {
    assert_output(name, shown, cmd.output().expect("paystat runs"));
}

/// Snapshots an output already collected (see [`assert_run`]).
fn assert_output(name: &str, shown: &str, output: std::process::Output) {
    let text = format!(
        "exit code: {}\n----- stdout -----\n{}----- stderr -----\n{}",
        output
            .status
            .code()
            .map_or("killed".into(), |c| c.to_string()),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
    let mut settings = insta::Settings::clone_current();
    settings.set_description(shown);
    settings.set_omit_expression(true);
    settings.bind(|| insta::assert_snapshot!(name, text));
}

pub(crate) fn regex_escape(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '/' || c == '_' || c == '-' {
                c.to_string()
            } else {
                format!("\\{c}")
            }
        })
        .collect()
}

fn with_stdin(cmd: &mut Command, input: &str) -> std::process::Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

async fn mock() -> EmbeddedMock {
    EmbeddedMock::start(ScenarioSet::from_dir(&fixtures_dir()).unwrap().scenarios()).await
}

/// Lines in the single-file trail `path`.
fn file_line_count(path: &Path) -> usize {
    std::fs::read_to_string(path)
        .map(|t| t.lines().count())
        .unwrap_or(0)
}

/// Lines in the live trail of `paystat(dir)`.
fn audit_line_count(dir: &Path) -> usize {
    helpers::live_trail(dir).lines().count()
}

#[test]
fn demo_checks_the_reference_payments() {
    let dir = tempfile::tempdir().unwrap();
    settings(dir.path()).bind(|| {
        assert_run("demo", "paystat demo", paystat(dir.path()).arg("demo"));
    });
    assert_eq!(
        audit_line_count(dir.path()),
        0,
        "the demo never writes the live trail"
    );
    assert_eq!(helpers::demo_trail(dir.path()).lines().count(), 10);
    assert!(
        !dir.path().join("payment_audit.jsonl").exists(),
        "nor the working directory"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_prints_json_and_exits_1_when_one_is_missing() {
    let mock = mock().await;
    let dir = tempfile::tempdir().unwrap();
    let audit = dir.path().join("audit.jsonl");
    let mut cmd = paystat(dir.path());
    cmd.args([
        "check",
        "--format",
        "json",
        "--base-url",
        &mock.base_url(GatewayKind::Ledger),
    ])
    .arg("--audit-log")
    .arg(&audit)
    .args(["--actor", "ops-oncall", "txn_001", "txn_003", "txn_999"]);
    settings(dir.path()).bind(|| {
        assert_run("check_json", "paystat check --format json --base-url [MOCK] --audit-log [TMP]/audit.jsonl --actor ops-oncall txn_001 txn_003 txn_999", &mut cmd)
    });
    assert_eq!(file_line_count(&audit), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_ids_are_shown_escaped_and_still_audited() {
    let mock = mock().await;
    let dir = tempfile::tempdir().unwrap();
    let audit = dir.path().join("audit.jsonl");
    let mut cmd = paystat(dir.path());
    cmd.args(["check", "--base-url", &mock.base_url(GatewayKind::Ledger)])
        .arg("--audit-log")
        .arg(&audit)
        .args(["txn_002", "txn_1\n| forged | row |", "", "../txn_001"]);
    settings(dir.path()).bind(|| {
        assert_run("check_hostile_ids", r#"paystat check --base-url [MOCK] --audit-log [TMP]/audit.jsonl txn_002 $'txn_1\n| forged | row |' '' ../txn_001"#, &mut cmd)
    });
    assert_eq!(file_line_count(&audit), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ids_can_come_from_standard_input() {
    let mock = mock().await;
    let dir = tempfile::tempdir().unwrap();
    let audit = dir.path().join("audit.jsonl");
    let mut cmd = paystat(dir.path());
    cmd.args(["check", "--base-url", &mock.base_url(GatewayKind::Ledger)])
        .arg("--audit-log")
        .arg(&audit)
        .arg("-");
    settings(dir.path()).bind(|| {
        assert_output("check_stdin", "printf 'txn_001\\ntxn_002\\n\\ntxn_003\\n' | paystat check --base-url [MOCK] --audit-log [TMP]/audit.jsonl -", with_stdin(&mut cmd, "txn_001\ntxn_002\n\ntxn_003\n"));
    });
    assert_eq!(file_line_count(&audit), 3);
}

#[test]
fn an_unreachable_gateway_exits_3() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = paystat(dir.path());
    cmd.args([
        "check",
        "--backoff-base",
        "1ms",
        "--backoff-cap",
        "2ms",
        "--base-url",
        &refused_base_url(),
        "txn_001",
    ]);
    settings(dir.path()).bind(|| {
        assert_run(
            "check_unreachable",
            "paystat check --backoff-base 1ms --backoff-cap 2ms --base-url [NOTHING LISTENS] txn_001",
            &mut cmd,
        )
    });
    assert_eq!(audit_line_count(dir.path()), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unwritable_audit_log_exits_4_and_shows_nothing() {
    let mock = mock().await;
    let dir = tempfile::tempdir().unwrap();
    let base = mock.base_url(GatewayKind::Ledger);
    let mut missing_dir = paystat(dir.path());
    missing_dir.args([
        "check",
        "--base-url",
        &base,
        "--audit-log",
        "no/such/dir/audit.jsonl",
        "txn_001",
    ]);
    let mut full_disk = paystat(dir.path());
    full_disk.args([
        "check",
        "--base-url",
        &base,
        "--audit-log",
        "/dev/full",
        "txn_001",
        "txn_002",
    ]);
    settings(dir.path()).bind(|| {
        assert_run(
            "check_audit_dir_missing",
            "paystat check --base-url [MOCK] --audit-log no/such/dir/audit.jsonl txn_001",
            &mut missing_dir,
        );
        assert_run(
            "check_audit_device_refused",
            "paystat check --base-url [MOCK] --audit-log /dev/full txn_001 txn_002",
            &mut full_disk,
        );
    });
}

#[test]
fn a_full_disk_withholds_every_result_and_exits_4() {
    let disk = match helpers::FullDisk::mount() {
        Ok(disk) => disk,
        Err(why) => {
            eprintln!("skipped a_full_disk_withholds_every_result_and_exits_4: {why}");
            return;
        }
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mock = runtime.block_on(async {
        let scenarios = ScenarioSet::from_dir(&fixtures_dir()).unwrap();
        EmbeddedMock::start(scenarios.scenarios()).await
    });
    let dir = tempfile::tempdir().unwrap();
    let output = paystat(dir.path())
        .args([
            "check",
            "--base-url",
            &mock.base_url(GatewayKind::Ledger),
            "--audit-log",
        ])
        .arg(disk.path("audit.jsonl"))
        .args(["txn_001", "txn_002"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(4), "{stderr}");
    assert!(output.stdout.is_empty(), "no unaudited answer is shown");
    assert!(
        stderr.contains("No space left on device") && stderr.contains("of 2 results withheld"),
        "{stderr}"
    );
}

#[test]
fn configuration_errors_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let mut bad_url = paystat(dir.path());
    bad_url.args(["check", "--base-url", "ftp://ledger.internal/v1", "txn_001"]);
    let mut half_basic = paystat(dir.path());
    half_basic
        .env("PAYSTAT_LEDGER_USER", "ops")
        .args(["check", "txn_001"]);
    let mut bad_timeout = paystat(dir.path());
    bad_timeout.args(["check", "--timeout", "soon", "txn_001"]);
    settings(dir.path()).bind(|| {
        assert_run(
            "check_bad_base_url",
            "paystat check --base-url ftp://ledger.internal/v1 txn_001",
            &mut bad_url,
        );
        assert_run(
            "check_half_basic_credentials",
            "PAYSTAT_LEDGER_USER=ops paystat check txn_001",
            &mut half_basic,
        );
        assert_run(
            "check_bad_timeout",
            "paystat check --timeout soon txn_001",
            &mut bad_timeout,
        );
    });
    assert_eq!(audit_line_count(dir.path()), 0, "nothing was checked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_output_or_the_audit_log() {
    const TOKEN: &str = "tok_cli_canary_7e3a";
    const PASSWORD: &str = "pw_cli_canary_91f0";
    let mock = mock().await;
    let dir = tempfile::tempdir().unwrap();
    let base = mock.base_url(GatewayKind::Ledger);
    let runs = [
        paystat(dir.path())
            .env("PAYSTAT_LEDGER_TOKEN", TOKEN)
            .env("RUST_LOG", "trace")
            .args([
                "check",
                "--max-attempts",
                "1",
                "--base-url",
                &base,
                "txn_001",
                "txn_http_500",
                "txn_999",
                "",
            ])
            .output()
            .unwrap(),
        paystat(dir.path())
            .env("PAYSTAT_LEDGER_USER", "ops")
            .env("PAYSTAT_LEDGER_PASSWORD", PASSWORD)
            .env("RUST_LOG", "trace")
            .args([
                "check",
                "--format",
                "json",
                "--base-url",
                &base,
                "txn_002",
                "txn_http_401",
            ])
            .output()
            .unwrap(),
        paystat(dir.path())
            .env("PAYSTAT_LEDGER_TOKEN", TOKEN)
            .env("RUST_LOG", "trace")
            .arg("demo")
            .output()
            .unwrap(),
    ];
    let audit = helpers::live_trail(dir.path()) + &helpers::demo_trail(dir.path());
    assert_eq!(audit.lines().count(), 4 + 2 + 10);
    let mut everything = audit;
    for run in &runs {
        everything.push_str(&String::from_utf8_lossy(&run.stdout));
        everything.push_str(&String::from_utf8_lossy(&run.stderr));
    }
    // The trace-level diagnostics really ran (so the scan below had something to scan).
    assert!(
        everything.contains("sending status request"),
        "{everything}"
    );
    for secret in [TOKEN, PASSWORD, "b3BzOnB3X2NsaV9jYW5hcnlfOTFmMA=="] {
        assert!(!everything.contains(secret), "a secret leaked: {secret}");
    }
}

#[test]
fn mock_serve_answers_like_the_demo_and_logs_no_credentials() {
    let dir = tempfile::tempdir().unwrap();
    // A copy of the fixtures without the three 1 MiB bodies, which take seconds to hand to
    // httpmock in a debug build (this also exercises `--fixtures DIR`).
    let fixtures = dir.path().join("fixtures");
    for entry in walk(&fixtures_dir()) {
        let relative = entry.strip_prefix(fixtures_dir()).unwrap();
        if relative.ends_with("body_over_1mib.toml") {
            continue;
        }
        std::fs::create_dir_all(fixtures.join(relative).parent().unwrap()).unwrap();
        std::fs::copy(&entry, fixtures.join(relative)).unwrap();
    }
    // The mock at trace level, asked to trace itself: it must still not print the headers or
    // bodies it receives, which carry the callers' credentials.
    let mut serve = paystat(dir.path())
        .env("RUST_LOG", "trace,httpmock=trace")
        .args(["mock", "serve", "--port", "0", "--fixtures"])
        .arg(&fixtures)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(serve.stdout.take().unwrap());
    let mut banner = String::new();
    stdout.read_line(&mut banner).unwrap();
    assert!(
        banner.starts_with("paystat mock gateway on http://127.0.0.1:"),
        "{banner}"
    );
    // The `export NAME=value` lines the mock prints, as a newcomer would paste them.
    let mut exports = Vec::new();
    loop {
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        if line.starts_with("# scenarios:") || line.is_empty() {
            break;
        }
        if let Some(assignments) = line.trim().strip_prefix("export ") {
            for pair in assignments.split(' ') {
                let (name, value) = pair.split_once('=').unwrap();
                exports.push((name.to_owned(), value.to_owned()));
            }
        }
    }
    assert_eq!(
        exports.len(),
        10,
        "three URLs, each marked as a mock, and four credentials: {exports:?}"
    );
    let urls: Vec<_> = exports
        .iter()
        .filter(|(name, _)| name.ends_with("_URL"))
        .collect();
    assert_eq!(urls.len(), 3);

    // Real-looking credentials, as a caller would send them: none may reach the mock's log.
    let mut check = paystat(dir.path());
    for (name, value) in &exports {
        check.env(name, value);
    }
    let check = check
        .env("PAYSTAT_LEDGER_TOKEN", helpers::LEDGER_TOKEN)
        .env("PAYSTAT_STRIPE_KEY", helpers::STRIPE_KEY)
        .env("PAYSTAT_PLAID_CLIENT_ID", helpers::PLAID_CLIENT_ID)
        .env("PAYSTAT_PLAID_SECRET", helpers::PLAID_SECRET)
        .args(["check", "--gateway", "auto"])
        .args(paystat::contract::DEMO_IDS)
        .output()
        .unwrap();
    let demo = paystat(dir.path()).arg("demo").output().unwrap();
    serve.kill().unwrap();
    serve.wait().unwrap();
    let mut serve_log = String::new();
    serve
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut serve_log)
        .unwrap();

    // The same answers as the demo, row for row, over all three gateways.
    let table = String::from_utf8_lossy(&check.stdout);
    assert_eq!(
        check.status.code(),
        Some(1),
        "txn_999 is missing: {}",
        String::from_utf8_lossy(&check.stderr)
    );
    assert_eq!(table, String::from_utf8_lossy(&demo.stdout));
    for (id, gateway, status) in [
        ("txn_003", "ledger", "failed"),
        ("pi_3MtwBwLkdIwHu7ixDeclined1", "stripe", "failed"),
        ("c0ffee00-1234-4abc-8def-0123456789ab", "plaid", "returned"),
    ] {
        let row = table
            .lines()
            .find(|l| l.starts_with(&format!("| {id} ")))
            .unwrap_or_else(|| panic!("{id}: {table}"));
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        assert_eq!((cells[2], cells[5]), (gateway, status), "{row}");
    }
    // Ten checks in the live trail, ten in the demo's; every one marked as asked of a mock
    // (the exports `mock serve` prints say so), so no demo or mock check passes for a live one.
    let live = helpers::live_trail(dir.path());
    assert_eq!(live.lines().count(), 10);
    assert_eq!(helpers::demo_trail(dir.path()).lines().count(), 10);
    for line in live.lines() {
        assert!(line.contains(r#""environment":"mock""#), "{line}");
    }
    for canary in helpers::CANARIES {
        assert!(
            !serve_log.contains(canary),
            "the mock logged a credential: {serve_log}"
        );
    }
}

#[test]
fn gateway_configuration_errors_exit_2_before_any_request() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("team.toml"),
        "[stripe]\nkey_env = \"TEAM_STRIPE_KEY\"\n",
    )
    .unwrap();
    let mut missing_key = paystat(dir.path());
    missing_key.args([
        "check",
        "--gateway",
        "auto",
        "txn_001",
        "pi_3MtwBwLkdIwHu7ix28a3tqPa",
    ]);
    let mut renamed_key = paystat(dir.path());
    renamed_key.args([
        "check",
        "--config",
        "team.toml",
        "--gateway",
        "stripe",
        "pi_3MtwBwLkdIwHu7ix28a3tqPa",
    ]);
    let mut clear_text = paystat(dir.path());
    clear_text
        .env("PAYSTAT_STRIPE_KEY", helpers::STRIPE_KEY)
        .args([
            "check",
            "--gateway",
            "stripe",
            "--base-url",
            "http://api.stripe.com",
            "pi_1",
        ]);
    let mut auto_with_url = paystat(dir.path());
    auto_with_url.args([
        "check",
        "--gateway",
        "auto",
        "--base-url",
        "http://127.0.0.1:5000",
        "txn_001",
    ]);
    let mut bad_config = paystat(dir.path());
    std::fs::write(
        dir.path().join("bad.toml"),
        "[stripe]\nkey = \"sk_live_oops\"\n",
    )
    .unwrap();
    bad_config.args(["check", "--config", "bad.toml", "txn_001"]);
    settings(dir.path()).bind(|| {
        assert_run(
            "check_missing_stripe_key",
            "paystat check --gateway auto txn_001 pi_3MtwBwLkdIwHu7ix28a3tqPa",
            &mut missing_key,
        );
        assert_run(
            "check_missing_renamed_key",
            "paystat check --config team.toml --gateway stripe pi_…",
            &mut renamed_key,
        );
        assert_run(
            "check_plain_http_refused",
            "paystat check --gateway stripe --base-url http://api.stripe.com pi_1",
            &mut clear_text,
        );
        assert_run(
            "check_auto_with_base_url",
            "paystat check --gateway auto --base-url http://127.0.0.1:5000 txn_001",
            &mut auto_with_url,
        );
        assert_run(
            "check_bad_config",
            "paystat check --config bad.toml txn_001",
            &mut bad_config,
        );
    });
    assert_eq!(audit_line_count(dir.path()), 0, "nothing was checked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_routes_each_id_and_names_the_rules_when_none_fits() {
    let mock = mock().await;
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = paystat(dir.path());
    cmd.env("PAYSTAT_LEDGER_URL", mock.base_url(GatewayKind::Ledger))
        .env("PAYSTAT_STRIPE_URL", mock.base_url(GatewayKind::Stripe))
        .env("PAYSTAT_PLAID_URL", mock.base_url(GatewayKind::Plaid))
        .env("PAYSTAT_STRIPE_KEY", helpers::STRIPE_KEY)
        .env("PAYSTAT_PLAID_CLIENT_ID", helpers::PLAID_CLIENT_ID)
        .env("PAYSTAT_PLAID_SECRET", helpers::PLAID_SECRET)
        .args(["check", "--gateway", "auto", "--format", "json"])
        .args([
            "txn_002",
            "pi_3MtwBwLkdIwHu7ixCapture01",
            "e3f4a5b6-c7d8-4e9f-8a1b-2c3d4e5f6a7b",
            "ch_3MtwBwLkdIwHu7ix",
        ]);
    settings(dir.path()).bind(|| {
        assert_run("check_auto", "paystat check --gateway auto --format json txn_002 pi_3MtwBwLkdIwHu7ixCapture01 e3f4a5b6-… ch_3MtwBwLkdIwHu7ix", &mut cmd)
    });
    let audit = helpers::live_trail(dir.path());
    assert_eq!(
        audit.lines().count(),
        4,
        "one line per id, the unroutable one included"
    );
}

/// Starts `paystat check` on `ids` (JSON out, one check at a time, the live trail under `dir`),
/// waits until its first line is in the trail, sends it `signals` (a pause between them), and
/// returns how it ended.
fn interrupted_run(
    dir: &Path,
    base_url: &str,
    timeout: &str,
    ids: &[&str],
    signals: &[libc::c_int],
) -> std::process::Output {
    let child = paystat(dir)
        .args([
            "check",
            "--format",
            "json",
            "--concurrency",
            "1",
            "--max-attempts",
            "1",
        ])
        .args([
            "--timeout",
            timeout,
            "--deadline",
            "60s",
            "--base-url",
            base_url,
        ])
        .args(ids)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The first id answers at once; the second one is in flight when the signal comes.
    let waited = std::time::Instant::now();
    while audit_line_count(dir) < 1 {
        assert!(
            waited.elapsed() < std::time::Duration::from_secs(20),
            "no line was written"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    for (i, signal) in signals.iter().enumerate() {
        if i > 0 {
            std::thread::sleep(std::time::Duration::from_millis(300));
        }
        // SAFETY: sending a signal to our own child process.
        unsafe {
            libc::kill(child.id() as libc::pid_t, *signal);
        }
    }
    child.wait_with_output().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_the_checks_in_flight_then_stops_with_143() {
    let mock = mock().await;
    let dir = tempfile::tempdir().unwrap();
    let ids = ["txn_001", "txn_slow", "txn_002", "txn_003", "txn_004"];
    // txn_slow's answer takes 10 s; its 1 s timeout ends it after the signal, as a timeout.
    let output = interrupted_run(
        dir.path(),
        &mock.base_url(GatewayKind::Ledger),
        "1s",
        &ids,
        &[libc::SIGTERM],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(143), "{stderr}");
    let shown: Vec<serde_json::Value> = serde_json::from_slice(&output.stdout).unwrap();
    let never_sent = ids.len() - shown.len();
    assert!(never_sent >= 1, "the run stopped taking ids: {stderr}");
    assert!(
        stderr.contains(&format!("{never_sent} of 5 ids were never sent")),
        "{stderr}"
    );
    // Every check that was sent is shown and has its line; the in-flight one finished normally.
    assert_eq!(audit_line_count(dir.path()), shown.len());
    assert_eq!(shown[0]["payment_id"], "txn_001");
    if shown.len() > 1 {
        assert_eq!(shown[1]["outcome"], "timeout");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_ctrl_c_cuts_the_checks_in_flight_short_and_audits_them_with_130() {
    let mock = mock().await;
    let dir = tempfile::tempdir().unwrap();
    let ids = ["txn_001", "txn_slow", "txn_002"];
    let output = interrupted_run(
        dir.path(),
        &mock.base_url(GatewayKind::Ledger),
        "30s",
        &ids,
        &[libc::SIGINT, libc::SIGINT],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(130), "{stderr}");
    let shown: Vec<serde_json::Value> = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(shown.len(), 2, "{stderr}");
    assert_eq!(shown[1]["payment_id"], "txn_slow");
    assert_eq!(shown[1]["outcome"], "interrupted");
    assert!(stderr.contains("1 of 3 ids were never sent"), "{stderr}");
    // The cut check was sent, so its line records the request, with the outcome `interrupted`.
    let trail = helpers::live_trail(dir.path());
    let lines: Vec<serde_json::Value> = trail
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[1]["outcome"], "interrupted");
    assert_eq!(lines[1]["request"]["path"], "/v1/payments/txn_slow");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_ends_a_run_whose_input_is_still_open() {
    // A producer that has not finished writing ids (`tail -f … | paystat check -`): the run
    // must stop on Ctrl-C, not wait for the producer to close its end.
    let mock = mock().await;
    // On two threads, and in input order (one thread).
    for order in [None, Some("--ordered")] {
        let dir = tempfile::tempdir().unwrap();
        let mut child = paystat(dir.path())
            .args(["check", "--format", "jsonl", "--base-url"])
            .arg(mock.base_url(GatewayKind::Ledger))
            .args(order)
            .arg("-")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        std::io::Write::write_all(&mut stdin, b"txn_001\n").unwrap();
        let waited = std::time::Instant::now();
        while audit_line_count(dir.path()) < 1 {
            assert!(
                waited.elapsed() < std::time::Duration::from_secs(20),
                "no line was written"
            );
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        // SAFETY: sending a signal to our own child process.
        unsafe {
            libc::kill(child.id() as libc::pid_t, libc::SIGINT);
        }
        // `stdin` stays open until the run has ended (or this test gives up on it).
        let ended = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break Some(status);
            }
            if waited.elapsed() > std::time::Duration::from_secs(30) {
                let _ = child.kill();
                break None;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        };
        drop(stdin);
        let output = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        let status =
            ended.unwrap_or_else(|| panic!("still waiting for input after Ctrl-C: {stderr}"));
        assert_eq!(status.code(), Some(130), "{stderr}");
        let shown = String::from_utf8(output.stdout).unwrap();
        assert_eq!(shown.lines().count(), 1, "{shown}");
        assert!(shown.contains("\"payment_id\":\"txn_001\""), "{shown}");
    }
}
