//! The status cache: a final answer is reused (and audited as such) even when the gateway no
//! longer answers for it; a changing one only within `--max-age`; `--no-cache` and `--refresh` ask; every change
//! scenario's event drops its answer so the next check asks again; processes share the store;
//! a damaged store is an error, never an answer.

use std::path::Path;
use std::process::{Command, Output};

use httpmock::MockServer;
use paystat::contract::{Scenario, ScenarioSet};
use paystat::status_cache::Key as CacheKey;
use paystat::{Cache, CheckResult, Environment, GatewayKind, Outcome, Source};

use crate::cli::{assert_run, settings};
use crate::helpers::{fixtures_dir, ledger_mock, live_trail, paystat};

/// `n` commands made by `make`, started at once; their outputs once all have ended.
fn together(n: usize, make: impl Fn() -> Command) -> Vec<Output> {
    let children: Vec<_> = (0..n)
        .map(|_| {
            make()
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    children
        .into_iter()
        .map(|child| child.wait_with_output().unwrap())
        .collect()
}

fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("paystat runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The results of a `--format json` run.
fn results(output: &Output) -> Vec<CheckResult> {
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("not a JSON array ({e}): {}", stdout(output)))
}

/// `paystat check --format json` of `ids` on the ledger at `base`, with `flags`.
fn check_ledger(dir: &Path, base: &str, flags: &[&str], ids: &[&str]) -> Output {
    // The ledger here is paystat's mock, and the configuration says so.
    run(paystat(dir)
        .env("PAYSTAT_LEDGER_ENVIRONMENT", "mock")
        .args(["check", "--format", "json", "--base-url", base])
        .args(flags)
        .args(ids))
}

/// Every audit line of the live trail, parsed.
fn trail(dir: &Path) -> Vec<serde_json::Value> {
    live_trail(dir)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_final_answer_is_served_from_the_cache_without_asking_the_gateway() {
    let dir = tempfile::tempdir().unwrap();
    let mock = ledger_mock().await;
    let base = mock.base_url(GatewayKind::Ledger);
    // txn_001 completed and txn_003 failed are final; txn_002 pending can still change.
    let first = check_ledger(dir.path(), &base, &[], &["txn_001", "txn_002", "txn_003"]);
    assert_eq!(first.status.code(), Some(0), "{}", stdout(&first));
    assert!(results(&first).iter().all(|r| r.source == Source::Gateway));
    // The gateway forgets everything (its route answers a bare 404): only what the cache may
    // answer is answered.
    mock.server().reset_async().await;
    let second = check_ledger(dir.path(), &base, &[], &["txn_001", "txn_002", "txn_003"]);
    let second_results = results(&second);
    let by_id = |id: &str| second_results.iter().find(|r| r.payment_id == id).unwrap();
    for id in ["txn_001", "txn_003"] {
        let r = by_id(id);
        assert_eq!(
            (r.outcome, r.source),
            (Outcome::Found, Source::Cache),
            "{r:?}"
        );
        assert_eq!((r.attempts, r.attempt_log.len()), (0, 0));
        assert!(r.cache_age_s.is_some_and(|age| age < 600), "{r:?}");
    }
    let pending = by_id("txn_002");
    assert_eq!(pending.outcome, Outcome::BadResponse, "{pending:?}");
    assert_eq!(pending.source, Source::Gateway);
    assert_eq!(second.status.code(), Some(3));

    // Each cached answer is audited: source, age, no request, where it came from.
    let lines = trail(dir.path());
    assert_eq!(lines.len(), 6, "one line per check, cached ones included");
    let cached: Vec<&serde_json::Value> = lines.iter().filter(|l| l["source"] == "cache").collect();
    assert_eq!(cached.len(), 2);
    for line in cached {
        assert!(line["request"].is_null(), "{line}");
        assert!(line["cache_age_s"].is_u64(), "{line}");
        assert_eq!(line["environment"], "mock", "{line}");
        assert_eq!(line["target"]["host"], "127.0.0.1", "{line}");
        assert_eq!(line["finality"], "final", "{line}");
    }

    // `audit stats` counts the cached answers apart from the gateway's latency.
    let stats = stdout(&run(
        paystat(dir.path()).args(["audit", "stats", "--by", "gateway"])
    ));
    let row: Vec<&str> = stats
        .lines()
        .find(|l| l.starts_with("| ledger"))
        .unwrap_or_else(|| panic!("{stats}"))
        .split('|')
        .map(str::trim)
        .collect();
    assert_eq!(
        (row[2], row[7]),
        ("6", "2"),
        "6 checks, 2 from the cache: {stats}"
    );

    // The table says where each answer came from, the summary what the cache saved.
    settings(dir.path()).bind(|| {
        assert_run(
            "cache_served_table",
            "paystat check --base-url [MOCK] txn_001 txn_002 txn_003   # after a first run; the mock no longer knows them",
            paystat(dir.path()).env("PAYSTAT_LEDGER_ENVIRONMENT", "mock").args([
                "check",
                "--base-url",
                &base,
                "--max-attempts",
                "1",
                "txn_001",
                "txn_002",
                "txn_003",
            ]),
        );
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cache_that_fails_mid_run_is_said_once_and_set_aside() {
    let dir = tempfile::tempdir().unwrap();
    let mock = ledger_mock().await;
    let base = mock.base_url(GatewayKind::Ledger);
    let first = check_ledger(dir.path(), &base, &[], &["txn_001", "txn_003"]);
    assert_eq!(first.status.code(), Some(0), "{}", stdout(&first));
    // txn_001's entry now says of itself what its answer does not (its sealed answer is
    // untouched, so this is damage, not an edit): reading it is an error, never an answer.
    let store = dir.path().join("state/paystat/cache.sqlite3");
    let db = rusqlite::Connection::open(&store).unwrap();
    let changed = db
        .execute(
            "UPDATE answers SET finality = 'changing' WHERE payment_id = 'txn_001'",
            [],
        )
        .unwrap();
    assert_eq!(changed, 1, "{}", store.display());
    drop(db);
    let flags = ["--ordered", "--concurrency", "1"];
    let second = check_ledger(
        dir.path(),
        &base,
        &flags,
        &["txn_001", "txn_003", "txn_001"],
    );
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert_eq!(
        stderr
            .matches("the rest of this run asks every gateway")
            .count(),
        1,
        "said once: {stderr}"
    );
    let sources: Vec<(String, Source)> = results(&second)
        .into_iter()
        .map(|r| (r.payment_id, r.source))
        .collect();
    assert_eq!(
        sources,
        [
            ("txn_001".to_owned(), Source::Gateway),
            ("txn_003".to_owned(), Source::Gateway),
            ("txn_001".to_owned(), Source::Gateway),
        ],
        "after the failure every id asks its gateway, even one the cache still holds"
    );
    // Set aside means unwritten too: the run kept no answer there, so the damaged entry is
    // still found (and said) by the next run.
    let third = check_ledger(dir.path(), &base, &[], &["txn_001"]);
    assert!(
        String::from_utf8_lossy(&third.stderr).contains("the rest of this run asks every gateway"),
        "{}",
        String::from_utf8_lossy(&third.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changing_answer_is_reused_only_within_max_age_and_never_with_no_cache_or_refresh() {
    let dir = tempfile::tempdir().unwrap();
    let mock = ledger_mock().await;
    let base = mock.base_url(GatewayKind::Ledger);
    let first = check_ledger(dir.path(), &base, &[], &["txn_001", "txn_002"]);
    assert_eq!(first.status.code(), Some(0));
    mock.server().reset_async().await;
    let quick = ["--max-attempts", "1"];

    let within = check_ledger(dir.path(), &base, &["--max-age", "10m"], &["txn_002"]);
    let r = &results(&within)[0];
    assert_eq!(
        (r.outcome, r.source),
        (Outcome::Found, Source::Cache),
        "{r:?}"
    );
    assert_eq!(r.finality, Some(paystat::Finality::Changing));

    // Younger than nothing: a changing answer is asked again.
    let past = check_ledger(
        dir.path(),
        &base,
        &["--max-age", "1ms", quick[0], quick[1]],
        &["txn_002"],
    );
    assert_eq!(results(&past)[0].outcome, Outcome::BadResponse);

    // --no-cache and --refresh ask even for a final answer.
    for flag in ["--no-cache", "--refresh"] {
        let asked = check_ledger(dir.path(), &base, &[flag, quick[0], quick[1]], &["txn_001"]);
        let r = &results(&asked)[0];
        assert_eq!(
            (r.outcome, r.source),
            (Outcome::BadResponse, Source::Gateway),
            "{flag}"
        );
    }
    let conflict = check_ledger(
        dir.path(),
        &base,
        &["--no-cache", "--max-age", "1m"],
        &["x"],
    );
    assert_eq!(conflict.status.code(), Some(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_cache_leaves_the_store_alone_and_refresh_overwrites_it() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = change_scenario("stripe/change_succeeded_then_disputed.toml");
    let server = MockServer::start_async().await;
    let url = server.base_url();
    paystat::contract::register(&server, &scenario).await;
    let check = |flags: &[&str]| {
        run(gateway_cmd(dir.path(), &scenario, &url)
            .args([
                "check",
                "--gateway",
                "stripe",
                "--format",
                "json",
                "--max-attempts",
                "1",
            ])
            .args(flags)
            .arg(&scenario.payment_id))
    };
    let not_kept = check(&["--no-cache"]);
    assert_eq!(results(&not_kept)[0].outcome, Outcome::Found);
    let cache = Cache::open(&dir.path().join("state/paystat/cache.sqlite3")).unwrap();
    assert_eq!(cache.stats().unwrap(), vec![], "--no-cache wrote nothing");

    let kept = check(&[]);
    assert_eq!(
        results(&kept)[0].status,
        Some(paystat::PaymentStatus::Completed)
    );
    // The payment changes; a check that accepts an answer up to an hour old (and follows no
    // feed) still shows the cached one...
    server.reset_async().await;
    paystat::contract::register_after_change(&server, &scenario).await;
    let cached = &results(&check(&["--max-age", "1h"]))[0];
    assert_eq!(
        (cached.source, cached.status),
        (Source::Cache, Some(paystat::PaymentStatus::Completed))
    );
    // ...--refresh asks and overwrites, so the next plain check shows the new answer.
    let refreshed = &results(&check(&["--refresh"]))[0];
    assert_eq!(
        (refreshed.source, refreshed.status),
        (Source::Gateway, Some(paystat::PaymentStatus::Disputed))
    );
    server.reset_async().await;
    let after = &results(&check(&["--max-age", "1h"]))[0];
    assert_eq!(
        (after.source, after.status),
        (Source::Cache, Some(paystat::PaymentStatus::Disputed))
    );
}

fn change_scenario(file: &str) -> Scenario {
    ScenarioSet::from_dir(&fixtures_dir())
        .unwrap()
        .get(Path::new(file))
        .unwrap_or_else(|| panic!("no scenario {file}"))
        .clone()
}

/// `paystat` pointed at `server` for the scenario's gateway, with mock credentials.
fn gateway_cmd(dir: &Path, scenario: &Scenario, server_url: &str) -> Command {
    let mut cmd = paystat(dir);
    let base = paystat::contract::base_url(server_url, scenario.gateway);
    cmd.env("PAYSTAT_STRIPE_URL", &base)
        .env("PAYSTAT_PLAID_URL", &base)
        .env("PAYSTAT_STRIPE_KEY", "sk_test_mock")
        .env("PAYSTAT_PLAID_CLIENT_ID", "mock-client")
        .env("PAYSTAT_PLAID_SECRET", "mock-secret");
    cmd
}

/// Every scenario with a change: its first answer is cached, the gateway's change feed lists
/// the event, `cache sync` drops the entry, and the next check asks again and meets the
/// scenario's `[change.expect]`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_change_scenario_invalidates_its_cached_answer() {
    let set = ScenarioSet::from_dir(&fixtures_dir()).unwrap();
    let changing: Vec<&Scenario> = set
        .scenarios()
        .iter()
        .filter(|s| s.change.is_some())
        .collect();
    assert!(changing.len() >= 3, "the change scenarios are there");
    for scenario in changing {
        let name = scenario.name();
        let dir = tempfile::tempdir().unwrap();
        let server = MockServer::start_async().await;
        let url = server.base_url();
        paystat::contract::register(&server, scenario).await;
        paystat::contract::register_feed(&server, scenario.gateway, &[]).await;
        let gateway = scenario.gateway.as_str();
        let sync = || {
            run(gateway_cmd(dir.path(), scenario, &url).args([
                "cache",
                "sync",
                "--gateway",
                gateway,
            ]))
        };
        let check_with = |flags: &[&str]| {
            let output = run(gateway_cmd(dir.path(), scenario, &url)
                .args([
                    "check",
                    "--gateway",
                    gateway,
                    "--format",
                    "json",
                    "--max-age",
                    "1h",
                ])
                .args(flags)
                .arg(&scenario.payment_id));
            results(&output).remove(0)
        };
        let check = || check_with(&[]);
        // A first sync sets the cursor (nothing has changed yet).
        let first_sync = sync();
        assert_eq!(
            first_sync.status.code(),
            Some(0),
            "{name}: {}",
            stdout(&first_sync)
        );
        let before = check();
        assert_eq!(scenario.expect.mismatches(&before), vec![], "{name}");
        assert_eq!(before.source, Source::Gateway);
        assert_eq!(
            check().source,
            Source::Cache,
            "{name}: the answer is cached"
        );

        server.reset_async().await;
        paystat::contract::register_after_change(&server, scenario).await;
        // Without a sync the cache cannot know: the cached answer stands (within --max-age).
        assert_eq!(check_with(&["--no-sync"]).source, Source::Cache, "{name}");
        let synced = sync();
        let said = stdout(&synced);
        assert_eq!(synced.status.code(), Some(0), "{name}: {said}");
        assert!(said.contains("1 cached entry dropped"), "{name}: {said}");
        let after = check();
        let change = scenario.change.as_ref().unwrap();
        assert_eq!(change.expect.mismatches(&after), vec![], "{name}");
        assert_eq!(after.source, Source::Gateway, "{name}: asked again");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stripe_cursor_older_than_thirty_days_drops_every_entry_that_can_change() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = change_scenario("stripe/change_processing_then_succeeded.toml");
    let server = MockServer::start_async().await;
    let url = server.base_url();
    paystat::contract::register(&server, &scenario).await;
    paystat::contract::register_feed(&server, GatewayKind::Stripe, &[]).await;
    let first = run(gateway_cmd(dir.path(), &scenario, &url).args([
        "cache",
        "sync",
        "--gateway",
        "stripe",
    ]));
    assert!(
        stdout(&first).contains("there was no earlier sync"),
        "{}",
        stdout(&first)
    );
    let cached = run(gateway_cmd(dir.path(), &scenario, &url)
        .args([
            "check",
            "--gateway",
            "stripe",
            "--max-age",
            "1h",
            "--format",
            "json",
        ])
        .arg(&scenario.payment_id));
    assert_eq!(results(&cached)[0].outcome, Outcome::Found);

    // The last sync, moved 31 days back.
    let cache = Cache::open(&dir.path().join("state/paystat/cache.sqlite3")).unwrap();
    let (gateway, host, scope, cursor) = cache.cursors().unwrap().remove(0);
    assert_eq!(gateway, "stripe");
    let feed = paystat::status_cache::Feed {
        gateway: GatewayKind::Stripe,
        host: &host,
        scope: &scope,
    };
    let old = paystat::status_cache::Cursor {
        synced_at: cursor.synced_at - 31 * 24 * 3600,
        ..cursor
    };
    cache.set_cursor(&feed, &old).unwrap();
    drop(cache);
    let mut settings = settings(dir.path());
    settings.add_filter(r"was \d+ d ago", "was [31] d ago");
    settings.bind(|| {
        assert_run(
            "cache_sync_stale_cursor",
            "paystat cache sync --gateway stripe   # the last sync was 31 days ago",
            gateway_cmd(dir.path(), &scenario, &url).args(["cache", "sync", "--gateway", "stripe"]),
        );
    });
    let cache = Cache::open(&dir.path().join("state/paystat/cache.sqlite3")).unwrap();
    assert_eq!(cache.stats().unwrap(), vec![], "the changing entry is gone");
}

#[test]
fn a_damaged_or_newer_store_is_a_clear_error_not_an_answer() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state/paystat");
    std::fs::create_dir_all(&state).unwrap();
    std::fs::write(
        state.join("cache.sqlite3"),
        b"not a database at all, but some bytes".repeat(200),
    )
    .unwrap();
    let settings = settings(dir.path());
    settings.bind(|| {
        assert_run(
            "cache_damaged",
            "paystat check txn_001   # the status cache file is damaged",
            paystat(dir.path()).args(["check", "--base-url", "http://127.0.0.1:9/v1", "txn_001"]),
        );
    });
    // --no-cache does not open it: the check goes on (and fails on the missing gateway).
    let output = run(paystat(dir.path()).args([
        "check",
        "--no-cache",
        "--max-attempts",
        "1",
        "--base-url",
        "http://127.0.0.1:9/v1",
        "txn_001",
    ]));
    assert_eq!(output.status.code(), Some(3));

    std::fs::remove_file(state.join("cache.sqlite3")).unwrap();
    stamp_version(&state.join("cache.sqlite3"), 9);
    let output = run(paystat(dir.path()).args(["cache", "stats"]));
    assert_eq!(output.status.code(), Some(2));
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(
        said.contains("schema version 9, newer than this paystat reads (4)"),
        "{said}"
    );
}

/// A SQLite file whose schema version is `version`.
fn stamp_version(path: &Path, version: i64) {
    let connection = rusqlite::Connection::open(path).unwrap();
    connection
        .execute_batch(&format!("PRAGMA user_version = {version}"))
        .unwrap();
}

/// Writers and readers in several threads and processes: every entry read back is whole.
#[test]
fn concurrent_writers_and_readers_never_see_a_torn_entry() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cache.sqlite3");
    Cache::open(&path).unwrap();
    let key = |id: &'static str| CacheKey {
        gateway: GatewayKind::Ledger,
        host: "http://ledger:80",
        scope: "live",
        payment_id: id,
    };
    let entry = |round: i64| {
        let mut result = CheckResult::new("txn_shared", Some(GatewayKind::Ledger), Outcome::Found);
        result.status = Some(paystat::PaymentStatus::Completed);
        result.finality = Some(paystat::Finality::Final);
        // A long, round-specific text: a torn write would mix two rounds.
        result.status_reason = Some(format!("round {round} ").repeat(20));
        result
    };
    std::thread::scope(|scope| {
        for writer in 0..2 {
            let path = path.clone();
            scope.spawn(move || {
                let cache = Cache::open(&path).unwrap();
                for round in 0..300 {
                    let n = writer * 1000 + round;
                    cache
                        .put(
                            &key("txn_shared"),
                            &entry(n),
                            Environment::Live,
                            paystat::status_cache::Provenance {
                                fetched_ms: n,
                                ..Default::default()
                            },
                        )
                        .unwrap();
                }
            });
        }
        for _ in 0..2 {
            let path = path.clone();
            scope.spawn(move || {
                let cache = Cache::open(&path).unwrap();
                let mut seen = 0;
                while seen < 300 {
                    if let Some(read) = cache.get(&key("txn_shared")).unwrap() {
                        let reason = read.result.status_reason.unwrap();
                        let round = format!("round {} ", read.fetched_ms);
                        assert_eq!(reason, round.repeat(20), "an entry is whole");
                        seen += 1;
                    }
                }
            });
        }
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processes_share_one_store() {
    let dir = tempfile::tempdir().unwrap();
    let mock = ledger_mock().await;
    let base = mock.base_url(GatewayKind::Ledger);
    let ids: Vec<String> = (0..4)
        .flat_map(|_| ["txn_001", "txn_003"])
        .map(String::from)
        .collect();
    let outputs = together(4, || {
        let mut cmd = paystat(dir.path());
        cmd.args(["check", "--format", "jsonl", "--base-url", &base])
            .args(&ids);
        cmd
    });
    for output in outputs {
        assert_eq!(
            output.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        for line in String::from_utf8_lossy(&output.stdout).lines() {
            let result: CheckResult = serde_json::from_str(line).unwrap();
            assert_eq!(result.outcome, Outcome::Found, "{line}");
        }
    }
    let stats = run(paystat(dir.path()).args(["cache", "stats"]));
    let said = stdout(&stats);
    assert!(said.contains(": 2 entries"), "{said}");
}

/// A Stripe event naming `intent` through an object of kind `object`.
fn stripe_event(n: u32, kind: &str, object: serde_json::Value) -> serde_json::Value {
    serde_json::json!({
        "id": format!("evt_{n:04}"), "object": "event", "api_version": "2024-06-20",
        "created": 1_700_000_000 + i64::from(n), "livemode": false, "pending_webhooks": 0,
        "request": {"id": null, "idempotency_key": null}, "type": kind,
        "data": {"object": object}
    })
}

/// Feeds longer than a page are read to their end: Stripe's `has_more` with `starting_after`,
/// Plaid's `has_more` with the next `after_id`; the cursor is the newest position seen.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feeds_are_read_page_by_page_to_their_end() {
    let server = MockServer::start_async().await;
    let schemas = paystat::contract::ProviderSchemas::embedded();
    // Stripe: newest first; the first page ends with evt_0002 and says there is more.
    let first = [
        stripe_event(
            3,
            "charge.refunded",
            serde_json::json!({"id": "ch_3", "object": "charge", "payment_intent": "pi_three"}),
        ),
        stripe_event(
            2,
            "payment_intent.succeeded",
            serde_json::json!({"id": "pi_two", "object": "payment_intent"}),
        ),
    ];
    let second = [stripe_event(
        1,
        "charge.dispute.closed",
        serde_json::json!({"id": "dp_1", "object": "dispute", "payment_intent": "pi_one"}),
    )];
    for event in first.iter().chain(&second) {
        assert_eq!(
            schemas.check_event(GatewayKind::Stripe, event.to_string().as_bytes()),
            Ok(())
        );
    }
    let page = |events: &[serde_json::Value], more: bool| {
        serde_json::json!({"object": "list", "data": events, "has_more": more, "url": "/v1/events"})
            .to_string()
    };
    let later = server
        .mock_async(|when, then| {
            when.path("/v1/events")
                .query_param("starting_after", "evt_0002");
            then.status(200).body(page(&second, false));
        })
        .await;
    let newest = server
        .mock_async(|when, then| {
            when.path("/v1/events")
                .query_param("types[]", "charge.dispute.created")
                .query_param_exists("created[gte]");
            then.status(200).body(page(&first, true));
        })
        .await;
    // Plaid: 25 events and `has_more`, then 3 more, then nothing after event 28.
    plaid_pages(
        &server,
        &[
            (0, (1..=25).collect(), true),
            (25, (26..=28).collect(), false),
            (28, Vec::new(), false),
        ],
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let sync = || {
        run(paystat(dir.path())
            .env("PAYSTAT_STRIPE_URL", server.base_url())
            .env("PAYSTAT_PLAID_URL", server.base_url())
            .env("PAYSTAT_STRIPE_KEY", "sk_test_mock")
            .env("PAYSTAT_PLAID_CLIENT_ID", "mock-client")
            .env("PAYSTAT_PLAID_SECRET", "mock-secret")
            .args(["cache", "sync"]))
    };
    let first_sync = sync();
    let said = stdout(&first_sync);
    assert_eq!(first_sync.status.code(), Some(0), "{said}");
    assert!(said.contains("stripe: 3 changes in 2 pages"), "{said}");
    assert!(said.contains("plaid: 28 changes in 2 pages"), "{said}");
    assert_eq!(
        (newest.calls_async().await, later.calls_async().await),
        (1, 1)
    );
    let cache = Cache::open(&dir.path().join("state/paystat/cache.sqlite3")).unwrap();
    let positions: Vec<(String, String)> = cache
        .cursors()
        .unwrap()
        .into_iter()
        .map(|(gateway, _, _, cursor)| (gateway, cursor.position))
        .collect();
    // Plaid's cursor is its newest event; Stripe's first sync starts five minutes before now
    // (events older than that were covered by dropping every entry that could change).
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    assert_eq!(positions[0], ("plaid".into(), "28".into()));
    let stripe: i64 = positions[1].1.parse().unwrap();
    assert!((now - 400..=now).contains(&stripe), "{positions:?}");
    // The next Plaid sync starts after event 28 and finds nothing new.
    let again = stdout(&sync());
    assert!(again.contains("plaid: 0 changes in 1 page"), "{again}");
}

/// A Plaid transfer event, as `/transfer/event/sync` lists it.
fn plaid_event(n: u64) -> serde_json::Value {
    serde_json::json!({
        "event_id": n, "event_type": "posted", "transfer_id": format!("tr-{n}"),
        "timestamp": "2024-08-21T14:02:11Z", "account_id": "acc", "transfer_type": "debit",
        "transfer_amount": "1.00"
    })
}

/// Plaid's transfer event sync at `server`: after each event id, the page of `events` (asked
/// 500 at a time), saying whether more follow.
async fn plaid_pages(server: &MockServer, pages: &[(u64, Vec<u64>, bool)]) {
    for (after, events, more) in pages {
        let events: Vec<_> = events.iter().copied().map(plaid_event).collect();
        let body =
            serde_json::json!({"transfer_events": events, "has_more": more, "request_id": "req"})
                .to_string();
        server
            .mock_async(|when, then| {
                when.path("/transfer/event/sync")
                    .json_body_includes(format!(r#"{{"after_id": {after}, "count": 500}}"#));
                then.status(200).body(body);
            })
            .await;
    }
}

/// `paystat cache sync` of Stripe and Plaid at `server`.
fn sync_both(dir: &Path, server: &MockServer) -> Output {
    run(paystat(dir)
        .env("PAYSTAT_STRIPE_URL", server.base_url())
        .env("PAYSTAT_PLAID_URL", server.base_url())
        .env("PAYSTAT_STRIPE_KEY", "sk_test_mock")
        .env("PAYSTAT_PLAID_CLIENT_ID", "mock-client")
        .env("PAYSTAT_PLAID_SECRET", "mock-plaid-secret")
        .args(["cache", "sync"]))
}

/// A feed that answers "there is more" without moving on — Stripe's `has_more` with the same
/// last event, Plaid's page of the same events — ends the sync at once, with one sentence,
/// instead of asking until the page cap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_feed_that_does_not_advance_ends_the_sync() {
    let server = MockServer::start_async().await;
    let same = serde_json::json!({
        "object": "list", "url": "/v1/events", "has_more": true,
        "data": [stripe_event(2, "payment_intent.succeeded", serde_json::json!({"id": "pi_two", "object": "payment_intent"}))]
    });
    let stripe = server
        .mock_async(|when, then| {
            when.path("/v1/events");
            then.status(200).body(same.to_string());
        })
        .await;
    let events: Vec<_> = (1..=500).map(plaid_event).collect();
    let plaid = server
        .mock_async(|when, then| {
            when.path("/transfer/event/sync");
            then.status(200).body(
                serde_json::json!({"transfer_events": events, "has_more": true, "request_id": "req"})
                    .to_string(),
            );
        })
        .await;
    let dir = tempfile::tempdir().unwrap();
    let output = sync_both(dir.path(), &server);
    let said = format!(
        "{}{}",
        stdout(&output),
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(output.status.code(), Some(1), "{said}");
    for gateway in ["stripe", "plaid"] {
        assert!(
            said.lines().any(|l| l.starts_with(&format!("{gateway}: "))
                && l.contains("the feed did not advance")),
            "{said}"
        );
    }
    assert!(
        stripe.calls_async().await <= 2,
        "{}",
        stripe.calls_async().await
    );
    assert!(
        plaid.calls_async().await <= 2,
        "{}",
        plaid.calls_async().await
    );
}

/// Plaid's feed is read 500 events a page (its most; 25 left most feeds a page behind) and
/// followed while `has_more` says so — a short page with `has_more` is not the end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_plaid_feed_asks_for_500_and_follows_has_more() {
    let server = MockServer::start_async().await;
    plaid_pages(
        &server,
        &[(0, (1..=3).collect(), true), (3, (4..=5).collect(), false)],
    )
    .await;
    server
        .mock_async(|when, then| {
            when.path("/v1/events");
            then.status(200)
                .body(r#"{"object": "list", "url": "/v1/events", "has_more": false, "data": []}"#);
        })
        .await;
    let dir = tempfile::tempdir().unwrap();
    let output = sync_both(dir.path(), &server);
    let said = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{said}");
    assert!(said.contains("plaid: 5 changes in 2 pages"), "{said}");
}

/// A cache row edited by hand is never served: each row is sealed (with the audit key when
/// there is one), and a row that fails its seal is a miss — the gateway is asked — recorded in
/// the trail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edited_cache_row_is_a_miss_recorded_in_the_trail() {
    let mock = ledger_mock().await;
    let base = mock.base_url(GatewayKind::Ledger);
    for key in [Some("audit-key-canary-9e3d"), None] {
        let dir = tempfile::tempdir().unwrap();
        let check = || {
            let mut cmd = paystat(dir.path());
            if let Some(key) = key {
                cmd.env("PAYSTAT_AUDIT_KEY", key);
            }
            run(cmd.env("PAYSTAT_LEDGER_ENVIRONMENT", "mock").args([
                "check",
                "--format",
                "json",
                "--base-url",
                &base,
                "txn_001",
            ]))
        };
        assert_eq!(results(&check())[0].source, Source::Gateway);
        assert_eq!(
            results(&check())[0].source,
            Source::Cache,
            "{key:?}: reused"
        );
        let edited = rusqlite::Connection::open(dir.path().join("state/paystat/cache.sqlite3"))
            .unwrap()
            .execute(
                "UPDATE answers SET result = replace(result, '15000', '99999')",
                [],
            )
            .unwrap();
        assert_eq!(edited, 1);
        let after = results(&check());
        assert_eq!(
            (after[0].source, after[0].amount.map(|m| m.amount_minor)),
            (Source::Gateway, Some(15000)),
            "{key:?}: the forged amount is never served"
        );
        let trail = live_trail(dir.path());
        assert!(
            trail.contains(r#""event":"cache.row_rejected""#),
            "{key:?}: {trail}"
        );
        assert!(
            !trail.contains("99999"),
            "{key:?}: the forged amount is not evidence"
        );
    }
}

/// An answer judged under other rules (another paystat, another status mapping) is asked again
/// and overwritten, never served: the CLI reads the cache under the current rules.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_judged_by_other_rules_is_asked_again() {
    let dir = tempfile::tempdir().unwrap();
    let mock = ledger_mock().await;
    let base = mock.base_url(GatewayKind::Ledger);
    let first = check_ledger(dir.path(), &base, &[], &["txn_001"]);
    assert_eq!(results(&first)[0].source, Source::Gateway);
    let path = dir.path().join("state/paystat/cache.sqlite3");
    let port = reqwest::Url::parse(&base).unwrap().port().unwrap();
    let host = format!("http://127.0.0.1:{port}");
    // The scope the CLI wrote: the environment and the credential's salted fingerprint.
    let scope: String = rusqlite::Connection::open(&path)
        .unwrap()
        .query_row(
            "SELECT scope FROM answers WHERE payment_id = 'txn_001'",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert!(scope.starts_with("mock:cred="), "{scope}");
    let key = CacheKey {
        gateway: GatewayKind::Ledger,
        host: &host,
        scope: &scope,
        payment_id: "txn_001",
    };
    {
        let current = Cache::open(&path)
            .unwrap()
            .with_rules(paystat::gateways::answer_rules());
        let stored = current.get(&key).unwrap().expect("the CLI's key");
        let other = Cache::open(&path)
            .unwrap()
            .with_rules("0.0.1+another-mapping");
        other
            .put(
                &key,
                &stored.result,
                Environment::Mock,
                paystat::status_cache::Provenance {
                    fetched_ms: stored.fetched_ms,
                    ..Default::default()
                },
            )
            .unwrap();
    }
    let again = check_ledger(dir.path(), &base, &[], &["txn_001"]);
    assert_eq!(results(&again)[0].source, Source::Gateway, "asked again");
    let third = check_ledger(dir.path(), &base, &[], &["txn_001"]);
    assert_eq!(results(&third)[0].source, Source::Cache, "and overwritten");
}

/// Many processes opening a new cache at once: one of them sets it up, the others wait their
/// turn instead of calling it damaged (each round starts from no file at all). The race it
/// guards is timing-dependent: before the retry, 2 of 480 release-build opens failed this way
/// (`database is locked`), so one run of this test may pass without it; it must never fail.
#[test]
fn processes_opening_a_new_cache_at_once_all_get_it() {
    for round in 0..15 {
        let dir = tempfile::tempdir().unwrap();
        let outputs = together(12, || {
            let mut cmd = paystat(dir.path());
            cmd.args(["cache", "stats"]);
            cmd
        });
        for output in outputs {
            assert_eq!(
                output.status.code(),
                Some(0),
                "round {round}: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
    }
}

/// A Stripe intent's 200 body from the scenario `file`, answering for `id`.
fn stripe_body(file: &str, id: &str) -> String {
    let scenario = change_scenario(file);
    String::from_utf8(scenario.body_bytes.clone())
        .unwrap()
        .replace(&scenario.payment_id, id)
}

/// `server` answers GET of Stripe intent `id` with `body`, counting the requests.
async fn stripe_answers<'a>(server: &'a MockServer, id: &str, body: String) -> httpmock::Mock<'a> {
    server
        .mock_async(|when, then| {
            when.method(httpmock::Method::GET)
                .path(format!("/v1/payment_intents/{id}"));
            then.status(200)
                .header("content-type", "application/json")
                .body(body);
        })
        .await
}

/// `paystat check` of one Stripe intent at `server`, as JSON, with `flags`.
fn check_stripe(dir: &Path, server: &MockServer, flags: &[&str], id: &str) -> Output {
    run(paystat(dir)
        .env("PAYSTAT_STRIPE_URL", server.base_url())
        .env("PAYSTAT_STRIPE_KEY", "sk_test_mock")
        .args(["check", "--gateway", "stripe", "--format", "json"])
        .args(flags)
        .arg(id))
}

/// A Stripe payment that succeeded long ago (far past the 120-day dispute window) is refunded
/// later: Stripe sets no deadline for refunds, so a succeeded answer is never final on its own.
/// After a first sync (which cannot prove that nothing happened before it), the check asks
/// Stripe and shows the refund.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refund_long_after_success_is_never_hidden_by_the_cache() {
    const ID: &str = "pi_3MtwBwLkdIwHu7ixLateRef01";
    let dir = tempfile::tempdir().unwrap();
    let server = MockServer::start_async().await;
    let succeeded =
        stripe_answers(&server, ID, stripe_body("stripe/status_succeeded.toml", ID)).await;
    let first = results(&check_stripe(dir.path(), &server, &[], ID)).remove(0);
    assert_eq!(first.status, Some(paystat::PaymentStatus::Completed));
    assert_eq!(
        first.finality,
        Some(paystat::Finality::Changing),
        "a succeeded intent can still be refunded or disputed"
    );
    assert!(
        first.final_after.is_some(),
        "the dispute window stays as information"
    );
    succeeded.delete_async().await;
    stripe_answers(
        &server,
        ID,
        stripe_body("stripe/status_succeeded_fully_refunded.toml", ID),
    )
    .await;
    paystat::contract::register_feed(&server, GatewayKind::Stripe, &[]).await;
    let synced = run(paystat(dir.path())
        .env("PAYSTAT_STRIPE_URL", server.base_url())
        .env("PAYSTAT_STRIPE_KEY", "sk_test_mock")
        .args(["cache", "sync", "--gateway", "stripe"]));
    assert_eq!(synced.status.code(), Some(0), "{}", stdout(&synced));
    let after = results(&check_stripe(dir.path(), &server, &[], ID)).remove(0);
    assert_eq!(
        (after.source, after.status),
        (Source::Gateway, Some(paystat::PaymentStatus::Refunded))
    );
}

/// With the feed followed (a cursor in the cache), a check syncs the feed first and then reuses
/// an answer that can still change, without --max-age, only when no event has named it since it
/// was stored; an event names it: asked again. A feed that cannot be read is said once on
/// stderr, and then only answers that can no longer change are reused. `--no-sync` keeps
/// --max-age's meaning.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changing_answer_is_reused_only_while_the_feed_is_followed_without_a_gap() {
    const ID: &str = "pi_3MtwBwLkdIwHu7ixFollowed1";
    let dir = tempfile::tempdir().unwrap();
    let server = MockServer::start_async().await;
    let intent = stripe_answers(
        &server,
        ID,
        stripe_body("stripe/status_processing.toml", ID),
    )
    .await;
    let mut feed = server
        .mock_async(|when, then| {
            when.method(httpmock::Method::GET).path("/v1/events");
            then.status(200)
                .header("content-type", "application/json")
                .body(paystat::contract::feed_page(GatewayKind::Stripe, &[]));
        })
        .await;
    let sync = || {
        run(paystat(dir.path())
            .env("PAYSTAT_STRIPE_URL", server.base_url())
            .env("PAYSTAT_STRIPE_KEY", "sk_test_mock")
            .args(["cache", "sync", "--gateway", "stripe"]))
    };
    assert_eq!(sync().status.code(), Some(0));
    let check = |flags: &[&str]| check_stripe(dir.path(), &server, flags, ID);
    assert_eq!(results(&check(&[]))[0].source, Source::Gateway);
    let feed_reads = feed.calls_async().await;
    let again = check(&[]);
    assert_eq!(
        results(&again)[0].source,
        Source::Cache,
        "followed without a gap: reused without --max-age"
    );
    assert_eq!(intent.calls_async().await, 1, "Stripe was not asked again");
    assert_eq!(
        feed.calls_async().await,
        feed_reads + 1,
        "the check synced the feed first"
    );

    // An event names the payment: the check's own sync drops it, and Stripe is asked.
    feed.delete_async().await;
    let event = stripe_event(
        7,
        "payment_intent.succeeded",
        serde_json::json!({"id": ID, "object": "payment_intent"}),
    )
    .to_string();
    feed = server
        .mock_async(|when, then| {
            when.method(httpmock::Method::GET).path("/v1/events");
            then.status(200)
                .header("content-type", "application/json")
                .body(paystat::contract::feed_page(GatewayKind::Stripe, &[&event]));
        })
        .await;
    assert_eq!(results(&check(&[]))[0].source, Source::Gateway);
    assert_eq!(intent.calls_async().await, 2);

    // The feed fails: said once, and the changing answer is not reused, even within --max-age.
    feed.delete_async().await;
    server
        .mock_async(|when, then| {
            when.method(httpmock::Method::GET).path("/v1/events");
            then.status(500).body("{}");
        })
        .await;
    let unsynced = check(&["--max-age", "1h"]);
    assert_eq!(results(&unsynced)[0].source, Source::Gateway);
    let said = String::from_utf8_lossy(&unsynced.stderr);
    assert_eq!(
        said.matches("could not sync the stripe change feed")
            .count(),
        1,
        "{said}"
    );
    // --no-sync: --max-age decides, and the feed is not asked.
    let no_sync = check(&["--no-sync", "--max-age", "1h"]);
    assert_eq!(results(&no_sync)[0].source, Source::Cache);
    assert!(!String::from_utf8_lossy(&no_sync.stderr).contains("could not sync"));
}

/// A reused answer is a copy: its audit line names the line that recorded the gateway's answer,
/// and `audit verify` checks the two answers are the same. Without an audit key a cache row can
/// be rewritten with a valid plain seal and is then served — but the trail shows the forgery.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reused_answer_names_its_original_and_verify_compares_them() {
    let dir = tempfile::tempdir().unwrap();
    let mock = ledger_mock().await;
    let base = mock.base_url(GatewayKind::Ledger);
    assert_eq!(
        results(&check_ledger(dir.path(), &base, &[], &["txn_001"]))[0].source,
        Source::Gateway
    );
    assert_eq!(
        results(&check_ledger(dir.path(), &base, &[], &["txn_001"]))[0].source,
        Source::Cache
    );
    let lines = trail(dir.path());
    assert_eq!(
        lines[1]["copy_of"],
        serde_json::json!({"seq": 1, "hash": lines[0]["hash"]}),
        "the reuse names the line that recorded the answer"
    );
    let verify = || run(paystat(dir.path()).args(["audit", "verify"]));
    assert_eq!(verify().status.code(), Some(0), "{}", stdout(&verify()));

    // The row rewritten with a plain seal (no audit key): served, and found by verify.
    let path = dir.path().join("state/paystat/cache.sqlite3");
    let scope: String = rusqlite::Connection::open(&path)
        .unwrap()
        .query_row("SELECT scope FROM answers", [], |row| row.get(0))
        .unwrap();
    let port = reqwest::Url::parse(&base).unwrap().port().unwrap();
    let host = format!("http://127.0.0.1:{port}");
    let key = CacheKey {
        gateway: GatewayKind::Ledger,
        host: &host,
        scope: &scope,
        payment_id: "txn_001",
    };
    let cache = Cache::open(&path)
        .unwrap()
        .with_rules(paystat::gateways::answer_rules());
    let stored = cache.get(&key).unwrap().unwrap();
    let mut forged = stored.result.clone();
    forged.amount = Some(paystat::Money::from_minor(
        99_999,
        paystat::currency("USD").unwrap(),
    ));
    let (seq, hash) = stored.line.clone().unwrap();
    cache
        .put(
            &key,
            &forged,
            Environment::Mock,
            paystat::status_cache::Provenance {
                fetched_ms: stored.fetched_ms,
                feed_position: None,
                line: Some((seq, &hash)),
            },
        )
        .unwrap();
    drop(cache);
    let served = results(&check_ledger(dir.path(), &base, &[], &["txn_001"]));
    assert_eq!(served[0].source, Source::Cache);
    let broken = verify();
    assert_eq!(broken.status.code(), Some(1));
    assert!(
        stdout(&broken)
            .contains("reuses the answer of line seq 1, but its answer is not that line's"),
        "{}",
        stdout(&broken)
    );
}

/// The dispute list is asked only for a disputed charge, and its failure is the check's: a 404
/// from it never makes the payment "not found", a 500 is the gateway's error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dispute_list_is_asked_only_for_a_disputed_charge_and_its_failure_is_never_not_found() {
    const ID: &str = "pi_3MtwBwLkdIwHu7ixDisputeL";
    let dir = tempfile::tempdir().unwrap();
    let server = MockServer::start_async().await;
    let intent = stripe_answers(
        &server,
        ID,
        stripe_body("stripe/status_succeeded_disputed.toml", ID),
    )
    .await;
    let list = |status: u16, body: &'static str| {
        let server = &server;
        async move {
            server
                .mock_async(|when, then| {
                    when.method(httpmock::Method::GET)
                        .path("/v1/disputes")
                        .query_param("payment_intent", ID);
                    then.status(status)
                        .header("content-type", "application/json")
                        .body(body);
                })
                .await
        }
    };
    let mut disputes = list(
        404,
        r#"{"error": {"type": "invalid_request_error", "code": "resource_missing", "message": "No such payment_intent"}}"#,
    )
    .await;
    let flags = ["--no-cache", "--max-attempts", "1"];
    let missing = results(&check_stripe(dir.path(), &server, &flags, ID)).remove(0);
    assert_eq!(
        missing.outcome,
        Outcome::BadResponse,
        "{:?}",
        missing.detail
    );
    disputes.delete_async().await;
    disputes = list(
        500,
        r#"{"error": {"type": "api_error", "message": "down"}}"#,
    )
    .await;
    let down = results(&check_stripe(dir.path(), &server, &flags, ID)).remove(0);
    assert_eq!(down.outcome, Outcome::GatewayError);
    assert_eq!(disputes.calls_async().await, 1);
    assert_eq!(intent.calls_async().await, 2);

    // Not disputed: one request, and the list is never asked.
    const CLEAN: &str = "pi_3MtwBwLkdIwHu7ixNoDispute";
    stripe_answers(
        &server,
        CLEAN,
        stripe_body("stripe/status_succeeded.toml", CLEAN),
    )
    .await;
    let clean = results(&check_stripe(dir.path(), &server, &flags, CLEAN)).remove(0);
    assert_eq!(clean.status, Some(paystat::PaymentStatus::Completed));
    assert_eq!(disputes.calls_async().await, 1, "no dispute list asked");
}
