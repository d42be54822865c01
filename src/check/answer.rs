//! What one check learned from its gateway, attempt by attempt, and the [`CheckResult`] made
//! of it at the end.

use std::time::Duration;

use reqwest::header::HeaderMap;

use super::exchange::Exchange;
use crate::audit::{Asked, RequestLine, Target};
use crate::gateway::{Gateway, Reading, Reply, Verdict};
use crate::payment_id::display_safe;
use crate::result::{
    AttemptRecord, CheckResult, Environment, GatewayKind, Outcome, PaymentStatus, RetryStop,
    WaitReason,
};

/// A check whose answer could not be audited, and so is withheld.
#[derive(Debug, thiserror::Error)]
#[error("the status of payment {} is withheld", display_safe(.payment_id))]
pub struct UnauditedCheck {
    /// The payment asked about.
    pub payment_id: String,
    /// Why the audit line could not be written.
    #[source]
    pub source: crate::audit::AuditError,
}

/// Everything a check learned so far.
pub(crate) struct Answer {
    gateway: Option<GatewayKind>,
    api_version: Option<String>,
    account: Option<String>,
    request: Option<RequestLine>,
    target: Option<Target>,
    environment: Option<Environment>,
    http_status: Option<u16>,
    reading: Option<Reading>,
    log: Vec<AttemptRecord>,
    stop: Option<RetryStop>,
    /// The last complete reply, kept only for `paystat record` and `paystat verify`.
    reply: Option<Reply>,
}

impl Answer {
    /// A check that is about to ask `gateway`, a system of kind `environment` (as the
    /// configuration decided; nothing in a reply changes it).
    pub fn asking(gateway: &dyn Gateway, environment: Environment) -> Answer {
        Answer {
            api_version: gateway.api_version().map(str::to_owned),
            account: gateway.account().map(str::to_owned),
            target: Some(Target::of(gateway.base_url())),
            environment: Some(environment),
            ..Answer::empty(Some(gateway.kind()))
        }
    }

    /// A check that sent nothing, and why.
    pub fn refused(gateway: Option<GatewayKind>, outcome: Outcome, detail: String) -> Answer {
        Answer::empty(gateway).refuse(outcome, detail)
    }

    fn empty(gateway: Option<GatewayKind>) -> Answer {
        Answer {
            gateway,
            api_version: None,
            account: None,
            request: None,
            target: None,
            environment: None,
            http_status: None,
            reading: None,
            log: Vec::new(),
            stop: None,
            reply: None,
        }
    }

    /// Ends the check without a usable answer: `outcome`, and why.
    pub fn refuse(mut self, outcome: Outcome, detail: String) -> Answer {
        self.reading = Some(Reading::new(Verdict::refused(outcome, detail)));
        self.http_status = None;
        self.reply = None;
        self
    }

    /// Notes the request line (the first one sent is the one audited).
    pub fn sent(&mut self, line: RequestLine) {
        self.request.get_or_insert(line);
    }

    /// Reads one attempt's exchange through the adapter and logs the attempt. Returns the
    /// reply's headers, for the retry decision.
    pub fn read(
        &mut self,
        gateway: &dyn Gateway,
        echoes: &crate::gateway::Echoes,
        id: &str,
        (exchange, follow_up): (Exchange, Option<Exchange>),
        took: Duration,
        capture: bool,
    ) -> Option<HeaderMap> {
        let (reading, http_status, headers, error) = match exchange {
            Exchange::Replied(mut reply) => {
                let mut reading = match follow_up {
                    None => gateway.read(id, &reply),
                    Some(Exchange::Replied(second)) => {
                        let reading = gateway.read_followed(id, &reply, &second);
                        if capture {
                            let mut second = second;
                            second.redact(echoes);
                            reply.follow_up = Some(Box::new(second));
                        }
                        reading
                    }
                    Some(Exchange::Failed {
                        outcome, detail, ..
                    }) => Reading::new(Verdict::refused(
                        outcome,
                        format!("the gateway's follow-up request failed: {detail}"),
                    )),
                };
                reading.redact(echoes);
                let status = reply.status;
                let headers = if capture {
                    let mut reply = reply;
                    reply.redact(echoes);
                    let headers = reply.headers.clone();
                    self.reply = Some(reply);
                    headers
                } else {
                    reply.headers
                };
                (reading, Some(status), Some(headers), None)
            }
            Exchange::Failed {
                outcome,
                detail,
                http_status,
            } => (
                Reading::new(Verdict::refused(outcome, detail.clone())),
                http_status,
                None,
                Some(detail),
            ),
        };
        self.log.push(AttemptRecord {
            attempt: self.attempts() + 1,
            http_status,
            outcome: reading.verdict.outcome(),
            error,
            duration_ms: millis(took),
            wait_ms: None,
            wait_reason: None,
        });
        self.http_status = http_status;
        self.reading = Some(reading);
        headers
    }

    /// Takes `reading` of a payment on a list's page (HTTP `status`, read in `took`) as this
    /// check's one attempt.
    pub fn listed(&mut self, reading: Reading, status: u16, took: Duration) {
        self.log.push(AttemptRecord {
            attempt: 1,
            http_status: Some(status),
            outcome: reading.verdict.outcome(),
            error: None,
            duration_ms: millis(took),
            wait_ms: None,
            wait_reason: None,
        });
        self.http_status = Some(status);
        self.reading = Some(reading);
    }

    /// Requests sent so far.
    pub fn attempts(&self) -> u32 {
        u32::try_from(self.log.len()).unwrap_or(u32::MAX)
    }

    /// What the last attempt concluded.
    pub fn outcome(&self) -> Outcome {
        self.reading
            .as_ref()
            .map_or(Outcome::InvalidId, |r| r.verdict.outcome())
    }

    /// The last attempt's HTTP status, if a reply came.
    pub fn http_status(&self) -> Option<u16> {
        self.http_status
    }

    /// The gateway's explicit retry advice on the last reply.
    pub fn retry_advice(&self) -> Option<bool> {
        self.reading.as_ref().and_then(|r| r.retry_advice)
    }

    /// Notes the wait after the last attempt.
    pub fn waits(&mut self, wait_ms: u64, reason: WaitReason) {
        if let Some(last) = self.log.last_mut() {
            last.wait_ms = Some(wait_ms);
            last.wait_reason = Some(reason);
        }
    }

    /// Ends the check: the last attempt's outcome stands, not retried because of `stop`.
    pub fn stop(mut self, stop: RetryStop) -> Answer {
        self.stop = Some(stop);
        self
    }

    /// The result for payment `id`, which took `duration`; what was asked, to audit; the reply.
    pub fn into_result(self, id: &str, duration: Duration) -> (CheckResult, Asked, Option<Reply>) {
        let reading = self.reading.unwrap_or_else(|| {
            Reading::new(Verdict::refused(Outcome::InvalidId, "no request was sent"))
        });
        let mut result = CheckResult {
            http_status: self.http_status,
            // What was asked for, when something was asked.
            api_version: self.request.as_ref().and(self.api_version),
            account: self.request.as_ref().and(self.account),
            gateway_request_id: reading.request_id,
            attempts: u32::try_from(self.log.len()).unwrap_or(u32::MAX),
            attempt_log: self.log,
            retry_stop: self.stop,
            duration_ms: millis(duration),
            ..CheckResult::new(id, self.gateway, reading.verdict.outcome())
        };
        match reading.verdict {
            Verdict::Found(payment) => {
                result.status = Some(payment.status);
                result.gateway_status = Some(payment.gateway_status);
                result.amount = Some(payment.amount);
                result.amount_requested_minor = payment.amount_requested.map(|m| m.amount_minor);
                result.amount_refunded_minor = payment.amount_refunded.map(|m| m.amount_minor);
                result.refund_pending = payment.refund_pending;
                result.dispute_status = payment.dispute_status;
                result.final_after = payment.final_after;
                result.finality = Some(payment.finality);
                result.created_at = payment.created_at;
                result.failure_code = payment.failure_code;
                result.status_reason = payment.status_reason;
            }
            Verdict::NoPayment { detail, error, .. } => {
                result.detail = Some(detail);
                result.gateway_error = error;
            }
        }
        result.bound();
        let asked = Asked {
            request: self.request,
            target: self.target,
            environment: self.environment,
            copy_of: None,
            caller: None,
        };
        (result, asked, self.reply)
    }
}

pub(crate) fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// Traces a finished check (never a credential: results hold none).
pub(crate) fn log(result: &CheckResult) {
    // The id is escaped only when the event is enabled: a bulk run logs nothing at its level.
    match result.outcome {
        Outcome::Found | Outcome::NotFound | Outcome::InvalidId => tracing::info!(
            gateway = result.gateway.map(GatewayKind::as_str), payment_id = %display_safe(&result.payment_id), outcome = %result.outcome,
            status = result.status.map(PaymentStatus::as_str), http_status = result.http_status,
            attempts = result.attempts, "status check finished"
        ),
        _ => tracing::warn!(
            gateway = result.gateway.map(GatewayKind::as_str), payment_id = %display_safe(&result.payment_id), outcome = %result.outcome,
            http_status = result.http_status, attempts = result.attempts, detail = result.detail.as_deref(),
            "status check got no answer"
        ),
    }
}

/// Traces why a failed check was not retried, for the stops an operator should hear about.
pub(crate) fn log_stop(gateway: GatewayKind, id: &str, attempt: u32, stop: RetryStop) {
    match stop {
        RetryStop::Deadline => {
            tracing::warn!(%gateway, payment_id = %display_safe(id), attempt, "deadline reached: no further attempt")
        }
        RetryStop::RetryBudget => {
            tracing::warn!(%gateway, payment_id = %display_safe(id), attempt, "retry suppressed: the gateway's retry budget is spent")
        }
        RetryStop::NotRetryable | RetryStop::GatewayForbade | RetryStop::MaxAttempts => {}
    }
}
