//! Arbitrary replies for every gateway — any status from 100 to 599, odd headers, random bytes
//! or JSON of random shape: never a panic, always one audit line, and an outcome that fits the
//! status class.

use std::time::Duration;

use paystat::retry::RetryPolicy;
use paystat::{GatewayKind, Outcome};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use rstest::rstest;

use crate::fault_server::{Canned, FaultServer, Step};
use crate::helpers::{audit_lines, sample_id, spawn};

fn header() -> impl Strategy<Value = (String, String)> {
    let name = proptest::sample::select(vec![
        "Content-Type",
        "Retry-After",
        "Stripe-Should-Retry",
        "Request-Id",
        "X-Request-Id",
        "Location",
        "Cache-Control",
    ]);
    let value = prop_oneof![
        "[ -~]{0,40}",
        Just("application/json".to_owned()),
        Just("true".to_owned()),
        Just("false".to_owned()),
        "[0-9]{1,6}",
        Just("Fri, 31 Dec 1999 23:59:59 GMT".to_owned()),
    ];
    (name, value).prop_map(|(n, v)| (n.to_owned(), v.trim().to_owned()))
}

/// JSON of random shape, from keys that gateways use (but never a valid whole object).
fn random_json() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        "[ -~]{0,12}".prop_map(serde_json::Value::from),
    ];
    let keys = proptest::sample::select(vec![
        "id", "status", "amount", "currency", "transfer", "error", "message", "created",
    ]);
    leaf.prop_recursive(3, 24, 6, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
            proptest::collection::btree_map(keys.clone(), inner, 0..5).prop_map(|m| {
                serde_json::Value::Object(m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
            }),
        ]
    })
    .prop_map(|v| v.to_string())
}

fn reply() -> impl Strategy<Value = Canned> {
    let body = prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..300),
        random_json().prop_map(String::into_bytes),
    ];
    (100u16..600, proptest::collection::vec(header(), 0..4), body).prop_map(
        |(status, headers, body)| Canned {
            status,
            headers,
            body,
        },
    )
}

/// The outcomes a status class may lead to.
fn allowed(status: u16) -> &'static [Outcome] {
    match status {
        // An interim 1xx never ends the exchange: the connection closes or the wait times out.
        100..=199 => &[
            Outcome::ConnectionError,
            Outcome::Timeout,
            Outcome::BadResponse,
        ],
        200..=299 => &[
            Outcome::Found,
            Outcome::BadResponse,
            Outcome::ConnectionError,
        ],
        300..=399 => &[Outcome::BadResponse, Outcome::ConnectionError],
        // A 404 is `not_found` only with the gateway's own not-found error; any other 404 is
        // a route miss, `bad_response`.
        404 => &[
            Outcome::NotFound,
            Outcome::BadResponse,
            Outcome::ConnectionError,
        ],
        400..=499 => &[
            Outcome::NotFound,
            Outcome::Unauthorized,
            Outcome::BadRequest,
            Outcome::RateLimited,
            Outcome::GatewayError,
            Outcome::ConnectionError,
        ],
        _ => &[Outcome::GatewayError, Outcome::ConnectionError],
    }
}

#[rstest]
fn any_reply_ends_in_one_audited_outcome_of_its_class(
    #[values(GatewayKind::Ledger, GatewayKind::Stripe, GatewayKind::Plaid)] kind: GatewayKind,
) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut runner = TestRunner::new(Config {
        cases: 48,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&reply(), |canned| {
            let status = canned.status;
            runtime.block_on(async {
                let server = FaultServer::start(vec![Step::Respond(canned)]).await;
                let dir = tempfile::tempdir().unwrap();
                let policy = RetryPolicy {
                    attempt_timeout: Duration::from_millis(200),
                    ..RetryPolicy::default()
                };
                let checker = spawn(
                    dir.path(),
                    kind,
                    &paystat::contract::base_url(&server.url(), kind),
                )
                .policy(policy)
                .build();
                let result = checker
                    .check(sample_id(kind))
                    .await
                    .expect("audit file is writable");
                let lines = audit_lines(dir.path());
                prop_assert_eq!(lines.len(), 1);
                prop_assert_eq!(lines[0].check.outcome, result.outcome);
                prop_assert!(
                    allowed(status).contains(&result.outcome),
                    "{} answered {} and paystat said {} ({:?})",
                    kind,
                    status,
                    result.outcome,
                    result.detail
                );
                prop_assert!(result.attempts >= 1 && result.attempts <= 3);
                Ok(())
            })
        })
        .unwrap();
}
