//! Retries, waits, deadlines, the retry budget and pacing — proven on an injected clock, so
//! no test waits for a backoff or a `Retry-After`.

use std::sync::Arc;
use std::time::Duration;

use paystat::AttemptRecord;
use paystat::clock::ManualClock;
use paystat::contract::TransportFault;
use paystat::retry::{Jitter, RetryPolicy};
use paystat::{GatewayKind, Outcome};
use paystat::{RetryStop, WaitReason};
use rstest::rstest;
use tracing_test::traced_test;

use crate::fault_server::{Canned, FaultServer, Step};
use crate::helpers::{
    CANARIES, JITTER_SEED, Spawn, audit_lines, manual_clock, simulated_clock, spawn,
};

const TXN_001: &str =
    r#"{"id": "txn_001", "status": "completed", "amount": 150.00, "currency": "USD"}"#;

fn unavailable() -> Step {
    Step::Respond(Canned::json(503, r#"{"error": "unavailable"}"#))
}

fn found() -> Step {
    Step::Respond(Canned::json(200, TXN_001))
}

/// The waits the default policy computes for retries 1..=n with the tests' seeded jitter.
fn expected_backoffs(n: u32) -> Vec<Duration> {
    let jitter = Jitter::seeded(JITTER_SEED);
    let policy = RetryPolicy::default();
    (1..=n)
        .map(|retry| policy.backoff(retry, jitter.unit()))
        .collect()
}

/// A ledger checker against a scripted server, on `clock`, auditing under `dir`.
fn ledger_checker(
    dir: &tempfile::TempDir,
    server: &FaultServer,
    clock: &Arc<ManualClock>,
) -> Spawn {
    spawn(
        dir.path(),
        GatewayKind::Ledger,
        &format!("{}/v1", server.url()),
    )
    .clock(clock.clone())
}

fn waits(log: &[AttemptRecord]) -> Vec<(Option<u64>, Option<WaitReason>)> {
    log.iter().map(|a| (a.wait_ms, a.wait_reason)).collect()
}

#[tokio::test]
async fn two_503s_then_found_follows_the_computed_schedule() {
    let server = FaultServer::start(vec![unavailable(), unavailable(), found()]).await;
    let clock = manual_clock();
    let dir = tempfile::tempdir().unwrap();
    let checker = ledger_checker(&dir, &server, &clock).build();
    let result = checker.check("txn_001").await.unwrap();
    assert_eq!(result.outcome, Outcome::Found);
    assert_eq!(result.attempts, 3);
    assert_eq!(server.connections(), 3);
    let expected = expected_backoffs(2);
    assert_eq!(
        clock.slept(),
        expected,
        "the injected clock slept exactly the policy's waits"
    );
    assert!(expected[0] <= Duration::from_millis(500) && expected[1] <= Duration::from_secs(1));
    let ms = |d: Duration| Some(d.as_millis() as u64);
    assert_eq!(
        waits(&result.attempt_log),
        vec![
            (ms(expected[0]), Some(WaitReason::Backoff)),
            (ms(expected[1]), Some(WaitReason::Backoff)),
            (None, None)
        ]
    );
    let statuses: Vec<_> = result.attempt_log.iter().map(|a| a.http_status).collect();
    assert_eq!(statuses, vec![Some(503), Some(503), Some(200)]);
    // The audit line carries the same attempts.
    assert_eq!(
        audit_lines(dir.path())[0].check.attempt_log,
        result.attempt_log
    );
}

#[tokio::test]
async fn retry_after_seconds_is_waited_in_injected_time() {
    let limited =
        Step::Respond(Canned::json(429, r#"{"error": "rate_limited"}"#).header("Retry-After", "2"));
    let server = FaultServer::start(vec![limited, found()]).await;
    let clock = manual_clock();
    let dir = tempfile::tempdir().unwrap();
    let checker = ledger_checker(&dir, &server, &clock).build();
    let result = checker.check("txn_001").await.unwrap();
    assert_eq!(result.outcome, Outcome::Found);
    assert_eq!(clock.slept(), vec![Duration::from_secs(2)]);
    assert_eq!(
        result.attempt_log[0].wait_reason,
        Some(WaitReason::RetryAfter)
    );
    assert_eq!(result.attempt_log[0].wait_ms, Some(2000));
}

#[tokio::test]
async fn retry_after_as_an_http_date_is_honoured() {
    // The manual clock's wall time starts at 2026-01-01T00:00:00Z.
    let limited = Step::Respond(
        Canned::json(503, r#"{"error": "unavailable"}"#)
            .header("Retry-After", "Thu, 01 Jan 2026 00:00:07 GMT"),
    );
    let server = FaultServer::start(vec![limited, found()]).await;
    let clock = manual_clock();
    let dir = tempfile::tempdir().unwrap();
    let checker = ledger_checker(&dir, &server, &clock).build();
    let result = checker.check("txn_001").await.unwrap();
    assert_eq!(result.outcome, Outcome::Found);
    let slept = clock.slept();
    assert_eq!(slept.len(), 1);
    // Seven seconds after the clock's start, less the real milliseconds the first attempt took.
    assert!(
        slept[0] > Duration::from_secs(6) && slept[0] <= Duration::from_secs(7),
        "{slept:?}"
    );
}

#[tokio::test]
async fn retry_after_past_the_deadline_is_not_waited() {
    let limited = Step::Respond(
        Canned::json(429, r#"{"error": "rate_limited"}"#).header("Retry-After", "20"),
    );
    let server = FaultServer::start(vec![limited, found()]).await;
    let clock = manual_clock();
    let dir = tempfile::tempdir().unwrap();
    let checker = ledger_checker(&dir, &server, &clock).build();
    let result = checker.check("txn_001").await.unwrap();
    assert_eq!(
        result.outcome,
        Outcome::RateLimited,
        "the last real outcome"
    );
    assert_eq!(result.retry_stop, Some(RetryStop::Deadline));
    assert_eq!(result.attempts, 1);
    assert!(clock.slept().is_empty(), "no wait was started");
    assert_eq!(server.connections(), 1);
}

#[tokio::test]
async fn retry_after_is_capped() {
    let limited = Step::Respond(
        Canned::json(429, r#"{"error": "rate_limited"}"#).header("Retry-After", "600"),
    );
    let server = FaultServer::start(vec![limited, found()]).await;
    let clock = manual_clock();
    let dir = tempfile::tempdir().unwrap();
    let policy = RetryPolicy {
        deadline: Duration::from_secs(300),
        ..RetryPolicy::default()
    };
    let checker = ledger_checker(&dir, &server, &clock).policy(policy).build();
    let result = checker.check("txn_001").await.unwrap();
    assert_eq!(result.outcome, Outcome::Found);
    assert_eq!(
        clock.slept(),
        vec![Duration::from_secs(60)],
        "capped at the default 60 s"
    );
}

#[rstest]
#[case::bad_request(400)]
#[case::unauthorized(401)]
#[case::forbidden(403)]
#[case::not_found(404)]
#[case::unprocessable(422)]
#[tokio::test]
async fn statuses_that_cannot_succeed_again_are_never_retried(#[case] status: u16) {
    let server = FaultServer::start(vec![Step::Respond(Canned::json(status, "{}")), found()]).await;
    let clock = manual_clock();
    let dir = tempfile::tempdir().unwrap();
    let checker = ledger_checker(&dir, &server, &clock).build();
    let result = checker.check("txn_001").await.unwrap();
    assert_eq!(result.attempts, 1);
    assert_eq!(server.connections(), 1);
    assert!(clock.slept().is_empty());
    if status != 404 {
        assert_eq!(result.retry_stop, Some(RetryStop::NotRetryable));
    }
}

#[rstest]
#[case::conflict(409)]
#[case::rate_limited(429)]
#[case::internal(500)]
#[case::bad_gateway(502)]
#[case::unavailable(503)]
#[case::gateway_timeout(504)]
#[tokio::test]
async fn transient_statuses_are_retried(#[case] status: u16) {
    let server = FaultServer::start(vec![Step::Respond(Canned::json(status, "{}")), found()]).await;
    let dir = tempfile::tempdir().unwrap();
    let checker = ledger_checker(&dir, &server, &manual_clock()).build();
    let result = checker.check("txn_001").await.unwrap();
    assert_eq!(result.outcome, Outcome::Found);
    assert_eq!(result.attempts, 2);
}

#[tokio::test]
async fn a_body_that_made_no_sense_is_not_retried() {
    let server = FaultServer::start(vec![
        Step::Respond(Canned::json(200, "{\"id\": 5}")),
        found(),
    ])
    .await;
    let dir = tempfile::tempdir().unwrap();
    let checker = ledger_checker(&dir, &server, &manual_clock()).build();
    let result = checker.check("txn_001").await.unwrap();
    assert_eq!(result.outcome, Outcome::BadResponse);
    assert_eq!(result.retry_stop, Some(RetryStop::NotRetryable));
    assert_eq!(server.connections(), 1);
}

const STRIPE_ERROR: &str = r#"{"error": {"type": "api_error", "message": "x"}}"#;

#[tokio::test]
async fn stripe_should_retry_false_forbids_a_retry() {
    let forbidden =
        Step::Respond(Canned::json(503, STRIPE_ERROR).header("Stripe-Should-Retry", "false"));
    let server = FaultServer::start(vec![forbidden]).await;
    let dir = tempfile::tempdir().unwrap();
    let checker = spawn(dir.path(), GatewayKind::Stripe, &server.url())
        .clock(manual_clock())
        .build();
    let result = checker.check("pi_3MtwBwLkdIwHu7ix28a3tqPa").await.unwrap();
    assert_eq!(result.outcome, Outcome::GatewayError);
    assert_eq!(result.retry_stop, Some(RetryStop::GatewayForbade));
    assert_eq!(server.connections(), 1);
}

#[tokio::test]
async fn stripe_should_retry_true_forces_a_retry() {
    let forced = Step::Respond(
        Canned::json(
            400,
            r#"{"error": {"type": "invalid_request_error", "code": "x"}}"#,
        )
        .header("Stripe-Should-Retry", "true"),
    );
    let server = FaultServer::start(vec![forced.clone(), forced]).await;
    let dir = tempfile::tempdir().unwrap();
    let checker = spawn(dir.path(), GatewayKind::Stripe, &server.url())
        .clock(manual_clock())
        .build();
    let result = checker.check("pi_3MtwBwLkdIwHu7ix28a3tqPa").await.unwrap();
    assert_eq!(result.outcome, Outcome::BadRequest);
    assert_eq!(
        result.attempts, 3,
        "a 400 alone is never retried; the header forced it"
    );
    assert_eq!(
        result.attempt_log[0].wait_reason,
        Some(WaitReason::ServerAdvice)
    );
    assert_eq!(result.retry_stop, Some(RetryStop::MaxAttempts));
}

#[tokio::test]
async fn the_deadline_bounds_all_attempts_and_waits() {
    // Every attempt stalls until its 100 ms timeout; the deadline of 250 ms leaves room for
    // the first two attempts at most, whatever the backoff.
    let server = FaultServer::failing(TransportFault::NeverAnswers).await;
    let clock = manual_clock();
    let dir = tempfile::tempdir().unwrap();
    let policy = RetryPolicy {
        max_attempts: 10,
        attempt_timeout: Duration::from_millis(100),
        deadline: Duration::from_millis(250),
        backoff_base: Duration::from_millis(10),
        backoff_cap: Duration::from_millis(20),
        ..RetryPolicy::default()
    };
    let checker = ledger_checker(&dir, &server, &clock).policy(policy).build();
    let result = checker.check("txn_001").await.unwrap();
    assert_eq!(result.outcome, Outcome::Timeout);
    assert_eq!(result.retry_stop, Some(RetryStop::Deadline));
    assert!(
        result.attempts >= 2 && result.attempts <= 3,
        "{:?}",
        result.attempt_log
    );
    // Measured on the checker's own clock, the check ended within its deadline (plus one
    // scheduling slice for the last timer to fire).
    assert!(result.duration_ms <= 250 + 50, "{} ms", result.duration_ms);
}

#[tokio::test]
async fn the_retry_budget_stops_retries_and_refills_on_success() {
    // 100 checks, 30 % of them against a failing payment, one after another. The budget
    // holds 20 tokens: four retries. Successes (the ledger's definitive not-found) each return
    // one token.
    let failing = httpmock::MockServer::start_async().await;
    failing
        .mock_async(|when, then| {
            when.path_prefix("/v1/payments/txn_fail_");
            then.status(503).body("{}");
        })
        .await;
    failing
        .mock_async(|when, then| {
            when.path_prefix("/v1/payments/txn_ok_");
            then.status(404)
                .body(r#"{"error": "payment_not_found", "message": "No payment with this id"}"#);
        })
        .await;
    let dir = tempfile::tempdir().unwrap();
    let checker = spawn(
        dir.path(),
        GatewayKind::Ledger,
        &format!("{}/v1", failing.base_url()),
    )
    .clock(manual_clock())
    .config("[ledger.retry]\nbudget = 20\n")
    .concurrency(1)
    .build();
    let ids: Vec<String> = (0..100)
        .map(|i| {
            if i % 10 < 3 {
                format!("txn_fail_{i}")
            } else {
                format!("txn_ok_{i}")
            }
        })
        .collect();
    let results: Vec<_> = checker
        .check_all(&ids)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();

    // The first two failures spend the budget (2 retries each); the third is suppressed.
    assert_eq!((results[0].attempts, results[1].attempts), (3, 3));
    assert_eq!(results[2].attempts, 1);
    assert_eq!(results[2].retry_stop, Some(RetryStop::RetryBudget));
    // Seven successes refill seven tokens: the next failure gets one retry again.
    assert_eq!(results[10].attempts, 2, "{:?}", results[10].retry_stop);
    assert_eq!(results[10].retry_stop, Some(RetryStop::RetryBudget));
    // Over the whole run retries never exceed what the budget allowed.
    let retries: u32 = results.iter().map(|r| r.attempts.saturating_sub(1)).sum();
    let successes = results
        .iter()
        .filter(|r| r.outcome == Outcome::NotFound)
        .count() as u32;
    assert!(
        retries * 5 <= 20 + successes,
        "{retries} retries for {successes} successes"
    );
    let suppressed = results
        .iter()
        .filter(|r| r.retry_stop == Some(RetryStop::RetryBudget))
        .count();
    assert!(
        suppressed >= 20,
        "{suppressed} checks were told retries are suppressed"
    );
    assert_eq!(audit_lines(dir.path()).len(), 100);
}

#[tokio::test]
async fn pacing_spaces_a_bulk_run() {
    let server = httpmock::MockServer::start_async().await;
    let dir = tempfile::tempdir().unwrap();
    // On simulated time the schedule is exact whatever the machine's load: five checks
    // reserve their slots at the same instant, 100 ms apart at 10/s.
    let clock = simulated_clock();
    let checker = spawn(dir.path(), GatewayKind::Stripe, &server.base_url())
        .clock(clock.clone())
        .rate(10.0)
        .concurrency(5)
        .build();
    let ids: Vec<String> = (0..5).map(|i| format!("pi_{i:024}")).collect();
    checker.check_all(&ids).await;
    let ms = Duration::from_millis;
    assert_eq!(clock.slept(), vec![ms(100), ms(200), ms(300), ms(400)]);
}

#[tokio::test]
async fn stripe_is_paced_by_default_and_the_ledger_is_not() {
    let server = httpmock::MockServer::start_async().await;
    let ids: Vec<String> = (0..3).map(|i| format!("pi_{i:024}")).collect();
    let stripe_clock = simulated_clock();
    let dir = tempfile::tempdir().unwrap();
    spawn(dir.path(), GatewayKind::Stripe, &server.base_url())
        .clock(stripe_clock.clone())
        .build()
        .check_all(&ids)
        .await;
    let ms = Duration::from_millis;
    assert_eq!(
        stripe_clock.slept(),
        vec![ms(40), ms(80)],
        "25/s: the second and third request wait"
    );
    let ledger_clock = simulated_clock();
    let ids: Vec<String> = (0..3).map(|i| format!("txn_{i}")).collect();
    spawn(
        dir.path(),
        GatewayKind::Ledger,
        &format!("{}/v1", server.base_url()),
    )
    .clock(ledger_clock.clone())
    .build()
    .check_all(&ids)
    .await;
    assert!(ledger_clock.slept().is_empty());
    // What a run's progress line names, before the run is slow: the gateways it paces.
    let stripe = spawn(dir.path(), GatewayKind::Stripe, &server.base_url()).build();
    assert_eq!(stripe.pacing(), [(GatewayKind::Stripe, 25.0)]);
    let ledger = spawn(dir.path(), GatewayKind::Ledger, &server.base_url()).build();
    assert_eq!(ledger.pacing(), []);
}

#[tokio::test]
#[traced_test]
async fn retries_suppressions_and_deadlines_are_logged_without_secrets() {
    let server = FaultServer::start(vec![unavailable()]).await;
    let dir = tempfile::tempdir().unwrap();
    let base = format!("{}/v1", server.url());
    let retrying = spawn(dir.path(), GatewayKind::Ledger, &base).build();
    retrying.check("txn_retry").await.unwrap();
    assert!(logs_contain("retrying"));
    assert!(logs_contain("attempt=1"));
    assert!(logs_contain("reason=Backoff"));
    let starved = spawn(dir.path(), GatewayKind::Ledger, &base)
        .budget(0)
        .build();
    starved.check("txn_starved").await.unwrap();
    assert!(logs_contain("retry suppressed"));
    let hurried = spawn(dir.path(), GatewayKind::Ledger, &base)
        .policy(RetryPolicy {
            deadline: Duration::from_millis(1),
            backoff_base: Duration::from_secs(1),
            ..RetryPolicy::default()
        })
        .build();
    hurried.check("txn_hurried").await.unwrap();
    assert!(logs_contain("deadline reached"));
    logs_assert(|lines: &[&str]| {
        let all = lines.join("\n");
        for canary in CANARIES {
            assert!(!all.contains(canary), "a credential was logged");
        }
        Ok(())
    });
}

#[tokio::test]
async fn checks_share_one_budget_per_gateway() {
    // Concurrency does not multiply the budget: 8 parallel failing checks on 10 tokens.
    let server = FaultServer::start(vec![unavailable()]).await;
    let dir = tempfile::tempdir().unwrap();
    let checker = ledger_checker(&dir, &server, &manual_clock())
        .budget(10)
        .concurrency(8)
        .build();
    let ids: Vec<String> = (0..8).map(|i| format!("txn_{i}")).collect();
    let results = checker.check_all(&ids).await;
    let retries: u32 = results
        .iter()
        .map(|r| r.as_ref().unwrap().attempts - 1)
        .sum();
    assert_eq!(retries, 2);
}

#[tokio::test]
async fn waiting_in_the_pacing_queue_does_not_eat_the_deadline() {
    // A bulk run at 1 request/s with ten checks in flight at once: the last check waits 9 s
    // for its slot, longer than the 5 s deadline. Queueing for a slot is not the check's time
    // at the gateway; every payment must still be asked and found. (On simulated time the
    // waits are exact and instant, so nothing here depends on the machine's speed.)
    let server = httpmock::MockServer::start_async().await;
    let ids: Vec<String> = (0..10).map(|i| format!("pi_{i:024}")).collect();
    for id in &ids {
        let body = format!(
            r#"{{"id": "{id}", "object": "payment_intent", "amount": 100, "currency": "usd", "status": "succeeded", "created": 1680800504, "livemode": false}}"#
        );
        server
            .mock_async(|when, then| {
                when.path(format!("/v1/payment_intents/{id}"));
                then.status(200).body(body);
            })
            .await;
    }
    let dir = tempfile::tempdir().unwrap();
    let clock = simulated_clock();
    let checker = spawn(dir.path(), GatewayKind::Stripe, &server.base_url())
        .clock(clock.clone())
        .rate(1.0)
        .policy(RetryPolicy {
            deadline: Duration::from_secs(5),
            ..RetryPolicy::default()
        })
        .concurrency(10)
        .build();
    let results = checker.check_all(&ids).await;
    for result in &results {
        let result = result.as_ref().unwrap();
        assert_eq!(
            result.outcome,
            Outcome::Found,
            "{}: {:?}",
            result.payment_id,
            result.attempt_log
        );
        assert_eq!(result.attempts, 1);
    }
    assert_eq!(clock.slept().last(), Some(&Duration::from_secs(9)));
}
