//! The checker: asks a gateway about payments, retries what is worth retrying, times each
//! check, and audits it.
//!
//! It owns one pooled `reqwest::Client` for all checks, bounds each attempt by a timeout that
//! covers the whole body and each check by a deadline, reads at most 1 MiB, and hands every
//! reply to the gateway's adapter. Retries follow [`crate::retry`]; every wait goes through the
//! injected [`Clock`]. Every check — found, failed, or rejected before sending — ends with an
//! audit line carrying all its attempts, and the result is returned only once that line is
//! written.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use serde::{Deserialize, Serialize};

use crate::audit::{AuditError, AuditTrail, CheckEvent, RequestLine};
use crate::clock::{Clock, SystemClock};
use crate::gateway::{self, Gateway, GatewayError, GatewayKind, Reading, Reply, Verdict};
use crate::money::Money;
use crate::payment_id::{self, display_safe};
use crate::retry::{self, Jitter, Pacer, RetryBudget, RetryPolicy, RetryStop, WaitReason};
use crate::status::{Outcome, PaymentStatus};

/// How many checks run at once when none is configured.
pub const DEFAULT_CONCURRENCY: usize = 8;

/// The largest body paystat reads; anything longer is a `bad_response`.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Stripe's default per-endpoint rate limit (GATEWAYS.md), paystat's default pacing for it.
pub const STRIPE_REQUESTS_PER_SECOND: f64 = 25.0;

/// One request of a check, as the result and the audit line show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttemptRecord {
    /// 1 for the first request.
    pub attempt: u32,
    /// The HTTP status, if a reply came.
    pub http_status: Option<u16>,
    /// What this attempt alone concluded.
    pub outcome: Outcome,
    /// The transport failure, if there was no reply.
    pub error: Option<String>,
    /// How long the attempt took.
    pub duration_ms: u64,
    /// How long paystat waited before the next attempt, if there was one.
    pub wait_ms: Option<u64>,
    /// Why it waited that long.
    pub wait_reason: Option<WaitReason>,
}

/// The normalized answer to one status check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckResult {
    /// The payment asked about, exactly as given.
    pub payment_id: String,
    /// The gateway asked (none when `--gateway auto` found no gateway for the id).
    pub gateway: Option<GatewayKind>,
    /// What the check concluded: the last attempt's outcome.
    pub outcome: Outcome,
    /// Where the payment stands, when found.
    pub status: Option<PaymentStatus>,
    /// The word the gateway used, when found.
    pub gateway_status: Option<String>,
    /// The amount in minor units, when found.
    pub amount_minor: Option<i64>,
    /// The ISO 4217 currency, upper case, when found.
    pub currency: Option<String>,
    /// When the gateway created the payment (RFC 3339 UTC), if it says.
    pub created_at: Option<String>,
    /// The gateway's failure or return code, if it gives one.
    pub failure_code: Option<String>,
    /// Why the payment is in this status, in the gateway's words, if it says.
    pub status_reason: Option<String>,
    /// The HTTP status of the last reply, if one came.
    pub http_status: Option<u16>,
    /// The gateway's request id, if it sent one.
    pub gateway_request_id: Option<String>,
    /// How many requests were sent (0 when the id was rejected locally).
    pub attempts: u32,
    /// Every request, with the wait after it and why.
    pub attempt_log: Vec<AttemptRecord>,
    /// Why a failed check was not tried again, when it failed.
    pub retry_stop: Option<RetryStop>,
    /// How long the check took, waits included, in milliseconds.
    pub duration_ms: u64,
    /// One sentence on why there is no payment, when there is none.
    pub detail: Option<String>,
    /// What the gateway's error body said (type, code, message), when it sent one.
    pub gateway_error: Option<GatewayError>,
}

impl CheckResult {
    /// The exact amount, when found.
    pub fn amount(&self) -> Option<Money> {
        let currency = crate::money::currency(self.currency.as_deref()?).ok()?;
        Some(Money::from_minor(self.amount_minor?, currency))
    }
}

/// A check whose answer could not be audited, and so is withheld.
#[derive(Debug, thiserror::Error)]
#[error("the status of payment {} is withheld: {source}", display_safe(.payment_id))]
pub struct UnauditedCheck {
    /// The payment asked about.
    pub payment_id: String,
    /// Why the audit line could not be written.
    #[source]
    pub source: AuditError,
}

/// How the checker picks a gateway for an id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Routing {
    /// Always this gateway.
    Fixed(GatewayKind),
    /// From the id's shape ([`gateway::route`]).
    Auto,
}

/// A configured gateway with its policy, its retry budget and its pacing.
#[derive(Debug, Clone)]
struct Endpoint {
    gateway: Arc<dyn Gateway>,
    policy: RetryPolicy,
    budget: Arc<RetryBudget>,
    pacer: Option<Arc<Pacer>>,
}

/// Checks payments and audits every check.
#[derive(Debug, Clone)]
pub struct Checker {
    client: reqwest::Client,
    endpoints: Vec<Endpoint>,
    routing: Routing,
    audit: Arc<AuditTrail>,
    concurrency: usize,
    clock: Arc<dyn Clock>,
    jitter: Arc<Jitter>,
}

/// What happened on the wire in one attempt, before the adapter reads it.
enum Exchange {
    Replied(Reply),
    Failed {
        outcome: Outcome,
        detail: String,
        http_status: Option<u16>,
    },
}

/// Everything a check learned from the gateway.
struct Asked {
    request: Option<RequestLine>,
    http_status: Option<u16>,
    reading: Reading,
    log: Vec<AttemptRecord>,
    stop: Option<RetryStop>,
    /// The last complete reply, for `paystat record` and `paystat verify`.
    last_reply: Option<Reply>,
}

impl Checker {
    /// A checker for `gateway` that audits into `audit`, with the default policy.
    pub fn new(gateway: Arc<dyn Gateway>, audit: Arc<AuditTrail>) -> Checker {
        let routing = Routing::Fixed(gateway.kind());
        Checker::routing(vec![gateway], routing, audit)
    }

    /// A checker over several gateways, picking one per id by `routing`.
    pub fn routing(
        gateways: Vec<Arc<dyn Gateway>>,
        routing: Routing,
        audit: Arc<AuditTrail>,
    ) -> Checker {
        let client = reqwest::Client::builder()
            // Credentials must reach only the configured host: a redirect is followed only
            // to the same scheme, host and port.
            .redirect(reqwest::redirect::Policy::custom(|attempt| {
                let same_origin = attempt
                    .previous()
                    .first()
                    .is_some_and(|first| first.origin() == attempt.url().origin());
                if same_origin && attempt.previous().len() < 5 {
                    attempt.follow()
                } else {
                    attempt.stop()
                }
            }))
            .user_agent(concat!("paystat/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("the HTTP client's fixed settings are valid");
        let endpoints = gateways
            .into_iter()
            .map(|gateway| {
                let pacer = (gateway.kind() == GatewayKind::Stripe)
                    .then(|| Arc::new(Pacer::new(STRIPE_REQUESTS_PER_SECOND)));
                Endpoint {
                    gateway,
                    policy: RetryPolicy::default(),
                    budget: Arc::new(RetryBudget::new(retry::DEFAULT_BUDGET)),
                    pacer,
                }
            })
            .collect();
        Checker {
            client,
            endpoints,
            routing,
            audit,
            concurrency: DEFAULT_CONCURRENCY,
            clock: Arc::new(SystemClock::default()),
            jitter: Arc::new(Jitter::random()),
        }
    }

    fn each(mut self, kind: Option<GatewayKind>, change: impl Fn(&mut Endpoint)) -> Checker {
        for endpoint in &mut self.endpoints {
            if kind.is_none_or(|k| endpoint.gateway.kind() == k) {
                change(endpoint);
            }
        }
        self
    }

    /// Sets the per-attempt timeout (headers and whole body) of every gateway.
    pub fn with_timeout(self, timeout: Duration) -> Checker {
        self.each(None, |e| e.policy.attempt_timeout = timeout)
    }

    /// Sets the retry policy of one gateway, or of all when `kind` is `None`.
    pub fn with_retry_policy(self, kind: Option<GatewayKind>, policy: RetryPolicy) -> Checker {
        self.each(kind, |e| e.policy = policy)
    }

    /// Sets the retry budget (token-bucket capacity) of one gateway, or of all.
    pub fn with_retry_budget(self, kind: Option<GatewayKind>, capacity: u32) -> Checker {
        self.each(kind, |e| e.budget = Arc::new(RetryBudget::new(capacity)))
    }

    /// Paces one gateway (or all) to `per_second` requests per second; `None` turns pacing off.
    pub fn with_pacing(self, kind: Option<GatewayKind>, per_second: Option<f64>) -> Checker {
        self.each(kind, |e| {
            e.pacer = per_second
                .filter(|r| *r > 0.0)
                .map(|r| Arc::new(Pacer::new(r)))
        })
    }

    /// The retry policy in force for `kind`, if that gateway is configured.
    pub fn retry_policy(&self, kind: GatewayKind) -> Option<RetryPolicy> {
        self.endpoints
            .iter()
            .find(|e| e.gateway.kind() == kind)
            .map(|e| e.policy)
    }

    /// Uses `clock` for every wait and duration (tests inject a manual clock).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Checker {
        self.clock = clock;
        self
    }

    /// Uses `jitter` for backoff (tests inject a seeded one).
    pub fn with_jitter(mut self, jitter: Jitter) -> Checker {
        self.jitter = Arc::new(jitter);
        self
    }

    /// Sets how many checks run at once (at least one).
    pub fn with_concurrency(mut self, concurrency: usize) -> Checker {
        self.concurrency = concurrency.max(1);
        self
    }

    /// The audit trail this checker writes to.
    pub fn audit_trail(&self) -> &AuditTrail {
        &self.audit
    }

    /// Checks `ids` concurrently; results come back in the order of `ids`.
    pub async fn check_all(&self, ids: &[String]) -> Vec<Result<CheckResult, UnauditedCheck>> {
        futures_util::stream::iter(ids)
            .map(|id| self.check(id))
            .buffered(self.concurrency)
            .collect()
            .await
    }

    /// Checks one payment. The result is returned only after its audit line is written.
    pub async fn check(&self, id: &str) -> Result<CheckResult, UnauditedCheck> {
        self.check_capturing(id).await.map(|(result, _)| result)
    }

    /// Checks one payment like [`Checker::check`], and also returns the gateway's last complete
    /// reply as received (for recording fixtures and verifying providers; never logged).
    pub async fn check_capturing(
        &self,
        id: &str,
    ) -> Result<(CheckResult, Option<Reply>), UnauditedCheck> {
        let started = self.clock.now();
        let (gateway, asked) = match self.endpoint_for(id) {
            Err((gateway, detail)) => {
                let asked = Asked {
                    request: None,
                    http_status: None,
                    reading: Reading::new(Verdict::refused(Outcome::InvalidId, detail)),
                    log: Vec::new(),
                    stop: None,
                    last_reply: None,
                };
                (gateway, asked)
            }
            Ok(endpoint) => (Some(endpoint.gateway.kind()), self.ask(endpoint, id).await),
        };
        let duration_ms = millis(self.clock.now().saturating_sub(started));
        let request = asked.request.clone();
        let last_reply = asked.last_reply.clone();
        let result = into_result(id, gateway, asked, duration_ms);
        self.log(&result);
        let event = CheckEvent {
            payment_id: id,
            gateway,
            request,
            http_status: result.http_status,
            outcome: result.outcome,
            status: result.status,
            gateway_status: result.gateway_status.as_deref(),
            attempts: result.attempts,
            attempt_log: &result.attempt_log,
            retry_stop: result.retry_stop,
            duration_ms,
            gateway_request_id: result.gateway_request_id.as_deref(),
        };
        match self.audit.record(&event) {
            Ok(_) => Ok((result, last_reply)),
            Err(source) => {
                // The CLI reports this as its one error sentence; this event is for RUST_LOG=warn.
                tracing::warn!(payment_id = %display_safe(id), error = %source, "audit line not written; result withheld");
                Err(UnauditedCheck {
                    payment_id: id.to_owned(),
                    source,
                })
            }
        }
    }

    /// The gateway to ask about `id`, or why none can be asked (and which gateway, if known).
    fn endpoint_for(&self, id: &str) -> Result<&Endpoint, (Option<GatewayKind>, String)> {
        let kind = match self.routing {
            Routing::Fixed(kind) => kind,
            Routing::Auto => match gateway::route(id) {
                Some(kind) => kind,
                None => {
                    let detail = match payment_id::validate(id) {
                        Err(invalid) => invalid.to_string(),
                        Ok(()) => format!("no gateway fits this id: {}", gateway::ROUTING_RULES),
                    };
                    return Err((None, detail));
                }
            },
        };
        payment_id::validate(id).map_err(|invalid| (Some(kind), invalid.to_string()))?;
        self.endpoints
            .iter()
            .find(|e| e.gateway.kind() == kind)
            .ok_or_else(|| (Some(kind), format!("no {kind} gateway is configured")))
    }

    /// Asks the gateway about a valid id, retrying as the policy allows.
    async fn ask(&self, endpoint: &Endpoint, id: &str) -> Asked {
        let gateway = &endpoint.gateway;
        let kind = gateway.kind();
        let policy = endpoint.policy;
        let shown_id = display_safe(id);
        // Waiting for the first request slot is queueing in a bulk run, not time spent at the
        // gateway: the check's deadline starts when its first request may go. (Slots for
        // retries are part of the retry's wait, below, and do count.)
        if let Some(pacer) = &endpoint.pacer {
            let wait = pacer.reserve(self.clock.now());
            if !wait.is_zero() {
                tracing::debug!(gateway = %kind, payment_id = %shown_id, wait_ms = millis(wait), "pacing");
                self.clock.sleep(wait).await;
            }
        }
        let deadline = self.clock.now() + policy.deadline;
        let mut log: Vec<AttemptRecord> = Vec::new();
        let mut request_line = None;
        let mut last_reply: Option<Reply> = None;
        loop {
            let remaining = deadline.saturating_sub(self.clock.now());
            let request = match gateway.request(&self.client, id) {
                Ok(request) => request,
                Err(e) => {
                    let detail = format!(
                        "the payment id cannot be put in a request: {}",
                        e.without_url()
                    );
                    return Asked {
                        request: None,
                        http_status: None,
                        reading: Reading::new(Verdict::refused(Outcome::InvalidId, detail)),
                        log,
                        stop: None,
                        last_reply: None,
                    };
                }
            };
            let line = RequestLine {
                method: request.method().as_str().to_owned(),
                path: request.url().path().to_owned(),
            };
            request_line.get_or_insert(line.clone());
            let number = u32::try_from(log.len() + 1).unwrap_or(u32::MAX);
            tracing::debug!(gateway = %kind, payment_id = %shown_id, attempt = number, method = %line.method, path = %line.path, "sending status request");
            let attempt_started = self.clock.now();
            let exchange = if remaining.is_zero() {
                Exchange::Failed {
                    outcome: Outcome::Timeout,
                    detail: "the check's deadline passed before the request could be sent".into(),
                    http_status: None,
                }
            } else {
                self.exchange(request, policy.attempt_timeout.min(remaining))
                    .await
            };
            let duration_ms = millis(self.clock.now().saturating_sub(attempt_started));
            let (reading, http_status, headers, error) = match exchange {
                Exchange::Replied(reply) => {
                    let reading = gateway.read(id, &reply);
                    let (status, headers) = (reply.status, reply.headers.clone());
                    last_reply = Some(reply);
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
            let outcome = reading.verdict.outcome();
            log.push(AttemptRecord {
                attempt: number,
                http_status,
                outcome,
                error,
                duration_ms,
                wait_ms: None,
                wait_reason: None,
            });
            let finish = |log: Vec<AttemptRecord>, stop: Option<RetryStop>| Asked {
                request: request_line.clone(),
                http_status,
                reading: reading.clone(),
                log,
                stop,
                last_reply: last_reply.clone(),
            };
            if matches!(outcome, Outcome::Found | Outcome::NotFound) {
                endpoint.budget.refill();
                return finish(log, None);
            }
            // Should this failure be tried again at all?
            let (retry, forced) = match reading.retry_advice {
                Some(false) => return finish(log, Some(RetryStop::GatewayForbade)),
                Some(true) => (true, !retry::is_retryable(http_status, outcome)),
                None => (retry::is_retryable(http_status, outcome), false),
            };
            if !retry {
                return finish(log, Some(RetryStop::NotRetryable));
            }
            if number >= policy.max_attempts {
                return finish(log, Some(RetryStop::MaxAttempts));
            }
            let advised = headers
                .as_ref()
                .and_then(|h| retry::retry_after(h, self.clock.wall_time()))
                .map(|wait| wait.min(policy.retry_after_cap));
            let (wait, reason) = match advised {
                Some(wait) => (wait, WaitReason::RetryAfter),
                None => {
                    let wait = policy.backoff(number, self.jitter.unit());
                    (
                        wait,
                        if forced {
                            WaitReason::StripeShouldRetry
                        } else {
                            WaitReason::Backoff
                        },
                    )
                }
            };
            // A retry also needs a request slot; its wait is the later of the two.
            let wait = match &endpoint.pacer {
                Some(pacer) => wait + pacer.reserve(self.clock.now() + wait),
                None => wait,
            };
            if self.clock.now() + wait >= deadline {
                tracing::warn!(gateway = %kind, payment_id = %shown_id, attempt = number, wait_ms = millis(wait), "deadline reached: no further attempt");
                return finish(log, Some(RetryStop::Deadline));
            }
            if !endpoint.budget.try_spend(outcome) {
                tracing::warn!(gateway = %kind, payment_id = %shown_id, attempt = number, "retry suppressed: the gateway's retry budget is spent");
                return finish(log, Some(RetryStop::RetryBudget));
            }
            if let Some(last) = log.last_mut() {
                last.wait_ms = Some(millis(wait));
                last.wait_reason = Some(reason);
            }
            tracing::info!(gateway = %kind, payment_id = %shown_id, attempt = number, outcome = %outcome, http_status, reason = ?reason, wait_ms = millis(wait), "retrying");
            self.clock.sleep(wait).await;
        }
    }

    /// Sends the request and reads the whole body, within the timeout and the size limit.
    async fn exchange(&self, request: reqwest::Request, timeout: Duration) -> Exchange {
        let work = async {
            let mut response = self
                .client
                .execute(request)
                .await
                .map_err(|e| transport_failure(e, None))?;
            let status = response.status().as_u16();
            let too_big = || Exchange::Failed {
                outcome: Outcome::BadResponse,
                detail: format!("the gateway's body is over {MAX_BODY_BYTES} bytes (1 MiB)"),
                http_status: Some(status),
            };
            if response
                .content_length()
                .is_some_and(|length| length > MAX_BODY_BYTES as u64)
            {
                return Err(too_big());
            }
            let headers = response.headers().clone();
            let mut body = Vec::new();
            while let Some(chunk) = response
                .chunk()
                .await
                .map_err(|e| transport_failure(e, Some(status)))?
            {
                if body.len() + chunk.len() > MAX_BODY_BYTES {
                    return Err(too_big());
                }
                body.extend_from_slice(&chunk);
            }
            Ok(Reply {
                status,
                headers,
                body,
            })
        };
        match tokio::time::timeout(timeout, work).await {
            Ok(Ok(reply)) => Exchange::Replied(reply),
            Ok(Err(failed)) => failed,
            Err(_) => Exchange::Failed {
                outcome: Outcome::Timeout,
                detail: format!(
                    "no complete answer within {}",
                    humantime::format_duration(timeout)
                ),
                http_status: None,
            },
        }
    }

    fn log(&self, result: &CheckResult) {
        let id = display_safe(&result.payment_id);
        match result.outcome {
            Outcome::Found | Outcome::NotFound | Outcome::InvalidId => tracing::info!(
                gateway = result.gateway.map(GatewayKind::as_str), payment_id = %id, outcome = %result.outcome,
                status = result.status.map(PaymentStatus::as_str), http_status = result.http_status,
                attempts = result.attempts, "status check finished"
            ),
            _ => tracing::warn!(
                gateway = result.gateway.map(GatewayKind::as_str), payment_id = %id, outcome = %result.outcome,
                http_status = result.http_status, attempts = result.attempts, detail = result.detail.as_deref(),
                "status check got no answer"
            ),
        }
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// Classifies a transport error without its URL (which names the payment, not a secret, but
/// belongs in the audit line, not in a sentence).
fn transport_failure(error: reqwest::Error, http_status: Option<u16>) -> Exchange {
    let outcome = if error.is_timeout() {
        Outcome::Timeout
    } else if error.is_redirect() {
        Outcome::BadResponse
    } else {
        Outcome::ConnectionError
    };
    let mut cause = String::new();
    let mut source: Option<&dyn std::error::Error> = Some(&error);
    while let Some(e) = source {
        cause = e.to_string();
        source = e.source();
    }
    let what = if error.is_connect() {
        "could not connect to the gateway"
    } else if error.is_body() || error.is_decode() {
        "the connection broke while reading the gateway's body"
    } else if error.is_redirect() {
        "the gateway redirected paystat to another host"
    } else {
        "the request to the gateway failed"
    };
    Exchange::Failed {
        outcome,
        detail: format!("{what}: {cause}"),
        http_status,
    }
}

fn into_result(
    id: &str,
    gateway: Option<GatewayKind>,
    asked: Asked,
    duration_ms: u64,
) -> CheckResult {
    let reading = asked.reading;
    let mut result = CheckResult {
        payment_id: id.to_owned(),
        gateway,
        outcome: reading.verdict.outcome(),
        status: None,
        gateway_status: None,
        amount_minor: None,
        currency: None,
        created_at: None,
        failure_code: None,
        status_reason: None,
        http_status: asked.http_status,
        gateway_request_id: reading.request_id,
        attempts: u32::try_from(asked.log.len()).unwrap_or(u32::MAX),
        attempt_log: asked.log,
        retry_stop: asked.stop,
        duration_ms,
        detail: None,
        gateway_error: None,
    };
    match reading.verdict {
        Verdict::Found(payment) => {
            result.status = Some(payment.status);
            result.gateway_status = Some(payment.gateway_status);
            result.amount_minor = Some(payment.amount.amount_minor);
            result.currency = Some(payment.amount.currency_code().to_owned());
            result.created_at = payment.created_at;
            result.failure_code = payment.failure_code;
            result.status_reason = payment.status_reason;
        }
        Verdict::NoPayment { detail, error, .. } => {
            result.detail = Some(detail);
            result.gateway_error = error;
        }
    }
    result
}
