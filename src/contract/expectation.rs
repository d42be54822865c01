//! What a scenario expects paystat to conclude, and every way a result can break it.

use std::fmt;

use serde::Deserialize;

use crate::result::{CheckResult, Outcome, PaymentStatus, RetryStop};

/// What paystat must conclude. Only `outcome` is required; every other field present is checked.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expectation {
    /// The outcome.
    pub outcome: Outcome,
    /// The normalized status (only when found).
    pub status: Option<PaymentStatus>,
    /// The gateway's word (only when found).
    pub gateway_status: Option<String>,
    /// The amount in minor units (only when found): what moved or is held.
    pub amount_minor: Option<i64>,
    /// What the payment asked for, when the gateway tells it apart (Stripe's `amount`).
    pub amount_requested_minor: Option<i64>,
    /// What the merchant sent back, in minor units.
    pub amount_refunded_minor: Option<i64>,
    /// Whether some refund is still under way.
    pub refund_pending: Option<bool>,
    /// The dispute's own status.
    pub dispute_status: Option<String>,
    /// The date after which the payment can no longer be pulled back.
    pub final_after: Option<String>,
    /// Whether the answer can still change: `final`, `final_after` or `changing`.
    pub finality: Option<crate::result::Finality>,
    /// The currency (only when found).
    pub currency: Option<String>,
    /// The failure code.
    pub failure_code: Option<String>,
    /// The HTTP status paystat saw.
    pub http_status: Option<u16>,
    /// The gateway's request id.
    pub gateway_request_id: Option<String>,
    /// How many requests paystat sent (retries included).
    pub attempts: Option<u32>,
    /// Why paystat stopped retrying a failed check.
    pub retry_stop: Option<RetryStop>,
}

/// One way a result breaks what a scenario expects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// What was compared (`outcome`, `status`, `amount (minor units)`, …).
    pub what: String,
    /// What the scenario expects.
    pub expected: String,
    /// What paystat concluded.
    pub got: String,
}

impl Mismatch {
    /// A mismatch when `expected` and `got` differ, none when they agree.
    pub fn between(what: &str, expected: String, got: String) -> Option<Mismatch> {
        (expected != got).then(|| Mismatch {
            what: what.to_owned(),
            expected,
            got,
        })
    }
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: scenario expects: {} / paystat says: {}",
            self.what, self.expected, self.got
        )
    }
}

fn show<T: fmt::Display>(value: Option<T>) -> String {
    value.map_or_else(|| "nothing".to_owned(), |v| v.to_string())
}

impl Expectation {
    /// Every way `result` breaks this expectation, in a fixed order; empty when it holds.
    /// The scenario tests and `paystat verify` both judge with this one comparator.
    pub fn mismatches(&self, result: &CheckResult) -> Vec<Mismatch> {
        let mut found = Vec::new();
        let mut differ = |what: &str, expected: String, got: String| {
            found.extend(Mismatch::between(what, expected, got));
        };
        let outcome = match (&result.detail, result.outcome == self.outcome) {
            (Some(detail), false) => format!("{} ({detail})", result.outcome),
            _ => result.outcome.to_string(),
        };
        differ("outcome", self.outcome.to_string(), outcome);
        differ("status", show(self.status), show(result.status));
        let mut given = |what: &str, expected: Option<String>, got: Option<String>| {
            if let Some(expected) = expected {
                differ(what, expected, show(got));
            }
        };
        given(
            "gateway status",
            self.gateway_status.clone(),
            result.gateway_status.clone(),
        );
        given(
            "amount (minor units)",
            self.amount_minor.map(|m| m.to_string()),
            result.amount_minor().map(|m| m.to_string()),
        );
        given(
            "amount requested (minor units)",
            self.amount_requested_minor.map(|m| m.to_string()),
            result.amount_requested_minor.map(|m| m.to_string()),
        );
        given(
            "amount refunded (minor units)",
            self.amount_refunded_minor.map(|m| m.to_string()),
            result.amount_refunded_minor.map(|m| m.to_string()),
        );
        given(
            "refund pending",
            self.refund_pending.map(|p| p.to_string()),
            result.refund_pending.map(|p| p.to_string()),
        );
        given(
            "dispute status",
            self.dispute_status.clone(),
            result.dispute_status.clone(),
        );
        given(
            "final after",
            self.final_after.clone(),
            result.final_after.clone(),
        );
        given(
            "finality",
            self.finality.map(|f| f.to_string()),
            result.finality.map(|f| f.to_string()),
        );
        given(
            "currency",
            self.currency.clone(),
            result.currency_code().map(str::to_owned),
        );
        given(
            "failure code",
            self.failure_code.clone(),
            result.failure_code.clone(),
        );
        given(
            "HTTP status",
            self.http_status.map(|s| s.to_string()),
            result.http_status.map(|s| s.to_string()),
        );
        given(
            "gateway request id",
            self.gateway_request_id.clone(),
            result.gateway_request_id.clone(),
        );
        given(
            "attempts",
            self.attempts.map(|a| a.to_string()),
            Some(result.attempts.to_string()),
        );
        given(
            "retry stop",
            self.retry_stop.map(|s| s.as_str().to_owned()),
            result.retry_stop.map(|s| s.as_str().to_owned()),
        );
        found
    }

    /// The part of the expectation a real provider can be held to: what the answer *means*,
    /// without what only the fixture's own reply decides (its request id, the HTTP status it
    /// was played with, attempts and retries).
    pub fn meaning(&self) -> Expectation {
        Expectation {
            http_status: None,
            gateway_request_id: None,
            attempts: None,
            retry_stop: None,
            ..self.clone()
        }
    }
}
