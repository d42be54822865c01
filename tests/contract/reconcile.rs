//! `paystat cache fill` and `paystat reconcile`: every scenario of `fixtures/reconcile/` played
//! against a gateway imitated by httpmock (its list pages, its dispute list, single checks of
//! payments the list did not hold, its change feed), on a simulated clock; the rows and the
//! audit trail they leave snapshotted; the bound on requests, resuming, pacing, a payment that
//! changes after the fill, and the trail's evidence of where each cached answer came from.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use httpmock::{Method, MockServer};
use paystat::clock::ManualClock;
use paystat::fill::{FillOptions, Window};
use paystat::reconcile::{Reconciled, read_export};
use paystat::{Checker, GatewayKind, Source};
use serde::Deserialize;

use crate::helpers::{fixtures_dir, spawn};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReconcileScenario {
    title: String,
    requirement: String,
    gateway: String,
    since: String,
    until: String,
    now: String,
    export: String,
    pages: Vec<String>,
    #[serde(default)]
    disputes: Vec<String>,
    #[serde(default)]
    retrieve: Vec<Retrieve>,
    #[serde(default)]
    changed: Option<Changed>,
    expect: Expect,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Retrieve {
    payment_id: String,
    status: u16,
    body: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Changed {
    payment_id: String,
    body: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expect {
    #[serde(default)]
    list_requests: Option<usize>,
    #[serde(default)]
    fill_error: Option<String>,
    rows: BTreeMap<String, String>,
    #[serde(default)]
    statuses: BTreeMap<String, String>,
}

impl ReconcileScenario {
    fn kind(&self) -> GatewayKind {
        match self.gateway.as_str() {
            "stripe" => GatewayKind::Stripe,
            "plaid" => GatewayKind::Plaid,
            other => panic!("no list for {other}"),
        }
    }

    fn window(&self) -> Window {
        let at = |t: &str| {
            time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).unwrap()
        };
        Window {
            since: at(&self.since),
            until: at(&self.until),
        }
    }

    fn now(&self) -> u64 {
        time::OffsetDateTime::parse(&self.now, &time::format_description::well_known::Rfc3339)
            .unwrap()
            .unix_timestamp() as u64
    }
}

fn scenarios() -> Vec<(PathBuf, ReconcileScenario)> {
    let dir = fixtures_dir().join(paystat::contract::RECONCILE_DIR);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).unwrap();
            let scenario: ReconcileScenario =
                toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            (path, scenario)
        })
        .collect()
}

fn scenario(name: &str) -> ReconcileScenario {
    scenarios()
        .into_iter()
        .find(|(path, _)| path.file_stem().unwrap() == name)
        .unwrap_or_else(|| panic!("no scenario {name}"))
        .1
}

/// The ids on a Stripe list page, in order.
fn stripe_ids(page: &str) -> Vec<String> {
    let page: serde_json::Value = serde_json::from_str(page).unwrap();
    page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["id"].as_str().unwrap().to_owned())
        .collect()
}

/// The mocks a scenario mounts: its list pages (and dispute pages), counted.
struct Mounted {
    lists: Vec<usize>,
}

impl Mounted {
    /// Requests the list pages (and dispute pages) got.
    fn list_requests(&self, server: &MockServer) -> usize {
        self.lists
            .iter()
            .map(|id| httpmock::Mock::new(*id, server).calls())
            .sum()
    }
}

/// Mounts `pages` of a Stripe list at `path`, each after the last id of the one before.
fn mount_stripe_pages(server: &MockServer, path: &str, pages: &[String]) -> Vec<usize> {
    let mut after: Option<String> = None;
    let mut ids = Vec::new();
    for page in pages {
        let body = page.clone();
        let cursor = after.clone();
        let path = path.to_owned();
        let mock = server.mock(move |when, then| {
            let when = when.method(Method::GET).path(path);
            match &cursor {
                None => when.query_param_missing("starting_after"),
                Some(after) => when.query_param("starting_after", after),
            };
            then.status(200)
                .header("content-type", "application/json")
                .header("request-id", "req_list")
                .body(body);
        });
        ids.push(mock.id());
        after = stripe_ids(page).last().cloned();
    }
    ids
}

fn mount(server: &MockServer, scenario: &ReconcileScenario) -> Mounted {
    let mut lists = Vec::new();
    match scenario.kind() {
        GatewayKind::Stripe => {
            server.mock(|when, then| {
                when.method(Method::GET).path("/v1/events");
                then.status(200)
                    .header("content-type", "application/json")
                    .body(
                        r#"{"object": "list", "url": "/v1/events", "has_more": false, "data": []}"#,
                    );
            });
            lists.extend(mount_stripe_pages(
                server,
                "/v1/payment_intents",
                &scenario.pages,
            ));
            lists.extend(mount_stripe_pages(
                server,
                "/v1/disputes",
                &scenario.disputes,
            ));
            for r in &scenario.retrieve {
                server.mock(|when, then| {
                    when.method(Method::GET)
                        .path(format!("/v1/payment_intents/{}", r.payment_id));
                    then.status(r.status)
                        .header("content-type", "application/json")
                        .body(r.body.clone());
                });
            }
        }
        GatewayKind::Plaid => {
            server.mock(|when, then| {
                when.method(Method::POST).path("/transfer/event/sync");
                then.status(200)
                    .header("content-type", "application/json")
                    .body(
                        r#"{"transfer_events": [], "has_more": false, "request_id": "plaidSync"}"#,
                    );
            });
            for (k, page) in scenario.pages.iter().enumerate() {
                let mock = server.mock(|when, then| {
                    when.method(Method::POST)
                        .path("/transfer/list")
                        .json_body_includes(format!(r#"{{"offset": {}}}"#, k * 25));
                    then.status(200)
                        .header("content-type", "application/json")
                        .body(page.clone());
                });
                lists.push(mock.id());
            }
            for r in &scenario.retrieve {
                server.mock(|when, then| {
                    when.method(Method::POST)
                        .path("/transfer/get")
                        .json_body_includes(format!(r#"{{"transfer_id": "{}"}}"#, r.payment_id));
                    then.status(r.status)
                        .header("content-type", "application/json")
                        .body(r.body.clone());
                });
            }
        }
        GatewayKind::Ledger => unreachable!(),
    }
    Mounted { lists }
}

fn checker(dir: &Path, scenario: &ReconcileScenario, server: &MockServer) -> Arc<Checker> {
    let clock = Arc::new(ManualClock::simulated(
        UNIX_EPOCH + Duration::from_secs(scenario.now()),
    ));
    Arc::new(
        spawn(dir, scenario.kind(), &server.base_url())
            .cache()
            .clock(clock)
            .build(),
    )
}

fn options(scenario: &ReconcileScenario) -> FillOptions {
    FillOptions {
        gateway: scenario.kind(),
        window: scenario.window(),
        refill: false,
        caller: None,
    }
}

/// Plays a scenario's reconciliation: the rows, the summary.
async fn reconcile(
    dir: &Path,
    scenario: &ReconcileScenario,
    server: &MockServer,
) -> (Vec<Reconciled>, paystat::reconcile::ReconcileReport) {
    let checker = checker(dir, scenario, server);
    let export = read_export(scenario.export.as_bytes()).unwrap();
    let mut rows = Vec::new();
    let report = checker
        .reconcile(export, &options(scenario), &|_| {}, |row| {
            rows.push(row.clone())
        })
        .await
        .unwrap();
    (rows, report)
}

/// The rows, the totals, the fill and the audit trail, as a reviewer reads them.
fn render(rows: &[Reconciled], report: &paystat::reconcile::ReconcileReport, dir: &Path) -> String {
    let mut text = String::new();
    let fill = &report.fill;
    text.push_str(&format!(
        "fill: {} pages, {} payments listed, {} stored, finished {}, error {:?}\n\n",
        fill.pages, fill.listed, fill.stored, fill.finished, fill.error
    ));
    for row in rows {
        let r = &row.result;
        text.push_str(&format!(
            "{}  {}  source={}  {}  {}  export={}  in_window={:?}\n",
            r.payment_id,
            row.difference.as_str(),
            r.source.as_str(),
            r.status
                .map_or_else(|| r.outcome.as_str().to_owned(), |s| s.as_str().to_owned()),
            r.amount.map(|m| m.to_string()).unwrap_or_default(),
            match (row.export_amount_minor, row.export_currency) {
                (Some(minor), Some(code)) =>
                    paystat::Money::from_minor(minor, paystat::currency(code).unwrap()).to_string(),
                _ => "-".into(),
            },
            row.in_window,
        ));
    }
    text.push_str("\nby difference:\n");
    for (name, total) in &report.by_difference {
        text.push_str(&format!(
            "  {name}: {} {:?}\n",
            total.payments, total.amount_minor
        ));
    }
    text.push_str("by status:\n");
    for (name, total) in &report.by_status {
        text.push_str(&format!(
            "  {name}: {} {:?}\n",
            total.payments, total.amount_minor
        ));
    }
    text.push_str("\naudit trail:\n");
    for line in trail(dir) {
        text.push_str(&format!("  {line}\n"));
    }
    text
}

/// Each line of the trail in a few words: its seq, event, and what it is about.
fn trail(dir: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(dir.join("audit.jsonl")).unwrap_or_default();
    text.lines()
        .map(|line| {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            let event = v["event"].as_str().unwrap();
            let about = match event {
                "cache.fill_page" => format!(
                    "{} {} cursor={} next={} objects={} unread={}",
                    v["gateway"].as_str().unwrap(),
                    v["list"].as_str().unwrap(),
                    v["cursor"],
                    v["next"],
                    v["objects"].as_array().unwrap().len(),
                    v["unread"].as_array().map_or(0, Vec::len),
                ),
                "payment.status_check" => format!(
                    "{} {} source={} copy_of={}",
                    v["payment_id"].as_str().unwrap(),
                    v["outcome"].as_str().unwrap(),
                    v["source"].as_str().unwrap_or("gateway"),
                    v["copy_of"]["seq"],
                ),
                _ => String::new(),
            };
            format!("{} {event} {about}", v["seq"])
        })
        .collect()
}

#[tokio::test]
async fn every_reconcile_scenario_reports_its_differences() {
    let all = scenarios();
    assert!(all.len() >= 6, "{} reconcile scenarios", all.len());
    for (path, scenario) in all {
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        assert!(!scenario.title.is_empty() && !scenario.requirement.trim().is_empty());
        let dir = tempfile::tempdir().unwrap();
        let server = MockServer::start_async().await;
        let mounted = mount(&server, &scenario);
        let (rows, report) = reconcile(dir.path(), &scenario, &server).await;
        assert_eq!(report.shown, rows.len() as u64, "{name}");
        let by_id: BTreeMap<&str, &Reconciled> = rows
            .iter()
            .map(|r| (r.result.payment_id.as_str(), r))
            .collect();
        for (id, difference) in &scenario.expect.rows {
            let row = by_id
                .get(id.as_str())
                .unwrap_or_else(|| panic!("{name}: no row for {id}"));
            assert_eq!(row.difference.as_str(), difference, "{name}: {id}");
        }
        for (id, status) in &scenario.expect.statuses {
            let row = by_id[id.as_str()];
            assert_eq!(
                row.result.status.map(|s| s.as_str()),
                Some(status.as_str()),
                "{name}: {id}"
            );
        }
        if let Some(requests) = scenario.expect.list_requests {
            assert_eq!(mounted.list_requests(&server), requests, "{name}");
        }
        match &scenario.expect.fill_error {
            Some(error) => assert!(
                report
                    .fill
                    .error
                    .as_deref()
                    .is_some_and(|e| e.contains(error)),
                "{name}: {:?}",
                report.fill.error
            ),
            None => {
                assert_eq!(report.fill.error, None, "{name}");
                assert!(report.fill.finished, "{name}");
                // Every payment the list held was answered from the fill, no request of its own.
                for row in rows.iter().filter(|r| r.in_window == Some(true)) {
                    assert_eq!(
                        row.result.source,
                        Source::Cache,
                        "{name}: {}",
                        row.result.payment_id
                    );
                }
            }
        }
        // Every row shown is audited: one status-check line for it.
        let lines: Vec<serde_json::Value> = std::fs::read_to_string(dir.path().join("audit.jsonl"))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        for row in &rows {
            assert_eq!(
                lines
                    .iter()
                    .filter(|l| l["event"] == "payment.status_check"
                        && l["payment_id"] == row.result.payment_id.as_str())
                    .count(),
                1,
                "{name}: {}",
                row.result.payment_id
            );
        }
        let mut settings = insta::Settings::clone_current();
        settings.set_snapshot_path(concat!(env!("CARGO_MANIFEST_DIR"), "/snapshots/reconcile"));
        settings.set_prepend_module_to_snapshot(false);
        settings.set_description(scenario.title.clone());
        settings.bind(|| insta::assert_snapshot!(name.clone(), render(&rows, &report, dir.path())));
    }
}

/// `text` (a plain-SHA-256 trail) with every line chained and sealed again, keys in place.
fn reseal(text: &str) -> String {
    let mut prev = paystat::audit_trail::GENESIS.to_owned();
    let mut out = String::new();
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let hash = v["hash"].as_str().unwrap();
        let body = line
            .strip_suffix(&format!(",\"hash\":\"{hash}\"}}"))
            .unwrap()
            .replacen(
                &format!("\"prev\":\"{}\"", v["prev"].as_str().unwrap()),
                &format!("\"prev\":\"{prev}\""),
                1,
            );
        let (sealed, hash) =
            paystat::audit_trail::Sealer::plain().seal(format!("{body}}}").into_bytes());
        out.push_str(std::str::from_utf8(&sealed).unwrap());
        out.push('\n');
        prev = hash;
    }
    out
}

#[tokio::test]
async fn a_fill_is_one_audit_line_a_page_and_verify_holds_its_copies_to_it() {
    let scenario = scenario("stripe_each_with_status");
    let dir = tempfile::tempdir().unwrap();
    let server = MockServer::start_async().await;
    mount(&server, &scenario);
    let (rows, _) = reconcile(dir.path(), &scenario, &server).await;
    let trail = dir.path().join("audit.jsonl");
    let text = std::fs::read_to_string(&trail).unwrap();
    let pages: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["event"] == "cache.fill_page")
        .collect();
    // The dispute page, then the two intent pages.
    assert_eq!(pages.len(), 3);
    assert_eq!(pages[1]["window"]["since"], "2026-11-01T00:00:00Z");
    assert_eq!(pages[1]["gateway_request_id"], "req_list");
    assert_eq!(pages[2]["cursor"], pages[1]["next"]);
    // Every reused answer names the page that listed it, and `audit verify` holds the two equal.
    for row in &rows {
        assert_eq!(row.result.source, Source::Cache);
    }
    let location = paystat::audit_trail::Location::File(trail.clone());
    let verified = paystat::audit_trail::verify::verify(&location, &Default::default()).unwrap();
    assert!(verified.broken.is_none(), "{verified:?}");
    // A copy that claims another answer than the page listed (its chain sealed again, so only
    // the comparison with the page can find it) is found.
    let at = text.rfind("\"status\":\"refunded\"").unwrap();
    let forged = format!(
        "{}\"status\":\"completed\"{}",
        &text[..at],
        &text[at + "\"status\":\"refunded\"".len()..]
    );
    std::fs::write(&trail, reseal(&forged)).unwrap();
    let durable = dir.path().join("audit.jsonl.durable.json");
    let record = std::fs::read(&durable).unwrap();
    std::fs::remove_file(&durable).unwrap();
    let broken = paystat::audit_trail::verify::verify(&location, &Default::default()).unwrap();
    let detail = broken.broken.map(|b| b.detail).unwrap_or_default();
    assert!(
        detail.contains("its answer is not that line's"),
        "a copy edited to another status verified: {detail:?}"
    );
    std::fs::write(&durable, record).unwrap();
    // A filled payment's history shows the page that listed it.
    std::fs::write(&trail, &text).unwrap();
    let mut history = Vec::new();
    paystat::audit_trail::query::history(&location, &rows[0].result.payment_id, |row| {
        history.push(row);
        Ok(())
    })
    .unwrap();
    assert_eq!(history[0].event, "cache.fill_page", "{history:?}");
    assert_eq!(history[0].status.as_deref(), Some("completed"));
    assert_eq!(history[1].event, "payment.status_check");
}

#[tokio::test]
async fn a_payment_changed_after_the_fill_is_asked_again_and_the_rest_still_come_from_it() {
    let scenario = scenario("stripe_changed_after_fill");
    let changed = scenario.changed.as_ref().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let server = MockServer::start_async().await;
    mount(&server, &scenario);
    let (rows, _) = reconcile(dir.path(), &scenario, &server).await;
    assert!(rows.iter().all(|r| r.result.source == Source::Cache));
    // The payment is refunded: Stripe's feed names it, and its answer is now another.
    server.reset_async().await;
    let event = serde_json::json!({"object": "list", "url": "/v1/events", "has_more": false, "data": [{
        "id": "evt_1RecnRefund", "object": "event", "type": "charge.refunded",
        "created": scenario.now(),
        "data": {"object": {"id": "ch_1RecnRefund", "object": "charge", "payment_intent": changed.payment_id}}
    }]});
    server.mock(|when, then| {
        when.method(Method::GET).path("/v1/events");
        then.status(200).json_body(event);
    });
    let asked = server.mock(|when, then| {
        when.method(Method::GET)
            .path(format!("/v1/payment_intents/{}", changed.payment_id));
        then.status(200)
            .header("content-type", "application/json")
            .body(changed.body.clone());
    });
    let checker = checker(dir.path(), &scenario, &server);
    assert!(checker.follow_feeds().await.is_empty());
    let ids: Vec<String> = rows.iter().map(|r| r.result.payment_id.clone()).collect();
    for id in &ids {
        let result = checker.check(id).await.unwrap();
        if *id == changed.payment_id {
            assert_eq!(result.source, Source::Gateway, "{id} was served stale");
            assert_eq!(result.status, Some(paystat::PaymentStatus::Refunded));
        } else {
            assert_eq!(result.source, Source::Cache, "{id}");
            assert_eq!(result.status, Some(paystat::PaymentStatus::Completed));
        }
    }
    assert_eq!(asked.calls(), 1);
}

#[tokio::test]
async fn an_interrupted_fill_resumes_after_its_last_page_and_a_finished_one_is_not_read_again() {
    let scenario = scenario("stripe_each_with_status");
    let dir = tempfile::tempdir().unwrap();
    let server = MockServer::start_async().await;
    // Only the first page of intents answers: the second is a route the gateway does not have.
    let partial = ReconcileScenario {
        pages: scenario.pages[..1].to_vec(),
        ..self::scenario("stripe_each_with_status")
    };
    let first = mount(&server, &partial);
    let checker = checker(dir.path(), &scenario, &server);
    let stopped = checker.fill(&options(&scenario), &|_| {}).await.unwrap();
    assert!(!stopped.finished);
    assert!(
        stopped.error.as_deref().is_some_and(|e| e.contains("404")),
        "{:?}",
        stopped.error
    );
    assert_eq!(stopped.listed, 4);
    // Where it stands, as stored: two pages (the disputes and the first of intents), the next
    // one after the first page's last intent.
    let state = stopped.state.as_ref().unwrap();
    assert_eq!(state.pages, 2);
    assert_eq!(state.resume.as_deref(), Some("pi_3RecnMonth0004Nov26xyz"));
    assert_eq!(state.finished_at, None);
    assert_eq!(
        first.list_requests(&server),
        2,
        "disputes and page 1 (page 2 met a 404)"
    );
    // The second page answers now: the fill goes on after the first page, reading the
    // disputes again (they attach to intents of any page) but not page 1.
    let rest = mount_stripe_pages(&server, "/v1/payment_intents", &scenario.pages);
    let resumed = checker.fill(&options(&scenario), &|_| {}).await.unwrap();
    assert!(resumed.finished, "{:?}", resumed.error);
    assert_eq!(resumed.resumed_after, 2);
    assert_eq!(resumed.pages, 2);
    assert_eq!(resumed.listed, 6);
    let page = |i: usize| httpmock::Mock::new(rest[i], &server).calls();
    assert_eq!((page(0), page(1)), (0, 1), "page 1 was not asked again");
    // Read to its end after the window closed: nothing can join it, so it is not read again.
    let again = checker.fill(&options(&scenario), &|_| {}).await.unwrap();
    assert!(again.reused && again.finished);
    assert_eq!(again.pages, 0);
    assert_eq!(again.listed, 6);
}

#[tokio::test]
async fn a_fill_is_paced_like_checks_on_the_injected_clock() {
    let scenario = scenario("stripe_each_with_status");
    let dir = tempfile::tempdir().unwrap();
    let server = MockServer::start_async().await;
    mount(&server, &scenario);
    let clock = Arc::new(ManualClock::simulated(
        UNIX_EPOCH + Duration::from_secs(scenario.now()),
    ));
    let checker = spawn(dir.path(), GatewayKind::Stripe, &server.base_url())
        .cache()
        .clock(clock.clone())
        .rate(2.0)
        .build();
    let report = checker.fill(&options(&scenario), &|_| {}).await.unwrap();
    assert!(report.finished);
    assert_eq!(report.requests, 3);
    // Three requests at two a second: the second half a second after the first, the third a
    // second after it (the feed's sync before them is not paced, as `cache sync` is not).
    use paystat::clock::Clock;
    assert_eq!(clock.now(), Duration::from_millis(1000));
}

/// The same through the service: an admin streams the rows and the summary as NDJSON, each
/// row's check and each fill page audited as the token's actor; an ops token may not.
#[cfg(feature = "serve")]
#[tokio::test]
async fn the_service_reconciles_for_an_admin_only_and_audits_the_rows_as_theirs() {
    use paystat::serve::tokens::Role;
    let scenario = scenario("stripe_missing_at_gateway");
    let dir = tempfile::tempdir().unwrap();
    let server = MockServer::start_async().await;
    mount(&server, &scenario);
    // The service's clock is the one its test tokens are made on.
    let clock = crate::helpers::simulated_clock();
    let checker = spawn(dir.path(), GatewayKind::Stripe, &server.base_url())
        .cache()
        .clock(clock)
        .build();
    let app = crate::serve::App::start(checker, Default::default()).await;
    let body = serde_json::json!({
        "gateway": "stripe", "since": scenario.since, "until": scenario.until, "export": scenario.export,
    })
    .to_string();
    let ops = app.token("ops-alice", Role::Ops);
    let refused = app
        .post(
            "/v1/reconciliations",
            Some(&ops),
            "application/json",
            body.clone(),
        )
        .await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    let admin = app.token("admin-dana", Role::Admin);
    let bad = app
        .post(
            "/v1/reconciliations",
            Some(&admin),
            "application/json",
            r#"{"gateway": "stripe", "since": "2026-11-01T00:00:00Z", "until": "2026-12-01T00:00:00Z", "export": "payment_id,amount\npi_1,20.00\n"}"#,
        )
        .await;
    assert_eq!(bad.status, 400, "{}", bad.body);
    assert!(bad.body.contains("currency"), "{}", bad.body);
    let streamed = app
        .post(
            "/v1/reconciliations",
            Some(&admin),
            "application/json",
            body,
        )
        .await;
    assert_eq!(streamed.status, 200, "{}", streamed.body);
    let lines: Vec<serde_json::Value> = streamed
        .body
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 4, "{}", streamed.body);
    let differences: BTreeMap<String, String> = lines[..3]
        .iter()
        .map(|l| {
            (
                l["payment_id"].as_str().unwrap().to_owned(),
                l["difference"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let expected: BTreeMap<String, String> = scenario.expect.rows.clone().into_iter().collect();
    assert_eq!(differences, expected);
    assert_eq!(
        lines[3]["summary"]["by_difference"]["missing_at_gateway"]["payments"],
        1
    );
    // The feed sync made for the reconciliation vouches for it alone: a later check of a
    // filled answer that can still change asks Stripe (the service follows no feed between
    // reconciliations; only --max-age would reuse it).
    let later = app
        .get(
            "/v1/payments/pi_3RecnMonth0011Nov26xyz?gateway=stripe",
            Some(&admin),
        )
        .await;
    assert_eq!(later.json()["source"], "gateway", "{}", later.body);
    app.stop().await;
    let trail = std::fs::read_to_string(dir.path().join("audit.jsonl")).unwrap();
    let written: Vec<serde_json::Value> = trail
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(written.iter().any(|l| l["event"] == "cache.fill_page"));
    for line in written.iter().filter(|l| {
        matches!(
            l["event"].as_str(),
            Some("cache.fill_page" | "payment.status_check")
        )
    }) {
        assert_eq!(line["actor"], "admin-dana", "{line}");
        assert_eq!(line["via"], "serve", "{line}");
    }
}

/// The commands from outside: `cache fill` (its report and exit code), `reconcile` in every
/// format with its exit code, and the fill's pages in `audit history`, `stats` and `export`.
#[tokio::test]
async fn the_commands_fill_reconcile_and_show_the_fill_in_the_trail() {
    let scenario = scenario("stripe_missing_at_gateway");
    let dir = tempfile::tempdir().unwrap();
    let server = MockServer::start_async().await;
    mount(&server, &scenario);
    let export = dir.path().join("export.csv");
    std::fs::write(&export, &scenario.export).unwrap();
    let run = |args: &[&str]| {
        crate::helpers::paystat(dir.path())
            .args(args)
            .env("PAYSTAT_STRIPE_URL", server.base_url())
            .env("PAYSTAT_STRIPE_KEY", crate::helpers::STRIPE_KEY)
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
    let fill = run(&[&["cache", "fill"][..], &window[..]].concat());
    let said = String::from_utf8_lossy(&fill.stdout);
    assert_eq!(
        fill.status.code(),
        Some(0),
        "{said}{}",
        String::from_utf8_lossy(&fill.stderr)
    );
    assert!(
        said.contains("2 pages in 2 requests, 2 payments listed, 2 answers stored"),
        "{said}"
    );
    let ids = export.to_str().unwrap();
    for (format, expect) in [
        ("table", "missing_at_gateway"),
        ("csv", "payment_id,difference,in_export"),
        ("jsonl", "\"summary\""),
        ("json", "\"by_difference\""),
    ] {
        let out = run(&[
            &["reconcile"][..],
            &window[..],
            &["--ids-file", ids, "--format", format],
        ]
        .concat());
        let text = String::from_utf8_lossy(&out.stdout);
        // A difference: exit 1.
        assert_eq!(
            out.status.code(),
            Some(1),
            "{format}: {text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(text.contains(expect), "{format}: {text}");
        assert!(
            text.contains("pi_3RecnMonthGhostNov26xyz"),
            "{format}: {text}"
        );
    }
    // The window was filled after it closed: the reconciliations used that fill.
    assert_eq!(
        String::from_utf8_lossy(
            &run(&[&["reconcile"][..], &window[..], &["--ids-file", ids]].concat()).stderr
        )
        .matches("not read again")
        .count(),
        1
    );
    let history = run(&["audit", "history", "pi_3RecnMonth0011Nov26xyz"]);
    let history = String::from_utf8_lossy(&history.stdout);
    assert!(history.contains("cache.fill_page"), "{history}");
    let stats = run(&["audit", "stats"]);
    let stats = String::from_utf8_lossy(&stats.stderr);
    assert!(stats.contains("cache.fill_page 2"), "{stats}");
    let pages = run(&["audit", "export", "--event", "cache.fill_page"]);
    let pages = String::from_utf8_lossy(&pages.stdout);
    assert_eq!(pages.lines().count(), 2, "{pages}");
    // A window that ends before it starts, and an export that cannot be read: usage, exit 2.
    let backwards = run(&[
        "cache",
        "fill",
        "--gateway",
        "plaid",
        "--since",
        "2026-12-01",
        "--until",
        "2026-11-01",
    ]);
    assert_eq!(backwards.status.code(), Some(2));
    std::fs::write(&export, "payment_id,amount\npi_1,20.00\n").unwrap();
    let unreadable = run(&[&["reconcile"][..], &window[..], &["--ids-file", ids]].concat());
    assert_eq!(unreadable.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&unreadable.stderr).contains("currency"));
}

/// A Plaid page that lists again only what the page before listed (its offset moved, its
/// transfers did not) ends the fill; `--refill` after an interrupted fill starts from the first
/// page again.
#[tokio::test]
async fn a_plaid_page_of_transfers_already_listed_ends_the_fill_and_a_refill_starts_afresh() {
    let scenario = scenario("plaid_missing_in_export");
    let repeated = ReconcileScenario {
        pages: vec![scenario.pages[0].clone(), scenario.pages[0].clone()],
        ..self::scenario("plaid_missing_in_export")
    };
    let dir = tempfile::tempdir().unwrap();
    let server = MockServer::start_async().await;
    mount(&server, &repeated);
    let checker = checker(dir.path(), &scenario, &server);
    let stopped = checker.fill(&options(&scenario), &|_| {}).await.unwrap();
    assert!(
        stopped
            .error
            .as_deref()
            .is_some_and(|e| e.contains("listed only payments already listed")),
        "{:?}",
        stopped.error
    );
    assert_eq!((stopped.listed, stopped.finished), (25, false));
    // A refill reads the window from its first page, not after the one stored.
    server.reset_async().await;
    mount(&server, &scenario);
    let refill = FillOptions {
        refill: true,
        ..options(&scenario)
    };
    let again = checker.fill(&refill, &|_| {}).await.unwrap();
    assert_eq!((again.resumed_after, again.pages), (0, 2));
    assert!(again.finished);
    assert_eq!(again.listed, 26);
}

/// A listed intent whose charge says disputed while the dispute list names no dispute of it
/// is not stored: the report and the page's line name it, and a check of it asks Stripe.
#[tokio::test]
async fn a_listed_payment_paystat_cannot_read_whole_is_named_and_asked_when_checked() {
    let scenario = scenario("stripe_each_with_status");
    let without_disputes = ReconcileScenario {
        disputes: vec![r#"{"object": "list", "data": [], "has_more": false}"#.to_owned()],
        ..self::scenario("stripe_each_with_status")
    };
    let dir = tempfile::tempdir().unwrap();
    let server = MockServer::start_async().await;
    mount(&server, &without_disputes);
    let checker = checker(dir.path(), &scenario, &server);
    let report = checker.fill(&options(&scenario), &|_| {}).await.unwrap();
    let disputed = "pi_3RecnMonth0006Nov26xyz";
    assert_eq!(report.unread_count, 1);
    assert_eq!(report.unread[0].payment_id, disputed);
    assert!(
        report.unread[0].detail.contains("dispute"),
        "{:?}",
        report.unread
    );
    assert_eq!((report.listed, report.stored), (6, 5));
    let trail = std::fs::read_to_string(dir.path().join("audit.jsonl")).unwrap();
    let last_page: serde_json::Value = trail
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .rfind(|v| v["event"] == "cache.fill_page")
        .unwrap();
    assert_eq!(last_page["unread"][0]["payment_id"], disputed);
    assert_eq!(last_page["objects"].as_array().unwrap().len(), 1);
}

/// An answer from a fill is as old as the fill: a check 90 s after it, reusing it within
/// `--max-age` without the feed, shows that age.
#[tokio::test]
async fn a_filled_answer_is_as_old_as_its_fill() {
    let scenario = scenario("stripe_amount_differs");
    let dir = tempfile::tempdir().unwrap();
    let server = MockServer::start_async().await;
    mount(&server, &scenario);
    let checker = checker(dir.path(), &scenario, &server);
    checker.fill(&options(&scenario), &|_| {}).await.unwrap();
    drop(checker);
    let later = Arc::new(ManualClock::simulated(
        UNIX_EPOCH + Duration::from_secs(scenario.now() + 90),
    ));
    let checker = spawn(dir.path(), GatewayKind::Stripe, &server.base_url())
        .cache()
        .clock(later)
        .build();
    let ask = paystat::Ask {
        max_age: Some(Duration::from_secs(3600)),
        ..Default::default()
    };
    let result = checker
        .check_as("pi_3RecnMonth0021Nov26xyz", &ask)
        .await
        .unwrap();
    assert_eq!(result.source, Source::Cache);
    // The fill's own pacing moved its clock by a few tens of milliseconds.
    assert!(
        matches!(result.cache_age_s, Some(89..=90)),
        "{:?}",
        result.cache_age_s
    );
}

/// A list page that is not a list, quoting the Plaid secret back, ends the fill with a sentence
/// that does not hold the secret (nor does the trail).
#[tokio::test]
async fn a_list_page_echoing_a_secret_never_puts_it_in_the_report_or_the_trail() {
    let scenario = scenario("plaid_missing_in_export");
    let dir = tempfile::tempdir().unwrap();
    let server = MockServer::start_async().await;
    server.mock(|when, then| {
        when.method(Method::POST).path("/transfer/event/sync");
        then.status(200)
            .body(r#"{"transfer_events": [], "has_more": false, "request_id": "r"}"#);
    });
    server.mock(|when, then| {
        when.method(Method::POST).path("/transfer/list");
        then.status(200).body(format!(
            r#"{{"transfers": "{}", "request_id": "{}"}}"#,
            crate::helpers::PLAID_SECRET,
            crate::helpers::PLAID_SECRET
        ));
    });
    let checker = checker(dir.path(), &scenario, &server);
    let report = checker.fill(&options(&scenario), &|_| {}).await.unwrap();
    let error = report.error.unwrap();
    assert!(error.contains("not a list of transfers"), "{error}");
    let said = format!("{error}{}", serde_json::to_string(&report.unread).unwrap());
    let trail = std::fs::read_to_string(dir.path().join("audit.jsonl")).unwrap_or_default();
    for form in crate::helpers::secret_forms(crate::helpers::PLAID_SECRET) {
        assert!(!said.contains(&form), "the report holds {form}: {said}");
        assert!(!trail.contains(&form), "the trail holds {form}");
    }
}

/// A list page answered 429 (with `Retry-After`) and then 503 is asked again as the gateway's
/// retry policy says, waiting on the injected clock; a 400 is not asked again.
#[tokio::test]
async fn a_list_page_is_retried_as_a_check_is_and_a_refused_one_is_not() {
    use crate::fault_server::{Canned, FaultServer, Step};
    let scenario = scenario("plaid_missing_in_export");
    let sync = || {
        Step::Respond(Canned::json(
            200,
            r#"{"transfer_events": [], "has_more": false, "request_id": "r"}"#,
        ))
    };
    let server = FaultServer::start(vec![
        sync(),
        Step::Respond(
            Canned::json(
                429,
                r#"{"error_type": "RATE_LIMIT_EXCEEDED", "error_code": "RATE_LIMIT"}"#,
            )
            .header("Retry-After", "2"),
        ),
        Step::Respond(Canned::json(
            503,
            r#"{"error_type": "API_ERROR", "error_code": "INTERNAL_SERVER_ERROR"}"#,
        )),
        Step::Respond(Canned::json(200, &scenario.pages[1])),
    ])
    .await;
    let dir = tempfile::tempdir().unwrap();
    let clock = crate::helpers::manual_clock();
    let checker = spawn(dir.path(), GatewayKind::Plaid, &server.url())
        .cache()
        .clock(clock.clone())
        .rate(0.0)
        .build();
    let report = checker.fill(&options(&scenario), &|_| {}).await.unwrap();
    assert!(report.finished, "{:?}", report.error);
    assert_eq!((report.requests, report.listed), (3, 1));
    assert_eq!(server.connections(), 4);
    assert!(
        clock.slept().contains(&Duration::from_secs(2)),
        "{:?}",
        clock.slept()
    );
    // A request the gateway refuses is not asked again: the fill stops, resumable.
    let refused = FaultServer::start(vec![
        sync(),
        Step::Respond(Canned::json(400, r#"{"error_type": "INVALID_REQUEST", "error_code": "INVALID_FIELD", "error_message": "count"}"#)),
    ])
    .await;
    let dir = tempfile::tempdir().unwrap();
    let checker = spawn(dir.path(), GatewayKind::Plaid, &refused.url())
        .cache()
        .clock(crate::helpers::manual_clock())
        .build();
    let report = checker.fill(&options(&scenario), &|_| {}).await.unwrap();
    assert_eq!(report.requests, 1);
    assert!(!report.finished);
    assert!(
        report
            .error
            .as_deref()
            .is_some_and(|e| e.contains("INVALID_FIELD")),
        "{:?}",
        report.error
    );
}

/// Plaid's fill stopped after its first page resumes at offset 25, without asking offset 0 again.
#[tokio::test]
async fn a_plaid_fill_resumes_at_the_offset_after_its_last_page() {
    let scenario = scenario("plaid_missing_in_export");
    let first_only = ReconcileScenario {
        pages: scenario.pages[..1].to_vec(),
        ..self::scenario("plaid_missing_in_export")
    };
    let dir = tempfile::tempdir().unwrap();
    let server = MockServer::start_async().await;
    let first = mount(&server, &first_only);
    let checker = checker(dir.path(), &scenario, &server);
    let stopped = checker.fill(&options(&scenario), &|_| {}).await.unwrap();
    assert!(!stopped.finished);
    assert_eq!(
        stopped.state.as_ref().unwrap().resume.as_deref(),
        Some("25")
    );
    let second = server.mock(|when, then| {
        when.method(Method::POST)
            .path("/transfer/list")
            .json_body_includes(r#"{"offset": 25}"#);
        then.status(200)
            .header("content-type", "application/json")
            .body(scenario.pages[1].clone());
    });
    let resumed = checker.fill(&options(&scenario), &|_| {}).await.unwrap();
    assert!(resumed.finished, "{:?}", resumed.error);
    assert_eq!(
        (resumed.resumed_after, resumed.pages, resumed.listed),
        (1, 1, 26)
    );
    assert_eq!(
        first.list_requests(&server),
        1,
        "offset 0 was not asked again"
    );
    assert_eq!(second.calls(), 1);
}

/// The ledger has no list: a fill of it is one sentence, and starts nothing.
#[tokio::test]
async fn a_gateway_without_a_list_is_refused_in_one_sentence() {
    let dir = tempfile::tempdir().unwrap();
    let checker = spawn(dir.path(), GatewayKind::Ledger, "http://127.0.0.1:9/v1")
        .cache()
        .build();
    let scenario = scenario("stripe_amount_differs");
    let options = FillOptions {
        gateway: GatewayKind::Ledger,
        ..options(&scenario)
    };
    let error = checker.fill(&options, &|_| {}).await.unwrap_err();
    assert_eq!(
        error.to_string(),
        "ledger has no list of payments paystat reads: fill stripe or plaid"
    );
    let backwards = FillOptions {
        window: Window {
            since: scenario.window().until,
            until: scenario.window().since,
        },
        ..options
    };
    assert_eq!(
        checker
            .fill(&backwards, &|_| {})
            .await
            .unwrap_err()
            .to_string(),
        "the window ends before it starts"
    );
}
