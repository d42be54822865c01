//! Generated payment ids, valid and hostile, for every gateway.
//!
//! Whatever the id, it either is rejected locally (`invalid_id`, nothing sent) or reaches the
//! gateway intact — for the ledger and Stripe as exactly one path segment that decodes back to
//! the same id (never another path), for Plaid as the `transfer_id` of the JSON body — and every
//! check leaves exactly one audit line that parses back to the same id.

use std::sync::{Arc, Mutex};

use httpmock::MockServer;
use paystat::{GatewayKind, Outcome};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use rstest::rstest;

use crate::helpers::{PLAID_CLIENT_ID, PLAID_SECRET, audit_lines, checker_for};

/// Characters that break naive URL building, log lines or terminals.
const NASTY: &[&str] = &[
    "/", "..", ".", "%", "%2F", "%2e%2e", "?", "#", " ", "\n", "\r", "\t", "\0", "\"", "\\", "'",
    "&", "=", "é", "😀", "\u{202e}", "\u{2028}", "\u{7f}", "\u{85}", "txn_", "payments",
    "<script>",
];

/// Ids known to be dangerous, each checked every run (not left to chance).
const EDGE_CASES: &[&str] = &[
    "",
    ".",
    "..",
    "...",
    "/",
    "//",
    "../admin",
    "..%2F",
    "%2e%2e",
    "%2E%2E",
    "?",
    "#",
    "%",
    "%00",
    " ",
    "txn_001/../txn_002",
    "txn_001?expand=all",
    "txn_001#frag",
    "a\nb",
    "a\rb",
    "a\u{0}b",
    "\u{85}",
    "txn_001\n{\"forged\":true}",
    "\u{202e}100.00",
    "ünïcødé",
    "😀",
];

fn valid_ledger_id() -> BoxedStrategy<String> {
    "txn_[A-Za-z0-9_-]{1,60}".boxed()
}

fn valid_stripe_id() -> BoxedStrategy<String> {
    "pi_[A-Za-z0-9]{24}".boxed()
}

fn valid_plaid_id() -> BoxedStrategy<String> {
    "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}".boxed()
}

fn valid_id(kind: GatewayKind) -> BoxedStrategy<String> {
    match kind {
        GatewayKind::Ledger => valid_ledger_id(),
        GatewayKind::Stripe => valid_stripe_id(),
        GatewayKind::Plaid => valid_plaid_id(),
    }
}

fn hostile_id() -> impl Strategy<Value = String> {
    prop_oneof![
        // The known edge cases, mixed in with the generated ones.
        proptest::sample::select(EDGE_CASES).prop_map(String::from),
        // Arbitrary Unicode, 0 to 1,000 characters.
        proptest::collection::vec(any::<char>(), 0..1000).prop_map(|cs| cs.into_iter().collect()),
        // Sequences of the nasty pieces above.
        proptest::collection::vec(proptest::sample::select(NASTY), 0..40)
            .prop_map(|ps| ps.concat()),
        // A plausible id with one nasty piece inside.
        (
            valid_ledger_id(),
            proptest::sample::select(NASTY),
            valid_ledger_id()
        )
            .prop_map(|(a, nasty, b)| format!("{a}{nasty}{b}")),
    ]
}

/// What the mock saw of one request.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    body: Vec<u8>,
}

/// One mock that records every request, and a checker for one gateway pointed at it.
struct Probe {
    kind: GatewayKind,
    runtime: tokio::runtime::Runtime,
    _server: MockServer,
    seen: Arc<Mutex<Vec<Seen>>>,
    dir: tempfile::TempDir,
    checker: paystat::Checker,
}

fn probe(kind: GatewayKind) -> Probe {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let server = runtime.block_on(MockServer::start_async());
    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let recorder = Arc::clone(&seen);
    server.mock(|when, then| {
        when.is_true(move |req| {
            let uri = req.uri();
            let path = uri
                .path_and_query()
                .map_or(uri.path(), |pq| pq.as_str())
                .to_owned();
            let method = req.method().to_string();
            recorder.lock().unwrap().push(Seen {
                method,
                path,
                body: req.body().to_vec(),
            });
            true
        });
        // The real gateway's answer to an id it does not have.
        let (status, body) = paystat::contract::unknown_id_reply(kind);
        then.status(status)
            .header("content-type", "application/json")
            .body(body.to_string());
    });
    let dir = tempfile::tempdir().unwrap();
    let base_url = paystat::contract::base_url(&server.base_url(), kind);
    let checker = checker_for(dir.path(), kind, &base_url);
    Probe {
        kind,
        runtime,
        _server: server,
        seen,
        dir,
        checker,
    }
}

impl Probe {
    /// Checks one id and asserts the rules in this module's header.
    fn check(&self, id: &str, must_be_accepted: bool) -> Result<(), TestCaseError> {
        self.seen.lock().unwrap().clear();
        let before = audit_lines(self.dir.path()).len();
        let result = self
            .runtime
            .block_on(self.checker.check(id))
            .expect("audit file is writable");

        let lines = audit_lines(self.dir.path());
        prop_assert_eq!(lines.len(), before + 1, "exactly one new audit line");
        let line = lines.last().unwrap();
        prop_assert_eq!(&*line.check, &result, "the line is the result");
        if id.len() > paystat::payment_id::MAX_ID_BYTES {
            // Kept as its first bytes, its full length and its SHA-256, never whole.
            prop_assert!(id.starts_with(result.payment_id.trim_end_matches('…')));
            prop_assert!(result.payment_id.len() <= 64 + '…'.len_utf8());
            prop_assert_eq!(result.payment_id_bytes, Some(id.len()));
            let sha256 = paystat::audit_trail::chain::sha256_hex(id.as_bytes());
            prop_assert_eq!(result.payment_id_sha256.as_deref(), Some(sha256.as_str()));
        } else {
            prop_assert_eq!(&result.payment_id, id);
            prop_assert_eq!(result.payment_id_bytes, None);
        }

        let seen = self.seen.lock().unwrap().clone();
        if result.outcome == Outcome::InvalidId {
            prop_assert!(
                !must_be_accepted,
                "a valid id was rejected: {:?}",
                result.detail
            );
            prop_assert!(seen.is_empty(), "a rejected id was sent: {:?}", seen);
            prop_assert_eq!(result.attempts, 0);
            prop_assert!(line.request.is_none());
            return Ok(());
        }
        prop_assert_eq!(result.outcome, Outcome::NotFound, "{:?}", result.detail);
        prop_assert_eq!(seen.len(), 1, "one request per check");
        let request = &seen[0];
        // The only query is the one the adapter adds itself (Stripe expands the latest charge):
        // an id that escaped its segment would show up here.
        let (path, query) = match request.path.split_once('?') {
            Some((path, query)) => (path.to_owned(), Some(query.to_owned())),
            None => (request.path.clone(), None),
        };
        let expected_query =
            (self.kind == GatewayKind::Stripe).then(|| "expand%5B%5D=latest_charge".to_owned());
        prop_assert_eq!(&query, &expected_query, "the query: {}", request.path);
        prop_assert_eq!(&line.request.as_ref().unwrap().path, &path);
        match self.kind {
            GatewayKind::Ledger | GatewayKind::Stripe => {
                let prefix = match self.kind {
                    GatewayKind::Ledger => "/v1/payments/",
                    _ => "/v1/payment_intents/",
                };
                prop_assert_eq!(request.method.as_str(), "GET");
                let segment = path.strip_prefix(prefix);
                prop_assert!(segment.is_some(), "request left its path: {}", request.path);
                let segment = segment.unwrap();
                prop_assert!(
                    !segment.contains(['/', '?', '#']),
                    "id escaped its segment: {}",
                    request.path
                );
                let decoded = percent_encoding::percent_decode_str(segment)
                    .decode_utf8()
                    .unwrap();
                prop_assert_eq!(decoded.as_ref(), id, "the id came back changed");
            }
            GatewayKind::Plaid => {
                prop_assert_eq!(request.method.as_str(), "POST");
                prop_assert_eq!(request.path.as_str(), "/transfer/get");
                let body: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
                prop_assert_eq!(
                    body["transfer_id"].as_str(),
                    Some(id),
                    "the id came back changed"
                );
                prop_assert_eq!(body["client_id"].as_str(), Some(PLAID_CLIENT_ID));
                prop_assert_eq!(body["secret"].as_str(), Some(PLAID_SECRET));
            }
        }
        Ok(())
    }
}

/// Checks every generated id.
fn check_ids(
    kind: GatewayKind,
    strategy: BoxedStrategy<String>,
    cases: u32,
    must_be_accepted: bool,
) {
    let probe = probe(kind);
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&strategy, |id| probe.check(&id, must_be_accepted))
        .unwrap();
}

#[rstest]
fn valid_ids_reach_the_gateway_intact(
    #[values(GatewayKind::Ledger, GatewayKind::Stripe, GatewayKind::Plaid)] kind: GatewayKind,
) {
    check_ids(kind, valid_id(kind), 48, true);
}

#[rstest]
fn hostile_ids_are_rejected_or_kept_intact(
    #[values(GatewayKind::Ledger, GatewayKind::Stripe, GatewayKind::Plaid)] kind: GatewayKind,
) {
    check_ids(kind, hostile_id().boxed(), 128, false);
}

#[rstest]
fn known_dangerous_ids_are_rejected_or_kept_intact(
    #[values(GatewayKind::Ledger, GatewayKind::Stripe, GatewayKind::Plaid)] kind: GatewayKind,
) {
    let probe = probe(kind);
    for id in EDGE_CASES {
        probe
            .check(id, false)
            .unwrap_or_else(|e| panic!("{kind} {id:?}: {e}"));
    }
}

#[test]
fn the_id_rules_are_not_vacuous() {
    let rejected = ["", ".", "..", "a\nb", "\u{85}"];
    let sent = ["...", "/", "../admin", "%2e%2e", "txn_001?expand=all", "😀"];
    for id in rejected {
        assert!(
            paystat::payment_id::validate(id).is_err(),
            "{id:?} should be rejected"
        );
    }
    for id in sent {
        assert!(
            paystat::payment_id::validate(id).is_ok(),
            "{id:?} should be sent"
        );
    }
}
