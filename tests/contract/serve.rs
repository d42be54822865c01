//! The Payment Status Service (`paystat serve`) holds the same contract as the checker: every
//! scenario played through it answers the checker's result with the HTTP status its outcome
//! calls for, every response fits the OpenAPI document, every call is authenticated and its
//! audit line names the token's actor — driven on the real server, on port 0, in process.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use paystat::serve::{Role, ServeOptions, Service, Tokens, TrailReading};
use paystat::{Checker, GatewayKind, Outcome};
use serde_json::{Value, json};

use crate::helpers::{
    self, LEDGER_TOKEN, PLAID_CLIENT_ID, PLAID_SECRET, STRIPE_KEY, audit_lines, fixtures_dir,
    ledger_mock, load_scenario, play_with, secret_forms, spawn,
};

/// A service on a free port of 127.0.0.1, stopped when [`App::stop`] is called.
pub struct App {
    pub url: String,
    pub state: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    serving: tokio::task::JoinHandle<()>,
}

impl App {
    /// Serves `checker` with `options`, accepting the tokens of a fresh state directory.
    pub async fn start(checker: Checker, options: ServeOptions) -> App {
        App::start_with(checker, options, None).await
    }

    /// Like [`App::start`], over TLS when `tls` is given.
    pub async fn start_with(
        checker: Checker,
        options: ServeOptions,
        tls: Option<paystat::serve::Tls>,
    ) -> App {
        let state = tempfile::tempdir().unwrap();
        let trail = TrailReading {
            location: checker.audit_trail().location().clone(),
            sealer: paystat::audit_trail::Sealer::plain(),
            previous: None,
        };
        let service = Service::new(Arc::new(checker), state.path().to_owned(), trail, options);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!(
            "{}://{}",
            if tls.is_some() { "https" } else { "http" },
            listener.local_addr().unwrap()
        );
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let serving = tokio::spawn(paystat::serve::serve(
            listener,
            Arc::clone(&service),
            tls,
            async move {
                let _ = stopped.await;
            },
        ));
        App {
            url,
            state,
            stop: Some(stop),
            serving,
        }
    }

    /// A new token for `actor` with `role`, valid for a day.
    pub fn token(&self, actor: &str, role: Role) -> String {
        use secrecy::ExposeSecret;
        let (_, token) = Tokens::at(self.state.path())
            .create(actor, role, Duration::from_secs(86_400), now())
            .unwrap();
        token.expose_secret().to_owned()
    }

    /// `GET path` with `token`.
    pub async fn get(&self, path: &str, token: Option<&str>) -> Reply {
        let mut request = client().get(format!("{}{path}", self.url));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        Reply::of(request.send().await.unwrap()).await
    }

    /// `POST path` with `token`, a body and its content type.
    pub async fn post(
        &self,
        path: &str,
        token: Option<&str>,
        content_type: &str,
        body: impl Into<reqwest::Body>,
    ) -> Reply {
        let mut request = client()
            .post(format!("{}{path}", self.url))
            .header("content-type", content_type)
            .body(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        Reply::of(request.send().await.unwrap()).await
    }

    /// Stops the service and waits for it to end.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        tokio::time::timeout(Duration::from_secs(30), &mut self.serving)
            .await
            .expect("the service stops")
            .unwrap();
    }
}

/// One client for every test (building one reads the system's certificates); it keeps no
/// idle connection, which would belong to the runtime of the test that opened it.
fn client() -> reqwest::Client {
    static CLIENT: std::sync::LazyLock<reqwest::Client> = std::sync::LazyLock::new(|| {
        reqwest::Client::builder()
            .no_proxy()
            .pool_max_idle_per_host(0)
            .build()
            .unwrap()
    });
    CLIENT.clone()
}

/// The wall time tokens are created at (the test clock's: 2026-01-01).
fn now() -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp(1_767_225_600).unwrap()
}

/// A response, read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Reply {
    async fn of(response: reqwest::Response) -> Reply {
        Reply {
            status: response.status().as_u16(),
            headers: response.headers().clone(),
            body: response.text().await.unwrap(),
        }
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }

    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .map_or("", |v| v.to_str().unwrap_or(""))
    }

    /// The body and the headers a client relies on, the request id redacted.
    fn shown(&self) -> Value {
        let mut body: Value = serde_json::from_str(&self.body).unwrap_or(Value::Null);
        if let Some(id) = body.get_mut("request_id") {
            *id = json!("[request_id]");
        }
        json!({
            "status": self.status,
            "content-type": self.header("content-type"),
            "www-authenticate": self.header("www-authenticate"),
            "retry-after": self.header("retry-after"),
            "body": body,
        })
    }
}

/// The OpenAPI document's schema of `component`, as a validator.
fn validator(component: &str) -> jsonschema::Validator {
    let document = paystat::serve::openapi::document();
    let schema = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$ref": format!("#/components/schemas/{component}"),
        "components": document["components"],
    });
    jsonschema::validator_for(&schema).unwrap()
}

/// Fails with every way `value` breaks the document's `component`.
fn assert_fits(validator: &jsonschema::Validator, value: &Value, what: &str) {
    let errors: Vec<String> = validator
        .iter_errors(value)
        .map(|e| e.to_string())
        .collect();
    assert!(
        errors.is_empty(),
        "{what} breaks the OpenAPI document: {errors:?}"
    );
}

/// The trail of `audit.jsonl` under `dir` verifies whole.
fn assert_trail_verifies(dir: &Path) {
    let report = paystat::audit_trail::verify::verify(
        &paystat::audit_trail::Location::File(dir.join("audit.jsonl")),
        &paystat::audit_trail::verify::VerifyOptions::default(),
    )
    .unwrap();
    assert!(report.broken.is_none(), "{:?}", report.broken);
}

/// The HTTP status the service's table gives each outcome.
fn status_for(outcome: Outcome) -> u16 {
    match outcome {
        Outcome::Found => 200,
        Outcome::NotFound => 404,
        Outcome::InvalidId => 400,
        Outcome::RateLimited | Outcome::Interrupted => 503,
        Outcome::Timeout => 504,
        _ => 502,
    }
}

fn encoded(id: &str) -> String {
    percent_encoding::utf8_percent_encode(id, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// Every scenario, played through the service: the checker's result as the body (the one its
/// audit line holds), the scenario's expectations met, the status by the table, the body fitting the OpenAPI document, and one audit line naming the token's
/// actor, its id and the response's request id.
#[tokio::test]
async fn every_scenario_answers_through_the_service_as_the_checker_does() {
    let result_schema = validator("CheckResult");
    let mut files = helpers::walk(&fixtures_dir());
    let rules = fixtures_dir().join(paystat::contract::RULES_DIR);
    let reconcile = fixtures_dir().join(paystat::contract::RECONCILE_DIR);
    files.retain(|p| {
        p.extension().is_some_and(|e| e == "toml")
            && !p.starts_with(&rules)
            && !p.starts_with(&reconcile)
    });
    files.sort();
    assert!(files.len() > 100, "{} scenario files", files.len());
    // The scenarios play at once (each on its own mocks and service), as the suite's time allows.
    let judged: Vec<Vec<String>> = futures_util::stream::iter(&files)
        .map(|file| judge(file, &result_schema))
        .buffer_unordered(16)
        .collect()
        .await;
    let problems: Vec<String> = judged.into_iter().flatten().collect();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Plays the scenario in `file` directly and through the service: how the two differ.
async fn judge(file: &Path, result_schema: &jsonschema::Validator) -> Vec<String> {
    let mut problems = Vec::new();
    let scenario = load_scenario(file);
    let name = scenario.name();
    let answered: Arc<Mutex<Option<Reply>>> = Arc::default();
    let kept = Arc::clone(&answered);
    let kind = scenario.gateway;
    let shown_name = name.clone();
    let served = play_with(&scenario, |checker, id| async move {
        let app = App::start(checker, ServeOptions::default()).await;
        let token = app.token("ops-alice", Role::Ops);
        let path = format!("/v1/payments/{}?gateway={}", encoded(&id), kind.as_str());
        let reply = app.get(&path, Some(&token)).await;
        app.stop().await;
        let result = serde_json::from_str(&reply.body)
            .unwrap_or_else(|e| panic!("{shown_name}: not a result ({e}): {}", reply.body));
        *kept.lock().unwrap() = Some(reply);
        result
    })
    .await;
    let reply = answered.lock().unwrap().take().unwrap();
    // The scenario's own expectations hold for what the service sent.
    problems.extend(
        scenario
            .expect
            .mismatches(&served.result)
            .iter()
            .map(|m| format!("{name}: {m}")),
    );
    if reply.status != status_for(served.result.outcome) {
        problems.push(format!(
            "{name}: HTTP {} for {:?}",
            reply.status, served.result.outcome
        ));
    }
    // A 503 says when to come back when the gateway said so.
    let gateway_wait = served
        .result
        .attempt_log
        .iter()
        .rev()
        .find(|a| a.wait_reason == Some(paystat::WaitReason::RetryAfter))
        .and_then(|a| a.wait_ms);
    let expected = match (reply.status, gateway_wait) {
        (503, Some(ms)) => ms.div_ceil(1000).max(1).to_string(),
        _ => String::new(),
    };
    if reply.header("retry-after") != expected {
        problems.push(format!(
            "{name}: Retry-After {:?}, not {expected:?}",
            reply.header("retry-after")
        ));
    }
    if reply.header("content-type") != "application/json" {
        problems.push(format!(
            "{name}: content-type {}",
            reply.header("content-type")
        ));
    }
    assert_fits(result_schema, &reply.json(), &name);
    match served.audit.as_slice() {
        [line] => {
            let caller = line.envelope.caller.as_deref();
            if line.envelope.actor != "ops-alice"
                || caller.map(|c| c.via.as_str()) != Some("serve")
                || caller.map(|c| c.request_id.as_str()) != Some(reply.header("x-request-id"))
                || !caller.is_some_and(|c| c.token_id.starts_with("tok_"))
                || !caller.is_some_and(|c| c.client.starts_with("127.0.0.1:"))
            {
                problems.push(format!("{name}: the audit line says {:?}", line.envelope));
            }
            // The line is the checker's result, written before it returned: the body is it,
            // field for field.
            if serde_json::to_value(&*line.check).unwrap() != reply.json() {
                problems.push(format!(
                    "{name}: the service sent\n  {}\nthe checker's result is\n  {}",
                    reply.body,
                    serde_json::to_string(&*line.check).unwrap()
                ));
            }
        }
        lines => problems.push(format!("{name}: {} audit lines", lines.len())),
    }
    problems
}

/// A service over the ledger mock, auditing under `dir`.
async fn ledger_app(dir: &Path, options: ServeOptions) -> (App, paystat::contract::EmbeddedMock) {
    let mock = ledger_mock().await;
    let base = paystat::contract::base_url(&mock.server().base_url(), GatewayKind::Ledger);
    let checker = spawn(dir, GatewayKind::Ledger, &base)
        .env("PAYSTAT_LEDGER_ENVIRONMENT", Some("mock"))
        .build();
    (App::start(checker, options).await, mock)
}

#[test]
fn the_openapi_document_is_pinned() {
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(concat!(env!("CARGO_MANIFEST_DIR"), "/snapshots"));
    settings.set_prepend_module_to_snapshot(false);
    settings.add_redaction(".info.version", "[version]");
    settings.bind(|| {
        insta::assert_json_snapshot!("serve_openapi", paystat::serve::openapi::document())
    });
}

/// Each refusal: its status, its headers and its problem body, pinned.
#[tokio::test]
async fn refusals_are_problems_with_the_right_status_and_headers() {
    let dir = tempfile::tempdir().unwrap();
    let (app, _mock) = ledger_app(dir.path(), ServeOptions::default()).await;
    let ops = app.token("ops-alice", Role::Ops);
    let compliance = app.token("compliance-carol", Role::Compliance);
    let tokens = Tokens::at(app.state.path());
    use secrecy::ExposeSecret;
    let (_, expired) = tokens
        .create(
            "old",
            Role::Ops,
            Duration::from_secs(60),
            now() - time::Duration::days(2),
        )
        .unwrap();
    let (revoked_entry, revoked) = tokens
        .create("gone", Role::Admin, Duration::from_secs(86_400), now())
        .unwrap();
    tokens.revoke(&revoked_entry.id, now()).unwrap();
    let problem = validator("Problem");
    let mut shown = serde_json::Map::new();
    let cases: Vec<(&str, Reply)> = vec![
        ("no token", app.get("/v1/payments/txn_001", None).await),
        (
            "unknown token",
            app.get("/v1/payments/txn_001", Some("pst_not-a-token"))
                .await,
        ),
        (
            "expired token",
            app.get("/v1/payments/txn_001", Some(expired.expose_secret()))
                .await,
        ),
        (
            "revoked token",
            app.get("/v1/payments/txn_001", Some(revoked.expose_secret()))
                .await,
        ),
        (
            "ops reads a history",
            app.get("/v1/payments/txn_001/history", Some(&ops)).await,
        ),
        ("ops exports", app.get("/v1/audit/export", Some(&ops)).await),
        (
            "compliance syncs the cache",
            app.post("/v1/cache/sync", Some(&compliance), "text/plain", "")
                .await,
        ),
        ("no such route", app.get("/v2/nothing", Some(&ops)).await),
        (
            "a bad query",
            app.get("/v1/payments/txn_001?gateway=paypal", Some(&ops))
                .await,
        ),
        (
            "a max_age over a year",
            app.get("/v1/payments/txn_001?max_age=367d", Some(&ops))
                .await,
        ),
        (
            "a stripe account per request",
            app.get("/v1/payments/txn_001?stripe_account=acct_1", Some(&ops))
                .await,
        ),
        (
            "a bad export filter",
            app.get("/v1/audit/export?since=yesterday", Some(&compliance))
                .await,
        ),
        (
            "a batch that is not JSON",
            app.post("/v1/checks", Some(&ops), "application/json", "{")
                .await,
        ),
        (
            "a body too large",
            app.post(
                "/v1/checks",
                Some(&ops),
                "text/plain",
                vec![b'x'; 5 * 1024 * 1024],
            )
            .await,
        ),
        (
            "a wrong method",
            app.post("/v1/payments/txn_001", Some(&ops), "text/plain", "")
                .await,
        ),
    ];
    for (name, reply) in &cases {
        assert!(reply.status >= 400, "{name}: {}", reply.status);
        assert_eq!(
            reply.header("content-type"),
            "application/problem+json",
            "{name}"
        );
        assert!(reply.header("x-request-id").starts_with("req_"), "{name}");
        assert_eq!(
            reply.json()["request_id"],
            reply.header("x-request-id"),
            "{name}"
        );
        if reply.status == 401 {
            assert!(
                reply.header("www-authenticate").starts_with("Bearer"),
                "{name}"
            );
        }
        assert_fits(&problem, &reply.json(), name);
        shown.insert((*name).to_owned(), reply.shown());
    }
    app.stop().await;
    // None of the refused requests reached the gateway or the trail.
    assert!(audit_lines(dir.path()).is_empty());
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(concat!(env!("CARGO_MANIFEST_DIR"), "/snapshots"));
    settings.set_prepend_module_to_snapshot(false);
    settings.bind(|| insta::assert_json_snapshot!("serve_refusals", Value::Object(shown)));
}

/// A revocation counts from the next request, without a restart; a token's rate is held.
#[tokio::test]
async fn a_revoked_token_is_refused_at_once_and_a_token_is_held_to_its_rate() {
    let dir = tempfile::tempdir().unwrap();
    let options = ServeOptions {
        token_rate: 3,
        ..ServeOptions::default()
    };
    let (app, _mock) = ledger_app(dir.path(), options).await;
    let token = app.token("ops-alice", Role::Ops);
    assert_eq!(
        app.get("/v1/payments/txn_001", Some(&token)).await.status,
        200
    );
    let id = Tokens::at(app.state.path()).list().unwrap()[0].id.clone();
    Tokens::at(app.state.path()).revoke(&id, now()).unwrap();
    let refused = app.get("/v1/payments/txn_001", Some(&token)).await;
    assert_eq!(refused.status, 401);
    assert_eq!(refused.json()["detail"], "the token was revoked");

    // The test clock does not move: three requests a second are three requests.
    let other = app.token("ops-bob", Role::Ops);
    for _ in 0..2 {
        assert_eq!(
            app.get("/v1/payments/txn_001", Some(&other)).await.status,
            200
        );
    }
    let last = app.get("/v1/payments/txn_001", Some(&other)).await;
    assert_eq!(last.status, 200);
    let limited = app.get("/v1/payments/txn_001", Some(&other)).await;
    assert_eq!(limited.status, 429, "{}", limited.body);
    assert_eq!(limited.header("retry-after"), "1");
    app.stop().await;
    assert_eq!(audit_lines(dir.path()).len(), 4);
}

/// A batch in each of its three forms; more ids than the limit is a 413 and nothing checked;
/// `ordered=true` answers in input order.
#[tokio::test]
async fn a_batch_is_read_whole_and_answered_line_by_line() {
    let dir = tempfile::tempdir().unwrap();
    let options = ServeOptions {
        max_batch: 4,
        ..ServeOptions::default()
    };
    let (app, _mock) = ledger_app(dir.path(), options).await;
    let token = app.token("ops-alice", Role::Ops);
    let result_schema = validator("CheckResult");
    let ids = ["txn_001", "txn_999", "txn_002", "txn_003"];
    let forms = [
        ("application/json", json!({ "ids": ids }).to_string()),
        (
            "application/x-ndjson",
            "\"txn_001\"\n{\"id\":\"txn_999\"}\n\"txn_002\"\n{\"id\":\"txn_003\"}\n".to_owned(),
        ),
        ("text/plain", ids.join("\n")),
    ];
    for (content_type, body) in forms {
        let reply = app
            .post("/v1/checks?ordered=true", Some(&token), content_type, body)
            .await;
        assert_eq!(reply.status, 200, "{content_type}: {}", reply.body);
        assert_eq!(reply.header("content-type"), "application/x-ndjson");
        let lines: Vec<Value> = reply
            .body
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let got: Vec<&str> = lines
            .iter()
            .map(|l| l["payment_id"].as_str().unwrap())
            .collect();
        assert_eq!(got, ids, "{content_type}");
        assert_eq!(lines[1]["outcome"], "not_found");
        for line in &lines {
            assert_fits(&result_schema, line, content_type);
        }
    }
    let before = audit_lines(dir.path()).len();
    assert_eq!(before, 12);
    let too_many = json!({ "ids": ["txn_001", "txn_002", "txn_003", "txn_004", "txn_005"] });
    let reply = app
        .post(
            "/v1/checks",
            Some(&token),
            "application/json",
            too_many.to_string(),
        )
        .await;
    assert_eq!(reply.status, 413, "{}", reply.body);
    assert_eq!(reply.json()["code"], "too_many_ids");
    app.stop().await;
    assert_eq!(
        audit_lines(dir.path()).len(),
        before,
        "nothing of the refused batch was checked"
    );
}

/// Compliance reads a history and an export; each read is audited with what it read, and the
/// trail still verifies.
#[tokio::test]
async fn compliance_reads_the_trail_and_each_read_is_audited() {
    let dir = tempfile::tempdir().unwrap();
    let (app, _mock) = ledger_app(dir.path(), ServeOptions::default()).await;
    let ops = app.token("ops-alice", Role::Ops);
    let compliance = app.token("compliance-carol", Role::Compliance);
    for id in ["txn_001", "txn_002", "txn_001"] {
        app.get(&format!("/v1/payments/{id}"), Some(&ops)).await;
    }
    let history = app
        .get("/v1/payments/txn_001/history", Some(&compliance))
        .await;
    assert_eq!(history.status, 200, "{}", history.body);
    assert_eq!(
        history.header("paystat-chain"),
        "",
        "a history does not walk the chain"
    );
    let rows: Vec<Value> = history
        .body
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|r| r["actor"] == "ops-alice"));
    let history_schema = validator("HistoryRow");
    for row in &rows {
        assert_fits(&history_schema, row, "a history row");
    }

    let export = app.get("/v1/audit/export", Some(&compliance)).await;
    assert_eq!(export.status, 200);
    assert_eq!(export.header("paystat-chain"), "verified");
    // The lines as written: the history's read is among them, and every line still verifies.
    let written = std::fs::read_to_string(dir.path().join("audit.jsonl")).unwrap();
    let exported_lines = export.body.lines().count();
    assert_eq!(exported_lines, 4, "{}", export.body);
    assert!(written.starts_with(&export.body));

    let csv = app
        .get(
            "/v1/audit/export?format=csv&event=payment.status_check",
            Some(&compliance),
        )
        .await;
    assert_eq!(csv.status, 200);
    assert_eq!(csv.header("content-type"), "text/csv");
    // Who asked through the service is in the CSV too.
    let header: Vec<&str> = csv.body.lines().next().unwrap().split(',').collect();
    for column in ["via", "token_id", "client", "request_id"] {
        assert!(header.contains(&column), "no {column} column: {header:?}");
    }
    let via = header.iter().position(|c| *c == "via").unwrap();
    let row: Vec<&str> = csv.body.lines().nth(1).unwrap().split(',').collect();
    assert_eq!(row[via], "serve");
    assert_eq!(
        csv.body.lines().count(),
        4,
        "a header and three checks: {}",
        csv.body
    );
    app.stop().await;

    let lines: Vec<Value> = std::fs::read_to_string(dir.path().join("audit.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let reads: Vec<&Value> = lines
        .iter()
        .filter(|l| l["event"] == "audit.read")
        .collect();
    assert_eq!(reads.len(), 3);
    assert_eq!(reads[0]["read"], "history");
    assert_eq!(reads[0]["filters"]["payment_id"], "txn_001");
    assert_eq!(reads[0]["lines"], 2);
    assert_eq!(reads[0]["range_chain"], "not verified");
    assert_eq!(reads[1]["range_chain"], "verified");
    assert_eq!(reads[0]["actor"], "compliance-carol");
    assert_eq!(reads[1]["read"], "export");
    assert_eq!(reads[1]["lines"], 4);
    assert_eq!(
        reads[2]["filters"]["events"],
        json!(["payment.status_check"])
    );
    assert_eq!(reads[2]["lines"], 3);
    assert_trail_verifies(dir.path());
}

/// No token, key or secret in any response, log line, metric or trail line; no id, actor or
/// token in a metric's labels.
#[tokio::test]
#[tracing_test::traced_test]
async fn no_secret_leaves_the_service() {
    let dir = tempfile::tempdir().unwrap();
    let (app, _mock) = ledger_app(dir.path(), ServeOptions::default()).await;
    let ops = app.token("ops-alice", Role::Ops);
    let compliance = app.token("compliance-carol", Role::Compliance);
    let mut seen = String::new();
    for reply in [
        app.get("/v1/payments/txn_001", Some(&ops)).await,
        app.get(&format!("/v1/payments/{}", encoded(&ops)), Some(&ops))
            .await,
        app.get(
            &format!("/v1/payments/{}", encoded(LEDGER_TOKEN)),
            Some(&ops),
        )
        .await,
        app.post(
            "/v1/checks",
            Some(&ops),
            "text/plain",
            format!("txn_002\n{ops}\n"),
        )
        .await,
        app.get("/v1/payments/txn_001", Some(&format!("{ops}x")))
            .await,
        app.get("/v1/audit/export", Some(&compliance)).await,
        app.get("/v1/payments/txn_002/explanation", Some(&compliance))
            .await,
        app.get(
            &format!("/v1/payments/{}/explanation", encoded(LEDGER_TOKEN)),
            Some(&ops),
        )
        .await,
        app.get("/metrics", None).await,
        app.get("/openapi.json", None).await,
        app.get("/readyz", None).await,
    ] {
        seen.push_str(&format!("{:?}\n{}\n", reply.headers, reply.body));
    }
    let metrics = app.get("/metrics", None).await.body;
    let token_file = std::fs::read_to_string(app.state.path().join("tokens.json")).unwrap();
    assert!(token_file.contains("ops-alice"));
    seen.push_str(&token_file);
    app.stop().await;
    seen.push_str(&std::fs::read_to_string(dir.path().join("audit.jsonl")).unwrap());
    assert!(
        logs_contain("status check finished"),
        "the service's logs were captured"
    );
    for secret in [
        ops.as_str(),
        compliance.as_str(),
        LEDGER_TOKEN,
        STRIPE_KEY,
        PLAID_CLIENT_ID,
        PLAID_SECRET,
    ] {
        for form in secret_forms(secret) {
            assert!(
                !seen.contains(&form),
                "a form of a secret was found: {form}"
            );
            assert!(
                !logs_contain(&form),
                "a form of a secret was logged: {form}"
            );
        }
    }
    for label in ["txn_001", "ops-alice", "compliance-carol", "tok_"] {
        assert!(
            !metrics.contains(label),
            "a metric names {label}:\n{metrics}"
        );
    }
    assert!(
        metrics.contains(
            "paystat_checks_total{gateway=\"ledger\",outcome=\"found\",source=\"gateway\"}"
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains("paystat_http_requests_total{route=\"/v1/payments/{id}\",status=\"200\"}"),
        "{metrics}"
    );
    for family in [
        "paystat_gateway_request_duration_seconds_bucket{le=",
        "paystat_audit_syncs_total ",
        "paystat_audit_sync_duration_seconds_total ",
        "paystat_checks_in_flight 0",
        "paystat_cache_entries",
    ] {
        assert!(metrics.contains(family), "no {family} in\n{metrics}");
    }
}

/// A stop with a check in flight: the check finishes (cut short past the grace, as
/// `interrupted`), its answer is sent and audited, and the service ends.
#[tokio::test]
async fn a_stop_finishes_the_checks_in_flight_and_audits_them() {
    let dir = tempfile::tempdir().unwrap();
    // A gateway that never answers: the check waits for its timeout.
    let stall =
        crate::fault_server::FaultServer::failing(paystat::contract::TransportFault::NeverAnswers)
            .await;
    let base = paystat::contract::base_url(&stall.url(), GatewayKind::Ledger);
    let checker = spawn(dir.path(), GatewayKind::Ledger, &base)
        .timeout(Duration::from_secs(600))
        .build();
    let options = ServeOptions {
        shutdown_grace: Duration::from_millis(50),
        ..ServeOptions::default()
    };
    let mut app = App::start(checker, options).await;
    let token = app.token("ops-alice", Role::Ops);
    let url = format!("{}/v1/payments/txn_001", app.url);
    let asking = tokio::spawn(async move {
        client()
            .get(url)
            .bearer_auth(token)
            .send()
            .await
            .map(|r| r.status().as_u16())
    });
    // Once the check is under way (its request reached the gateway), stop the service.
    let reached = tokio::time::timeout(Duration::from_secs(30), async {
        while stall.connections() == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    assert!(reached.is_ok(), "the check never reached the gateway");
    app.stop.take().unwrap().send(()).unwrap();
    let status = tokio::time::timeout(Duration::from_secs(30), asking)
        .await
        .expect("the answer is sent")
        .unwrap()
        .expect("the client gets an answer");
    assert_eq!(status, 503);
    tokio::time::timeout(Duration::from_secs(30), &mut app.serving)
        .await
        .expect("the service ends")
        .unwrap();
    let lines = audit_lines(dir.path());
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0].check.outcome, Outcome::Interrupted);
}

/// A batch client that goes away stops the batch: no further id is asked, and what was checked
/// is audited (and the trail verifies).
#[tokio::test]
async fn a_batch_whose_client_disconnects_stops() {
    let dir = tempfile::tempdir().unwrap();
    let (app, _mock) = ledger_app(dir.path(), ServeOptions::default()).await;
    let token = app.token("ops-alice", Role::Ops);
    let ids: Vec<String> = (0..10_000).map(|i| format!("txn_{i:05}")).collect();
    let mut response = client()
        .post(format!("{}/v1/checks", app.url))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body(json!({ "ids": ids }).to_string())
        .send()
        .await
        .unwrap();
    // The first results arrive; then the client is gone.
    let first = response.chunk().await.unwrap().expect("a first result");
    assert!(
        first.starts_with(b"{\"payment_id\""),
        "{}",
        String::from_utf8_lossy(&first)
    );
    drop(response);
    // The batch ends (no check in flight any more) well before its 10,000 ids.
    let ended = tokio::time::timeout(Duration::from_secs(30), async {
        while !app
            .get("/metrics", None)
            .await
            .body
            .contains("paystat_checks_in_flight 0")
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert!(ended.is_ok(), "the batch went on without its client");
    app.stop().await;
    let lines = audit_lines(dir.path());
    assert!(
        !lines.is_empty() && lines.len() < 10_000,
        "{} lines",
        lines.len()
    );
    assert_trail_verifies(dir.path());
}

/// A client that sends its headers a byte at a time is dropped after the header timeout.
#[tokio::test]
async fn a_slow_header_client_is_dropped() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = tempfile::tempdir().unwrap();
    let options = ServeOptions {
        header_timeout: Duration::from_millis(200),
        ..ServeOptions::default()
    };
    let (app, _mock) = ledger_app(dir.path(), options).await;
    let mut stream = tokio::net::TcpStream::connect(app.url.trim_start_matches("http://"))
        .await
        .unwrap();
    stream
        .write_all(b"GET /livez HTTP/1.1\r\nHo")
        .await
        .unwrap();
    // The server closes the connection (with a 408 or nothing): the read ends — well before
    // hyper's own default of 30 s, so this sees the configured timeout, not the default.
    let mut rest = Vec::new();
    let ended = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut rest)).await;
    assert!(ended.is_ok(), "the slow client was not dropped");
    app.stop().await;
}

/// At most `max_connections` connections are served at once: the next waits to be accepted
/// until one closes.
#[tokio::test]
async fn connections_past_the_limit_wait_for_one_to_close() {
    let dir = tempfile::tempdir().unwrap();
    let options = ServeOptions {
        max_connections: 1,
        ..ServeOptions::default()
    };
    let (app, _mock) = ledger_app(dir.path(), options).await;
    let addr = app.url.trim_start_matches("http://").to_owned();
    let first = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let waiting = tokio::spawn({
        let url = format!("{}/livez", app.url);
        async move { client().get(url).send().await.map(|r| r.status().as_u16()) }
    });
    // While the first connection is open, the second is not served.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!waiting.is_finished(), "a second connection was served");
    drop(first);
    let status = tokio::time::timeout(Duration::from_secs(30), waiting)
        .await
        .expect("served once the first closed")
        .unwrap()
        .unwrap();
    assert_eq!(status, 200);
    app.stop().await;
}

/// Readiness says the trail cannot take lines when its disk is full; liveness still answers.
#[tokio::test]
async fn readiness_turns_false_when_the_trails_disk_is_full() {
    let disk = match helpers::FullDisk::mount() {
        Ok(disk) => disk,
        Err(why) => {
            eprintln!("skipped: {why}");
            return;
        }
    };
    let dir = tempfile::tempdir().unwrap();
    let mock = ledger_mock().await;
    let base = paystat::contract::base_url(&mock.server().base_url(), GatewayKind::Ledger);
    // The trail opens on a disk with room, which is then filled.
    let trail = disk.path("trail.jsonl");
    let checker = spawn(dir.path(), GatewayKind::Ledger, &base)
        .audit_path(&trail)
        .build();
    let app = App::start(checker, ServeOptions::default()).await;
    let ready = app.get("/readyz", None).await;
    assert_eq!(ready.status, 503, "{}", ready.body);
    assert_eq!(ready.json()["code"], "not_ready");
    assert!(
        ready.json()["detail"]
            .as_str()
            .unwrap()
            .contains("does not take a write")
    );
    assert_eq!(app.get("/livez", None).await.status, 200);
    // A check whose line cannot be written: its answer withheld, a problem instead, and from
    // then on the checker sends nothing more (readiness says why).
    let token = app.token("ops-alice", Role::Ops);
    let withheld = app.get("/v1/payments/txn_001", Some(&token)).await;
    assert_eq!(withheld.status, 503, "{}", withheld.body);
    assert_eq!(withheld.json()["code"], "audit_unavailable");
    assert!(!withheld.body.contains("completed"), "{}", withheld.body);
    let ready = app.get("/readyz", None).await;
    let why = ready.json()["detail"].as_str().unwrap().to_owned();
    assert!(why.contains("could not be written"), "{why}");
    app.stop().await;
}

/// Three clients at once, a thousand Stripe checks each: one trail with every line, which
/// verifies, and one pacer for all of them — on simulated time, the requests take exactly the
/// time Stripe's 25 a second allows, whoever sent them.
#[tokio::test]
async fn concurrent_clients_share_one_trail_and_one_pace() {
    let dir = tempfile::tempdir().unwrap();
    let server = httpmock::MockServer::start_async().await;
    let clock = helpers::simulated_clock();
    let checker = spawn(dir.path(), GatewayKind::Stripe, &server.base_url())
        .clock(clock.clone())
        .concurrency(16)
        .build();
    let app = App::start(checker, ServeOptions::default()).await;
    let tokens: Vec<String> = (0..3)
        .map(|i| app.token(&format!("ops-{i}"), Role::Ops))
        .collect();
    let clients = tokens.iter().enumerate().map(|(c, token)| {
        let ids: Vec<String> = (0..1000).map(|i| format!("pi_{c}{i:023}")).collect();
        let body = json!({ "ids": ids }).to_string();
        let url = format!("{}/v1/checks", app.url);
        async move {
            let reply = client()
                .post(url)
                .bearer_auth(token)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap();
            reply.text().await.unwrap().lines().count()
        }
    });
    let counts = futures_util::future::join_all(clients).await;
    assert_eq!(counts, vec![1000, 1000, 1000]);
    app.stop().await;
    // One pacer: the 3000 requests take 2999 slots of 40 ms of simulated time (three pacers,
    // one per client, would take a third of it).
    let span = paystat::clock::Clock::now(&*clock);
    let one_pace = Duration::from_millis(40 * 2999);
    assert!(
        span >= one_pace && span < one_pace + Duration::from_secs(1),
        "3000 Stripe requests took {span:?} of simulated time, not {one_pace:?}"
    );
    let lines = audit_lines(dir.path());
    assert_eq!(lines.len(), 3000);
    let actors: std::collections::BTreeSet<&str> =
        lines.iter().map(|l| l.envelope.actor.as_ref()).collect();
    assert_eq!(actors.len(), 3);
    assert_trail_verifies(dir.path());
}

/// `paystat check --server`: the ids go to the service, the results come back in the CLI's
/// formats with its exit codes, and no gateway key is on the client's side.
#[tokio::test]
async fn check_with_server_prints_the_services_answers() {
    let dir = tempfile::tempdir().unwrap();
    let (app, _mock) = ledger_app(dir.path(), ServeOptions::default()).await;
    let token = app.token("ops-alice", Role::Ops);
    let cwd = tempfile::tempdir().unwrap();
    let url = app.url.clone();
    let out = tokio::task::spawn_blocking({
        let cwd = cwd.path().to_owned();
        let token = token.clone();
        move || {
            helpers::paystat(&cwd)
                .args([
                    "check", "--server", &url, "--format", "jsonl", "txn_001", "txn_999",
                ])
                .env("PAYSTAT_TOKEN", token)
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    let lines: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert!(lines.iter().any(|l| l["outcome"] == "not_found"));
    assert!(!stderr.contains(&token) && !stdout.contains(&token));
    // Without a token: one sentence, exit 2.
    let url = app.url.clone();
    let cwd_path = cwd.path().to_owned();
    let out = tokio::task::spawn_blocking(move || {
        helpers::paystat(&cwd_path)
            .args(["check", "--server", &url, "txn_001"])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("PAYSTAT_TOKEN"));
    app.stop().await;
    // The service audited both checks, as alice; the client's machine has no trail.
    assert_eq!(audit_lines(dir.path()).len(), 2);
    assert!(!cwd.path().join("state/paystat/audit").exists());
}

/// Over TLS: the service answers HTTPS with the configured certificate; a key file others can
/// read is refused like any key file.
#[tokio::test]
async fn tls_serves_https_and_refuses_a_key_others_can_read() {
    use std::os::unix::fs::PermissionsExt;
    let files = tempfile::tempdir().unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let (cert_path, key_path) = (files.path().join("tls.crt"), files.path().join("tls.key"));
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    std::fs::set_permissions(&key_path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let refused = paystat::serve::Tls::from_pem(&cert_path, &key_path).unwrap_err();
    assert!(refused.contains("can be read by other users"), "{refused}");
    assert!(!refused.contains("PRIVATE KEY"), "{refused}");
    std::fs::set_permissions(&key_path, std::fs::Permissions::from_mode(0o600)).unwrap();
    let tls = paystat::serve::Tls::from_pem(&cert_path, &key_path).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let mock = ledger_mock().await;
    let base = paystat::contract::base_url(&mock.server().base_url(), GatewayKind::Ledger);
    let checker = spawn(dir.path(), GatewayKind::Ledger, &base).build();
    let app = App::start_with(checker, ServeOptions::default(), Some(tls)).await;
    let token = app.token("ops-alice", Role::Ops);
    let https = reqwest::Client::builder()
        .no_proxy()
        .add_root_certificate(reqwest::Certificate::from_pem(cert.pem().as_bytes()).unwrap())
        .resolve(
            "localhost",
            app.url.trim_start_matches("https://").parse().unwrap(),
        )
        .build()
        .unwrap();
    let port = app.url.rsplit(':').next().unwrap().to_owned();
    let reply = https
        .get(format!("https://localhost:{port}/v1/payments/txn_001"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status().as_u16(), 200);
    // Plain HTTP on the TLS port gets no answer.
    let plain = client()
        .get(format!("http://127.0.0.1:{port}/livez"))
        .send()
        .await;
    assert!(plain.is_err() || !plain.unwrap().status().is_success());
    app.stop().await;
    assert_eq!(audit_lines(dir.path()).len(), 1);
}

/// `paystat token create|list|revoke` as an administrator runs them: the token printed once and
/// kept nowhere, the list without tokens, both changes audited; and `paystat serve` on an
/// address other than loopback without TLS refused.
#[test]
fn token_commands_print_once_list_without_secrets_and_are_audited() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| helpers::paystat(dir.path()).args(args).output().unwrap();
    let created = run(&[
        "token",
        "create",
        "--actor",
        "alice",
        "--role",
        "compliance",
        "--expires",
        "30d",
    ]);
    assert_eq!(
        created.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let token = String::from_utf8(created.stdout).unwrap().trim().to_owned();
    assert!(token.starts_with("pst_") && token.len() == 68, "{token}");
    let stderr = String::from_utf8_lossy(&created.stderr);
    assert!(
        stderr.contains("alice (compliance)") && !stderr.contains(&token),
        "{stderr}"
    );
    let state = dir.path().join("state/paystat");
    let file = std::fs::read_to_string(state.join("tokens.json")).unwrap();
    assert!(!file.contains(&token));
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(state.join("tokens.json"))
            .unwrap()
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);
    // The state directory the first token created is its user's alone, as the cache's is.
    let dir_mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&state).unwrap().permissions());
    assert_eq!(dir_mode & 0o777, 0o700);

    let listed = run(&["token", "list"]);
    let table = String::from_utf8(listed.stdout).unwrap();
    assert!(
        table.contains("| alice ") && table.contains("| active ") && !table.contains("pst_"),
        "{table}"
    );
    let id = table
        .split_whitespace()
        .find(|w| w.starts_with("tok_"))
        .unwrap()
        .to_owned();
    let revoked = run(&["token", "revoke", &id]);
    assert_eq!(revoked.status.code(), Some(0));
    let listed = String::from_utf8(run(&["token", "list"]).stdout).unwrap();
    assert!(listed.contains("| revoked "), "{listed}");
    let unknown = run(&["token", "revoke", "tok_000000000000"]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&unknown.stderr).contains("no token has the id tok_000000000000")
    );

    let trail = helpers::live_trail(dir.path());
    let events: Vec<Value> = trail
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let names: Vec<&str> = events
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["token.created", "token.revoked"]);
    assert_eq!(events[0]["token_id"], id.as_str());
    assert_eq!(events[0]["role"], "compliance");
    assert!(!trail.contains(&token));

    // Absurd numbers: one sentence, exit 2, nothing created or served.
    for (args, said) in [
        (
            &[
                "token",
                "create",
                "--actor",
                "bob",
                "--role",
                "ops",
                "--expires",
                "100000000d",
            ][..],
            "1 minute to 10 years",
        ),
        (&["serve", "--shutdown-grace", "5000d"][..], "at most 1h"),
        (&["serve", "--sync-every", "10ms"][..], "1s to 24h"),
        (&["serve", "--max-batch", "0"][..], "1 to 1000000 ids"),
    ] {
        let out = run(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(said),
            "{args:?}"
        );
    }
    let exposed = run(&["serve", "--listen", "0.0.0.0:0"]);
    assert_eq!(exposed.status.code(), Some(2));
    let said = String::from_utf8_lossy(&exposed.stderr);
    assert!(
        said.contains("is not a loopback address") && said.contains("--insecure-http"),
        "{said}"
    );
}

/// A service with the status cache: a final answer is reused for the next client (a copy of
/// the line that recorded it), and an admin syncs the feeds on request.
#[tokio::test]
async fn the_service_shares_one_cache_and_an_admin_syncs_it() {
    let dir = tempfile::tempdir().unwrap();
    let mock = ledger_mock().await;
    let base = paystat::contract::base_url(&mock.server().base_url(), GatewayKind::Ledger);
    let checker = spawn(dir.path(), GatewayKind::Ledger, &base)
        .env("PAYSTAT_LEDGER_ENVIRONMENT", Some("mock"))
        .cache()
        .build();
    let app = App::start(checker, ServeOptions::default()).await;
    let alice = app.token("ops-alice", Role::Ops);
    let bob = app.token("ops-bob", Role::Ops);
    let admin = app.token("admin-ada", Role::Admin);
    let first = app.get("/v1/payments/txn_001", Some(&alice)).await;
    assert_eq!(first.json()["source"], "gateway");
    // The cache's writer keeps the answer once its line is durable; the next client is served
    // from it as soon as it is there.
    let second = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let reply = app.get("/v1/payments/txn_001", Some(&bob)).await;
            if reply.json()["source"] == "cache" {
                break reply;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the answer is reused");
    assert_eq!(second.status, 200);
    assert_eq!(second.json()["status"], "completed");
    // An answer that can still change (txn_002 is pending) is asked each time: the service
    // cannot sync a feed before every check; a request may accept one younger than max_age
    // (up to a year: 300 days is taken).
    for _ in 0..2 {
        let pending = app.get("/v1/payments/txn_002", Some(&bob)).await;
        assert_eq!(pending.json()["source"], "gateway");
    }
    let recent = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let reply = app
                .get("/v1/payments/txn_002?max_age=300d", Some(&bob))
                .await;
            if reply.json()["source"] == "cache" {
                break reply;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("a pending answer is reused within max_age");
    assert_eq!(recent.json()["status"], "pending");
    // refresh=true asks the gateway again.
    let fresh = app
        .get("/v1/payments/txn_001?refresh=true", Some(&bob))
        .await;
    assert_eq!(fresh.json()["source"], "gateway");

    let synced = app
        .post("/v1/cache/sync", Some(&admin), "text/plain", "")
        .await;
    assert_eq!(synced.status, 200, "{}", synced.body);
    assert_fits(&validator("CacheSync"), &synced.json(), "a cache sync");
    assert_eq!(synced.json()["gateways"][0]["gateway"], "ledger");
    assert_eq!(synced.json()["gateways"][0]["has_feed"], false);
    app.stop().await;
    let lines = audit_lines(dir.path());
    let copy = lines
        .iter()
        .find(|l| l.check.source == paystat::Source::Cache)
        .expect("a reused answer's line");
    assert_eq!(copy.envelope.actor, "ops-bob");
    let original = &lines[copy.copy_of.as_ref().unwrap().seq as usize - 1];
    assert_eq!(original.check.source, paystat::Source::Gateway);
    assert_eq!(original.check.payment_id, "txn_001");
    assert_trail_verifies(dir.path());
}

/// An explanation through the service: the check is audited as the token's actor, an ops token
/// sees our earlier checks without who made them, compliance sees the actors, and the
/// diagnosis is the rules' own.
#[tokio::test]
async fn the_service_explains_a_payment_and_hides_actors_from_ops() {
    let dir = tempfile::tempdir().unwrap();
    let (app, _mock) = ledger_app(dir.path(), ServeOptions::default()).await;
    let ops = app.token("ops-alice", Role::Ops);
    let compliance = app.token("compliance-carol", Role::Compliance);
    assert_eq!(
        app.get("/v1/payments/txn_002", Some(&ops)).await.status,
        200
    );
    let seen = app
        .get("/v1/payments/txn_002/explanation", Some(&ops))
        .await;
    assert_eq!(seen.status, 200, "{}", seen.body);
    let json: Value = serde_json::from_str(&seen.body).unwrap();
    assert_eq!(
        json["diagnosis"]["rule"], "ledger-pending-over-24h",
        "{json}"
    );
    assert_eq!(json["result"]["status"], "pending");
    assert_eq!(json["trail"]["lines"], 1, "{json}");
    assert!(
        !seen.body.contains("ops-alice"),
        "ops sees no actor: {}",
        seen.body
    );
    let full = app
        .get("/v1/payments/txn_002/explanation", Some(&compliance))
        .await;
    assert_eq!(full.status, 200, "{}", full.body);
    let json: Value = serde_json::from_str(&full.body).unwrap();
    let actors: Vec<&str> = json["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["actor"].as_str())
        .collect();
    assert_eq!(actors, ["ops-alice", "ops-alice"], "{json}");
    // Each explanation made one audited check, as its caller.
    let lines = crate::helpers::audit_lines(dir.path());
    let explained: Vec<&str> = lines
        .iter()
        .filter(|l| l.check.payment_id == "txn_002")
        .map(|l| l.envelope.actor.as_ref())
        .collect();
    assert_eq!(explained, ["ops-alice", "ops-alice", "compliance-carol"]);
    let refused = app
        .get("/v1/payments/txn_002/explanation?gateway=mars", Some(&ops))
        .await;
    assert_eq!(refused.status, 400);
    assert_eq!(
        app.get("/v1/payments/txn_002/explanation", None)
            .await
            .status,
        401
    );
    app.stop().await;
}
