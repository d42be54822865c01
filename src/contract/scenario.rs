//! Scenario files: the fixtures TPMs read as requirements and the tests run as contracts.
//!
//! A scenario is one TOML file under `fixtures/<gateway>/`: a title, the requirement in plain
//! English, the payment id, what the gateway answers (status, headers, body, delay — or a
//! transport fault) and what paystat must conclude. The same files feed the contract tests,
//! `paystat demo` and `paystat mock serve`. The format is explained for non-engineers in
//! `fixtures/README.md`; every mistake in a file is reported with the file and the field.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::expectation::Expectation;
use crate::result::{GatewayKind, Outcome};

/// One scenario, loaded and checked.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// A short title.
    pub title: String,
    /// The requirement, in the TPM's words.
    pub requirement: String,
    /// The gateway this scenario plays.
    pub gateway: GatewayKind,
    /// The payment id asked about.
    pub payment_id: String,
    /// The situation this scenario covers, like `status:completed`, `http:404`, `timeout`,
    /// `fault:connection_reset`, `malformed_body:not_json` (see `fixtures/README.md`).
    pub situation: String,
    /// Settings of the checker for this scenario.
    #[serde(default)]
    pub client: ClientSettings,
    /// What paystat must send (optional): checked against the request the adapter builds, and
    /// enforced by the embedded mock, which answers a request that breaks it with 418.
    #[serde(default)]
    pub request: Option<RequestSpec>,
    /// What the gateway does.
    pub response: Response,
    /// What paystat must conclude.
    pub expect: Expectation,
    /// A change the gateway reports later (Stripe and Plaid): the event its change feed lists,
    /// and its answer from then on. The status cache must drop the first answer on that event.
    #[serde(default)]
    pub change: Option<Change>,
    /// The gateway's own history of the payment beyond its answer, page by page, as JSON: what it
    /// answers `paystat explain`'s history request (Plaid's `/transfer/event/list`, Stripe's
    /// refund list of the intent).
    #[serde(default)]
    pub history: Vec<String>,
    /// The explanation this scenario expects: the time, the lines our trail already holds, and
    /// the rule the diagnosis names.
    #[serde(default)]
    pub explain: Option<ExplainCase>,
    /// The file, relative to the fixtures folder (`ledger/completed.toml`).
    #[serde(skip)]
    pub file: PathBuf,
    /// The body to send, resolved from `body`, `body_file` and `pad_body_to_bytes`.
    #[serde(skip)]
    pub body_bytes: Vec<u8>,
}

/// What `paystat explain` must conclude about the scenario's payment.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExplainCase {
    /// When the explanation is made, RFC 3339 (the tests' clock; `paystat mock serve` moves the
    /// scenario's times so that this is now).
    pub now: String,
    /// The rule the diagnosis must name, or `none` when no rule may match.
    pub rule: String,
    /// Lines our audit trail holds before the explanation.
    #[serde(default)]
    pub earlier: Vec<EarlierLine>,
}

/// The rule name a scenario gives when no rule may match.
pub const NO_RULE: &str = "none";

/// One earlier status check in our trail.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EarlierLine {
    /// When, RFC 3339.
    pub at: String,
    /// How it ended.
    pub outcome: Outcome,
    /// The payment checked (default: the scenario's).
    pub payment_id: Option<String>,
    /// Who checked (default `ops-oncall`).
    pub actor: Option<String>,
}

/// A payment that changes after the scenario's first answer.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Change {
    /// The event as the gateway's change feed lists it: a Stripe Event object (`evt_…`) or a
    /// Plaid transfer event, as JSON.
    pub event: String,
    /// What the gateway answers once the payment changed.
    pub response: Response,
    /// What paystat must conclude then.
    pub expect: Expectation,
    /// The body to send after the change.
    #[serde(skip)]
    pub body_bytes: Vec<u8>,
}

/// Checker settings a scenario may change.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientSettings {
    /// The per-request timeout, like `100ms` (default: paystat's default).
    #[serde(default, deserialize_with = "crate::clock::optional_duration")]
    pub timeout: Option<Duration>,
    /// The connected Stripe account to ask on behalf of (`--stripe-account`).
    pub stripe_account: Option<String>,
}

/// What paystat must send. Every field present is required; a value of `"*"` requires the
/// header or body field to be there without saying its value (credentials are pinned by name
/// only, never by value).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestSpec {
    /// The HTTP method, like `GET`.
    pub method: Option<String>,
    /// The path, percent-encoded as sent, like `/v1/payments/txn_001`.
    pub path: Option<String>,
    /// The query string as sent, like `expand%5B%5D=latest_charge`.
    pub query: Option<String>,
    /// Headers by name (any case): their value, or `"*"` for "present".
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Top-level fields of a JSON body: their value as text, or `"*"` for "present".
    #[serde(default)]
    pub json_body: BTreeMap<String, String>,
}

/// Headers and body fields that carry credentials: a scenario may require them by name only.
pub const SECRET_FIELDS: [&str; 5] = [
    "authorization",
    "plaid-client-id",
    "plaid-secret",
    "client_id",
    "secret",
];

/// What "present, value not pinned" is written as.
const ANY: &str = "*";

impl RequestSpec {
    /// Every way `request` breaks this spec, as sentences: `paystat sent nothing as header
    /// Stripe-Version, the scenario requires 2024-06-20`. A secret's value is never shown.
    pub fn mismatches(&self, request: &reqwest::Request) -> Vec<String> {
        let mut found = Vec::new();
        let mut differ = |what: &str, required: &str, sent: Option<&str>| {
            let holds = match sent {
                Some(sent) => required == ANY || required == sent,
                None => false,
            };
            if !holds {
                let sent = match sent {
                    None => "nothing".to_owned(),
                    Some(_) if SECRET_FIELDS.contains(&what_name(what)) => "a value".to_owned(),
                    Some(sent) => format!("`{sent}`"),
                };
                let required = if required == ANY {
                    "it to be there".to_owned()
                } else {
                    format!("`{required}`")
                };
                found.push(format!(
                    "paystat sent {sent} as {what}, the scenario requires {required}"
                ));
            }
        };
        if let Some(method) = &self.method {
            differ("the method", method, Some(request.method().as_str()));
        }
        if let Some(path) = &self.path {
            differ("the path", path, Some(request.url().path()));
        }
        if let Some(query) = &self.query {
            differ("the query", query, request.url().query());
        }
        for (name, value) in &self.headers {
            let sent = request
                .headers()
                .get(name.as_str())
                .map(|v| v.to_str().unwrap_or("(not text)"));
            differ(&format!("header {name}"), value, sent);
        }
        if !self.json_body.is_empty() {
            let body: Option<serde_json::Value> = request
                .body()
                .and_then(|b| b.as_bytes())
                .and_then(|b| serde_json::from_slice(b).ok());
            for (field, value) in &self.json_body {
                let sent = body.as_ref().and_then(|b| b.get(field)).map(|v| match v {
                    serde_json::Value::String(text) => text.clone(),
                    other => other.to_string(),
                });
                differ(&format!("body field {field}"), value, sent.as_deref());
            }
        }
        found
    }
}

/// The header or field name in a `what` like `header Authorization`.
fn what_name(what: &str) -> &str {
    let name = what.rsplit(' ').next().unwrap_or(what);
    SECRET_FIELDS
        .iter()
        .find(|s| s.eq_ignore_ascii_case(name))
        .copied()
        .unwrap_or("")
}

/// A fault below HTTP that the gateway's side produces. The embedded mock cannot play these;
/// the contract tests play them with a raw-TCP fault server, and `paystat mock serve` skips them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransportFault {
    /// Nothing listens on the gateway's port.
    ConnectionRefused,
    /// The connection is reset before any byte of the answer.
    ConnectionReset,
    /// The answer promises a longer body than it sends, then the connection closes.
    ClosedMidBody,
    /// The answer's chunked encoding is malformed.
    MalformedChunked,
    /// The headers arrive, the body never does.
    HeadersThenStall,
    /// Bytes that are not HTTP, then the connection closes.
    GarbageThenClose,
    /// The body arrives one byte at a time, far slower than the timeout.
    DripPastTimeout,
    /// The connection is accepted and never answered.
    NeverAnswers,
}

impl TransportFault {
    /// What happens, in a few words for a table.
    pub fn description(self) -> &'static str {
        match self {
            TransportFault::ConnectionRefused => "nothing listens",
            TransportFault::ConnectionReset => "connection reset before any byte",
            TransportFault::ClosedMidBody => "connection closed mid-body",
            TransportFault::MalformedChunked => "malformed chunked encoding",
            TransportFault::HeadersThenStall => "headers, then the body never comes",
            TransportFault::GarbageThenClose => "random bytes, then close",
            TransportFault::DripPastTimeout => "body dripped past the timeout",
            TransportFault::NeverAnswers => "accepts, never answers",
        }
    }
}

/// What the mock gateway answers.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Response {
    /// The HTTP status code.
    pub status: Option<u16>,
    /// Response headers.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// The body, inline.
    pub body: Option<String>,
    /// The body, from a file relative to the scenario file.
    pub body_file: Option<String>,
    /// Pad the body with trailing spaces up to this many bytes (oversize bodies).
    pub pad_body_to_bytes: Option<usize>,
    /// Wait this long before answering, like `10s`.
    #[serde(default, deserialize_with = "crate::clock::optional_duration")]
    pub delay: Option<Duration>,
    /// Fail below HTTP instead of answering.
    pub transport: Option<TransportFault>,
    /// Why this body deliberately breaks the provider's published shape (its JSON Schema);
    /// absent for every realistic body, which must then validate.
    pub off_spec: Option<String>,
    /// Stripe only: the dispute list Stripe answers for this PaymentIntent
    /// (`GET /v1/disputes?payment_intent=…`), which paystat asks when the latest charge says
    /// `disputed: true`.
    pub disputes: Option<String>,
}

/// A scenario file that cannot be used, with the file and the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}: {field}: {problem}")]
pub struct ScenarioError {
    /// The scenario file.
    pub file: String,
    /// The field at fault (`expect.outcome`), or `file` for the whole file.
    pub field: String,
    /// What is wrong.
    pub problem: String,
}

impl ScenarioError {
    fn new(file: &Path, field: &str, problem: impl Into<String>) -> ScenarioError {
        ScenarioError {
            file: file.display().to_string(),
            field: field.to_owned(),
            problem: problem.into(),
        }
    }
}

impl Scenario {
    /// Parses and checks one scenario. `file` is its path relative to the fixtures folder;
    /// `read` returns another fixture file's bytes by the same kind of path (for `body_file`).
    pub fn parse(
        file: &Path,
        text: &str,
        read: impl Fn(&Path) -> Option<Vec<u8>>,
    ) -> Result<Scenario, ScenarioError> {
        let mut scenario: Scenario = toml::from_str(text).map_err(|e| {
            // toml names the field in its message; keep it to one line.
            let message = e.message().trim().to_owned();
            let at = e
                .span()
                .map(|span| {
                    let line = text[..span.start].matches('\n').count() + 1;
                    format!(" (line {line})")
                })
                .unwrap_or_default();
            ScenarioError::new(file, "file", format!("{message}{at}"))
        })?;
        scenario.file = file.to_owned();
        scenario.check(file)?;
        scenario.body_bytes = resolve_body(&scenario.response, "response", file, &read)?;
        if let Some(change) = &mut scenario.change {
            change.body_bytes = resolve_body(&change.response, "change.response", file, &read)?;
        }
        Ok(scenario)
    }

    fn check(&self, file: &Path) -> Result<(), ScenarioError> {
        let err = |field: &str, problem: &str| Err(ScenarioError::new(file, field, problem));
        if self.title.trim().is_empty() {
            return err("title", "must not be empty");
        }
        if self.requirement.trim().is_empty() {
            return err("requirement", "must not be empty");
        }
        let r = &self.response;
        match (r.status, r.transport) {
            (None, None) => {
                return err(
                    "response.status",
                    "give an HTTP status or a transport fault",
                );
            }
            (Some(_), Some(_)) => {
                return err(
                    "response.transport",
                    "a transport fault sends no HTTP status; remove one of them",
                );
            }
            (Some(s), None) if !(100..=599).contains(&s) => {
                return err("response.status", "must be between 100 and 599");
            }
            _ => {}
        }
        if r.body.is_some() && r.body_file.is_some() {
            return err(
                "response.body_file",
                "give the body inline or from a file, not both",
            );
        }
        if let Some(spec) = &self.request {
            let pinned_secret =
                spec.headers
                    .iter()
                    .chain(spec.json_body.iter())
                    .find(|(name, value)| {
                        SECRET_FIELDS.iter().any(|s| s.eq_ignore_ascii_case(name)) && *value != ANY
                    });
            if let Some((name, _)) = pinned_secret {
                return Err(ScenarioError::new(
                    file,
                    "request",
                    format!("`{name}` carries a credential: require it by name only, with \"*\""),
                ));
            }
        }
        for (at, response) in std::iter::once(("response", &self.response)).chain(
            self.change
                .as_ref()
                .map(|c| ("change.response", &c.response)),
        ) {
            let Some(disputes) = &response.disputes else {
                continue;
            };
            if self.gateway != GatewayKind::Stripe {
                return err(&format!("{at}.disputes"), "only Stripe has a dispute list");
            }
            if serde_json::from_str::<serde_json::Value>(disputes).is_err() {
                return err(
                    &format!("{at}.disputes"),
                    "must be Stripe's dispute list as JSON",
                );
            }
        }
        if !self.history.is_empty() && self.gateway == GatewayKind::Ledger {
            return err("history", "the ledger keeps no history beyond its answer");
        }
        for (i, page) in self.history.iter().enumerate() {
            if serde_json::from_str::<serde_json::Value>(page).is_err() {
                return err(
                    &format!("history[{i}]"),
                    "must be the gateway's page as JSON",
                );
            }
        }
        if let Some(case) = &self.explain {
            let time = |text: &str| {
                time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
                    .ok()
            };
            let Some(now) = time(&case.now) else {
                return err(
                    "explain.now",
                    "must be an RFC 3339 time, like 2026-12-02T15:00:00Z",
                );
            };
            if case.rule.trim().is_empty() {
                return err(
                    "explain.rule",
                    "name the rule the diagnosis must give, or `none`",
                );
            }
            for (i, line) in case.earlier.iter().enumerate() {
                match time(&line.at) {
                    Some(at) if at <= now => {}
                    Some(_) => {
                        return err(&format!("explain.earlier[{i}].at"), "is after explain.now");
                    }
                    None => {
                        return err(
                            &format!("explain.earlier[{i}].at"),
                            "must be an RFC 3339 time",
                        );
                    }
                }
            }
        }
        if let Some(change) = &self.change {
            if self.gateway == GatewayKind::Ledger {
                return err("change", "the ledger has no change feed");
            }
            match change.response.status {
                Some(s) if (100..=599).contains(&s) && change.response.transport.is_none() => {}
                _ => {
                    return err(
                        "change.response.status",
                        "give the HTTP status the gateway answers after the change",
                    );
                }
            }
            if serde_json::from_str::<serde_json::Value>(&change.event).is_err() {
                return err("change.event", "must be the event as JSON");
            }
        }
        let e = &self.expect;
        if e.outcome == Outcome::Found {
            if e.status.is_none() {
                return err(
                    "expect.status",
                    "a found payment must say its expected status",
                );
            }
        } else {
            let found_only = [
                ("expect.status", e.status.is_some()),
                ("expect.gateway_status", e.gateway_status.is_some()),
                ("expect.amount_minor", e.amount_minor.is_some()),
                (
                    "expect.amount_requested_minor",
                    e.amount_requested_minor.is_some(),
                ),
                ("expect.currency", e.currency.is_some()),
            ];
            if let Some((field, _)) = found_only.iter().find(|(_, present)| *present) {
                return err(
                    field,
                    "only a found payment has this; remove it or expect outcome = \"found\"",
                );
            }
        }
        Ok(())
    }

    /// Whether a mock HTTP server can play this scenario (transport faults need other means).
    pub fn is_http(&self) -> bool {
        self.response.transport.is_none()
    }

    /// The scenario's name: its file path without `.toml` (`ledger/completed`).
    pub fn name(&self) -> String {
        self.file.with_extension("").display().to_string()
    }
}

/// The body `r` sends (`at` names it in errors: `response`, `change.response`).
fn resolve_body(
    r: &Response,
    at: &str,
    file: &Path,
    read: &impl Fn(&Path) -> Option<Vec<u8>>,
) -> Result<Vec<u8>, ScenarioError> {
    let mut body = match (&r.body, &r.body_file) {
        (Some(inline), _) => inline.trim().as_bytes().to_vec(),
        (None, Some(name)) => {
            let path = file.parent().unwrap_or(Path::new("")).join(name);
            read(&path).ok_or_else(|| {
                ScenarioError::new(
                    file,
                    &format!("{at}.body_file"),
                    format!("{} does not exist", path.display()),
                )
            })?
        }
        (None, None) => Vec::new(),
    };
    if let Some(size) = r.pad_body_to_bytes {
        if size < body.len() {
            return Err(ScenarioError::new(
                file,
                &format!("{at}.pad_body_to_bytes"),
                format!("is smaller than the body ({} bytes)", body.len()),
            ));
        }
        body.resize(size, b' ');
    }
    Ok(body)
}

/// The folder of a fixtures folder that holds the diagnosis rules (not scenarios).
pub const RULES_DIR: &str = "rules";

/// The folder of a fixtures folder that holds the reconciliation scenarios (a month of a
/// gateway's list against an export; the contract suite plays them, the mock does not serve
/// them).
pub const RECONCILE_DIR: &str = "reconcile";

/// All scenarios of a fixtures folder.
#[derive(Debug, Clone)]
pub struct ScenarioSet {
    scenarios: Vec<Scenario>,
    /// The diagnosis rule files under `rules/`, by file name.
    rule_files: BTreeMap<String, Vec<u8>>,
}

impl ScenarioSet {
    /// Loads every `*.toml` scenario from `files` (path relative to the fixtures folder → bytes).
    pub fn from_files(files: &BTreeMap<PathBuf, Vec<u8>>) -> Result<ScenarioSet, ScenarioError> {
        let mut scenarios = Vec::new();
        let mut rule_files = BTreeMap::new();
        for (path, bytes) in files {
            if path.extension().is_none_or(|e| e != "toml") {
                continue;
            }
            if path.starts_with(RULES_DIR) {
                let name = path.file_name().unwrap_or_default().to_string_lossy();
                rule_files.insert(name.into_owned(), bytes.clone());
                continue;
            }
            if path.starts_with(RECONCILE_DIR) {
                continue;
            }
            let text = std::str::from_utf8(bytes)
                .map_err(|_| ScenarioError::new(path, "file", "is not UTF-8 text"))?;
            scenarios.push(Scenario::parse(path, text, |p| files.get(p).cloned())?);
        }
        let mut seen: HashMap<(GatewayKind, &str), &Path> = HashMap::new();
        for s in &scenarios {
            if let Some(other) = seen.insert((s.gateway, &s.payment_id), &s.file) {
                return Err(ScenarioError::new(
                    &s.file,
                    "payment_id",
                    format!(
                        "{} is already used by {}; each scenario needs its own id so the mock can serve them all",
                        s.payment_id,
                        other.display()
                    ),
                ));
            }
        }
        Ok(ScenarioSet {
            scenarios,
            rule_files,
        })
    }

    /// The diagnosis rules of this fixtures folder (its `rules/`), or the built-in rules when it
    /// has none.
    pub fn rules(&self) -> Result<crate::explain::Rules, crate::explain::RulesError> {
        if self.rule_files.is_empty() {
            return Ok(crate::explain::Rules::builtin());
        }
        crate::explain::Rules::from_files(self.rule_files.clone(), RULES_DIR)
    }

    /// Loads every scenario under `dir`.
    pub fn from_dir(dir: &Path) -> Result<ScenarioSet, ScenarioError> {
        let mut files = BTreeMap::new();
        read_tree(dir, dir, &mut files).map_err(|e| {
            ScenarioError::new(dir, "file", format!("cannot read the fixtures folder: {e}"))
        })?;
        if files.is_empty() {
            return Err(ScenarioError::new(dir, "file", "holds no fixture files"));
        }
        ScenarioSet::from_files(&files)
    }

    /// The scenarios compiled into paystat (the repository's `fixtures/` at build time).
    pub fn embedded() -> ScenarioSet {
        let files = super::embedded::FILES
            .iter()
            .map(|(path, bytes)| (PathBuf::from(path), bytes.to_vec()))
            .collect();
        ScenarioSet::from_files(&files)
            .expect("build.rs embeds only fixtures that the test suite has loaded")
    }

    /// All scenarios, ordered by file.
    pub fn scenarios(&self) -> &[Scenario] {
        &self.scenarios
    }

    /// The scenario in `file` (relative to the fixtures folder), if any.
    pub fn get(&self, file: &Path) -> Option<&Scenario> {
        self.scenarios.iter().find(|s| s.file == file)
    }
}

fn read_tree(
    root: &Path,
    dir: &Path,
    files: &mut BTreeMap<PathBuf, Vec<u8>>,
) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            read_tree(root, &path, files)?;
        } else {
            let relative = path.strip_prefix(root).unwrap_or(&path).to_owned();
            files.insert(relative, std::fs::read(&path)?);
        }
    }
    Ok(())
}
