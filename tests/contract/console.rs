//! The Operations console in a real browser: headless Chromium from Debian's packages, driven
//! over WebDriver (`chromedriver`) by a small client written on the suite's own reqwest, against
//! the service on port 0 with an httpmock ledger. Sign in, check ids and watch them arrive, open
//! one and read its diagnosis, the roles, a 401, gateway markup shown as text, the CSV, the
//! keyboard, a phone-sized window. Screenshots of the main states go to
//! `target/console-screenshots/` for review.
//!
//! Where no browser is installed the tests say so and pass without running; with
//! `PAYSTAT_BROWSER_TESTS=required` (what `.ci/run` sets, after installing the browser) they
//! fail instead.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use httpmock::{Method, MockServer};
use paystat::GatewayKind;
use paystat::serve::ServeOptions;
use paystat::serve::tokens::Role;
use serde_json::{Value, json};

use crate::helpers::{simulated_clock, spawn};
use crate::serve::App;

const CHROMIUM: &str = "/usr/bin/chromium";
const DRIVER: &str = "/usr/bin/chromedriver";

/// A browser session over WebDriver.
struct Browser {
    http: reqwest::Client,
    session: String,
    driver: Child,
    base: String,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// Whether the browser tests can run here; `None` with the sentence said when they cannot
/// (a failure instead when `PAYSTAT_BROWSER_TESTS=required`).
fn browser_available() -> bool {
    let present = Path::new(CHROMIUM).exists() && Path::new(DRIVER).exists();
    if !present {
        let required = std::env::var("PAYSTAT_BROWSER_TESTS").is_ok_and(|v| v == "required");
        assert!(
            !required,
            "PAYSTAT_BROWSER_TESTS=required, and {CHROMIUM} or {DRIVER} is missing (apt-get install chromium chromium-driver)"
        );
        eprintln!(
            "skipped: the console's browser tests need Debian's chromium and chromium-driver ({CHROMIUM}, {DRIVER}), which this machine does not have"
        );
    }
    present
}

impl Browser {
    /// Starts chromedriver on a free port and a headless Chromium of `width`×`height`.
    async fn start(width: u32, height: u32) -> Browser {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = Command::new(DRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::builder().no_proxy().build().unwrap();
        // Polls until the driver listens (it takes a moment to start).
        for _ in 0..200 {
            if http.get(format!("{base}/status")).send().await.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        let download = screenshots_dir().join("downloads");
        std::fs::create_dir_all(&download).unwrap();
        let mut options = json!({
            "binary": CHROMIUM,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     format!("--window-size={width},{height}"), "--no-proxy-server"],
            "prefs": {"download.default_directory": download.to_str().unwrap()},
        });
        // A phone-sized window is a phone's screen (a desktop window has a minimum width).
        if width < 500 {
            options["mobileEmulation"] =
                json!({"deviceMetrics": {"width": width, "height": height, "pixelRatio": 1.0}});
        }
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": options,
        }}});
        let created: Value = http
            .post(format!("{base}/session"))
            .header("content-type", "application/json")
            .body(capabilities.to_string())
            .send()
            .await
            .unwrap()
            .text()
            .await
            .map(|t| serde_json::from_str(&t).unwrap())
            .unwrap();
        let session = created["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {created}"))
            .to_owned();
        Browser {
            http,
            session,
            driver,
            base,
        }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let request = self.http.request(method.clone(), url);
        let request = if method == reqwest::Method::GET {
            request
        } else {
            request
                .header("content-type", "application/json")
                .body(body.to_string())
        };
        let text = request.send().await.unwrap().text().await.unwrap();
        let reply: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        reply["value"].clone()
    }

    async fn goto(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", json!({ "url": url }))
            .await;
    }

    /// Runs `script` in the page; its return value.
    async fn run(&self, script: &str, args: Value) -> Value {
        self.call(
            reqwest::Method::POST,
            "/execute/sync",
            json!({"script": script, "args": args}),
        )
        .await
    }

    /// Runs `script` in the page, which calls its last argument with its value.
    async fn run_async(&self, script: &str) -> Value {
        self.call(
            reqwest::Method::POST,
            "/execute/async",
            json!({"script": script, "args": []}),
        )
        .await
    }

    /// Waits until `script` returns something truthy (polling, for at most a minute); its value.
    async fn until(&self, what: &str, script: &str) -> Value {
        for _ in 0..1200 {
            let value = self.run(script, json!([])).await;
            let truthy = match &value {
                Value::Null | Value::Bool(false) => false,
                Value::String(s) => !s.is_empty(),
                Value::Number(n) => n.as_f64() != Some(0.0),
                _ => true,
            };
            if truthy {
                return value;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let page = self.run("return document.body.innerText", json!([])).await;
        panic!("the page never showed {what}; it says:\n{page}");
    }

    async fn element(&self, css: &str) -> String {
        let found = self
            .call(
                reqwest::Method::POST,
                "/element",
                json!({"using": "css selector", "value": css}),
            )
            .await;
        found
            .as_object()
            .and_then(|o| o.values().next())
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("no element {css}: {found}"))
            .to_owned()
    }

    async fn click(&self, css: &str) {
        let id = self.element(css).await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{id}/click"),
            json!({}),
        )
        .await;
    }

    /// Types `text` into the element (WebDriver's keys: `\u{E007}` is Enter, `\u{E004}` Tab).
    async fn type_into(&self, css: &str, text: &str) {
        let id = self.element(css).await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{id}/value"),
            json!({ "text": text }),
        )
        .await;
    }

    /// Presses the keys of `keys` (each character one key) on whatever has the focus.
    async fn keys(&self, keys: &[&str]) {
        let mut actions = Vec::new();
        for key in keys.iter().flat_map(|k| k.chars()) {
            actions.push(json!({"type": "keyDown", "value": key.to_string()}));
            actions.push(json!({"type": "keyUp", "value": key.to_string()}));
        }
        self.call(
            reqwest::Method::POST,
            "/actions",
            json!({"actions": [{"type": "key", "id": "keyboard", "actions": actions}]}),
        )
        .await;
    }

    async fn screenshot(&self, name: &str) {
        let png = self
            .call(reqwest::Method::GET, "/screenshot", json!({}))
            .await;
        use base64::Engine as _;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(png.as_str().unwrap_or_default())
            .unwrap_or_default();
        std::fs::write(screenshots_dir().join(format!("{name}.png")), bytes).unwrap();
    }
}

fn screenshots_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/console-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A ledger that knows four payments, one of them with markup in its status word.
fn ledger(server: &MockServer) {
    let payment = |id: &str, status: &str, amount: &str, created: &str| {
        server.mock(|when, then| {
            when.method(Method::GET).path(format!("/v1/payments/{id}"));
            then.status(200)
                .header("content-type", "application/json")
                .header("x-request-id", format!("req_{id}"))
                .body(format!(
                    r#"{{"id": "{id}", "status": {status}, "amount": {amount}, "currency": "USD", "created_at": "{created}"}}"#
                ));
        });
    };
    payment(
        "txn_c001",
        "\"completed\"",
        "150.00",
        "2025-12-30T10:00:00Z",
    );
    payment("txn_c002", "\"pending\"", "2500.00", "2025-12-29T09:00:00Z");
    payment("txn_c003", "\"failed\"", "75.50", "2025-12-30T11:00:00Z");
    payment(
        "txn_markup",
        r#""<img src=x onerror=\"window.pwned=1\"><script>window.pwned=2</script>""#,
        "1.00",
        "2025-12-30T12:00:00Z",
    );
    server.mock(|when, then| {
        when.method(Method::GET).path_matches(r"^/v1/payments/.*");
        then.status(404)
            .header("content-type", "application/json")
            .body(r#"{"error": "payment_not_found", "message": "No payment with that id"}"#);
    });
}

/// The service over the ledger, on the clock its test tokens are made on.
async fn service(dir: &Path) -> (App, MockServer) {
    let server = MockServer::start_async().await;
    ledger(&server);
    let checker = spawn(
        dir,
        GatewayKind::Ledger,
        &format!("{}/v1", server.base_url()),
    )
    .env("PAYSTAT_LEDGER_ENVIRONMENT", Some("mock"))
    .clock(simulated_clock())
    .build();
    (App::start(checker, ServeOptions::default()).await, server)
}

async fn sign_in(browser: &Browser, app: &App, token: &str) {
    browser.goto(&format!("{}/", app.url)).await;
    browser
        .type_into("#token", &format!("{token}\u{E007}"))
        .await;
    browser
        .until(
            "the signed-in page",
            "return !document.getElementById('check').hidden && document.getElementById('who').textContent",
        )
        .await;
}

#[tokio::test]
async fn the_page_is_one_origin_small_and_served_without_a_token() {
    let dir = tempfile::tempdir().unwrap();
    let (app, _server) = service(dir.path()).await;
    let mut weight = 0;
    for path in ["/", "/console.css", "/console.js"] {
        let reply = app.get(path, None).await;
        assert_eq!(reply.status, 200, "{path}");
        let csp = reply.headers["content-security-policy"].to_str().unwrap();
        assert!(
            csp.contains("default-src 'none'") && csp.contains("script-src 'self'"),
            "{csp}"
        );
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        assert!(!csp.contains("unsafe-inline"), "{csp}");
        assert_eq!(reply.headers["x-content-type-options"], "nosniff");
        assert_eq!(reply.headers["referrer-policy"], "no-referrer");
        weight += reply.body.len();
        // Nothing from another origin, and no inline script or handler.
        assert!(
            !reply.body.contains("http://") && !reply.body.contains("https://"),
            "{path}"
        );
    }
    assert!(weight <= 100 * 1024, "the page weighs {weight} bytes");
    let page = app.get("/", None).await.body;
    assert!(
        !page.contains("<script>") && !page.contains(" onclick="),
        "inline script"
    );
    assert!(page.contains(r#"<script src="/console.js" defer></script>"#));
    // The API still needs a token.
    assert_eq!(app.get("/v1/whoami", None).await.status, 401);
    let ops = app.token("ops-olga", Role::Ops);
    let me = app.get("/v1/whoami", Some(&ops)).await;
    assert_eq!(me.json(), json!({"actor": "ops-olga", "role": "ops"}));
    app.stop().await;
}

#[tokio::test]
async fn operations_sign_in_check_a_list_open_one_and_read_its_diagnosis() {
    if !browser_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (app, _server) = service(dir.path()).await;
    let ops = app.token("ops-olga", Role::Ops);
    let browser = Browser::start(1280, 800).await;
    browser.goto(&format!("{}/", app.url)).await;
    browser.screenshot("1-sign-in").await;
    sign_in(&browser, &app, &ops).await;
    let who = browser
        .run(
            "return document.getElementById('who').textContent",
            json!([]),
        )
        .await;
    assert_eq!(who, "Signed in as ops-olga (ops)");
    // The token is in this tab's session storage only.
    let kept = browser
        .run(
            "return [sessionStorage.getItem('paystat.token'), localStorage.length, document.cookie]",
            json!([]),
        )
        .await;
    assert_eq!(kept, json!([ops, 0, ""]));
    // An ops token sees no export.
    let export_hidden = browser
        .run("return document.getElementById('export').hidden", json!([]))
        .await;
    assert_eq!(export_hidden, true);
    // Check a CSV with a header, the results streaming into the table.
    browser
        .type_into(
            "#ids",
            "payment_id,note\ntxn_c001,a\ntxn_c002,b\ntxn_c003,c\ntxn_missing,d\ntxn_markup,e\n",
        )
        .await;
    browser.click("#check-button").await;
    let done = browser
        .until(
            "every result",
            "const p = document.getElementById('progress').textContent; return p.startsWith('Done') && p",
        )
        .await;
    assert_eq!(done, "Done: 5 of 5 checked.");
    browser.screenshot("2-checked").await;
    let rows = browser
        .run(
            "return Array.from(document.querySelectorAll('#rows tr')).map(tr => Array.from(tr.cells).map(td => td.textContent))",
            json!([]),
        )
        .await;
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 5, "{rows:?}");
    let row = |id: &str| {
        rows.iter()
            .find(|r| r[0] == id)
            .unwrap_or_else(|| panic!("no row {id}: {rows:?}"))
            .clone()
    };
    assert_eq!(row("txn_c001")[2], "completed");
    assert_eq!(row("txn_c001")[3], "150.00 USD");
    assert_eq!(row("txn_c003")[2], "failed");
    assert_eq!(row("txn_missing")[2], "not_found");
    // The pending one is older than a day: stale, said in words.
    assert!(
        row("txn_c002")[5].as_str().unwrap().ends_with("stale"),
        "{:?}",
        row("txn_c002")
    );
    // Markup from the gateway is text: shown literally, never run, no element made of it.
    let markup = row("txn_markup");
    assert!(
        markup[4].as_str().unwrap().contains("<img src=x"),
        "{markup:?}"
    );
    let injected = browser
        .run(
            "return [typeof window.pwned, document.querySelectorAll('#rows img, #rows script').length]",
            json!([]),
        )
        .await;
    assert_eq!(injected, json!(["undefined", 0]));
    // Filter to the stale ones, then download what is shown.
    browser
        .run(
            "const s = document.getElementById('filter-stale'); s.value = 'stale'; s.dispatchEvent(new Event('change')); return 1",
            json!([]),
        )
        .await;
    // The download itself: the file the button hands the browser.
    browser
        .run(
            "window.downloads = []; const made = URL.createObjectURL; URL.createObjectURL = (blob) => { window.downloads.push(blob); return made.call(URL, blob); }; return 1",
            json!([]),
        )
        .await;
    browser.click("#download").await;
    let csv = browser
        .run_async(
            "const done = arguments[arguments.length - 1]; window.downloads[0].text().then(done)",
        )
        .await;
    let csv = csv.as_str().unwrap();
    assert_eq!(
        csv,
        browser
            .run("return window.paystatConsole.csv()", json!([]))
            .await
    );
    assert_eq!(csv.lines().count(), 2, "{csv}");
    assert!(csv.starts_with("payment_id,gateway,outcome,status,amount_minor,currency"));
    assert!(
        csv.contains("txn_c002,ledger,found,pending,250000,USD,pending,"),
        "{csv}"
    );
    assert!(csv.trim_end().ends_with(",true,"), "{csv}");
    // A cell a spreadsheet would run is defused, as the command line's CSV does.
    let safe = browser
        .run(
            "return window.paystatConsole.safeCell('=HYPERLINK(\"x\")')",
            json!([]),
        )
        .await;
    assert_eq!(safe, "\"'=HYPERLINK(\"\"x\"\")\"");
    // Open the pending one: its attempts, and the diagnosis the service gives.
    browser.click("#rows button.open").await;
    browser
        .until(
            "the diagnosis",
            "return !document.getElementById('diagnosis').hidden && document.getElementById('diagnosis-action').textContent",
        )
        .await;
    browser.screenshot("3-payment").await;
    let explained = app
        .get(
            "/v1/payments/txn_c002/explanation?gateway=ledger",
            Some(&ops),
        )
        .await
        .json();
    let shown = browser
        .run(
            "return ['diagnosis-meaning','diagnosis-action','diagnosis-escalate'].map(id => document.getElementById(id).textContent)",
            json!([]),
        )
        .await;
    assert_eq!(
        shown,
        json!([
            explained["diagnosis"]["meaning"],
            explained["diagnosis"]["action"],
            explained["diagnosis"]["escalate_to"]
        ])
    );
    let attempts = browser
        .run(
            "return document.getElementById('attempts').textContent",
            json!([]),
        )
        .await;
    assert!(
        attempts
            .as_str()
            .unwrap()
            .contains("Attempt 1: found (HTTP 200)"),
        "{attempts}"
    );
    // Ops sees no history of who looked.
    let history_hidden = browser
        .run(
            "return document.getElementById('history-part').hidden",
            json!([]),
        )
        .await;
    assert_eq!(history_hidden, true);
    // Sign out: the token is forgotten.
    browser.click("#back").await;
    browser.click("#sign-out").await;
    let forgotten = browser
        .run(
            "return [sessionStorage.getItem('paystat.token'), document.getElementById('sign-in').hidden]",
            json!([]),
        )
        .await;
    assert_eq!(forgotten, json!([null, false]));
    app.stop().await;
}

#[tokio::test]
async fn compliance_reads_who_looked_and_downloads_a_verified_export_and_a_401_signs_out() {
    if !browser_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (app, _server) = service(dir.path()).await;
    let compliance = app.token("compliance-cara", Role::Compliance);
    let browser = Browser::start(1280, 800).await;
    sign_in(&browser, &app, &compliance).await;
    browser.type_into("#ids", "txn_c001\ntxn_c002\n").await;
    browser.click("#check-button").await;
    browser
        .until(
            "every result",
            "return document.getElementById('progress').textContent.startsWith('Done')",
        )
        .await;
    browser.click("#rows button.open").await;
    let history = browser
        .until(
            "the history",
            "const s = document.getElementById('history-status').textContent; return s.includes('lines') && document.getElementById('history').textContent",
        )
        .await;
    assert!(
        history.as_str().unwrap().contains("compliance-cara"),
        "{history}"
    );
    browser.click("#back").await;
    // The export: the trail's range verified first, then downloaded.
    browser
        .run(
            "document.getElementById('export-from').value = '2000-01-01'; document.getElementById('export-until').value = '2100-01-01'; return 1",
            json!([]),
        )
        .await;
    browser.click("#export-form button[type=submit]").await;
    let said = browser
        .until(
            "the export",
            "const s = document.getElementById('export-status'); return s.dataset.chain && s.textContent",
        )
        .await;
    assert!(
        said.as_str()
            .unwrap()
            .starts_with("The chain verified over the range."),
        "{said}"
    );
    browser.screenshot("4-export").await;
    // The token is revoked: the next call brings the person back to sign in, with a sentence.
    let tokens = paystat::serve::tokens::Tokens::at(app.state.path());
    let id = tokens
        .list()
        .unwrap()
        .into_iter()
        .find(|t| t.actor == "compliance-cara")
        .unwrap()
        .id;
    tokens
        .revoke(
            &id,
            time::OffsetDateTime::from_unix_timestamp(1_767_225_600).unwrap(),
        )
        .unwrap();
    browser.click("#check-button").await;
    let notice = browser
        .until(
            "the sign-in page again",
            "return !document.getElementById('sign-in').hidden && document.getElementById('notice').textContent",
        )
        .await;
    assert!(
        notice.as_str().unwrap().starts_with("You are signed out: "),
        "{notice}"
    );
    let kept = browser
        .run("return sessionStorage.getItem('paystat.token')", json!([]))
        .await;
    assert_eq!(kept, Value::Null);
    app.stop().await;
}

/// Thousands of results stream into the table: every one arrives, and filtering and sorting
/// them still work. Two thousand keep the suite fast; `PAYSTAT_CONSOLE_ROWS=10000` runs the
/// service's largest batch (how fast is not a test's business).
#[tokio::test]
async fn thousands_of_results_arrive_and_can_still_be_filtered_and_sorted() {
    if !browser_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let server = MockServer::start_async().await;
    server.mock(|when, then| {
        when.method(Method::GET).path_matches(r"^/v1/payments/txn_bulk_\d+$");
        then.status(200).header("content-type", "application/json").body(
            r#"{"id": "txn_bulk_0", "status": "completed", "amount": 1.00, "currency": "USD", "created_at": "2025-12-30T10:00:00Z"}"#,
        );
    });
    // Every answer names txn_bulk_0: the ledger answered for another payment, a bad response
    // for every id but the first — ten thousand rows either way, of two outcomes.
    let checker = spawn(
        dir.path(),
        GatewayKind::Ledger,
        &format!("{}/v1", server.base_url()),
    )
    .env("PAYSTAT_LEDGER_ENVIRONMENT", Some("mock"))
    .clock(simulated_clock())
    .build();
    let app = App::start(checker, ServeOptions::default()).await;
    let ops = app.token("ops-olga", Role::Ops);
    let rows: u64 = std::env::var("PAYSTAT_CONSOLE_ROWS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(2000);
    let browser = Browser::start(1280, 800).await;
    sign_in(&browser, &app, &ops).await;
    browser
        .run(
            "document.getElementById('ids').value = Array.from({length: arguments[0]}, (_, i) => 'txn_bulk_' + i).join('\\n'); return 1",
            json!([rows]),
        )
        .await;
    browser.click("#check-button").await;
    browser
        .until(
            "every result",
            &format!("return document.getElementById('progress').textContent === 'Done: {rows} of {rows} checked.'"),
        )
        .await;
    let counts = browser
        .run(
            "return [document.querySelectorAll('#rows tr').length, Array.from(document.getElementById('filter-outcome').options).map(o => o.value).sort()]",
            json!([]),
        )
        .await;
    assert_eq!(counts, json!([rows, ["", "bad_response", "found"]]));
    browser
        .run(
            "const s = document.getElementById('filter-outcome'); s.value = 'found'; s.dispatchEvent(new Event('change')); return 1",
            json!([]),
        )
        .await;
    browser.click("th button[data-key=payment_id]").await;
    let shown = browser
        .run(
            "return [document.querySelectorAll('#rows tr').length, document.getElementById('shown').textContent]",
            json!([]),
        )
        .await;
    assert_eq!(shown, json!([1, format!("Showing 1 of {rows} results.")]));
    app.stop().await;
}

#[tokio::test]
async fn the_keyboard_alone_signs_in_and_checks_and_a_phone_sized_window_fits() {
    if !browser_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (app, _server) = service(dir.path()).await;
    let ops = app.token("ops-kim", Role::Ops);
    let browser = Browser::start(390, 844).await;
    browser.goto(&format!("{}/", app.url)).await;
    // The token field has the focus; typing and Enter sign in.
    let focused = browser
        .until(
            "the focus on the token",
            "return document.activeElement && document.activeElement.id",
        )
        .await;
    assert_eq!(focused, "token");
    browser.keys(&[&ops, "\u{E007}"]).await;
    browser
        .until("the signed-in page", "return !document.getElementById('check').hidden && document.activeElement.id === 'ids'")
        .await;
    // The ids field has the focus: type, then Tab to the gateway, the hours and the button.
    browser.keys(&["txn_c001"]).await;
    browser.keys(&["\u{E004}", "\u{E004}", "\u{E004}"]).await;
    let on = browser
        .run("return document.activeElement.id", json!([]))
        .await;
    assert_eq!(on, "check-button");
    browser.keys(&["\u{E007}"]).await;
    browser
        .until(
            "the result",
            "return document.getElementById('progress').textContent === 'Done: 1 of 1 checked.'",
        )
        .await;
    // Every control is labelled and reachable; nothing is wider than the phone.
    let unlabelled = browser
        .run(
            "return Array.from(document.querySelectorAll('input, select, textarea')).filter(e => !document.querySelector('label[for=\"' + e.id + '\"]')).map(e => e.id)",
            json!([]),
        )
        .await;
    assert_eq!(unlabelled, json!([]));
    let overflow = browser
        .run(
            "return document.documentElement.scrollWidth - window.innerWidth",
            json!([]),
        )
        .await;
    assert!(
        overflow.as_i64().unwrap() <= 0,
        "the page is {overflow} px wider than the window"
    );
    // WCAG AA: text against its background, computed by the browser.
    let low = browser
        .run(
            r#"
            const lum = (rgb) => { const c = rgb.match(/[\d.]+/g).slice(0, 3).map(Number).map(v => v / 255)
                .map(v => v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4));
                return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2]; };
            const background = (el) => { for (; el; el = el.parentElement) {
                const b = getComputedStyle(el).backgroundColor; if (!/rgba\(.*, 0\)$/.test(b) && b !== 'transparent') return b; }
                return 'rgb(255, 255, 255)'; };
            const low = [];
            for (const el of document.querySelectorAll('h1, h2, h3, label, p, button, td, th, .badge, .muted, .stale, .who')) {
                if (!el.offsetParent && el.tagName !== 'BODY') continue;
                const a = lum(getComputedStyle(el).color), b = lum(background(el));
                const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
                if (ratio < 4.5) low.push(el.tagName + '#' + el.id + ' ' + ratio.toFixed(2));
            }
            return low;"#,
            json!([]),
        )
        .await;
    assert_eq!(low, json!([]), "text below WCAG AA contrast");
    browser.screenshot("5-phone").await;
    app.stop().await;
}
