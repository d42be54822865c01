//! Every transport fault against every gateway, played from the `fault_*.toml` fixtures: the
//! outcome each fixture documents, exactly one audit line, no panic and no hang. The whole
//! matrix is one snapshot, so a reviewer sees it at a glance.

use std::time::Duration;

use futures_util::future::join_all;
use paystat::contract::{Scenario, ScenarioSet, TransportFault};
use paystat::retry::RetryPolicy;
use paystat::{GatewayKind, Outcome};

use crate::fault_server::FaultServer;
use crate::helpers::{audit_lines, fixtures_dir, spawn};

/// Two attempts. A fault documented as a timeout gets 150 ms per attempt, so the matrix runs
/// fast; a broken connection ends by itself, so its attempts get the default 5 s: a loaded
/// machine can make them slow, never make them time out.
fn policy(documented: Outcome) -> RetryPolicy {
    RetryPolicy {
        max_attempts: 2,
        backoff_base: Duration::from_millis(500),
        backoff_cap: Duration::from_secs(5),
        retry_after_cap: Duration::from_secs(60),
        attempt_timeout: if documented == Outcome::Timeout {
            Duration::from_millis(150)
        } else {
            Duration::from_secs(5)
        },
        deadline: Duration::from_secs(12),
    }
}

/// The fault scenarios of every gateway, ordered by fault.
fn fault_scenarios() -> Vec<(TransportFault, Scenario)> {
    let set = ScenarioSet::from_dir(&fixtures_dir()).unwrap();
    let mut cells: Vec<(TransportFault, Scenario)> = set
        .scenarios()
        .iter()
        .filter(|s| {
            s.file
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("fault_"))
        })
        .map(|s| {
            (
                s.response
                    .transport
                    .expect("a fault_ scenario has a transport fault"),
                s.clone(),
            )
        })
        .collect();
    cells.sort_by_key(|(fault, s)| (*fault, s.gateway));
    cells
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fault_against_every_gateway() {
    let cells = fault_scenarios();
    let mut faults: Vec<TransportFault> = cells.iter().map(|(f, _)| *f).collect();
    faults.dedup();
    for fault in &faults {
        for kind in GatewayKind::ALL {
            assert!(
                cells.iter().any(|(f, s)| f == fault && s.gateway == kind),
                "{kind} has no fault_ scenario for {fault:?}"
            );
        }
    }
    let outcomes = join_all(cells.iter().map(|(fault, scenario)| async move {
        let kind = scenario.gateway;
        let server = FaultServer::failing(*fault).await;
        let dir = tempfile::tempdir().unwrap();
        let base = paystat::contract::base_url(&server.url(), kind);
        let policy = policy(scenario.expect.outcome);
        let checker = spawn(dir.path(), kind, &base).policy(policy).build();
        // No hang: the check must end within its deadline (plus a margin for scheduling).
        let result = tokio::time::timeout(
            policy.deadline + Duration::from_secs(2),
            checker.check(&scenario.payment_id),
        )
        .await
        .unwrap_or_else(|_| panic!("{kind} hung on {fault:?}"))
        .expect("the audit file is writable");
        let lines = audit_lines(dir.path());
        assert_eq!(lines.len(), 1, "{kind} {fault:?}: exactly one audit line");
        assert_eq!(lines[0].check.outcome, result.outcome);
        assert_eq!(
            result.attempts as usize,
            server.connections(),
            "{kind} {fault:?}: one connection per attempt"
        );
        (*fault, kind, scenario.expect.outcome, result)
    }))
    .await;

    let mut table = String::from("| fault | ledger | stripe | plaid |\n|---|---|---|---|\n");
    for fault in faults {
        table.push_str(&format!("| {} |", fault.description()));
        for kind in GatewayKind::ALL {
            let (_, _, documented, result) = outcomes
                .iter()
                .find(|(f, k, _, _)| *f == fault && *k == kind)
                .unwrap();
            assert_eq!(
                result.outcome, *documented,
                "{kind} {fault:?}: the fixture documents {documented}: {:?}",
                result.attempt_log
            );
            assert_eq!(
                result.attempts, 2,
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
         (2 allowed; 150 ms each for the faults documented as timeouts, 5 s for broken connections).",
    );
    settings.bind(|| insta::assert_snapshot!("fault_matrix", table));
}
