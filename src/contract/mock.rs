//! The embedded mock gateway: httpmock serving the scenarios in `fixtures/`.
//!
//! It plays every HTTP scenario at once (each has its own payment id), for the contract
//! tests, for `paystat demo`, and as `paystat mock serve`, a standalone mock on a fixed port
//! that other tools can call (the original "set up the mock API" step). Routes are the real
//! gateways' routes, so a base URL pointed here looks like the real thing.

use std::net::SocketAddr;

use httpmock::{Method, MockServer};
use time::format_description::well_known::Rfc3339;

use super::scenario::Scenario;
use crate::gateway::{GatewayKind, ledger, plaid, stripe};

/// The header paystat's mock marks its replies with, for people reading them; paystat
/// itself never reads it (the configuration says what is a mock).
pub const MOCK_HEADER: &str = "x-paystat-mock";

/// The reference payments `paystat demo` checks on the mock: the ledger's data set, then a
/// succeeded, a processing and a declined Stripe PaymentIntent, then a settled, a pending and
/// a returned Plaid transfer.
pub const DEMO_IDS: [&str; 10] = [
    "txn_001",
    "txn_002",
    "txn_003",
    "txn_999",
    "pi_3MtwBwLkdIwHu7ix28a3tqPa",
    "pi_3MtwBwLkdIwHu7ixProcessng",
    "pi_3MtwBwLkdIwHu7ixDeclined1",
    "460cbe92-2dcc-8eae-5ad6-b37d0ec90fd9",
    "7a1c3f0e-5b2d-4e8f-9a6b-1c2d3e4f5a6b",
    "c0ffee00-1234-4abc-8def-0123456789ab",
];

/// The path prefix the mock serves the ledger under (the original mock API's `/v1`).
pub const LEDGER_PREFIX: &str = "/v1";

/// The base URL a checker should use for `gateway` on a mock at `server_url`
/// (like `http://127.0.0.1:5000`). Stripe and Plaid are served at their real paths
/// (`/v1/payment_intents/{id}`, `/transfer/get`) from the server's root.
pub fn base_url(server_url: &str, gateway: GatewayKind) -> String {
    let server_url = server_url.trim_end_matches('/');
    match gateway {
        GatewayKind::Ledger => format!("{server_url}{LEDGER_PREFIX}"),
        GatewayKind::Stripe | GatewayKind::Plaid => server_url.to_owned(),
    }
}

/// How closely the mock holds a client to a scenario's `[request]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strictness {
    /// Only a request that keeps the scenario's `[request]` gets its answer; any other gets
    /// HTTP 418 (the contract suite, `mock serve --strict`).
    Contract,
    /// Any client gets the scenario's answer to its method and path (and Plaid's transfer id):
    /// `paystat demo` and `mock serve`, for tools written for the original mock API.
    AnyClient,
}

/// Registers one scenario on `server`, held to its `[request]`. Transport-fault scenarios are
/// skipped (returns false).
pub async fn register(server: &MockServer, scenario: &Scenario) -> bool {
    register_with(server, scenario, Strictness::Contract).await
}

/// Registers one scenario on `server`, as strict as `strictness` says.
pub async fn register_with(
    server: &MockServer,
    scenario: &Scenario,
    strictness: Strictness,
) -> bool {
    if !scenario.is_http() {
        return false;
    }
    // Served to any client (`mock serve`, the demo), a scenario with an explanation has its
    // times moved so that its `explain.now` is now: a payment two business days into a bank
    // debit is two days old whenever the mock runs. One whose expectation pins a date
    // (`final_after`) keeps its times, so that `paystat verify` against the mock still holds.
    let moved = (strictness == Strictness::AnyClient && scenario.expect.final_after.is_none())
        .then_some(scenario.explain.as_ref())
        .flatten()
        .and_then(|case| {
            let then = time::OffsetDateTime::parse(&case.now, &Rfc3339).ok()?;
            Some(Shift::between(then, time::OffsetDateTime::now_utc()))
        });
    let body = match &moved {
        Some(shift) => shift.json(&scenario.body_bytes),
        None => scenario.body_bytes.clone(),
    };
    register_answer(server, scenario, &scenario.response, &body, strictness).await;
    let mut history: Vec<Vec<u8>> = scenario
        .history
        .iter()
        .map(|page| match &moved {
            Some(shift) => shift.json(page.trim().as_bytes()),
            None => page.trim().as_bytes().to_vec(),
        })
        .collect();
    // A payment the scenario gives no history still has one, empty, as the real gateway would.
    if history.is_empty() {
        history.extend(empty_history(scenario.gateway));
    }
    register_history(server, scenario, &history).await;
    true
}

/// How far a scenario's times move: timestamps by seconds, days by whole days.
#[derive(Debug, Clone, Copy)]
struct Shift {
    seconds: i64,
    days: i64,
}

/// The keys under which Stripe gives unix seconds.
const UNIX_TIME_KEYS: [&str; 4] = ["created", "canceled_at", "due_by", "available_on"];

impl Shift {
    fn between(then: time::OffsetDateTime, now: time::OffsetDateTime) -> Shift {
        Shift {
            seconds: (now - then).whole_seconds(),
            days: (now.date() - then.date()).whole_days(),
        }
    }

    /// `body` with every time in it moved (the body as it was when it is not JSON).
    fn json(&self, body: &[u8]) -> Vec<u8> {
        match serde_json::from_slice::<serde_json::Value>(body) {
            Ok(mut value) => {
                self.value(&mut value, None);
                value.to_string().into_bytes()
            }
            Err(_) => body.to_vec(),
        }
    }

    fn value(&self, value: &mut serde_json::Value, key: Option<&str>) {
        use serde_json::Value;
        match value {
            Value::Object(map) => {
                for (k, v) in map.iter_mut() {
                    self.value(v, Some(k));
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|v| self.value(v, key)),
            Value::Number(n) if key.is_some_and(|k| UNIX_TIME_KEYS.contains(&k)) => {
                if let Some(t) = n.as_i64() {
                    *value = Value::from(t.saturating_add(self.seconds));
                }
            }
            Value::String(text) => {
                if let Ok(t) = time::OffsetDateTime::parse(text, &Rfc3339) {
                    let moved = t + time::Duration::seconds(self.seconds);
                    if let Ok(moved) = moved.format(&Rfc3339) {
                        *text = moved;
                    }
                } else if let Ok(day) = time::Date::parse(text, DAY) {
                    *text = (day + time::Duration::days(self.days)).to_string();
                }
            }
            _ => {}
        }
    }
}

const DAY: &[time::format_description::BorrowedFormatItem<'static>] =
    time::macros::format_description!("[year]-[month]-[day]");

/// The history page a gateway answers for a payment with nothing more to tell.
fn empty_history(gateway: GatewayKind) -> Option<Vec<u8>> {
    let page = match gateway {
        GatewayKind::Ledger => return None,
        GatewayKind::Stripe => {
            serde_json::json!({"object": "list", "data": [], "has_more": false, "url": "/v1/refunds"})
        }
        GatewayKind::Plaid => {
            serde_json::json!({"transfer_events": [], "request_id": "MockEventList01"})
        }
    };
    Some(page.to_string().into_bytes())
}

/// Registers the scenario's history pages where its gateway answers `paystat explain`'s
/// history request: Stripe's refund list of the intent (a later page after the last refund of
/// the one before), Plaid's `/transfer/event/list` for the transfer (25 events a page).
async fn register_history(server: &MockServer, scenario: &Scenario, pages: &[Vec<u8>]) {
    let root = reqwest::Url::parse("http://mock").expect("a fixed URL parses");
    let id = scenario.payment_id.as_str();
    let mut after: Option<String> = None;
    for (i, page) in pages.iter().enumerate() {
        let reply = |then: httpmock::Then| {
            let _ = then
                .status(200)
                .header(MOCK_HEADER, "1")
                .header("content-type", "application/json")
                .body(page);
        };
        match scenario.gateway {
            GatewayKind::Ledger => {}
            GatewayKind::Stripe => {
                let path = stripe::refunds_url(&root, id, None).path().to_owned();
                let starting_after = after.clone();
                server
                    .mock_async(|when, then| {
                        let when = when
                            .method(Method::GET)
                            .path(path)
                            .query_param("payment_intent", id);
                        let _ = match &starting_after {
                            Some(last) => when.query_param("starting_after", last),
                            None => when.query_param_missing("starting_after"),
                        };
                        reply(then);
                    })
                    .await;
                after = serde_json::from_slice::<serde_json::Value>(page)
                    .ok()
                    .and_then(|p| {
                        p["data"].as_array()?.last()?["id"]
                            .as_str()
                            .map(str::to_owned)
                    });
            }
            GatewayKind::Plaid => {
                let path = plaid::event_list_url(&root).path().to_owned();
                let selector =
                    serde_json::json!({ "transfer_id": id, "offset": i * 25 }).to_string();
                server
                    .mock_async(|when, then| {
                        let _ = when
                            .method(Method::POST)
                            .path(path)
                            .json_body_includes(selector);
                        reply(then);
                    })
                    .await;
            }
        }
    }
}

/// Registers, on a `server` that holds nothing of the scenario yet (httpmock serves the first
/// mock that matches: reset it first), the scenario's state after its change: the gateway's
/// later answer, and its change feed listing the event. False when the scenario has no change.
pub async fn register_after_change(server: &MockServer, scenario: &Scenario) -> bool {
    let Some(change) = &scenario.change else {
        return false;
    };
    register_answer(
        server,
        scenario,
        &change.response,
        &change.body_bytes,
        Strictness::Contract,
    )
    .await;
    register_feed(server, scenario.gateway, &[change.event.as_str()]).await;
    true
}

/// A page of `gateway`'s change feed listing `events` (each an event as JSON), shaped as the
/// gateway sends it: Stripe's list object, Plaid's `transfer_events`.
pub fn feed_page(gateway: GatewayKind, events: &[&str]) -> String {
    let events: Vec<serde_json::Value> = events
        .iter()
        .filter_map(|e| serde_json::from_str(e).ok())
        .collect();
    let page = match gateway {
        GatewayKind::Stripe => serde_json::json!({
            "object": "list", "data": events, "has_more": false, "url": "/v1/events"
        }),
        GatewayKind::Plaid => serde_json::json!({
            "transfer_events": events, "has_more": false, "request_id": "MockEventSync01"
        }),
        GatewayKind::Ledger => serde_json::json!({}),
    };
    page.to_string()
}

/// Registers `gateway`'s change feed listing `events`: Stripe's `GET /v1/events` (every
/// request), Plaid's `POST /transfer/event/sync` (from `after_id` 0; a later cursor gets an
/// empty page, as Plaid gives nothing after its newest event).
pub async fn register_feed(server: &MockServer, gateway: GatewayKind, events: &[&str]) {
    let root = reqwest::Url::parse("http://mock").expect("a fixed URL parses");
    let page = feed_page(gateway, events);
    let reply = |then: httpmock::Then, body: String| {
        let _ = then
            .status(200)
            .header(MOCK_HEADER, "1")
            .header("content-type", "application/json")
            .body(body);
    };
    match gateway {
        GatewayKind::Ledger => {}
        GatewayKind::Stripe => {
            server
                .mock_async(|when, then| {
                    let _ = when
                        .method(Method::GET)
                        .path(stripe::events_url(&root).path());
                    reply(then, page);
                })
                .await;
        }
        GatewayKind::Plaid => {
            server
                .mock_async(|when, then| {
                    let _ = when
                        .method(Method::POST)
                        .path(plaid::event_sync_url(&root).path())
                        .json_body_includes(r#"{"after_id": 0}"#);
                    reply(then, page);
                })
                .await;
            let empty = feed_page(gateway, &[]);
            server
                .mock_async(|when, then| {
                    let _ = when
                        .method(Method::POST)
                        .path(plaid::event_sync_url(&root).path());
                    reply(then, empty);
                })
                .await;
        }
    }
}

/// Registers the answer `response` (with `body`) to the scenario's request.
async fn register_answer(
    server: &MockServer,
    scenario: &Scenario,
    response: &super::scenario::Response,
    body: &[u8],
    strictness: Strictness,
) {
    let root = reqwest::Url::parse("http://mock").expect("a fixed URL parses");
    let id = scenario.payment_id.as_str();
    // The same URLs the adapters send to, so a base URL pointed here looks like the real thing.
    let (method, path, transfer_id) = match scenario.gateway {
        GatewayKind::Ledger => {
            let base = root.join(LEDGER_PREFIX).expect("a fixed path joins");
            ("GET", ledger::status_url(&base, id).path().to_owned(), None)
        }
        GatewayKind::Stripe => ("GET", stripe::status_url(&root, id).path().to_owned(), None),
        // Plaid's id travels in the JSON body, next to the credentials.
        GatewayKind::Plaid => (
            "POST",
            plaid::status_url(&root).path().to_owned(),
            Some(plaid::transfer_selector(id)),
        ),
    };
    let status = response.status.unwrap_or(200);
    let spec = scenario
        .request
        .as_ref()
        .filter(|_| strictness == Strictness::Contract);
    server
        .mock_async(|when, then| {
            let mut when = when.method(method).path(path.clone());
            if let Some(transfer_id) = &transfer_id {
                when = when.json_body_includes(transfer_id.to_string());
            }
            // What the scenario requires paystat to send: only a request that keeps it gets
            // the scenario's answer.
            for (name, value) in spec.map(|s| &s.headers).into_iter().flatten() {
                when = if value == "*" {
                    when.header_exists(name)
                } else {
                    when.header(name, value)
                };
            }
            for (field, value) in spec.map(|s| &s.json_body).into_iter().flatten() {
                when = if value == "*" {
                    when.body_includes(format!("\"{field}\""))
                } else {
                    when.json_body_includes(serde_json::json!({ field: value }).to_string())
                };
            }
            let _ = when;
            let mut then = then.status(status).header(MOCK_HEADER, "1");
            for (name, value) in &response.headers {
                then = then.header(name, value);
            }
            if !body.is_empty() {
                then = then.body(body);
            }
            if let Some(delay) = response.delay {
                then.delay(delay);
            }
        })
        .await;
    // Stripe's dispute list for the intent, when the scenario gives one.
    if let Some(disputes) = &response.disputes {
        let path = stripe::disputes_url(&root, id).path().to_owned();
        server
            .mock_async(|when, then| {
                let _ = when
                    .method("GET")
                    .path(path)
                    .query_param("payment_intent", id);
                let _ = then
                    .status(200)
                    .header(MOCK_HEADER, "1")
                    .header("content-type", "application/json")
                    .body(disputes.trim());
            })
            .await;
    }
    if spec.is_some() {
        // The same route without the requirements: a request that breaks them gets a
        // distinctive answer instead of the scenario's, so the scenario fails.
        server
            .mock_async(|when, then| {
                let mut when = when.method(method).path(path);
                if let Some(transfer_id) = &transfer_id {
                    when = when.json_body_includes(transfer_id.to_string());
                }
                let _ = when;
                then.status(418)
                    .header(MOCK_HEADER, "1")
                    .header("content-type", "application/json")
                    .body(r#"{"paystat_mock": "the request breaks the scenario's [request]"}"#);
            })
            .await;
    }
}

/// How the real gateway answers an id it does not have: the status and body the mock sends for
/// any id with no scenario of its own, so the mock never says "not found" in a way the real
/// gateway would not (a bare 404 is a route miss, `bad_response`, not `not_found`). Plaid's
/// code is UNVERIFIED (GATEWAYS.md), as in `fixtures/plaid/not_found_transfer.toml`.
pub fn unknown_id_reply(gateway: GatewayKind) -> (u16, serde_json::Value) {
    match gateway {
        GatewayKind::Ledger => (
            404,
            serde_json::json!({"error": "payment_not_found", "message": "No payment with this id"}),
        ),
        GatewayKind::Stripe => (
            404,
            serde_json::json!({"error": {
                "type": "invalid_request_error",
                "code": "resource_missing",
                "param": "intent",
                "message": "No such payment_intent",
                "doc_url": "https://stripe.com/docs/error-codes/resource-missing"
            }}),
        ),
        GatewayKind::Plaid => (
            400,
            serde_json::json!({
                "error_type": "INVALID_INPUT",
                "error_code": "TRANSFER_NOT_FOUND",
                "error_message": "the transfer was not found",
                "display_message": null,
                "request_id": "MockUnknownId01"
            }),
        ),
    }
}

/// Registers, after every scenario (httpmock serves the first mock that matches), each
/// gateway's answer to an id it does not have.
async fn register_unknown_ids(server: &MockServer) {
    let root = reqwest::Url::parse("http://mock").expect("a fixed URL parses");
    let ledger_base = root.join(LEDGER_PREFIX).expect("a fixed path joins");
    // The routes up to the id: the adapters' own URLs with the id's segment taken off.
    let prefix = |url: reqwest::Url| {
        let path = url.path().to_owned();
        path[..path.rfind('/').map_or(path.len(), |i| i + 1)].to_owned()
    };
    for gateway in GatewayKind::ALL {
        let (status, body) = unknown_id_reply(gateway);
        let body = body.to_string();
        server
            .mock_async(|when, then| {
                let when = match gateway {
                    GatewayKind::Ledger => when
                        .method(Method::GET)
                        .path_prefix(prefix(ledger::status_url(&ledger_base, "x"))),
                    GatewayKind::Stripe => when
                        .method(Method::GET)
                        .path_prefix(prefix(stripe::status_url(&root, "x"))),
                    GatewayKind::Plaid => when
                        .method(Method::POST)
                        .path(plaid::status_url(&root).path()),
                };
                let _ = when;
                then.status(status)
                    .header(MOCK_HEADER, "1")
                    .header("content-type", "application/json")
                    .body(body);
            })
            .await;
    }
}

/// An in-process mock gateway playing a set of scenarios.
pub struct EmbeddedMock {
    server: MockServer,
}

impl EmbeddedMock {
    /// Starts a mock on a free loopback port and registers every HTTP scenario, each held to
    /// its `[request]`.
    pub async fn start<'a>(scenarios: impl IntoIterator<Item = &'a Scenario>) -> EmbeddedMock {
        EmbeddedMock::start_with(scenarios, Strictness::Contract).await
    }

    /// Starts a mock like [`EmbeddedMock::start`], as strict as `strictness` says.
    pub async fn start_with<'a>(
        scenarios: impl IntoIterator<Item = &'a Scenario>,
        strictness: Strictness,
    ) -> EmbeddedMock {
        let server = MockServer::start_async().await;
        let mut events: Vec<(GatewayKind, &str)> = Vec::new();
        for scenario in scenarios {
            register_with(&server, scenario, strictness).await;
            if let Some(change) = &scenario.change {
                events.push((scenario.gateway, change.event.as_str()));
            }
        }
        // The change feeds list every scenario's change (the answers stay those before it).
        for gateway in [GatewayKind::Stripe, GatewayKind::Plaid] {
            let listed: Vec<&str> = events
                .iter()
                .filter(|(g, _)| *g == gateway)
                .map(|(_, e)| *e)
                .collect();
            register_feed(&server, gateway, &listed).await;
        }
        register_unknown_ids(&server).await;
        EmbeddedMock { server }
    }

    /// The base URL for `gateway` on this mock.
    pub fn base_url(&self, gateway: GatewayKind) -> String {
        base_url(&self.server.base_url(), gateway)
    }

    /// The underlying httpmock server (for tests that add their own mocks).
    pub fn server(&self) -> &MockServer {
        &self.server
    }
}

/// Why the standalone mock could not start.
#[derive(Debug, thiserror::Error)]
#[error("cannot start the mock gateway on port {port}: {reason}")]
pub struct ServeError {
    /// The port asked for.
    pub port: u16,
    /// What went wrong.
    pub reason: String,
}

/// Runs a standalone mock on `port` (0 for any free port) until `shutdown` resolves.
/// `expose` binds every interface instead of 127.0.0.1; `strictness` says whether clients are
/// held to the scenarios' `[request]`. `on_ready` gets the bound address and how many scenarios
/// were registered.
///
/// Every scenario is registered on an in-process mock *before* the port is opened, and the
/// port forwards each connection to it: a client that connects the moment the port accepts
/// gets the scenarios' answers, never an empty mock's 404.
pub async fn serve(
    port: u16,
    expose: bool,
    strictness: Strictness,
    scenarios: &[Scenario],
    shutdown: impl Future<Output = ()> + Send + 'static,
    on_ready: impl FnOnce(SocketAddr, usize),
) -> Result<(), ServeError> {
    let mock = EmbeddedMock::start_with(scenarios, strictness).await;
    let registered = scenarios.iter().filter(|s| s.is_http()).count();
    let backend = *mock.server().address();
    let ip: [u8; 4] = if expose { [0, 0, 0, 0] } else { [127, 0, 0, 1] };
    let listener = tokio::net::TcpListener::bind(SocketAddr::from((ip, port)))
        .await
        .map_err(|e| ServeError {
            port,
            reason: e.to_string(),
        })?;
    let addr = listener.local_addr().map_err(|e| ServeError {
        port,
        reason: e.to_string(),
    })?;
    on_ready(addr, registered);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => return Ok(()),
            accepted = listener.accept() => {
                let Ok((mut client, _)) = accepted else { continue };
                tokio::spawn(async move {
                    if let Ok(mut upstream) = tokio::net::TcpStream::connect(backend).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
                    }
                });
            }
        }
    }
}
