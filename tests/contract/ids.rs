//! Generated payment ids: valid ledger ids and hostile strings.
//!
//! Whatever the id, it either is rejected locally (`invalid_id`, nothing sent) or reaches the
//! gateway as exactly one path segment that decodes back to the same id — never another path —
//! and every check leaves exactly one audit line that parses back to the same id.

use std::sync::{Arc, Mutex};

use httpmock::{Method, MockServer};
use paystat::{Credential, Outcome};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

use crate::helpers::{audit_lines, checker};

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

fn valid_ledger_id() -> impl Strategy<Value = String> {
    "txn_[A-Za-z0-9_-]{1,60}"
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

/// One mock that records the raw request paths, and a checker pointed at it.
struct Probe {
    runtime: tokio::runtime::Runtime,
    _server: MockServer,
    seen: Arc<Mutex<Vec<String>>>,
    dir: tempfile::TempDir,
    checker: paystat::Checker,
}

fn probe() -> Probe {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let server = runtime.block_on(MockServer::start_async());
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let recorder = Arc::clone(&seen);
    server.mock(|when, then| {
        when.method(Method::GET).is_true(move |req| {
            let uri = req.uri();
            let raw = uri.path_and_query().map_or(uri.path(), |pq| pq.as_str());
            recorder.lock().unwrap().push(raw.to_owned());
            true
        });
        then.status(404)
            .header("content-type", "application/json")
            .body(r#"{"error": "payment_not_found", "message": "No payment with that id"}"#);
    });
    let dir = tempfile::tempdir().unwrap();
    let checker = checker(
        dir.path(),
        &format!("{}/v1", server.base_url()),
        Credential::None,
    );
    Probe {
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
        let Probe {
            runtime,
            seen,
            dir,
            checker,
            ..
        } = self;
        seen.lock().unwrap().clear();
        let before = audit_lines(dir.path()).len();
        let result = runtime
            .block_on(checker.check(id))
            .expect("audit file is writable");

        let lines = audit_lines(dir.path());
        prop_assert_eq!(lines.len(), before + 1, "exactly one new audit line");
        let line = lines.last().unwrap();
        prop_assert_eq!(&line.payment_id, id);
        prop_assert_eq!(&result.payment_id, id);
        prop_assert_eq!(line.outcome, result.outcome);

        let seen = seen.lock().unwrap().clone();
        if result.outcome == Outcome::InvalidId {
            prop_assert!(
                !must_be_accepted,
                "a valid id was rejected: {:?}",
                result.detail
            );
            prop_assert!(seen.is_empty(), "a rejected id was sent: {:?}", seen);
            prop_assert_eq!(result.attempts, 0);
            prop_assert!(line.request.is_none());
        } else {
            prop_assert_eq!(result.outcome, Outcome::NotFound, "{:?}", result.detail);
            prop_assert_eq!(seen.len(), 1, "one request per check");
            let path = &seen[0];
            let segment = path.strip_prefix("/v1/payments/");
            prop_assert!(
                segment.is_some(),
                "request left the payments path: {}",
                path
            );
            let segment = segment.unwrap();
            prop_assert!(
                !segment.contains(['/', '?', '#']),
                "id escaped its segment: {}",
                path
            );
            let decoded = percent_encoding::percent_decode_str(segment)
                .decode_utf8()
                .unwrap();
            prop_assert_eq!(decoded.as_ref(), id, "the id came back changed");
            prop_assert_eq!(&line.request.as_ref().unwrap().path, path);
        }
        Ok(())
    }
}

/// Checks every generated id.
fn check_ids(strategy: impl Strategy<Value = String>, cases: u32, must_be_accepted: bool) {
    let probe = probe();
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&strategy, |id| probe.check(&id, must_be_accepted))
        .unwrap();
}

#[test]
fn valid_ledger_ids_reach_the_gateway_as_one_segment() {
    check_ids(valid_ledger_id(), 64, true);
}

#[test]
fn hostile_ids_are_rejected_or_kept_in_their_segment() {
    check_ids(hostile_id(), 192, false);
}

#[test]
fn known_dangerous_ids_are_rejected_or_kept_in_their_segment() {
    let probe = probe();
    for id in EDGE_CASES {
        probe
            .check(id, false)
            .unwrap_or_else(|e| panic!("{id:?}: {e}"));
    }
    // The rules are not vacuous: these must be refused locally, these must be sent.
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
