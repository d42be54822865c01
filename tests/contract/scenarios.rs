//! One test per scenario file: adding a fixture adds a test, with no Rust change (build.rs
//! makes cargo rebuild this suite when `fixtures/` changes).
//!
//! Each test plays the scenario on an embedded httpmock gateway, checks every expectation the
//! file states, checks the audit line, and snapshots both under `snapshots/scenarios/` with the
//! requirement text in the snapshot header.

use std::path::PathBuf;

use paystat::Outcome;
use rstest::rstest;
use serde_json::json;

use crate::helpers::{load_scenario, play};

#[rstest]
#[tokio::test]
async fn scenario(#[files("fixtures/**/*.toml")] path: PathBuf) {
    let scenario = load_scenario(&path);
    let played = play(&scenario).await;
    let result = &played.result;
    let expect = &scenario.expect;
    let name = scenario.name();

    // The expectations the TPM wrote, field by field.
    assert_eq!(
        result.outcome, expect.outcome,
        "{name}: outcome ({:?})",
        result.detail
    );
    assert_eq!(result.status, expect.status, "{name}: status");
    if let Some(word) = &expect.gateway_status {
        assert_eq!(
            result.gateway_status.as_ref(),
            Some(word),
            "{name}: gateway_status"
        );
    }
    if let Some(minor) = expect.amount_minor {
        assert_eq!(result.amount_minor, Some(minor), "{name}: amount_minor");
    }
    if let Some(currency) = &expect.currency {
        assert_eq!(result.currency.as_ref(), Some(currency), "{name}: currency");
    }
    if let Some(code) = &expect.failure_code {
        assert_eq!(
            result.failure_code.as_ref(),
            Some(code),
            "{name}: failure_code"
        );
    }
    if let Some(status) = expect.http_status {
        assert_eq!(result.http_status, Some(status), "{name}: http_status");
    }
    if let Some(attempts) = expect.attempts {
        assert_eq!(
            result.attempts, attempts,
            "{name}: attempts ({:?})",
            result.attempt_log
        );
    }
    if let Some(stop) = expect.retry_stop {
        assert_eq!(result.retry_stop, Some(stop), "{name}: retry_stop");
    }
    if let Some(id) = &expect.gateway_request_id {
        assert_eq!(
            result.gateway_request_id.as_ref(),
            Some(id),
            "{name}: gateway_request_id"
        );
    }
    // Shape rules that hold for every scenario.
    if result.outcome == Outcome::Found {
        assert!(
            result.amount_minor.is_some() && result.currency.is_some(),
            "{name}: found without money"
        );
        assert!(result.detail.is_none(), "{name}: found with a detail");
    } else {
        assert!(
            result.status.is_none() && result.amount_minor.is_none(),
            "{name}: status without found"
        );
        assert!(
            result.detail.as_deref().is_some_and(|d| !d.is_empty()),
            "{name}: no detail sentence"
        );
    }

    // Exactly one audit line, agreeing with the result.
    assert_eq!(played.audit.len(), 1, "{name}: audit lines");
    let audit = &played.audit[0];
    assert_eq!(audit.payment_id, scenario.payment_id);
    assert_eq!(audit.outcome, result.outcome);
    assert_eq!(audit.status, result.status);
    assert_eq!(audit.http_status, result.http_status);
    assert_eq!(audit.attempts, result.attempts);
    assert_eq!(audit.attempt_log, result.attempt_log);
    assert_eq!(audit.retry_stop, result.retry_stop);
    assert_eq!(audit.event, "payment.status_check");
    assert_eq!(audit.actor, "contract-test");

    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(concat!(env!("CARGO_MANIFEST_DIR"), "/snapshots/scenarios"));
    settings.set_prepend_module_to_snapshot(false);
    settings.set_omit_expression(true);
    settings.set_description(scenario.requirement.trim());
    settings.set_info(&json!({
        "title": scenario.title,
        "file": format!("fixtures/{}", scenario.file.display()),
    }));
    settings.add_redaction(".result.duration_ms", "[duration_ms]");
    settings.add_redaction(".audit.duration_ms", "[duration_ms]");
    settings.add_redaction(".result.attempt_log[].duration_ms", "[duration_ms]");
    settings.add_redaction(".audit.attempt_log[].duration_ms", "[duration_ms]");
    settings.add_redaction(".audit.timestamp", "[timestamp]");
    settings.add_redaction(".audit.origin.host", "[host]");
    settings.add_redaction(".audit.origin.pid", "[pid]");
    settings.bind(|| {
        insta::assert_json_snapshot!(
            name.replace('/', "__"),
            json!({ "result": result, "audit": audit })
        );
    });
}
