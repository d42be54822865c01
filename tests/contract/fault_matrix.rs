//! Every transport fault against every gateway: the documented outcome, exactly one audit
//! line, no panic and no hang. The whole matrix is one snapshot, so a reviewer sees it at a
//! glance.

use std::time::Duration;

use futures_util::future::join_all;
use paystat::retry::RetryPolicy;
use paystat::{GatewayKind, Outcome};

use crate::fault_server::{Fault, FaultServer};
use crate::helpers::{audit_lines, checker_for, sample_id};

/// What Operations see for each fault: a broken connection is a `connection_error`, a reply
/// that never completes is a `timeout`. Both are retried.
fn documented(fault: Fault) -> Outcome {
    match fault {
        Fault::ResetBeforeResponse
        | Fault::ClosedMidBody
        | Fault::MalformedChunked
        | Fault::GarbageThenClose => Outcome::ConnectionError,
        Fault::HeadersThenStall | Fault::DripPastTimeout | Fault::AcceptNeverAnswer => {
            Outcome::Timeout
        }
    }
}

const POLICY: RetryPolicy = RetryPolicy {
    max_attempts: 2,
    backoff_base: Duration::from_millis(500),
    backoff_cap: Duration::from_secs(5),
    retry_after_cap: Duration::from_secs(60),
    attempt_timeout: Duration::from_millis(150),
    deadline: Duration::from_secs(3),
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fault_against_every_gateway() {
    let cells = Fault::ALL
        .into_iter()
        .flat_map(|fault| GatewayKind::ALL.map(|kind| (fault, kind)));
    let outcomes = join_all(cells.map(|(fault, kind)| async move {
        let server = FaultServer::failing(fault).await;
        let dir = tempfile::tempdir().unwrap();
        let base = paystat::mock::base_url(&server.url(), kind);
        let checker = checker_for(dir.path(), kind, &base).with_retry_policy(None, POLICY);
        // No hang: the check must end within its deadline (plus a margin for scheduling).
        let result = tokio::time::timeout(
            POLICY.deadline + Duration::from_secs(2),
            checker.check(sample_id(kind)),
        )
        .await
        .unwrap_or_else(|_| panic!("{kind} hung on {fault:?}"))
        .expect("the audit file is writable");
        let lines = audit_lines(dir.path());
        assert_eq!(lines.len(), 1, "{kind} {fault:?}: exactly one audit line");
        assert_eq!(lines[0].outcome, result.outcome);
        assert_eq!(
            result.attempts as usize,
            server.connections(),
            "{kind} {fault:?}: one connection per attempt"
        );
        (fault, kind, result)
    }))
    .await;

    let mut table = String::from("| fault | ledger | stripe | plaid |\n|---|---|---|---|\n");
    for fault in Fault::ALL {
        table.push_str(&format!("| {} |", fault.name()));
        for kind in GatewayKind::ALL {
            let (_, _, result) = outcomes
                .iter()
                .find(|(f, k, _)| *f == fault && *k == kind)
                .unwrap();
            assert_eq!(
                result.outcome,
                documented(fault),
                "{kind} {fault:?}: {:?}",
                result.attempt_log
            );
            assert_eq!(
                result.attempts, POLICY.max_attempts,
                "{kind} {fault:?}: faults are retried: {:?} {:?}",
                result.retry_stop, result.attempt_log
            );
            table.push_str(&format!(" {} ×{} |", result.outcome, result.attempts));
        }
        table.push('\n');
    }
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(concat!(env!("CARGO_MANIFEST_DIR"), "/snapshots/resilience"));
    settings.set_prepend_module_to_snapshot(false);
    settings.set_omit_expression(true);
    settings.set_description(
        "Each transport fault against each gateway: the outcome Operations see and the attempts made \
         (2 allowed, 150 ms each, 3 s deadline).",
    );
    settings.bind(|| insta::assert_snapshot!("fault_matrix", table));
}
