//! Asking a gateway about one valid id: pacing the first request, sending, reading the reply
//! through the adapter, and carrying out what [`RetryPolicy::next`] decides after a failed
//! attempt — it takes the retry's cost and request slot itself, so the wait it returns is the
//! one waited.
//!
//! [`RetryPolicy::next`]: crate::retry::RetryPolicy::next

use std::time::Duration;

use super::answer::{Answer, log_stop, millis};
use super::exchange;
use super::route::Endpoint;
use super::{Checker, INTERRUPTED};
use crate::audit::RequestLine;
use crate::payment_id::display_safe;
use crate::result::Outcome;
use crate::retry::{Decision, Facts, retry_after};

impl Checker {
    /// Sleeps `wait` on the checker's clock; false when [`Checker::interrupt`] cut it short.
    pub(crate) async fn wait(&self, wait: Duration) -> bool {
        let sleep = self.options.clock.sleep(wait);
        self.stop.unless_interrupted(sleep).await.is_some()
    }

    /// Sends the follow-up request a reply called for, paced like any request, within the
    /// check's deadline.
    pub(crate) async fn follow_up(
        &self,
        endpoint: &Endpoint,
        client: &reqwest::Client,
        request: reqwest::Result<reqwest::Request>,
        deadline: Duration,
    ) -> exchange::Exchange {
        let failed = |outcome, detail: String| exchange::Exchange::Failed {
            outcome,
            detail,
            http_status: None,
        };
        let request = match request {
            Ok(request) => request,
            Err(e) => {
                return failed(
                    Outcome::BadRequest,
                    format!("the follow-up request cannot be built: {}", e.without_url()),
                );
            }
        };
        let clock = &self.options.clock;
        if let Some(pacer) = &endpoint.pacer {
            let wait = pacer.reserve(clock.now());
            if !wait.is_zero() && !self.wait(wait).await {
                return failed(Outcome::Interrupted, INTERRUPTED.into());
            }
        }
        let timeout = endpoint
            .policy
            .attempt_timeout
            .min(deadline.saturating_sub(clock.now()));
        let proxy = endpoint.proxy.as_ref().map(|p| &p.0);
        self.stop
            .unless_interrupted(exchange::send(client, request, timeout, proxy))
            .await
            .unwrap_or_else(|| failed(Outcome::Interrupted, INTERRUPTED.into()))
    }

    /// What the retry policy is told after a failed attempt at `endpoint`: the attempt's number,
    /// outcome and HTTP status, the gateway's advice, its `Retry-After` (from `headers`), and
    /// the time left before `deadline`.
    pub(crate) fn retry_facts<'a>(
        &'a self,
        endpoint: &'a Endpoint,
        (attempt, outcome, http_status): (u32, Outcome, Option<u16>),
        advice: Option<bool>,
        headers: Option<&reqwest::header::HeaderMap>,
        deadline: Duration,
    ) -> Facts<'a> {
        let clock = &self.options.clock;
        let now = clock.now();
        Facts {
            attempt,
            outcome,
            http_status,
            advice,
            retry_after: headers.and_then(|h| retry_after(h, clock.wall_time())),
            jitter: &self.options.jitter,
            time_left: deadline.saturating_sub(now),
            now,
            pacer: endpoint.pacer.as_ref(),
            budget: &endpoint.budget,
        }
    }

    /// Asks the gateway about a valid id, retrying as the policy decides.
    pub(super) async fn ask(
        &self,
        client: &reqwest::Client,
        endpoint: &Endpoint,
        id: &str,
        capture: bool,
    ) -> Answer {
        let (gateway, policy, clock) = (&endpoint.gateway, endpoint.policy, &self.options.clock);
        let kind = gateway.kind();
        let mut answer = Answer::asking(gateway.as_ref(), endpoint.environment);
        // Waiting for the first request slot is queueing in a bulk run, not time spent at the
        // gateway: the check's deadline starts when its first request may go. (Slots for
        // retries are part of the retry's wait, and do count.)
        if let Some(pacer) = &endpoint.pacer {
            let wait = pacer.reserve(clock.now());
            if !wait.is_zero() {
                tracing::debug!(gateway = %kind, payment_id = %display_safe(id), wait_ms = millis(wait), "pacing");
                if !self.wait(wait).await {
                    return answer.refuse(Outcome::Interrupted, INTERRUPTED.into());
                }
            }
        }
        let deadline = clock.now() + policy.deadline;
        loop {
            let request = match gateway.request(client, id) {
                Ok(request) => request,
                Err(e) => {
                    let detail = format!(
                        "the payment id cannot be put in a request: {}",
                        e.without_url()
                    );
                    return answer.refuse(Outcome::InvalidId, detail);
                }
            };
            let line = RequestLine {
                method: request.method().as_str().to_owned(),
                path: request.url().path().to_owned(),
            };
            let attempt = answer.attempts() + 1;
            tracing::debug!(gateway = %kind, payment_id = %display_safe(id), attempt, method = %line.method, path = %line.path, "sending status request");
            answer.sent(line);
            let attempt_started = clock.now();
            let timeout = policy
                .attempt_timeout
                .min(deadline.saturating_sub(attempt_started));
            let proxy = endpoint.proxy.as_ref().map(|p| &p.0);
            let exchange = self
                .stop
                .unless_interrupted(exchange::send(client, request, timeout, proxy))
                .await
                .unwrap_or_else(|| exchange::Exchange::Failed {
                    outcome: Outcome::Interrupted,
                    detail: INTERRUPTED.into(),
                    http_status: None,
                });
            // A reply that needs a second request to be read (a gateway's list of what followed
            // the payment) gets it now, paced and timed like the first, in the same attempt.
            let follow_up = match &exchange {
                exchange::Exchange::Replied(reply) => match gateway.follow_up(client, id, reply) {
                    None => None,
                    Some(request) => {
                        Some(self.follow_up(endpoint, client, request, deadline).await)
                    }
                },
                exchange::Exchange::Failed { .. } => None,
            };
            let took = clock.now().saturating_sub(attempt_started);
            let headers = answer.read(
                gateway.as_ref(),
                &endpoint.echoes,
                id,
                (exchange, follow_up),
                took,
                capture,
            );
            let outcome = answer.outcome();
            if matches!(outcome, Outcome::Found | Outcome::NotFound) {
                endpoint.budget.refill();
                return answer;
            }
            let facts = self.retry_facts(
                endpoint,
                (attempt, outcome, answer.http_status()),
                answer.retry_advice(),
                headers.as_ref(),
                deadline,
            );
            let (wait, reason) = match policy.next(&facts) {
                Decision::Wait(wait, reason) => (wait, reason),
                Decision::Stop(stop) => {
                    log_stop(kind, id, attempt, stop);
                    return answer.stop(stop);
                }
            };
            answer.waits(millis(wait), reason);
            tracing::info!(gateway = %kind, payment_id = %display_safe(id), attempt, outcome = %outcome, http_status = answer.http_status(), reason = ?reason, wait_ms = millis(wait), "retrying");
            if !self.wait(wait).await {
                return answer.refuse(Outcome::Interrupted, INTERRUPTED.into());
            }
        }
    }
}
