//! Shared test plumbing: load a scenario, play it on an embedded mock, read the audit trail.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use paystat::mock::EmbeddedMock;
use paystat::{
    AuditRecord, AuditTrail, CheckResult, Checker, Credential, GatewayKind, Ledger, Scenario,
};

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

/// A base URL where nothing listens: a port that was free a moment ago.
pub fn refused_base_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("http://127.0.0.1:{port}/v1")
}

/// A checker for `gateway` at `base_url`, auditing into a fresh file under `dir`.
pub fn checker(dir: &Path, base_url: &str, credential: Credential) -> Checker {
    let ledger = Ledger::new(base_url.parse().unwrap(), credential);
    let audit = AuditTrail::open(&dir.join("audit.jsonl"), "contract-test".into()).unwrap();
    Checker::new(Arc::new(ledger), Arc::new(audit))
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

/// What one scenario run produced.
pub struct Played {
    pub result: CheckResult,
    pub audit: Vec<AuditRecord>,
}

/// Plays `scenario` on its own embedded mock and checks its payment id once.
pub async fn play(scenario: &Scenario) -> Played {
    let dir = tempfile::tempdir().unwrap();
    let mock = EmbeddedMock::start([scenario]).await;
    let base_url = if scenario.is_http() {
        mock.base_url(scenario.gateway)
    } else {
        refused_base_url()
    };
    assert_eq!(scenario.gateway, GatewayKind::Ledger);
    let mut checker = checker(dir.path(), &base_url, Credential::None);
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
