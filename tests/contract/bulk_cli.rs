//! Bulk runs from the command line: ids from CSV with a header, CSV and JSON-lines output, input
//! order on request, the summary (on stderr and as JSON), stale payments and `--only`, empty
//! input, a narrow terminal, the README's recipe, and the help a person reads.

use std::path::Path;
use std::process::Command;

use paystat::GatewayKind;
use paystat::contract::EmbeddedMock;

use crate::cli::{assert_run, settings};
use crate::helpers::{ledger_mock, paystat};

/// `paystat check` against the mock's ledger, reading `input` from a file given as stdin.
fn check(dir: &Path, mock: &EmbeddedMock, input: &str, args: &[&str]) -> Command {
    let file = dir.join("input.txt");
    std::fs::write(&file, input).unwrap();
    let mut cmd = paystat(dir);
    cmd.args(["check", "--base-url", &mock.base_url(GatewayKind::Ledger)])
        .args(args)
        .arg("-")
        .stdin(std::fs::File::open(file).unwrap());
    cmd
}

/// The CLI settings, with the check durations of CSV and JSON lines hidden (they vary).
fn bulk_settings(dir: &Path) -> insta::Settings {
    let mut settings = settings(dir);
    settings.add_filter(r#""duration_ms":\d+"#, r#""duration_ms":"[ms]""#);
    // attempts, retry_stop, duration_ms in a CSV row
    settings.add_filter(r",(\d+),([a-z_]*),\d+,", ",$1,$2,[ms],");
    settings
}

/// Ages in days grow with the calendar; the snapshots keep their shape.
fn aged_settings(dir: &Path) -> insta::Settings {
    let mut settings = bulk_settings(dir);
    settings.add_filter(r"\b\d+ d\b", "[age]");
    settings.add_filter(r#""age_s": ?\d+"#, r#""age_s":"[age]""#);
    settings.add_filter(r",\d{8,},(true|false)", ",[age],$1");
    settings
}

const CSV: &str = "created,payment_id,amount\n2025-01-06,txn_001,150.00\n\n# a note\n2025-01-07,txn_002,2500.00\n2025-01-05,txn_003,75.50\n2025-01-01,txn_999,1.00\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csv_in_with_a_header_and_csv_out() {
    let mock = ledger_mock().await;
    let dir = tempfile::tempdir().unwrap();
    bulk_settings(dir.path()).bind(|| {
        assert_run(
            "bulk_csv_in_csv_out",
            "paystat check --base-url [MOCK] --format csv --ordered --skip-comments - < payments.csv   # a header row, a blank line and a comment",
            &mut check(
                dir.path(),
                &mock,
                CSV,
                &["--format", "csv", "--ordered", "--skip-comments"],
            ),
        );
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jsonl_in_input_order_and_a_summary_file() {
    let mock = ledger_mock().await;
    let dir = tempfile::tempdir().unwrap();
    let summary = dir.path().join("summary.json");
    let output = check(
        dir.path(),
        &mock,
        "txn_001\ntxn_002\ntxn_003\ntxn_999\n",
        &[
            "--format",
            "jsonl",
            "--ordered",
            "--summary-json",
            summary.to_str().unwrap(),
        ],
    )
    .output()
    .unwrap();
    assert_eq!(output.status.code(), Some(1), "txn_999 is not found");
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let ids: Vec<&str> = lines
        .iter()
        .map(|l| l["payment_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        ["txn_001", "txn_002", "txn_003", "txn_999"],
        "input order"
    );
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&summary).unwrap()).unwrap();
    assert_eq!(summary["checks"], 4);
    assert_eq!(summary["by_outcome"]["found"], 3);
    assert_eq!(summary["by_outcome"]["not_found"], 1);
    assert_eq!(summary["by_status"]["pending"], 1);
    assert_eq!(summary["by_gateway"]["ledger"]["checks"], 4);
    assert_eq!(summary["slowest"].as_array().unwrap().len(), 4);
    assert_eq!(
        summary["never_sent"],
        serde_json::Value::Null,
        "input of unknown length"
    );
    // stdout holds results only; the summary is on stderr.
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.starts_with("paystat: 4 checks in "), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_payments_are_marked_and_only_shows_what_is_asked() {
    let mock = ledger_mock().await;
    let dir = tempfile::tempdir().unwrap();
    let ids = "txn_001\ntxn_002\ntxn_003\ntxn_999\n";
    aged_settings(dir.path()).bind(|| {
        assert_run(
            "bulk_stale_table",
            "paystat check --base-url [MOCK] --stale-after 24h -   # txn_002 has been pending since 2025",
            &mut check(dir.path(), &mock, ids, &["--stale-after", "24h"]),
        );
        assert_run(
            "bulk_only_stale_jsonl",
            "paystat check --base-url [MOCK] --stale-after 24h --only stale --format jsonl -",
            &mut check(
                dir.path(),
                &mock,
                ids,
                &["--stale-after", "24h", "--only", "stale", "--format", "jsonl"],
            ),
        );
        assert_run(
            "bulk_only_status_and_outcome",
            "paystat check --base-url [MOCK] --only status=pending,failed --only outcome=found --format csv --ordered -",
            &mut check(
                dir.path(),
                &mock,
                ids,
                &[
                    "--only",
                    "status=pending,failed",
                    "--only",
                    "outcome=found",
                    "--format",
                    "csv",
                    "--ordered",
                ],
            ),
        );
        assert_run(
            "bulk_only_stale_without_stale_after",
            "paystat check --only stale -",
            &mut check(dir.path(), &mock, ids, &["--only", "stale"]),
        );
    });
    // Every check is audited, shown or not: 4 ids, four runs, three that checked.
    assert_eq!(crate::helpers::live_trail(dir.path()).lines().count(), 12);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_summary_counts_what_only_let_through_as_shown() {
    let mock = ledger_mock().await;
    let dir = tempfile::tempdir().unwrap();
    let summary = dir.path().join("summary.json");
    let output = check(
        dir.path(),
        &mock,
        "txn_001\ntxn_002\ntxn_003\ntxn_999\n",
        &[
            "--only",
            "outcome=not_found",
            "--format",
            "jsonl",
            "--summary-json",
            summary.to_str().unwrap(),
        ],
    )
    .output()
    .unwrap();
    let printed = String::from_utf8_lossy(&output.stdout).lines().count();
    assert_eq!(printed, 1, "only txn_999 is printed");
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&summary).unwrap()).unwrap();
    assert_eq!(summary["checks"], 4, "every id is checked");
    assert_eq!(summary["shown"], 1, "shown counts the results printed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_input_is_an_error_and_a_narrow_terminal_gets_a_narrow_table() {
    let mock = ledger_mock().await;
    let dir = tempfile::tempdir().unwrap();
    settings(dir.path()).bind(|| {
        assert_run(
            "bulk_empty_input",
            "printf 'payment_id\\n\\n# nothing yet\\n' | paystat check --base-url [MOCK] --skip-comments -",
            &mut check(
                dir.path(),
                &mock,
                "payment_id\n\n# nothing yet\n",
                &["--skip-comments"],
            ),
        );
        let mut narrow = check(dir.path(), &mock, "txn_003\ntxn_999\n", &[]);
        narrow.env("COLUMNS", "70");
        assert_run(
            "bulk_narrow_table",
            "COLUMNS=70 paystat check --base-url [MOCK] -",
            &mut narrow,
        );
    });
    let narrow = check(dir.path(), &mock, "txn_003\ntxn_999\n", &[])
        .env("COLUMNS", "70")
        .output()
        .unwrap();
    for line in String::from_utf8_lossy(&narrow.stdout).lines() {
        assert!(
            line.chars().count() <= 70,
            "wider than the terminal: {line}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_bulk_recipe_works_as_written() {
    let mock = ledger_mock().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("ids.csv"),
        "payment_id,amount\ntxn_001,150.00\ntxn_002,2500.00\n",
    )
    .unwrap();
    let program = paystat(dir.path()).get_program().to_owned();
    let mut cmd = Command::new("sh");
    cmd.current_dir(dir.path())
        .env("XDG_STATE_HOME", dir.path().join("state"))
        .env("PAYSTAT_LEDGER_URL", mock.base_url(GatewayKind::Ledger))
        .env_remove("RUST_LOG")
        .arg("-c")
        // The README's line, with paystat spelled as its path.
        .arg("cut -d, -f1 ids.csv | \"$0\" check --gateway auto --concurrency 16 -")
        .arg(program);
    settings(dir.path()).bind(|| {
        assert_run(
            "bulk_readme_recipe",
            "cut -d, -f1 ids.csv | paystat check --gateway auto --concurrency 16 -",
            &mut cmd,
        );
    });
}

#[test]
fn help_names_examples_credentials_and_base_urls() {
    let dir = tempfile::tempdir().unwrap();
    settings(dir.path()).bind(|| {
        assert_run(
            "help_check",
            "paystat check --help",
            paystat(dir.path()).args(["check", "--help"]),
        );
    });
}

#[test]
fn completions_a_manual_page_and_a_version_with_its_commit() {
    let dir = tempfile::tempdir().unwrap();
    settings(dir.path()).bind(|| {
        assert_run(
            "completions_bash",
            "paystat completions bash",
            paystat(dir.path()).args(["completions", "bash"]),
        );
    });
    for shell in ["zsh", "fish"] {
        let output = paystat(dir.path())
            .args(["completions", shell])
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(0), "{shell}");
        assert!(
            String::from_utf8_lossy(&output.stdout).contains("audit"),
            "{shell}"
        );
    }
    let man = paystat(dir.path()).arg("man").output().unwrap();
    let page = String::from_utf8_lossy(&man.stdout);
    assert!(
        page.contains(".TH paystat 1") && page.contains(".SH NAME"),
        "{page}"
    );
    assert!(
        page.contains("completions") && page.contains("audit"),
        "{page}"
    );
    let version = paystat(dir.path()).arg("--version").output().unwrap();
    let version = String::from_utf8_lossy(&version.stdout);
    assert!(
        version.starts_with(&format!("paystat {}", env!("CARGO_PKG_VERSION"))),
        "{version}"
    );
    // Built from a checkout, it names its commit.
    if Path::new(env!("CARGO_MANIFEST_DIR")).join(".git").exists() {
        assert!(version.contains("(git "), "{version}");
    }
}

/// A bulk run on two threads gives every id exactly one result, each audited once, with answers
/// that come back out of order (delays by id); `ordered` stays on one thread and keeps input
/// order.
#[tokio::test(flavor = "current_thread")]
async fn two_threads_answer_every_id_once_and_in_order_when_asked() {
    use futures_util::StreamExt;
    let server = httpmock::MockServer::start_async().await;
    for digit in 0..10u64 {
        server
            .mock_async(|when, then| {
                when.path_suffix(format!("{digit}"));
                then.status(200)
                    .body(r#"{"id": "x", "status": "completed", "amount": 1, "currency": "USD"}"#)
                    .delay(std::time::Duration::from_millis(digit * 3));
            })
            .await;
    }
    for ordered in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let checker = std::sync::Arc::new(
            crate::helpers::spawn(dir.path(), GatewayKind::Ledger, &server.url("/v1"))
                .concurrency(16)
                .build(),
        );
        let ids: Vec<String> = (0..400).map(|i| format!("txn_{i:04}")).collect();
        let stream = futures_util::stream::iter(ids.clone());
        let results: Vec<_> = checker
            .check_stream_parallel(stream, ordered)
            .collect()
            .await;
        let shown: Vec<String> = results
            .iter()
            .map(|r| r.as_ref().expect("audited").payment_id.clone())
            .collect();
        if ordered {
            assert_eq!(shown, ids, "input order");
        } else {
            let mut sorted = shown.clone();
            sorted.sort();
            assert_eq!(sorted, ids, "every id once");
            assert_ne!(shown, ids, "answers came as they completed");
        }
        let lines = crate::helpers::audit_lines(dir.path());
        assert_eq!(lines.len(), 400, "one audit line each");
    }
}
