//! The checker: asks a gateway about payments, times each check, and audits it.
//!
//! It owns one pooled `reqwest::Client` for all checks, bounds each request by a timeout that
//! covers the whole body, reads at most 1 MiB, and hands the reply to the gateway's adapter.
//! Every check — found, failed, or rejected before sending — ends with an audit line, and the
//! result is returned only once that line is written.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde::Serialize;

use crate::audit::{AuditError, AuditTrail, CheckEvent, RequestLine};
use crate::gateway::{self, Gateway, GatewayError, GatewayKind, Reading, Reply, Verdict};
use crate::money::Money;
use crate::payment_id::{self, display_safe};
use crate::status::{Outcome, PaymentStatus};

/// The per-request timeout when none is configured (as the original script).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// How many checks run at once when none is configured.
pub const DEFAULT_CONCURRENCY: usize = 8;

/// The largest body paystat reads; anything longer is a `bad_response`.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// The normalized answer to one status check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckResult {
    /// The payment asked about, exactly as given.
    pub payment_id: String,
    /// The gateway asked (none when `--gateway auto` found no gateway for the id).
    pub gateway: Option<GatewayKind>,
    /// What the check concluded.
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
    /// How long the check took, in milliseconds.
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

/// A configured gateway and its per-request timeout.
#[derive(Debug, Clone)]
struct Endpoint {
    gateway: Arc<dyn Gateway>,
    timeout: Duration,
}

/// Checks payments and audits every check.
#[derive(Debug, Clone)]
pub struct Checker {
    client: reqwest::Client,
    endpoints: Vec<Endpoint>,
    routing: Routing,
    audit: Arc<AuditTrail>,
    concurrency: usize,
}

/// What happened on the wire, before the adapter reads it.
enum Exchange {
    Replied(Reply),
    Failed {
        outcome: Outcome,
        detail: String,
        http_status: Option<u16>,
    },
}

impl Checker {
    /// A checker for `gateway` that audits into `audit`, with the default timeout and concurrency.
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
            .map(|gateway| Endpoint {
                gateway,
                timeout: DEFAULT_TIMEOUT,
            })
            .collect();
        Checker {
            client,
            endpoints,
            routing,
            audit,
            concurrency: DEFAULT_CONCURRENCY,
        }
    }

    /// Sets the per-request timeout (headers and whole body) of every gateway.
    pub fn with_timeout(mut self, timeout: Duration) -> Checker {
        for endpoint in &mut self.endpoints {
            endpoint.timeout = timeout;
        }
        self
    }

    /// Sets the per-request timeout of one gateway.
    pub fn with_gateway_timeout(mut self, kind: GatewayKind, timeout: Duration) -> Checker {
        for endpoint in self
            .endpoints
            .iter_mut()
            .filter(|e| e.gateway.kind() == kind)
        {
            endpoint.timeout = timeout;
        }
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
        let started = Instant::now();
        let refused = |detail: String| Reading {
            verdict: Verdict::refused(Outcome::InvalidId, detail),
            request_id: None,
        };
        let (gateway, (request_line, http_status, reading, attempts)) = match self.endpoint_for(id)
        {
            Err((gateway, detail)) => (gateway, (None, None, refused(detail), 0)),
            Ok(endpoint) => (Some(endpoint.gateway.kind()), self.ask(endpoint, id).await),
        };
        let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let result = into_result(id, gateway, http_status, reading, attempts, duration_ms);
        self.log(&result);
        let event = CheckEvent {
            payment_id: id,
            gateway,
            request: request_line,
            http_status,
            outcome: result.outcome,
            status: result.status,
            gateway_status: result.gateway_status.as_deref(),
            attempts,
            duration_ms,
            gateway_request_id: result.gateway_request_id.as_deref(),
        };
        match self.audit.record(&event) {
            Ok(_) => Ok(result),
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
                None if payment_id::validate(id).is_err() => {
                    return Err((None, payment_id::validate(id).unwrap_err().to_string()));
                }
                None => {
                    return Err((
                        None,
                        format!("no gateway fits this id: {}", gateway::ROUTING_RULES),
                    ));
                }
            },
        };
        payment_id::validate(id).map_err(|invalid| (Some(kind), invalid.to_string()))?;
        self.endpoints
            .iter()
            .find(|e| e.gateway.kind() == kind)
            .ok_or_else(|| (Some(kind), format!("no {kind} gateway is configured")))
    }

    /// Sends one request for a valid id and reads the reply.
    async fn ask(
        &self,
        endpoint: &Endpoint,
        id: &str,
    ) -> (Option<RequestLine>, Option<u16>, Reading, u32) {
        let gateway = &endpoint.gateway;
        let request = match gateway.request(&self.client, id) {
            Ok(request) => request,
            Err(e) => {
                let reading = Reading {
                    verdict: Verdict::refused(
                        Outcome::InvalidId,
                        format!(
                            "the payment id cannot be put in a request: {}",
                            e.without_url()
                        ),
                    ),
                    request_id: None,
                };
                return (None, None, reading, 0);
            }
        };
        let line = RequestLine {
            method: request.method().as_str().to_owned(),
            path: request.url().path().to_owned(),
        };
        tracing::debug!(gateway = %gateway.kind(), payment_id = %display_safe(id), method = %line.method, path = %line.path, "sending status request");
        match self.exchange(request, endpoint.timeout).await {
            Exchange::Replied(reply) => {
                let status = reply.status;
                (Some(line), Some(status), gateway.read(id, &reply), 1)
            }
            Exchange::Failed {
                outcome,
                detail,
                http_status,
            } => {
                let reading = Reading {
                    verdict: Verdict::refused(outcome, detail),
                    request_id: None,
                };
                (Some(line), http_status, reading, 1)
            }
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
                "status check finished"
            ),
            _ => tracing::warn!(
                gateway = result.gateway.map(GatewayKind::as_str), payment_id = %id, outcome = %result.outcome,
                http_status = result.http_status, detail = result.detail.as_deref(),
                "status check got no answer"
            ),
        }
    }
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
    http_status: Option<u16>,
    reading: Reading,
    attempts: u32,
    duration_ms: u64,
) -> CheckResult {
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
        http_status,
        gateway_request_id: reading.request_id,
        attempts,
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
