//! Secrets never leave paystat: not in results, audit lines, diagnostics or `Debug` output.
//! Each test first proves the secret was really used (the mock only answers when the header
//! carries it), then scans everything paystat produced for it.

use httpmock::{Method, MockServer};
use paystat::Outcome;
use tracing_test::traced_test;

use paystat::GatewayKind;
use rstest::rstest;

use crate::helpers::{
    CANARIES, LEDGER_TOKEN, PLAID_CLIENT_ID, PLAID_SECRET, STRIPE_KEY, Spawn, audit_lines,
    checker_for, sample_id, spawn, walk,
};

const TOKEN: &str = "tok_canary_5f1d2c9e";
const PASSWORD: &str = "pw_canary_a8b7c6";
/// `ops:pw_canary_a8b7c6` in base64, as it travels in a Basic header.
const PASSWORD_B64: &str = "b3BzOnB3X2NhbmFyeV9hOGI3YzY=";

/// A ledger checker at `base_url` whose environment holds the token `TOKEN`.
fn with_token(dir: &std::path::Path, base_url: &str) -> Spawn {
    spawn(dir, GatewayKind::Ledger, base_url).env("PAYSTAT_LEDGER_TOKEN", Some(TOKEN))
}

/// A mock that answers `status` only to requests carrying `authorization`.
async fn mock_requiring(authorization: &str, status: u16, delay_ms: u64) -> MockServer {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method(Method::GET)
                .header("authorization", authorization);
            then.status(status)
                .header("content-type", "application/json")
                .body(r#"{"error": "internal_error", "message": "Unexpected error"}"#)
                .delay(std::time::Duration::from_millis(delay_ms));
        })
        .await;
    server
}

fn assert_clean(haystack: &str, what: &str) {
    let forms = [TOKEN, PASSWORD]
        .into_iter()
        .flat_map(crate::helpers::secret_forms)
        .chain([PASSWORD_B64.to_owned()]);
    for secret in forms {
        assert!(
            !haystack.contains(&secret),
            "{what} contains a secret ({secret}): {haystack}"
        );
    }
}

#[tokio::test]
#[traced_test]
async fn an_error_is_diagnosed_without_the_token() {
    let server = mock_requiring(&format!("Bearer {TOKEN}"), 500, 0).await;
    let dir = tempfile::tempdir().unwrap();
    let checker = with_token(dir.path(), &format!("{}/v1", server.base_url())).build();
    let result = checker.check("txn_http_500").await.unwrap();
    // 500, not 404: the mock matched, so the token was sent.
    assert_eq!(result.outcome, Outcome::GatewayError);
    assert!(logs_contain("status check got no answer"));
    assert!(logs_contain("gateway_error"));
    logs_assert(|lines: &[&str]| {
        let all = lines.join("\n");
        assert_clean(&all, "the diagnostics");
        Ok(())
    });
    assert_clean(&serde_json::to_string(&result).unwrap(), "the result");
    assert_clean(
        &std::fs::read_to_string(dir.path().join("audit.jsonl")).unwrap(),
        "the audit line",
    );
    assert_clean(&format!("{checker:?}"), "the checker's Debug output");
}

#[tokio::test]
#[traced_test]
async fn a_timeout_is_diagnosed_without_the_password() {
    let server = mock_requiring(&format!("Basic {PASSWORD_B64}"), 200, 2_000).await;
    let dir = tempfile::tempdir().unwrap();
    let checker = spawn(
        dir.path(),
        GatewayKind::Ledger,
        &format!("{}/v1", server.base_url()),
    )
    .env("PAYSTAT_LEDGER_TOKEN", None)
    .env("PAYSTAT_LEDGER_USER", Some("ops"))
    .env("PAYSTAT_LEDGER_PASSWORD", Some(PASSWORD))
    .timeout(std::time::Duration::from_millis(100))
    .build();
    let result = checker.check("txn_slow").await.unwrap();
    assert_eq!(result.outcome, Outcome::Timeout);
    assert!(logs_contain("outcome=timeout"));
    assert!(logs_contain("no complete answer within 100 ms"));
    logs_assert(|lines: &[&str]| {
        assert_clean(&lines.join("\n"), "the diagnostics");
        Ok(())
    });
    assert_clean(&format!("{checker:?} {result:?}"), "Debug output");
    assert_eq!(audit_lines(dir.path()).len(), 1);
}

#[tokio::test]
async fn the_token_is_sent_as_a_bearer_header() {
    // The positive side of the tests above: without the right header the mock has no route
    // for the request and answers a bare 404, which is no answer about the payment.
    let server = mock_requiring(&format!("Bearer {TOKEN}"), 500, 0).await;
    let dir = tempfile::tempdir().unwrap();
    let anonymous = with_token(dir.path(), &format!("{}/v1", server.base_url()))
        .env("PAYSTAT_LEDGER_TOKEN", None)
        .build();
    assert_eq!(
        anonymous.check("txn_1").await.unwrap().outcome,
        Outcome::BadResponse
    );
    let authorized = with_token(dir.path(), &format!("{}/v1", server.base_url())).build();
    assert_eq!(
        authorized.check("txn_1").await.unwrap().outcome,
        Outcome::GatewayError
    );
}

/// A Stripe mock that answers only when the key is in the `Authorization` header, and a Plaid
/// mock that answers only when the client id and secret are in the JSON body.
async fn mock_requiring_keys(kind: GatewayKind, status: u16, delay_ms: u64) -> MockServer {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            match kind {
                GatewayKind::Stripe => {
                    when.method(Method::GET).header("authorization", format!("Bearer {STRIPE_KEY}"));
                }
                GatewayKind::Plaid => {
                    when.method(Method::POST)
                        .path("/transfer/get")
                        .header("plaid-version", "2020-09-14")
                        .json_body_includes(
                            serde_json::json!({ "client_id": PLAID_CLIENT_ID, "secret": PLAID_SECRET }).to_string(),
                        );
                }
                GatewayKind::Ledger => unreachable!("the ledger has its own tests above"),
            }
            then.status(status)
                .header("content-type", "application/json")
                .body(r#"{"error_type": "API_ERROR", "error_code": "INTERNAL_SERVER_ERROR", "error": {"type": "api_error"}}"#)
                .delay(std::time::Duration::from_millis(delay_ms));
        })
        .await;
    server
}

/// No canary credential in `haystack`, in any form ([`crate::helpers::secret_forms`]).
fn assert_no_canary(haystack: &str, what: &str) {
    for canary in CANARIES {
        for form in crate::helpers::secret_forms(canary) {
            assert!(
                !haystack.contains(&form),
                "{what} contains a credential ({form}): {haystack}"
            );
        }
    }
}

/// Checks one payment of `kind` against a mock that requires the canary credentials and
/// answers `status` after `delay_ms`; returns what paystat produced, all of it as text.
async fn check_against_keyed_mock(
    kind: GatewayKind,
    status: u16,
    delay_ms: u64,
) -> (Outcome, String) {
    let server = mock_requiring_keys(kind, status, delay_ms).await;
    let dir = tempfile::tempdir().unwrap();
    let checker = spawn(dir.path(), kind, &server.base_url())
        .timeout(std::time::Duration::from_millis(100))
        .build();
    let result = checker.check(sample_id(kind)).await.unwrap();
    let produced = format!(
        "{}\n{}\n{checker:?}\n{result:?}",
        serde_json::to_string(&result).unwrap(),
        std::fs::read_to_string(dir.path().join("audit.jsonl")).unwrap()
    );
    (result.outcome, produced)
}

#[tokio::test]
#[traced_test]
async fn stripe_and_plaid_errors_are_diagnosed_without_credentials() {
    for kind in [GatewayKind::Stripe, GatewayKind::Plaid] {
        let (outcome, produced) = check_against_keyed_mock(kind, 500, 0).await;
        // 500, not the 404 of an unmatched request: the credentials were sent.
        assert_eq!(outcome, Outcome::GatewayError, "{kind}");
        assert_no_canary(&produced, "the result, audit line or Debug output");
    }
    assert!(logs_contain("status check got no answer"));
    logs_assert(|lines: &[&str]| {
        assert_no_canary(&lines.join("\n"), "the diagnostics");
        Ok(())
    });
}

#[tokio::test]
#[traced_test]
async fn stripe_and_plaid_timeouts_are_diagnosed_without_credentials() {
    for kind in [GatewayKind::Stripe, GatewayKind::Plaid] {
        let (outcome, produced) = check_against_keyed_mock(kind, 200, 2_000).await;
        assert_eq!(outcome, Outcome::Timeout);
        assert_no_canary(&produced, "the result, audit line or Debug output");
    }
    assert!(logs_contain("outcome=timeout"));
    logs_assert(|lines: &[&str]| {
        assert_no_canary(&lines.join("\n"), "the diagnostics");
        Ok(())
    });
}

/// A gateway that redirects every request to another server.
async fn redirecting_to(target: &MockServer, status: u16) -> MockServer {
    let server = MockServer::start_async().await;
    let location = target.url("/stolen");
    server
        .mock_async(|_when, then| {
            then.status(status).header("location", location);
        })
        .await;
    server
}

#[rstest]
#[tokio::test]
async fn credentials_never_follow_a_redirect_to_another_host(
    #[values(GatewayKind::Ledger, GatewayKind::Stripe, GatewayKind::Plaid)] kind: GatewayKind,
    #[values(302, 307, 308)] status: u16,
) {
    // The second server records whatever reaches it.
    let elsewhere = MockServer::start_async().await;
    let stolen = elsewhere
        .mock_async(|_when, then| {
            then.status(200).body("{}");
        })
        .await;
    let gateway = redirecting_to(&elsewhere, status).await;
    let dir = tempfile::tempdir().unwrap();
    let base = paystat::contract::base_url(&gateway.base_url(), kind);
    let result = checker_for(dir.path(), kind, &base)
        .check(sample_id(kind))
        .await
        .unwrap();
    assert_eq!(
        stolen.calls_async().await,
        0,
        "the request (and its credentials) followed the redirect"
    );
    assert_eq!(result.outcome, Outcome::BadResponse);
    assert_eq!(result.http_status, Some(status));
}

#[tokio::test]
async fn a_redirect_within_the_same_gateway_is_followed() {
    // The positive side: the policy is "same host only", not "never".
    let server = MockServer::start_async().await;
    let target = server.url("/v1/payments/txn_001");
    server
        .mock_async(|when, then| {
            when.path("/old/v1/payments/txn_001");
            then.status(308).header("location", target);
        })
        .await;
    let arrived = server
        .mock_async(|when, then| {
            when.path("/v1/payments/txn_001")
                .header("authorization", format!("Bearer {LEDGER_TOKEN}"));
            then.status(200).body(
                r#"{"id": "txn_001", "status": "completed", "amount": 1.00, "currency": "USD"}"#,
            );
        })
        .await;
    let dir = tempfile::tempdir().unwrap();
    let result = checker_for(dir.path(), GatewayKind::Ledger, &server.url("/old/v1"))
        .check("txn_001")
        .await
        .unwrap();
    assert_eq!(result.outcome, Outcome::Found);
    assert_eq!(arrived.calls_async().await, 1);
}

#[test]
fn no_snapshot_or_fixture_holds_a_test_credential() {
    // The scenario and CLI snapshots were recorded with these credentials configured.
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut scanned = 0;
    for path in walk(&root.join("snapshots"))
        .into_iter()
        .chain(walk(&root.join("fixtures")))
    {
        let text = String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned();
        assert_no_canary(&text, &path.display().to_string());
        scanned += 1;
    }
    assert!(scanned > 100, "only {scanned} files scanned");
}

/// Everything a run of the binary left behind: stdout, stderr, and every file of its state
/// directory (the audit trail, the status cache and its journal).
fn everything_from(output: &std::process::Output, dir: &std::path::Path) -> String {
    let state: String = walk(&dir.join("state"))
        .iter()
        .map(|file| String::from_utf8_lossy(&std::fs::read(file).unwrap_or_default()).into_owned())
        .collect();
    format!(
        "{}\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
        state
    )
}

#[test]
fn error_messages_never_echo_a_secret_typed_in_the_wrong_place() {
    const SECRET: &str = "SECRET_canary_41c7";
    const LIVE_KEY: &str = "sk_live_canary51MtwBwLkdIwHu7ix";
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("pasted.toml"),
        format!("[stripe]\nkey_env = \"{LIVE_KEY}\"\n"),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("timeout.toml"),
        format!("[ledger]\ntimeout = \"{LIVE_KEY}\"\n"),
    )
    .unwrap();
    let runs: Vec<(&str, Vec<String>)> = vec![
        (
            "a password in the base URL",
            vec![
                "--base-url".into(),
                format!("http://u:{SECRET}@127.0.0.1:1/v1"),
            ],
        ),
        (
            "a key in the base URL's query",
            vec![
                "--base-url".into(),
                format!("https://ledger.example/v1?key={SECRET}"),
            ],
        ),
        (
            "a key pasted where a variable name belongs",
            vec![
                "--config".into(),
                "pasted.toml".into(),
                "--gateway".into(),
                "stripe".into(),
            ],
        ),
        (
            "a key pasted as a duration",
            vec!["--config".into(), "timeout.toml".into()],
        ),
        (
            "a key in a plain-http base URL",
            vec![
                "--base-url".into(),
                format!("http://ledger.example/v1/{LIVE_KEY}"),
            ],
        ),
    ];
    for (case, args) in runs {
        let output = paystat_in(dir.path())
            .arg("check")
            .args(&args)
            .arg("pi_3MtwBwLkdIwHu7ix28a3tqPa")
            .output()
            .unwrap();
        let everything = everything_from(&output, dir.path());
        assert_eq!(output.status.code(), Some(2), "{case}: {everything}");
        for secret in [SECRET, LIVE_KEY] {
            assert!(
                !everything.contains(secret),
                "{case} echoed a secret: {everything}"
            );
        }
        assert!(
            everything.contains("[REDACTED]") || everything.contains("not shown"),
            "{case}: the message says something was withheld: {everything}"
        );
    }
}

fn paystat_in(dir: &std::path::Path) -> std::process::Command {
    crate::helpers::paystat(dir)
}

#[tokio::test]
async fn a_gateway_that_echoes_the_key_leaves_no_trace_of_it() {
    // Stripe (or something posing as it) answers 401 quoting the key it was sent.
    let server = MockServer::start_async().await;
    server
        .mock_async(|_when, then| {
            then.status(401)
                .header("content-type", "application/json")
                .header("request-id", format!("req_{STRIPE_KEY}"))
                .body(format!(
                    r#"{{"error": {{"type": "invalid_request_error", "code": "{STRIPE_KEY}", "message": "Invalid API Key provided: {STRIPE_KEY}"}}}}"#
                ));
        })
        .await;
    let dir = tempfile::tempdir().unwrap();
    let checker = checker_for(dir.path(), GatewayKind::Stripe, &server.base_url());
    let (result, reply) = checker
        .check_capturing(sample_id(GatewayKind::Stripe))
        .await
        .unwrap();
    assert_eq!(result.outcome, Outcome::Unauthorized);
    assert!(
        result
            .detail
            .as_deref()
            .unwrap()
            .contains("Invalid API Key provided: [REDACTED]"),
        "{result:?}"
    );
    let reply = reply.expect("an answer came");
    let recorded = paystat::contract::scenario_text(
        GatewayKind::Stripe,
        sample_id(GatewayKind::Stripe),
        &reply,
        &result,
    );
    let produced = format!(
        "{}\n{result:?}\n{}\n{recorded}",
        serde_json::to_string(&result).unwrap(),
        std::fs::read_to_string(dir.path().join("audit.jsonl")).unwrap()
    );
    assert_no_canary(
        &produced,
        "the result, the audit line or a recorded fixture",
    );
}

/// A Stripe that quotes the key back in a found payment's text and in its events feed's error:
/// neither the cache, nor `cache sync`'s report, nor anything else in the state directory holds it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_status_cache_and_cache_sync_never_keep_a_key() {
    let server = MockServer::start_async().await;
    let id = sample_id(GatewayKind::Stripe);
    let intent = serde_json::json!({
        "id": id, "object": "payment_intent", "amount": 1000, "currency": "usd",
        "status": "canceled", "created": 1_680_800_504, "livemode": false,
        "cancellation_reason": format!("requested_by_customer {STRIPE_KEY}"),
    });
    server
        .mock_async(|when, then| {
            when.method(Method::GET)
                .path(format!("/v1/payment_intents/{id}"));
            then.status(200)
                .header("content-type", "application/json")
                .body(intent.to_string());
        })
        .await;
    server
        .mock_async(|when, then| {
            when.method(Method::GET).path("/v1/events");
            then.status(401)
                .header("content-type", "application/json")
                .body(format!(
                    r#"{{"error": {{"type": "invalid_request_error", "message": "Invalid API Key provided: {STRIPE_KEY}"}}}}"#
                ));
        })
        .await;
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        paystat_in(dir.path())
            .env("PAYSTAT_STRIPE_URL", server.base_url())
            .env("PAYSTAT_STRIPE_KEY", STRIPE_KEY)
            .args(args)
            .output()
            .unwrap()
    };
    let checked = run(&["check", "--gateway", "stripe", "--format", "json", id]);
    assert_eq!(checked.status.code(), Some(0));
    let cached = run(&["check", "--gateway", "stripe", "--format", "json", id]);
    assert!(String::from_utf8_lossy(&cached.stdout).contains(r#""source": "cache""#));
    let synced = run(&["cache", "sync", "--gateway", "stripe"]);
    assert_eq!(synced.status.code(), Some(1), "the feed refused the key");
    assert!(
        String::from_utf8_lossy(&synced.stdout).contains("Invalid API Key provided: [REDACTED]"),
        "{}",
        String::from_utf8_lossy(&synced.stdout)
    );
    for output in [&checked, &cached, &synced] {
        assert_no_canary(&everything_from(output, dir.path()), "a run with the cache");
    }
    assert!(dir.path().join("state/paystat/cache.sqlite3").is_file());
}

/// Plaid's credentials are not shaped like keys (no `sk_` prefix): a transfer event sync that
/// quotes the secret back has it replaced by name, not by shape.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cache_sync_never_repeats_a_plaid_secret() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method(Method::POST).path("/transfer/event/sync");
            then.status(400)
                .header("content-type", "application/json")
                .body(format!(
                    r#"{{"error_type": "INVALID_INPUT", "error_code": "INVALID_API_KEYS", "error_message": "invalid client_id or secret provided: {PLAID_SECRET} for {PLAID_CLIENT_ID}", "display_message": null, "request_id": "r1"}}"#
                ));
        })
        .await;
    let dir = tempfile::tempdir().unwrap();
    let synced = paystat_in(dir.path())
        .env("PAYSTAT_PLAID_URL", server.base_url())
        .env("PAYSTAT_PLAID_CLIENT_ID", PLAID_CLIENT_ID)
        .env("PAYSTAT_PLAID_SECRET", PLAID_SECRET)
        .args(["cache", "sync", "--gateway", "plaid"])
        .output()
        .unwrap();
    assert_eq!(synced.status.code(), Some(1));
    let said = String::from_utf8_lossy(&synced.stdout);
    assert!(
        said.contains("invalid client_id or secret provided: [REDACTED] for [REDACTED]"),
        "{said}"
    );
    assert_no_canary(&everything_from(&synced, dir.path()), "cache sync's report");
}

/// A Stripe whose list quotes the key back (in an intent's text, its request id, a dispute
/// page): neither `cache fill`'s report nor `reconcile`'s rows, nor the cache or the trail,
/// hold it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cache_fill_and_reconcile_never_keep_a_key() {
    let server = MockServer::start_async().await;
    let id = sample_id(GatewayKind::Stripe);
    let intent = serde_json::json!({
        "id": id, "object": "payment_intent", "amount": 1000, "currency": "usd",
        "status": "canceled", "created": 1_793_751_000_i64, "livemode": false,
        "cancellation_reason": format!("requested_by_customer {STRIPE_KEY}"),
    });
    let list = serde_json::json!({"object": "list", "has_more": false, "data": [intent]});
    server
        .mock_async(|when, then| {
            when.method(Method::GET).path("/v1/payment_intents");
            then.status(200)
                .header("content-type", "application/json")
                .header("request-id", format!("req_{STRIPE_KEY}"))
                .body(list.to_string());
        })
        .await;
    for path in ["/v1/disputes", "/v1/events"] {
        server
            .mock_async(|when, then| {
                when.method(Method::GET).path(path);
                then.status(200)
                    .header("content-type", "application/json")
                    .body(r#"{"object": "list", "has_more": false, "data": []}"#);
            })
            .await;
    }
    let dir = tempfile::tempdir().unwrap();
    let export = dir.path().join("export.csv");
    std::fs::write(
        &export,
        format!("payment_id,amount,currency\n{id},10.00,USD\n"),
    )
    .unwrap();
    let run = |args: &[&str]| {
        paystat_in(dir.path())
            .env("PAYSTAT_STRIPE_URL", server.base_url())
            .env("PAYSTAT_STRIPE_KEY", STRIPE_KEY)
            .args(args)
            .output()
            .unwrap()
    };
    let window = [
        "--gateway",
        "stripe",
        "--since",
        "2026-11-01",
        "--until",
        "2026-12-01",
    ];
    let filled = run(&[&["cache", "fill", "--json"][..], &window[..]].concat());
    assert_eq!(
        filled.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&filled.stderr)
    );
    let mut outputs = vec![filled];
    for format in ["json", "csv", "jsonl", "table"] {
        let reconciled = run(&[
            &[
                "reconcile",
                "--format",
                format,
                "--ids-file",
                export.to_str().unwrap(),
            ][..],
            &window[..],
        ]
        .concat());
        assert_eq!(reconciled.status.code(), Some(0), "{format}");
        outputs.push(reconciled);
    }
    assert!(String::from_utf8_lossy(&outputs[1].stdout).contains("[REDACTED]"));
    for output in &outputs {
        assert_no_canary(
            &everything_from(output, dir.path()),
            "a fill and a reconciliation",
        );
    }
}
