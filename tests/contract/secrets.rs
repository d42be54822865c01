//! Secrets never leave paystat: not in results, audit lines, diagnostics or `Debug` output.
//! Each test first proves the secret was really used (the mock only answers when the header
//! carries it), then scans everything paystat produced for it.

use httpmock::{Method, MockServer};
use paystat::{Credential, Outcome};
use secrecy::SecretString;
use tracing_test::traced_test;

use crate::helpers::{audit_lines, checker};

const TOKEN: &str = "tok_canary_5f1d2c9e";
const PASSWORD: &str = "pw_canary_a8b7c6";
/// `ops:pw_canary_a8b7c6` in base64, as it travels in a Basic header.
const PASSWORD_B64: &str = "b3BzOnB3X2NhbmFyeV9hOGI3YzY=";

fn bearer() -> Credential {
    Credential::Bearer(SecretString::from(TOKEN))
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
    for secret in [TOKEN, PASSWORD, PASSWORD_B64] {
        assert!(
            !haystack.contains(secret),
            "{what} contains a secret: {haystack}"
        );
    }
}

#[tokio::test]
#[traced_test]
async fn an_error_is_diagnosed_without_the_token() {
    let server = mock_requiring(&format!("Bearer {TOKEN}"), 500, 0).await;
    let dir = tempfile::tempdir().unwrap();
    let checker = checker(dir.path(), &format!("{}/v1", server.base_url()), bearer());
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
    let credential = Credential::Basic {
        user: "ops".into(),
        password: SecretString::from(PASSWORD),
    };
    let checker = checker(dir.path(), &format!("{}/v1", server.base_url()), credential)
        .with_timeout(std::time::Duration::from_millis(100));
    let result = checker.check("txn_slow").await.unwrap();
    assert_eq!(result.outcome, Outcome::Timeout);
    assert!(logs_contain("outcome=timeout"));
    assert!(logs_contain("no complete answer within 100ms"));
    logs_assert(|lines: &[&str]| {
        assert_clean(&lines.join("\n"), "the diagnostics");
        Ok(())
    });
    assert_clean(&format!("{checker:?} {result:?}"), "Debug output");
    assert_eq!(audit_lines(dir.path()).len(), 1);
}

#[tokio::test]
async fn the_token_is_sent_as_a_bearer_header() {
    // The positive side of the tests above: without the right header the mock answers 404.
    let server = mock_requiring(&format!("Bearer {TOKEN}"), 500, 0).await;
    let dir = tempfile::tempdir().unwrap();
    let anonymous = checker(
        dir.path(),
        &format!("{}/v1", server.base_url()),
        Credential::None,
    );
    assert_eq!(
        anonymous.check("txn_1").await.unwrap().outcome,
        Outcome::NotFound
    );
    let authorized = checker(dir.path(), &format!("{}/v1", server.base_url()), bearer());
    assert_eq!(
        authorized.check("txn_1").await.unwrap().outcome,
        Outcome::GatewayError
    );
}
