//! `paystat record` and `paystat verify`: fixtures from reality, scrubbed, and providers held to
//! the fixtures.

use std::path::Path;

use paystat::GatewayKind;
use paystat::contract::EmbeddedMock;
use paystat::contract::ScenarioSet;
use paystat::gateways::Reply;

use crate::helpers::{
    LEDGER_TOKEN, PLAID_CLIENT_ID, PLAID_SECRET, STRIPE_KEY, fixtures_dir, paystat,
};

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A Plaid answer full of secrets and personal data, as a careless provider might send it.
const RAW_PLAID: &str = r#"{
  "transfer": {
    "id": "460cbe92-2dcc-8eae-5ad6-b37d0ec90fd9",
    "amount": "12.34", "iso_currency_code": "USD", "status": "settled",
    "created": "2024-07-29T20:22:21Z", "type": "debit", "network": "ach", "cancellable": false,
    "failure_reason": null,
    "client_id": "plaid_client_canary_63e1",
    "secret": "plaid_secret_canary_9d0b",
    "description": "card 4242 4242 4242 4242 for anne.charleston@email.com",
    "user": {"legal_name": "Anne Charleston", "phone_number": "510-555-0128", "email_address": "acharleston@email.com",
             "address": {"street": "123 Main St.", "city": "San Francisco", "postal_code": "94053"}},
    "metadata": {"client_secret": "pi_3MtwBwLkdIwHu7ix_secret_YrKJUKribcBjcG8HVhfZluoGH"}
  },
  "request_id": "saKrIBuEB9qJZno"
}"#;

#[test]
fn recording_scrubs_every_secret_and_personal_detail() {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("content-type", "application/json".parse().unwrap());
    headers.insert("set-cookie", "session=abc123secretcookie".parse().unwrap());
    let reply = Reply {
        follow_up: None,
        status: 200,
        headers,
        body: RAW_PLAID.as_bytes().to_vec(),
    };
    let gateway = crate::helpers::gateway(GatewayKind::Plaid, "http://127.0.0.1:1");
    let reading = gateway.read("460cbe92-2dcc-8eae-5ad6-b37d0ec90fd9", &reply);
    assert!(matches!(
        reading.verdict,
        paystat::gateways::Verdict::Found(_)
    ));
    // A result to record the expectation from, as the checker would have produced it.
    let dir = tempfile::tempdir().unwrap();
    let result = tokio::runtime::Runtime::new().unwrap().block_on(async {
        let mock = httpmock::MockServer::start_async().await;
        mock.mock_async(|_, then| {
            then.status(200).body(RAW_PLAID);
        })
        .await;
        let checker = crate::helpers::checker_for(dir.path(), GatewayKind::Plaid, &mock.base_url());
        checker
            .check("460cbe92-2dcc-8eae-5ad6-b37d0ec90fd9")
            .await
            .unwrap()
    });
    let scenario = paystat::contract::scenario_text(
        GatewayKind::Plaid,
        "460cbe92-2dcc-8eae-5ad6-b37d0ec90fd9",
        &reply,
        &result,
    );
    for secret in [
        PLAID_CLIENT_ID,
        PLAID_SECRET,
        "_secret_YrKJUKribcBjcG8HVhfZluoGH",
        "Anne Charleston",
        "510-555-0128",
        "acharleston@email.com",
        "anne.charleston@email.com",
        "123 Main St.",
        "94053",
        "4242 4242 4242 4242",
        "abc123secretcookie",
    ] {
        assert!(
            !scenario.contains(secret),
            "{secret} survived scrubbing:\n{scenario}"
        );
    }
    assert!(
        scenario.contains("************4242"),
        "the last four digits are kept:\n{scenario}"
    );
    assert!(
        scenario.contains("\"city\": \"San Francisco\""),
        "harmless fields are kept"
    );
    assert!(scenario.contains("amount_minor = 1234"));
    // The recorded file parses as a scenario, with its placeholder requirement.
    let parsed =
        paystat::contract::Scenario::parse(Path::new("plaid/recorded.toml"), &scenario, |_| None)
            .unwrap();
    assert!(parsed.requirement.starts_with("TODO"));
}

/// A fixtures folder holding the schemas and nothing else yet.
fn empty_fixtures(root: &Path) -> std::path::PathBuf {
    let dir = root.join("fixtures");
    std::fs::create_dir_all(dir.join("schemas")).unwrap();
    for name in paystat::contract::SCHEMA_NAMES {
        std::fs::copy(
            fixtures_dir().join("schemas").join(name),
            dir.join("schemas").join(name),
        )
        .unwrap();
    }
    dir
}

/// `paystat record` of Stripe intent `id` from `mock` into `out`, run in `dir`.
fn record_stripe(dir: &Path, mock: &EmbeddedMock, out: &Path, id: &str) -> std::process::Output {
    paystat(dir)
        .env("PAYSTAT_STRIPE_KEY", STRIPE_KEY)
        .args([
            "record",
            "--gateway",
            "stripe",
            "--base-url",
            &mock.base_url(GatewayKind::Stripe),
        ])
        .arg("--out")
        .arg(out)
        .arg(id)
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recorded_scenario_is_refused_until_its_requirement_is_written() {
    let mock =
        EmbeddedMock::start(ScenarioSet::from_dir(&fixtures_dir()).unwrap().scenarios()).await;
    let tmp = tempfile::tempdir().unwrap();
    let fixtures = empty_fixtures(tmp.path());
    let out = fixtures.join("stripe/recorded_decline.toml");
    let record = record_stripe(tmp.path(), &mock, &out, "pi_3MtwBwLkdIwHu7ixDeclined1");
    assert_eq!(record.status.code(), Some(0), "{}", text(&record.stderr));
    let recorded = std::fs::read_to_string(&out).unwrap();
    assert!(!recorded.contains(STRIPE_KEY));
    assert!(
        recorded.contains("\"client_secret\": \"[SCRUBBED]\""),
        "{recorded}"
    );
    assert!(recorded.contains("failure_code = \"insufficient_funds\""));

    let check = |cwd: &Path| {
        paystat(cwd)
            .args(["fixtures", "check", "--fixtures"])
            .arg(&fixtures)
            .output()
            .unwrap()
    };
    let refused = check(tmp.path());
    assert_eq!(refused.status.code(), Some(1));
    let report = text(&refused.stdout);
    assert!(
        report.contains(
            "stripe/recorded_decline.toml: requirement: still holds the placeholder `TODO`"
        ),
        "{report}"
    );

    // A person writes the title and the requirement: the file is accepted.
    let reviewed = recorded
        .replace(
            "TODO: name this situation",
            "A decline recorded from the sandbox",
        )
        .replace(
            paystat::contract::REQUIREMENT_PLACEHOLDER,
            "A declined card shows as failed, with its decline code.",
        );
    std::fs::write(&out, reviewed).unwrap();
    let accepted = check(tmp.path());
    assert_eq!(
        accepted.status.code(),
        Some(0),
        "{}",
        text(&accepted.stdout)
    );
    assert!(
        text(&accepted.stdout).contains("1 scenarios checked: 0 problems"),
        "{}",
        text(&accepted.stdout)
    );
}

#[test]
fn record_refuses_to_overwrite_and_reports_no_answer() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("exists.toml"), "x").unwrap();
    let overwrite = paystat(tmp.path())
        .args([
            "record",
            "--gateway",
            "ledger",
            "--out",
            "exists.toml",
            "txn_001",
        ])
        .output()
        .unwrap();
    assert_eq!(overwrite.status.code(), Some(2));
    assert_eq!(
        text(&overwrite.stderr),
        "paystat: exists.toml exists; pass --force to replace it\n"
    );
    let unreachable = paystat(tmp.path())
        .args([
            "record",
            "--gateway",
            "ledger",
            "--base-url",
            &crate::helpers::refused_base_url(),
            "--out",
            "new.toml",
            "txn_001",
        ])
        .env("PAYSTAT_LEDGER_TOKEN", "tok_record_test")
        .output()
        .unwrap();
    // Retried with real backoff would take seconds; a refused connection is immediate and the
    // default policy's waits stay under 1.5 s in all.
    assert_eq!(
        unreachable.status.code(),
        Some(3),
        "{}",
        text(&unreachable.stderr)
    );
    assert!(
        text(&unreachable.stderr)
            .starts_with("paystat: no HTTP answer to record: connection_error")
    );
    assert!(!tmp.path().join("new.toml").exists());
}

fn settings() -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(concat!(env!("CARGO_MANIFEST_DIR"), "/snapshots/cli"));
    settings.set_prepend_module_to_snapshot(false);
    settings.set_omit_expression(true);
    settings
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_passes_against_the_mock_gateway() {
    let mock =
        EmbeddedMock::start(ScenarioSet::from_dir(&fixtures_dir()).unwrap().scenarios()).await;
    let tmp = tempfile::tempdir().unwrap();
    for (kind, env) in [
        (
            GatewayKind::Ledger,
            vec![("PAYSTAT_LEDGER_TOKEN", LEDGER_TOKEN)],
        ),
        (
            GatewayKind::Stripe,
            vec![("PAYSTAT_STRIPE_KEY", STRIPE_KEY)],
        ),
        (
            GatewayKind::Plaid,
            vec![
                ("PAYSTAT_PLAID_CLIENT_ID", PLAID_CLIENT_ID),
                ("PAYSTAT_PLAID_SECRET", PLAID_SECRET),
            ],
        ),
    ] {
        let output = paystat(tmp.path())
            .envs(env)
            .args([
                "verify",
                "--gateway",
                kind.as_str(),
                "--base-url",
                &mock.base_url(kind),
            ])
            .output()
            .unwrap();
        let report = text(&output.stdout);
        assert_eq!(
            output.status.code(),
            Some(0),
            "{kind}: {report}{}",
            text(&output.stderr)
        );
        assert!(
            report.ends_with("scenarios hold; the provider keeps the contract\n"),
            "{report}"
        );
        assert!(!report.contains("FAIL"), "{report}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_fails_against_a_provider_that_broke_the_contract() {
    // A ledger that renamed `status` to `state` for one payment and reports another as settled.
    let mut scenarios = ScenarioSet::from_dir(&fixtures_dir())
        .unwrap()
        .scenarios()
        .to_vec();
    for s in &mut scenarios {
        if s.gateway == GatewayKind::Ledger && s.payment_id == "txn_001" {
            s.body_bytes = String::from_utf8(s.body_bytes.clone())
                .unwrap()
                .replace("\"status\"", "\"state\"")
                .into_bytes();
        }
        if s.gateway == GatewayKind::Ledger && s.payment_id == "txn_002" {
            s.body_bytes = String::from_utf8(s.body_bytes.clone())
                .unwrap()
                .replace("\"pending\"", "\"settled\"")
                .into_bytes();
        }
    }
    let wrong = EmbeddedMock::start(&scenarios).await;
    let tmp = tempfile::tempdir().unwrap();
    let output = paystat(tmp.path())
        .env("PAYSTAT_LEDGER_TOKEN", LEDGER_TOKEN)
        .args([
            "verify",
            "--gateway",
            "ledger",
            "--base-url",
            &wrong.base_url(GatewayKind::Ledger),
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let mut settings = settings();
    settings.set_description("paystat verify --gateway ledger --base-url [a ledger that renamed status to state for txn_001 and reports txn_002 as settled]");
    settings.bind(|| insta::assert_snapshot!("verify_broken_ledger", text(&output.stdout)));
}

/// A disputed payment is recorded with the dispute list paystat asked for it, so the recorded
/// scenario replays to the same answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disputed_payment_is_recorded_with_its_dispute_list() {
    let scenarios = ScenarioSet::from_dir(&fixtures_dir()).unwrap();
    let mock = EmbeddedMock::start(scenarios.scenarios()).await;
    let tmp = tempfile::tempdir().unwrap();
    let fixtures = empty_fixtures(tmp.path());
    let out = fixtures.join("stripe/recorded_two_disputes.toml");
    let record = record_stripe(tmp.path(), &mock, &out, "pi_3MtwBwLkdIwHu7ixTwoDisputes");
    assert_eq!(record.status.code(), Some(0), "{}", text(&record.stderr));
    let recorded = std::fs::read_to_string(&out).unwrap();
    assert!(recorded.contains("disputes = '''"), "{recorded}");
    assert!(recorded.contains("status = \"returned\""), "{recorded}");
    let reviewed = recorded
        .replace("TODO: name this situation", "Two disputes, recorded")
        .replace(
            paystat::contract::REQUIREMENT_PLACEHOLDER,
            "A lost dispute among two makes the payment returned.",
        );
    std::fs::write(&out, reviewed).unwrap();
    let replayed = paystat::contract::ScenarioSet::from_dir(&fixtures).unwrap();
    let scenario = &replayed.scenarios()[0];
    let replay = EmbeddedMock::start(replayed.scenarios()).await;
    let check = paystat(tmp.path())
        .env("PAYSTAT_STRIPE_KEY", STRIPE_KEY)
        .env("PAYSTAT_STRIPE_ENVIRONMENT", "mock")
        .args([
            "check",
            "--no-cache",
            "--format",
            "json",
            "--gateway",
            "stripe",
            "--base-url",
            &replay.base_url(GatewayKind::Stripe),
            &scenario.payment_id,
        ])
        .output()
        .unwrap();
    let results: Vec<paystat::CheckResult> = serde_json::from_slice(&check.stdout).unwrap();
    assert!(
        scenario.expect.mismatches(&results[0]).is_empty(),
        "{:?} {}",
        scenario.expect.mismatches(&results[0]),
        text(&check.stderr)
    );
}
