//! Shared test plumbing: load a scenario, play it on an embedded mock, read the audit trail.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use std::time::{Duration, UNIX_EPOCH};

use paystat::clock::ManualClock;
use paystat::gateway::{Gateway, Plaid, Stripe};
use paystat::mock::EmbeddedMock;
use paystat::scenario::TransportFault;

use crate::fault_server::{Fault, FaultServer};
use paystat::retry::Jitter;
use paystat::{
    AuditRecord, AuditTrail, CheckResult, Checker, Credential, GatewayKind, Ledger, Scenario,
};
use secrecy::SecretString;

/// The test credentials. They are canaries: `secrets.rs` scans every output, log, audit line
/// and snapshot for them.
pub const LEDGER_TOKEN: &str = "tok_ledger_canary_5f1d2c9e";
pub const STRIPE_KEY: &str = "sk_test_canary_51MtwBwLkdIwHu7ix";
pub const PLAID_CLIENT_ID: &str = "plaid_client_canary_63e1";
pub const PLAID_SECRET: &str = "plaid_secret_canary_9d0b";
pub const CANARIES: [&str; 4] = [LEDGER_TOKEN, STRIPE_KEY, PLAID_CLIENT_ID, PLAID_SECRET];

/// An adapter for `kind` at `base_url`, holding the canary credentials.
pub fn gateway(kind: GatewayKind, base_url: &str) -> Arc<dyn Gateway> {
    let url = base_url.parse().unwrap();
    match kind {
        GatewayKind::Ledger => Arc::new(Ledger::new(
            url,
            Credential::Bearer(SecretString::from(LEDGER_TOKEN)),
        )),
        GatewayKind::Stripe => Arc::new(Stripe::new(
            url,
            SecretString::from(STRIPE_KEY),
            Some("2024-06-20".into()),
        )),
        GatewayKind::Plaid => Arc::new(Plaid::new(
            url,
            SecretString::from(PLAID_CLIENT_ID),
            SecretString::from(PLAID_SECRET),
        )),
    }
}

/// The seed of every test's backoff jitter, so retry schedules are exact.
pub const JITTER_SEED: u64 = 20_261_127;

/// A manual clock: requests take real time, waits take none and are recorded.
pub fn manual_clock() -> Arc<ManualClock> {
    // 2026-01-01T00:00:00Z, the wall time HTTP-date `Retry-After` values are read against.
    Arc::new(ManualClock::new(
        UNIX_EPOCH + Duration::from_secs(1_767_225_600),
    ))
}

/// A checker for one gateway at `base_url` with the canary credentials, auditing under `dir`,
/// on a manual clock with seeded jitter (no test waits for a backoff).
pub fn checker_for(dir: &Path, kind: GatewayKind, base_url: &str) -> Checker {
    checker_with_clock(dir, kind, base_url, manual_clock())
}

/// [`checker_for`] with a clock the test keeps, to read the waits.
pub fn checker_with_clock(
    dir: &Path,
    kind: GatewayKind,
    base_url: &str,
    clock: Arc<ManualClock>,
) -> Checker {
    let audit = AuditTrail::open(&dir.join("audit.jsonl"), "contract-test".into()).unwrap();
    Checker::new(gateway(kind, base_url), Arc::new(audit))
        .with_clock(clock)
        .with_jitter(Jitter::seeded(JITTER_SEED))
}

/// The repository's fixtures folder.
pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// Loads one scenario file given its absolute path.
pub fn load_scenario(path: &Path) -> Scenario {
    let root = fixtures_dir();
    let relative = path
        .strip_prefix(&root)
        .expect("scenario lives under fixtures/");
    let text = std::fs::read_to_string(path).expect("scenario file is readable");
    Scenario::parse(relative, &text, |p| std::fs::read(root.join(p)).ok())
        .unwrap_or_else(|e| panic!("{e}"))
}

/// A server address where nothing listens: a port that was free a moment ago.
pub fn refused_server() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}

/// A ledger base URL where nothing listens.
pub fn refused_base_url() -> String {
    format!("{}/v1", refused_server())
}

/// A checker for `gateway` at `base_url`, auditing into a fresh file under `dir`.
pub fn checker(dir: &Path, base_url: &str, credential: Credential) -> Checker {
    let ledger = Ledger::new(base_url.parse().unwrap(), credential);
    let audit = AuditTrail::open(&dir.join("audit.jsonl"), "contract-test".into()).unwrap();
    Checker::new(Arc::new(ledger), Arc::new(audit))
        .with_clock(manual_clock())
        .with_jitter(Jitter::seeded(JITTER_SEED))
}

/// Every line of the audit file, parsed.
pub fn audit_lines(dir: &Path) -> Vec<AuditRecord> {
    let text = std::fs::read_to_string(dir.join("audit.jsonl")).unwrap_or_default();
    text.lines()
        .map(|line| {
            serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("audit line {line:?} does not parse: {e}"))
        })
        .collect()
}

/// The fault server's fault for a scenario's transport fault (none for a refused connection,
/// which needs no server at all).
pub fn fault_for(transport: TransportFault) -> Option<Fault> {
    match transport {
        TransportFault::ConnectionRefused => None,
        TransportFault::ConnectionReset => Some(Fault::ResetBeforeResponse),
        TransportFault::ClosedMidBody => Some(Fault::ClosedMidBody),
        TransportFault::MalformedChunked => Some(Fault::MalformedChunked),
        TransportFault::HeadersThenStall => Some(Fault::HeadersThenStall),
        TransportFault::GarbageThenClose => Some(Fault::GarbageThenClose),
        TransportFault::DripPastTimeout => Some(Fault::DripPastTimeout),
        TransportFault::NeverAnswers => Some(Fault::AcceptNeverAnswer),
    }
}

/// What one scenario run produced.
pub struct Played {
    pub result: CheckResult,
    pub audit: Vec<AuditRecord>,
}

/// Plays `scenario` on its own embedded mock and checks its payment id once.
pub async fn play(scenario: &Scenario) -> Played {
    let dir = tempfile::tempdir().unwrap();
    let mock = EmbeddedMock::start([scenario]).await;
    // Transport faults are played by the raw-TCP fault server; httpmock cannot break HTTP.
    let fault_server = match scenario.response.transport.and_then(fault_for) {
        Some(fault) => Some(FaultServer::failing(fault).await),
        None => None,
    };
    let server_url = match (&fault_server, scenario.response.transport) {
        (Some(server), _) => server.url(),
        (None, Some(TransportFault::ConnectionRefused)) => refused_server(),
        (None, _) => mock.server().base_url(),
    };
    let base_url = paystat::mock::base_url(&server_url, scenario.gateway);
    let mut checker = checker_for(dir.path(), scenario.gateway, &base_url);
    if let Some(timeout) = scenario.client.timeout {
        checker = checker.with_timeout(timeout);
    }
    let result = checker
        .check(&scenario.payment_id)
        .await
        .expect("the audit file is writable");
    Played {
        result,
        audit: audit_lines(dir.path()),
    }
}

/// `paystat` with a clean environment: no credentials or log settings leak in from the shell.
pub fn paystat(cwd: &Path) -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_paystat"));
    cmd.current_dir(cwd);
    for (name, _) in std::env::vars() {
        if name.starts_with("PAYSTAT_") || name == "RUST_LOG" {
            cmd.env_remove(name);
        }
    }
    cmd
}

/// Every file under `dir`.
pub fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(path) = stack.pop() {
        if path.is_dir() {
            stack.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
        } else {
            files.push(path);
        }
    }
    files
}

/// A well-formed id of each gateway.
pub fn sample_id(kind: GatewayKind) -> &'static str {
    match kind {
        GatewayKind::Ledger => "txn_001",
        GatewayKind::Stripe => "pi_3MtwBwLkdIwHu7ix28a3tqPa",
        GatewayKind::Plaid => "460cbe92-2dcc-8eae-5ad6-b37d0ec90fd9",
    }
}
