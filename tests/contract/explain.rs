//! `paystat explain`: every scenario with an `[explain]` table is played on its own embedded
//! mock, on a clock set to the scenario's `explain.now`, over a trail seeded with its earlier
//! lines; the diagnosis must name the scenario's rule, and the timeline and diagnosis are
//! snapshotted under `snapshots/explain/` as a person reads them. Then: every built-in rule is
//! reached by some scenario, a TPM's rule file applies without a rebuild, and what the
//! gateway's history echoes of a credential never reaches the output.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use paystat::clock::ManualClock;
use paystat::contract::{EmbeddedMock, NO_RULE, Scenario, ScenarioSet};
use paystat::explain::{Calendar, ExplainOptions, Explanation, Rules};
use paystat::{Ask, CheckResult, GatewayKind, Outcome, PaymentStatus};

use crate::helpers::{CANARIES, PLAID_SECRET, fixed_record, fixtures_dir, paystat, seal, spawn};

/// Every scenario that expects an explanation.
fn explain_scenarios() -> Vec<Scenario> {
    let set = ScenarioSet::from_dir(&fixtures_dir()).unwrap();
    set.scenarios()
        .iter()
        .filter(|s| s.explain.is_some())
        .cloned()
        .collect()
}

fn unix(text: &str) -> i64 {
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .unwrap()
        .unix_timestamp()
}

/// The trail `audit.jsonl` under `dir`, holding the scenario's earlier lines, chained.
fn seed_trail(dir: &Path, scenario: &Scenario) {
    let case = scenario.explain.as_ref().unwrap();
    let mut prev = paystat::audit_trail::GENESIS.to_owned();
    let mut text = String::new();
    for (i, earlier) in case.earlier.iter().enumerate() {
        let id = earlier
            .payment_id
            .as_deref()
            .unwrap_or(&scenario.payment_id);
        let mut result = CheckResult::new(id, Some(scenario.gateway), earlier.outcome);
        result.attempts = 1;
        if earlier.outcome == Outcome::Found {
            result.status = Some(PaymentStatus::Pending);
            result.gateway_status = Some("pending".into());
            result.http_status = Some(200);
            result.duration_ms = 40;
        } else {
            result.duration_ms = 5_000;
            result.detail = Some("no complete answer within 5 s".into());
        }
        let at = time::OffsetDateTime::parse(
            &earlier.at,
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap();
        let timestamp = at
            .format(time::macros::format_description!(
                "[year]-[month]-[day]T[hour]:[minute]:[second].000Z"
            ))
            .unwrap();
        let mut record = fixed_record(&prev, i as u64 + 1, &timestamp, &result);
        let actor = earlier.actor.clone().unwrap_or_else(|| "ops-oncall".into());
        record.envelope.actor = actor.clone().into();
        record.envelope.os_user = actor.into();
        let (line, hash) = seal(&record);
        text.push_str(&line);
        text.push('\n');
        prev = hash;
    }
    std::fs::write(dir.join("audit.jsonl"), text).unwrap();
}

/// The built-in rules, every day a business day.
fn options(show_actors: bool) -> ExplainOptions {
    ExplainOptions {
        rules: Arc::new(Rules::builtin()),
        calendar: Calendar::default(),
        show_actors,
    }
}

/// Explains the scenario's payment on its own mock at `explain.now`.
async fn explain(scenario: &Scenario, show_actors: bool) -> Explanation {
    let dir = tempfile::tempdir().unwrap();
    seed_trail(dir.path(), scenario);
    let mock = EmbeddedMock::start([scenario]).await;
    let case = scenario.explain.as_ref().unwrap();
    // Simulated: only the checker's sleeps move it, so every time shown is the same on each run.
    let clock = Arc::new(ManualClock::simulated(
        UNIX_EPOCH + Duration::from_secs(unix(&case.now) as u64),
    ));
    let marker = paystat::gateways::profile(scenario.gateway).environment_env;
    let mut spawned = spawn(
        dir.path(),
        scenario.gateway,
        &mock.base_url(scenario.gateway),
    )
    .env(marker, Some("mock"))
    .stripe_account(scenario.client.stripe_account.as_deref())
    .clock(clock);
    if let Some(timeout) = scenario.client.timeout {
        spawned = spawned.timeout(timeout);
    }
    let checker = spawned.build();
    checker
        .explain(&scenario.payment_id, &Ask::default(), &options(show_actors))
        .await
        .expect("the trail is writable")
}

#[tokio::test]
async fn every_explain_scenario_gets_its_diagnosis() {
    let scenarios = explain_scenarios();
    assert!(
        scenarios.len() >= 8,
        "{} explain scenarios",
        scenarios.len()
    );
    let mut wrong = Vec::new();
    for scenario in &scenarios {
        let explanation = explain(scenario, true).await;
        let case = scenario.explain.as_ref().unwrap();
        let given = explanation.diagnosis.rule.as_deref().unwrap_or(NO_RULE);
        if given != case.rule {
            wrong.push(format!(
                "{}: diagnosed {given}, the scenario expects {}",
                scenario.name(),
                case.rule
            ));
        }
        // The check made for it is audited like any other, and its history is on the timeline.
        assert_eq!(explanation.result.payment_id, scenario.payment_id);
        assert!(
            explanation.history_error.is_none(),
            "{}: {:?}",
            scenario.name(),
            explanation.history_error
        );
        assert_eq!(
            explanation.history_requests as usize,
            scenario.history.len(),
            "{}",
            scenario.name()
        );
        assert_eq!(
            explanation.trail.lines as usize,
            case.earlier
                .iter()
                .filter(|e| e.payment_id.is_none())
                .count(),
            "{}",
            scenario.name()
        );
        let mut settings = insta::Settings::clone_current();
        settings.set_snapshot_path(concat!(env!("CARGO_MANIFEST_DIR"), "/snapshots/explain"));
        settings.set_prepend_module_to_snapshot(false);
        settings.set_omit_expression(true);
        settings.set_description(scenario.requirement.trim());
        settings.set_info(&serde_json::json!({
            "title": scenario.title,
            "file": format!("fixtures/{}", scenario.file.display()),
        }));
        // This check's own time at the mock varies; nothing else does.
        settings.add_filter(r"(this check  [^\n]*?), \d+ ms", "$1, [ms] ms");
        settings.add_filter(r"\.\d{3}Z(\s+paystat  this check)", ".[ms]Z$1");
        settings.bind(|| {
            insta::assert_snapshot!(
                scenario.name().replace('/', "__"),
                paystat::explain::render(&explanation)
            );
        });
    }
    assert!(wrong.is_empty(), "wrong diagnoses:\n{}", wrong.join("\n"));
}

#[test]
fn every_builtin_rule_is_reached_by_a_scenario_and_none_is_too() {
    let expected: Vec<String> = explain_scenarios()
        .iter()
        .map(|s| s.explain.as_ref().unwrap().rule.clone())
        .collect();
    for rule in Rules::builtin().rules() {
        assert!(
            expected.contains(&rule.name),
            "no scenario reaches rule `{}` ({})",
            rule.name,
            rule.file
        );
    }
    assert!(
        expected.iter().any(|r| r == NO_RULE),
        "no scenario where no rule matches"
    );
}

#[tokio::test]
async fn an_ops_caller_sees_no_actors() {
    let scenario = explain_scenarios()
        .into_iter()
        .find(|s| s.explain.as_ref().is_some_and(|c| !c.earlier.is_empty()))
        .unwrap();
    let shown = explain(&scenario, false).await;
    assert!(shown.trail.lines > 0);
    assert!(shown.timeline.iter().all(|m| m.actor.is_none()));
    let json = serde_json::to_string(&shown).unwrap();
    assert!(
        !json.contains("ops-oncall") && !json.contains("night-shift"),
        "{json}"
    );
    let with = explain(&scenario, true).await;
    assert!(
        with.timeline
            .iter()
            .any(|m| m.actor.as_deref() == Some("ops-oncall"))
    );
}

/// A ledger mock for the CLI tests, and the environment that points paystat at it.
async fn ledger_cli(dir: &Path) -> (EmbeddedMock, std::process::Command) {
    let mock = crate::helpers::ledger_mock().await;
    let mut cmd = paystat(dir);
    cmd.env("PAYSTAT_LEDGER_URL", mock.base_url(GatewayKind::Ledger))
        .env("PAYSTAT_LEDGER_ENVIRONMENT", "mock")
        .env("PAYSTAT_LEDGER_TOKEN", crate::helpers::LEDGER_TOKEN);
    (mock, cmd)
}

/// `paystat explain ID --rules DIR` on the ledger's mock: its standard output, once it succeeded.
async fn explain_cli(dir: &Path, id: &str, rules: &Path) -> String {
    let (_mock, mut cmd) = ledger_cli(dir).await;
    let out = cmd
        .args(["explain", id, "--rules"])
        .arg(rules)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[tokio::test]
async fn a_tpm_rule_file_applies_without_a_rebuild() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules");
    std::fs::create_dir(&rules).unwrap();
    for entry in std::fs::read_dir(fixtures_dir().join("rules")).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, rules.join(path.file_name().unwrap())).unwrap();
    }
    // The TPM changes whom a stuck ledger payment goes to, and adds a rule for failed ones.
    let ledger = std::fs::read_to_string(rules.join("40_ledger.toml")).unwrap();
    let edited = ledger.replace(
        "escalate_to = \"the ledger team\"",
        "escalate_to = \"the ledger pager, #ledger-oncall\"",
    );
    assert_ne!(ledger, edited);
    std::fs::write(rules.join("40_ledger.toml"), edited).unwrap();
    std::fs::write(
        rules.join("50_ledger_failed.toml"),
        r#"[[rule]]
name = "ledger-failed-funds"
meaning = "The ledger refused the payment: the customer's account lacked the money."
action = "Ask the customer for another payment method."
escalate_to = "customer support"
[rule.when]
gateway = "ledger"
status = "failed"
"#,
    )
    .unwrap();
    let stdout = explain_cli(dir.path(), "txn_002", &rules).await;
    assert!(
        stdout.contains("Diagnosis: ledger-pending-over-24h"),
        "{stdout}"
    );
    assert!(
        stdout.contains("the ledger pager, #ledger-oncall"),
        "{stdout}"
    );
    let stdout = explain_cli(dir.path(), "txn_003", &rules).await;
    assert!(
        stdout.contains("Diagnosis: ledger-failed-funds"),
        "{stdout}"
    );
    // Without the folder, the built-in rules decide.
    let (_mock, mut cmd) = ledger_cli(dir.path()).await;
    let out = cmd
        .args(["explain", "txn_003", "--format", "json"])
        .output()
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["diagnosis"]["rule"], serde_json::Value::Null, "{json}");
    // The config key does what --rules does.
    crate::helpers::write_config(
        dir.path(),
        &format!("[explain]\nrules_dir = {:?}\n", rules.display().to_string()),
    );
    let (_mock, mut cmd) = ledger_cli(dir.path()).await;
    let out = cmd
        .args(["explain", "txn_003", "--format", "json"])
        .output()
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["diagnosis"]["rule"], "ledger-failed-funds", "{json}");
}

#[tokio::test]
async fn a_rule_file_paystat_cannot_use_is_one_sentence_and_nothing_is_checked() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules");
    std::fs::create_dir(&rules).unwrap();
    std::fs::write(
        rules.join("10_typo.toml"),
        "[[rule]]\nname = \"x\"\nmeaning = \"m\"\naction = \"a\"\nescalate_to = \"e\"\n[rule.when]\nstatuss = \"pending\"\n",
    )
    .unwrap();
    let (_mock, mut cmd) = ledger_cli(dir.path()).await;
    let out = cmd
        .args(["explain", "txn_002", "--rules"])
        .arg(&rules)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("10_typo.toml") && stderr.contains("statuss"),
        "{stderr}"
    );
    assert!(
        !dir.path().join("state/paystat/audit").exists(),
        "nothing was checked"
    );
}

#[tokio::test]
async fn a_credential_echoed_in_the_history_never_reaches_the_output() {
    let mut scenario = explain_scenarios()
        .into_iter()
        .find(|s| s.gateway == GatewayKind::Plaid)
        .unwrap();
    let page = scenario.history[0].replace("\"failure_reason\": null", &format!("\"failure_reason\": {{\"failure_code\": \"R01\", \"description\": \"bad secret {PLAID_SECRET}\"}}"));
    assert_ne!(page, scenario.history[0]);
    scenario.history = vec![page];
    let explanation = explain(&scenario, true).await;
    let text = paystat::explain::render(&explanation);
    let json = serde_json::to_string(&explanation).unwrap();
    assert!(text.contains("[REDACTED]"), "{text}");
    for canary in CANARIES {
        assert!(
            !text.contains(canary) && !json.contains(canary),
            "{canary} in {text}"
        );
    }
}

#[tokio::test]
async fn a_bulk_run_with_explain_diagnoses_each_stale_result() {
    let dir = tempfile::tempdir().unwrap();
    let (_mock, mut cmd) = ledger_cli(dir.path()).await;
    let out = cmd
        .args([
            "check",
            "txn_001",
            "txn_002",
            "txn_003",
            "--stale-after",
            "1d",
            "--explain",
            "--format",
            "jsonl",
            "--ordered",
        ])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 3);
    // Only the stale one (pending since 2025) carries a diagnosis.
    assert!(rows[0].get("diagnosis").is_none(), "{}", rows[0]);
    assert_eq!(rows[1]["stale"], true);
    assert_eq!(
        rows[1]["diagnosis"]["rule"], "ledger-pending-over-24h",
        "{}",
        rows[1]
    );
    assert_eq!(rows[1]["diagnosis"]["escalate_to"], "the ledger team");
    assert!(
        rows[2].get("diagnosis").is_none(),
        "a failed payment is not stale: {}",
        rows[2]
    );
    // The same as CSV columns.
    let (_mock, mut cmd) = ledger_cli(dir.path()).await;
    let out = cmd
        .args([
            "check",
            "txn_002",
            "txn_001",
            "--stale-after",
            "1d",
            "--explain",
            "--format",
            "csv",
            "--ordered",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header = reader.headers().unwrap().clone();
    let column = |name: &str| header.iter().position(|h| h == name).unwrap();
    let records: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(&records[0][column("diagnosis")], "ledger-pending-over-24h");
    assert_eq!(&records[0][column("escalate_to")], "the ledger team");
    assert_eq!(&records[1][column("diagnosis")], "");
    // --explain needs --stale-after to know which results are stale.
    let (_mock, mut cmd) = ledger_cli(dir.path()).await;
    let out = cmd
        .args(["check", "txn_002", "--explain"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--stale-after"));
}

#[tokio::test]
async fn a_stripe_key_echoed_in_the_facts_or_the_refunds_never_reaches_the_output() {
    let mut scenario = explain_scenarios()
        .into_iter()
        .find(|s| s.gateway == GatewayKind::Stripe && !s.history.is_empty())
        .unwrap();
    let key = crate::helpers::STRIPE_KEY;
    let body = String::from_utf8(scenario.body_bytes.clone()).unwrap();
    let echoed = body.replace("Payment complete.", &format!("Payment complete for {key}"));
    assert_ne!(echoed, body);
    scenario.body_bytes = echoed.into_bytes();
    let page = scenario.history[0].replace("requested_by_customer", key);
    assert_ne!(page, scenario.history[0]);
    scenario.history = vec![page];
    let explanation = explain(&scenario, true).await;
    let text = paystat::explain::render(&explanation);
    let json = serde_json::to_string(&explanation).unwrap();
    let debug = format!("{explanation:?}");
    assert!(text.contains("Payment complete for [REDACTED]"), "{text}");
    for canary in CANARIES {
        for form in crate::helpers::secret_forms(canary) {
            assert!(
                !text.contains(&form) && !json.contains(&form) && !debug.contains(&form),
                "{form} in {text}"
            );
        }
    }
}

/// The refunded Stripe scenario with `pages` as its refund list.
fn refunded_with_pages(pages: &[serde_json::Value]) -> Scenario {
    let mut scenario = explain_scenarios()
        .into_iter()
        .find(|s| s.gateway == GatewayKind::Stripe && !s.history.is_empty())
        .unwrap();
    scenario.history = pages.iter().map(|p| p.to_string()).collect();
    scenario
}

fn refund_page(ids: &[&str], has_more: bool) -> serde_json::Value {
    let data: Vec<serde_json::Value> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            serde_json::json!({"id": id, "object": "refund", "amount": 100, "currency": "usd",
                "created": 1_796_119_200 + i as i64, "status": "succeeded"})
        })
        .collect();
    serde_json::json!({"object": "list", "data": data, "has_more": has_more, "url": "/v1/refunds"})
}

#[tokio::test]
async fn the_gateways_history_is_read_page_by_page_and_a_page_that_does_not_advance_ends_it() {
    let scenario = refunded_with_pages(&[
        refund_page(&["re_1", "re_2"], true),
        refund_page(&["re_3"], false),
    ]);
    let explanation = explain(&scenario, true).await;
    assert_eq!(explanation.history_requests, 2);
    assert_eq!(explanation.history_error, None);
    let refunds = explanation
        .timeline
        .iter()
        .filter(|m| m.what == "refund.created")
        .count();
    assert_eq!(refunds, 3);
    // A second page that says "more" after the same refund would be asked for ever.
    let scenario = refunded_with_pages(&[
        refund_page(&["re_1", "re_2"], true),
        refund_page(&["re_2"], true),
    ]);
    let explanation = explain(&scenario, true).await;
    assert_eq!(explanation.history_requests, 2);
    assert_eq!(
        explanation.history_error.as_deref(),
        Some("the history did not advance from one page to the next")
    );
}

#[tokio::test]
async fn explain_asks_the_gateway_whatever_the_cache_holds() {
    let dir = tempfile::tempdir().unwrap();
    let mock = crate::helpers::ledger_mock().await;
    let checker = spawn(
        dir.path(),
        GatewayKind::Ledger,
        &mock.base_url(GatewayKind::Ledger),
    )
    .env("PAYSTAT_LEDGER_ENVIRONMENT", Some("mock"))
    .cache()
    .build();
    // txn_001 is completed for good: the cache keeps it and reuses it.
    checker.check("txn_001").await.unwrap();
    checker.cache().unwrap().flush().unwrap();
    let again = checker.check("txn_001").await.unwrap();
    assert_eq!(again.source, paystat::Source::Cache);
    let explanation = checker
        .explain("txn_001", &Ask::default(), &options(false))
        .await
        .unwrap();
    assert_eq!(explanation.result.source, paystat::Source::Gateway);
    assert_eq!(explanation.trail.lines, 2);
    let reused = explanation
        .timeline
        .iter()
        .filter(|m| m.what == "answer reused from the status cache")
        .count();
    assert_eq!(reused, 1);
}
