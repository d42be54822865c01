//! Provider verification: the other side of the contract.
//!
//! The fixtures are paystat's expectations of a gateway. `paystat verify` replays the requests
//! of the scenarios a real provider can answer — the found and not-found ones, with their ids,
//! and only realistic bodies (no `off_spec`, no delay, no transport fault) — against a running
//! service, and reports per scenario whether the real answer has the HTTP status, the shape (the
//! provider's JSON Schema) and the meaning the fixture promises. The team that builds the ledger
//! runs it against its test environment; a mismatch is a broken contract.

use std::fmt::Write as _;

use super::expectation::Mismatch;
use super::scenario::{Scenario, ScenarioSet};
use super::schema::ProviderSchemas;
use crate::check::{Checker, UnauditedCheck};
use crate::result::{GatewayKind, Outcome};

/// The verdict on one scenario.
#[derive(Debug, Clone)]
pub struct ContractCheck {
    /// The scenario (`ledger/status_completed`).
    pub scenario: String,
    /// The payment id replayed.
    pub payment_id: String,
    /// Every broken promise (expected: what the fixture promises; got: what the provider
    /// did); empty when the scenario holds.
    pub mismatches: Vec<Mismatch>,
}

/// The scenarios of `gateway` a real provider can answer.
pub fn replayable(set: &ScenarioSet, gateway: GatewayKind) -> Vec<&Scenario> {
    set.scenarios()
        .iter()
        .filter(|s| {
            s.gateway == gateway
                && s.is_http()
                && s.response.off_spec.is_none()
                && s.response.delay.is_none()
                // A connected account is the platform's own: a provider under test may not have it.
                && s.client.stripe_account.is_none()
                && matches!(s.expect.outcome, Outcome::Found | Outcome::NotFound)
                && crate::payment_id::validate(&s.payment_id).is_ok()
        })
        .collect()
}

/// Replays each scenario through `checker` (so every request is audited) and compares.
pub async fn verify(
    checker: &Checker,
    scenarios: &[&Scenario],
    schemas: &ProviderSchemas,
) -> Result<Vec<ContractCheck>, UnauditedCheck> {
    let mut checks = Vec::new();
    for s in scenarios {
        let (result, reply) = checker.check_capturing(&s.payment_id).await?;
        let mut mismatches = Vec::new();
        let mut differ = |what: &str, expected: String, got: String| {
            mismatches.extend(Mismatch::between(what, expected, got));
        };
        match &reply {
            // Without an answer there is nothing else to compare.
            None => differ(
                "answer",
                "an HTTP answer".into(),
                format!(
                    "{} ({})",
                    result.outcome,
                    result.detail.clone().unwrap_or_default()
                ),
            ),
            Some(reply) => {
                differ(
                    "HTTP status",
                    show(s.response.status),
                    reply.status.to_string(),
                );
                if let Err(problems) = schemas.check(s.gateway, reply.status, &reply.body) {
                    for problem in problems {
                        differ("shape", "the provider's published shape".into(), problem);
                    }
                }
            }
        }
        if reply.is_some() {
            mismatches.extend(s.expect.meaning().mismatches(&result));
        }
        checks.push(ContractCheck {
            scenario: s.name(),
            payment_id: s.payment_id.clone(),
            mismatches,
        });
    }
    Ok(checks)
}

fn show<T: std::fmt::Display>(value: Option<T>) -> String {
    value.map_or_else(|| "nothing".to_owned(), |v| v.to_string())
}

/// The report: one line per scenario that holds, a readable diff for each one that does not,
/// and a count.
pub fn render(checks: &[ContractCheck]) -> String {
    let mut out = String::new();
    for check in checks {
        let id = crate::payment_id::display_safe(&check.payment_id);
        if check.mismatches.is_empty() {
            let _ = writeln!(out, "PASS {} ({id})", check.scenario);
            continue;
        }
        let _ = writeln!(out, "FAIL {} ({id})", check.scenario);
        for m in &check.mismatches {
            let _ = writeln!(
                out,
                "     {}\n     - fixture:  {}\n     + provider: {}",
                m.what, m.expected, m.got
            );
        }
    }
    let broken = checks.iter().filter(|c| !c.mismatches.is_empty()).count();
    let _ = writeln!(
        out,
        "{} of {} scenarios hold; {}",
        checks.len() - broken,
        checks.len(),
        if broken == 0 {
            "the provider keeps the contract".to_owned()
        } else {
            format!("{broken} broke the contract")
        }
    );
    out
}
