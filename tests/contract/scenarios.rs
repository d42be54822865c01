//! One test per scenario file, named after it (`scenarios::ledger::status_completed`): adding a
//! fixture adds a test, with no Rust change (build.rs writes the list and makes cargo rebuild
//! this suite when `fixtures/` changes).
//!
//! Each test plays the scenario on an embedded httpmock gateway, judges the result with the
//! scenario's own comparator ([`paystat::contract::Expectation::mismatches`], the one
//! `paystat verify` uses), checks that the audit line is the result, and snapshots both under
//! `snapshots/scenarios/` with the requirement text in the snapshot header. A failing scenario
//! shows every mismatch at once, then the snapshot diff.

use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};

use paystat::Outcome;
use serde_json::json;

use crate::helpers::{fixtures_dir, load_scenario, play};

include!(concat!(env!("OUT_DIR"), "/scenario_tests.rs"));

/// Plays the scenario in `file` (relative to `fixtures/`) and judges it.
async fn run(file: &str) {
    let scenario = load_scenario(&fixtures_dir().join(file));
    let played = play(&scenario).await;
    let result = &played.result;
    let name = scenario.name();

    // The expectations the TPM wrote, and the shape rules that hold for every scenario.
    let mut problems: Vec<String> = played.request_problems.clone();
    problems.extend(
        scenario
            .expect
            .mismatches(result)
            .iter()
            .map(ToString::to_string),
    );
    if result.outcome == Outcome::Found {
        if result.amount.is_none() {
            problems.push("a found payment must carry its amount".into());
        }
        if result.detail.is_some() {
            problems.push(format!("a found payment has a detail: {:?}", result.detail));
        }
    } else {
        if result.status.is_some() || result.amount.is_some() {
            problems.push("only a found payment has a status and an amount".into());
        }
        if result.detail.as_deref().is_none_or(str::is_empty) {
            problems.push("a check without a payment must say why in `detail`".into());
        }
    }
    // Exactly one audit line, and it is the result.
    let audit = match played.audit.as_slice() {
        [line] => Some(line),
        lines => {
            problems.push(format!("{} audit lines, not 1", lines.len()));
            None
        }
    };
    if let Some(audit) = audit {
        if *audit.check != *result {
            problems.push(format!(
                "the audit line's result differs from the result shown:\n  audit: {:?}\n  shown: {result:?}",
                audit.check
            ));
        }
        if audit.envelope.event != "payment.status_check" || audit.envelope.actor != "contract-test"
        {
            problems.push(format!(
                "the audit line says event {} by {}",
                audit.envelope.event, audit.envelope.actor
            ));
        }
    }
    if !problems.is_empty() {
        eprintln!(
            "{name}: paystat breaks the scenario:\n- {}",
            problems.join("\n- ")
        );
    }

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
    settings.add_redaction(".result.attempt_log[].duration_ms", "[duration_ms]");
    settings.add_redaction(".audit.timestamp", "[timestamp]");
    settings.add_redaction(".audit.origin.host", "[host]");
    settings.add_redaction(".audit.origin.pid", "[pid]");
    settings.add_redaction(".audit.os_user", "[os_user]");
    settings.add_redaction(".audit.target.port", "[port]");
    settings.add_redaction(".audit.hash", "[hash]");
    // Transport errors name the host and port tried; the port is the test server's, random.
    settings.add_filter(r"127\.0\.0\.1:\d+", "127.0.0.1:[port]");
    // The audit line's result is checked equal to the result above; the snapshot shows what the
    // line adds: who, when, where from and which request.
    let envelope = audit.map(|a| {
        json!({
            "v": a.envelope.v,
            "seq": a.envelope.seq,
            "prev": a.envelope.prev,
            "chain": a.envelope.chain,
            "timestamp": a.envelope.timestamp,
            "event": a.envelope.event,
            "actor": a.envelope.actor,
            "os_user": a.envelope.os_user,
            "origin": a.envelope.origin,
            "target": a.target,
            "environment": a.environment,
            "request": a.request,
            "hash": a.hash,
        })
    });
    let snapshot = catch_unwind(AssertUnwindSafe(|| {
        settings.bind(|| {
            insta::assert_json_snapshot!(
                name.replace('/', "__"),
                json!({ "result": result, "audit": envelope })
            );
        })
    }));
    assert!(
        problems.is_empty(),
        "{name}: paystat breaks the scenario:\n- {}",
        problems.join("\n- ")
    );
    if let Err(diff) = snapshot {
        resume_unwind(diff);
    }
}
