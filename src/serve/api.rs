//! The checks: one payment (`GET /v1/payments/{id}`), a batch (`POST /v1/checks`, answered as
//! NDJSON while checks complete), and an admin's cache sync. The body of a check is the same
//! normalized result `paystat check --format json` prints; its HTTP status follows the outcome.

use std::sync::Arc;
use std::time::Duration;

use axum::Extension;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};

use super::Service;
use super::access::Authed;
use super::problem::Problem;
use super::tokens::Role;
use crate::check::{Ask, Routing};
use crate::result::{CheckResult, GatewayKind, Outcome};

/// Which gateway a request names.
#[derive(Debug, Clone, Copy, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum GatewayParam {
    /// By the id's shape.
    #[default]
    Auto,
    Ledger,
    Stripe,
    Plaid,
}

impl GatewayParam {
    fn routing(self) -> Routing {
        match self {
            GatewayParam::Auto => Routing::Auto,
            GatewayParam::Ledger => Routing::Fixed(GatewayKind::Ledger),
            GatewayParam::Stripe => Routing::Fixed(GatewayKind::Stripe),
            GatewayParam::Plaid => Routing::Fixed(GatewayKind::Plaid),
        }
    }
}

/// The query of `GET /v1/payments/{id}`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CheckQuery {
    /// `auto` (by the id's shape), `ledger`, `stripe` or `plaid`.
    #[serde(default)]
    #[param(inline)]
    pub gateway: GatewayParam,
    /// Reuse a cached answer that can still change while younger than this (`30s`, `10m`).
    pub max_age: Option<String>,
    /// Ask the gateway even when the cache holds an answer.
    #[serde(default)]
    pub refresh: bool,
    /// The Stripe connected account (only the one the service is configured for).
    pub stripe_account: Option<String>,
}

/// The HTTP status of a check's result, by its outcome.
pub fn status_of(outcome: Outcome) -> StatusCode {
    match outcome {
        Outcome::Found => StatusCode::OK,
        Outcome::NotFound => StatusCode::NOT_FOUND,
        Outcome::InvalidId => StatusCode::BAD_REQUEST,
        Outcome::RateLimited | Outcome::Interrupted => StatusCode::SERVICE_UNAVAILABLE,
        Outcome::Timeout => StatusCode::GATEWAY_TIMEOUT,
        _ => StatusCode::BAD_GATEWAY,
    }
}

/// What a request asks beyond the id, or why it cannot be taken.
fn ask_of(query: &CheckQuery, authed: &Authed) -> Result<Ask, Problem> {
    if query.stripe_account.is_some() {
        return Err(Problem::bad_request(
            "this service asks the Stripe account it is configured for; `stripe_account` cannot be chosen per request",
        ));
    }
    let max_age = match query.max_age.as_deref() {
        None => None,
        Some(text) => Some(
            humantime::parse_duration(text)
                .ok()
                .filter(|d| *d <= Duration::from_secs(366 * 24 * 3600))
                .ok_or_else(|| {
                    Problem::bad_request(
                        "`max_age` is a duration of at most a year, such as `30s` or `10m`",
                    )
                })?,
        ),
    };
    Ok(Ask {
        routing: Some(query.gateway.routing()),
        caller: Some(Arc::clone(&authed.caller)),
        max_age,
        refresh: query.refresh,
    })
}

/// The problem of a check whose audit line could not be written: the answer is withheld.
fn unaudited() -> Problem {
    Problem::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "audit_unavailable",
        "Audit trail unavailable",
        "the audit line of this check could not be written, so its answer is withheld; the service checks nothing more until its operator restarts it",
    )
}

/// `GET /v1/payments/{id}`: one payment, its result as the body.
#[utoipa::path(
    get,
    path = "/v1/payments/{id}",
    params(("id" = String, Path, description = "The payment id"), CheckQuery),
    responses(
        (status = 200, description = "Found", body = CheckResult),
        (status = 404, description = "The gateway has no such payment", body = CheckResult),
        (status = 400, description = "An id no gateway takes", body = CheckResult),
        (status = 502, description = "The gateway refused, failed or answered badly", body = CheckResult),
        (status = 503, description = "Rate limited or interrupted (the result), or the audit line not written (a problem)", body = CheckResult),
        (status = 504, description = "The gateway did not answer in time", body = CheckResult),
        (status = 401, description = "No accepted token", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "The token's limits", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn payment(
    State(service): State<Arc<Service>>,
    Extension(authed): Extension<Authed>,
    Path(id): Path<String>,
    query: Result<Query<CheckQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Ok(Query(query)) = query else {
        return Problem::bad_request(
            "the query takes `gateway` (auto, ledger, stripe, plaid), `max_age`, `refresh` (true or false) and `stripe_account`",
        )
        .into_response();
    };
    let ask = match ask_of(&query, &authed) {
        Ok(ask) => ask,
        Err(problem) => return problem.into_response(),
    };
    let Ok(_permit) = service.in_flight.try_acquire() else {
        return busy(service.options.max_in_flight);
    };
    let started = std::time::Instant::now();
    let mut response = match service.check(&id, &ask).await {
        Ok(result) => result_response(&result),
        Err(problem) => problem.into_response(),
    };
    response
        .extensions_mut()
        .insert(super::access::CheckTime(started.elapsed()));
    response
}

/// `GET /v1/payments/{id}/explanation`: the payment checked now (audited, never from the
/// cache), its timeline across our trail and the gateway's history, and the diagnosis. An ops
/// token sees our earlier checks without who made them; compliance and admin see the actors.
#[utoipa::path(
    get,
    path = "/v1/payments/{id}/explanation",
    params(("id" = String, Path, description = "The payment id"), ExplainQuery),
    responses(
        (status = 200, description = "The explanation (its `result` says how the check went)", body = Object),
        (status = 400, description = "A query paystat cannot take", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No accepted token", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "The token's limits", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Busy, or the check's audit line not written", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn explanation(
    State(service): State<Arc<Service>>,
    Extension(authed): Extension<Authed>,
    Path(id): Path<String>,
    query: Result<Query<ExplainQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Ok(Query(query)) = query else {
        return Problem::bad_request("the query takes `gateway` (auto, ledger, stripe, plaid)")
            .into_response();
    };
    let ask = Ask {
        routing: Some(query.gateway.routing()),
        caller: Some(Arc::clone(&authed.caller)),
        max_age: None,
        refresh: true,
    };
    let Ok(_permit) = service.in_flight.try_acquire() else {
        return busy(service.options.max_in_flight);
    };
    let options = crate::explain::ExplainOptions {
        show_actors: authed.token.role >= Role::Compliance,
        ..service.options.explain.clone()
    };
    let started = std::time::Instant::now();
    let _counted = service.metrics.in_flight();
    let mut response = match service.checker.explain(&id, &ask, &options).await {
        Ok(explanation) => {
            service.metrics.checked(&explanation.result);
            let body = serde_json::to_vec(&explanation).unwrap_or_default();
            let mut response = (StatusCode::OK, body).into_response();
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            response
        }
        Err(_) => unaudited().into_response(),
    };
    response
        .extensions_mut()
        .insert(super::access::CheckTime(started.elapsed()));
    response
}

/// The query of `GET /v1/payments/{id}/explanation`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExplainQuery {
    /// `auto` (by the id's shape), `ledger`, `stripe` or `plaid`.
    #[serde(default)]
    #[param(inline)]
    pub gateway: GatewayParam,
}

/// The problem of a check that finds the service at its limit of checks under way.
fn busy(max_in_flight: usize) -> Response {
    Problem::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "busy",
        "Busy",
        format!("the service has {max_in_flight} checks under way, as many as it runs at once"),
    )
    .retry_after(1)
    .into_response()
}

/// A result as a response: its JSON, with the status its outcome calls for; a 503 carries
/// `Retry-After` when the gateway asked for a wait (the last one it asked for, in whole
/// seconds).
pub fn result_response(result: &CheckResult) -> Response {
    let body = serde_json::to_vec(result).unwrap_or_default();
    let status = status_of(result.outcome);
    let mut response = (status, body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if status == StatusCode::SERVICE_UNAVAILABLE
        && let Some(wait) = gateway_wait(result)
    {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(wait));
    }
    response
}

/// The last wait the gateway asked for with `Retry-After`, in whole seconds (at least 1).
fn gateway_wait(result: &CheckResult) -> Option<u64> {
    result
        .attempt_log
        .iter()
        .rev()
        .find(|a| a.wait_reason == Some(crate::result::WaitReason::RetryAfter))
        .and_then(|a| a.wait_ms)
        .map(|ms| ms.div_ceil(1000).max(1))
}

impl Service {
    /// One audited check, counted in the metrics.
    pub(super) async fn check(&self, id: &str, ask: &Ask) -> Result<CheckResult, Problem> {
        let _counted = self.metrics.in_flight();
        match self.checker.check_as(id, ask).await {
            Ok(result) => {
                self.metrics.checked(&result);
                Ok(result)
            }
            Err(_) => Err(unaudited()),
        }
    }
}

/// A batch's body: `{"ids": [...], "gateway": "auto"}`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct Batch {
    /// The ids, at most `max_batch` of them.
    pub ids: Vec<String>,
    /// `auto` (by each id's shape), `ledger`, `stripe` or `plaid`.
    #[serde(default)]
    pub gateway: GatewayParam,
}

/// The query of `POST /v1/checks`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct BatchQuery {
    /// Results in the order of the ids, rather than as checks complete.
    #[serde(default)]
    pub ordered: bool,
    /// The gateway, for a body of NDJSON or of one id per line.
    #[serde(default)]
    #[param(inline)]
    pub gateway: Option<GatewayParam>,
}

/// The ids and gateway of a batch body: a JSON object, NDJSON (`{"id": …}` or `"…"` per
/// line), or one id per line.
fn batch_of(headers: &HeaderMap, body: &[u8]) -> Result<Batch, Problem> {
    let text = std::str::from_utf8(body)
        .map_err(|_| Problem::bad_request("the batch is not UTF-8 text"))?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if content_type.starts_with("application/json") {
        return serde_json::from_str::<Batch>(text).map_err(|e| {
            Problem::bad_request(format!(
                "the batch is not `{{\"ids\": [...], \"gateway\": \"auto\"}}`: {e}"
            ))
        });
    }
    let ndjson = content_type.starts_with("application/x-ndjson");
    let mut ids = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            continue;
        }
        if !ndjson {
            ids.push(line.to_owned());
            continue;
        }
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Item {
            Id(String),
            Object { id: String },
        }
        match serde_json::from_str::<Item>(line) {
            Ok(Item::Id(id) | Item::Object { id }) => ids.push(id),
            Err(_) => {
                return Err(Problem::bad_request(format!(
                    "line {} of the NDJSON batch is neither a JSON string nor {{\"id\": \"…\"}}",
                    n + 1
                )));
            }
        }
    }
    Ok(Batch {
        ids,
        gateway: GatewayParam::Auto,
    })
}

/// `POST /v1/checks`: a batch, read whole before any check, answered as NDJSON.
#[utoipa::path(
    post,
    path = "/v1/checks",
    params(BatchQuery),
    request_body(content = Batch, description = "A JSON object; or NDJSON (application/x-ndjson); or one id per line (text/plain)"),
    responses(
        (status = 200, description = "One result per line, as checks complete", body = CheckResult, content_type = "application/x-ndjson"),
        (status = 400, description = "A batch that cannot be read", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "More ids than `max_batch`, or a body too large: nothing checked", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn checks(
    State(service): State<Arc<Service>>,
    Extension(authed): Extension<Authed>,
    query: Result<Query<BatchQuery>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Ok(Query(query)) = query else {
        return Problem::bad_request(
            "the query takes `ordered` (true or false) and `gateway` (auto, ledger, stripe, plaid)",
        )
        .into_response();
    };
    let batch = match batch_of(&headers, &body) {
        Ok(batch) => batch,
        Err(problem) => return problem.into_response(),
    };
    if batch.ids.len() > service.options.max_batch {
        return Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_many_ids",
            "Too many ids",
            format!(
                "the batch holds {} ids; this service takes at most {} in one batch, and checked none",
                batch.ids.len(),
                service.options.max_batch
            ),
        )
        .into_response();
    }
    let gateway = query.gateway.unwrap_or(batch.gateway);
    let ask = Ask {
        routing: Some(gateway.routing()),
        caller: Some(Arc::clone(&authed.caller)),
        max_age: None,
        refresh: false,
    };
    let (lines, receiver) = tokio::sync::mpsc::channel::<Bytes>(64);
    let ordered = query.ordered;
    tokio::spawn(async move {
        service.run_batch(batch.ids, ask, ordered, lines).await;
    });
    let body = futures_util::stream::unfold(receiver, |mut receiver| async move {
        let line = receiver.recv().await?;
        Some((Ok::<_, std::convert::Infallible>(line), receiver))
    });
    let mut response = Response::new(Body::from_stream(body));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-ndjson"),
    );
    response
}

impl Service {
    /// Checks `ids`, each result sent to `lines` once audited. A client gone (`lines` closed)
    /// takes no further id; the checks under way finish, and are audited.
    async fn run_batch(
        self: Arc<Self>,
        ids: Vec<String>,
        ask: Ask,
        ordered: bool,
        lines: tokio::sync::mpsc::Sender<Bytes>,
    ) {
        let gone = lines.clone();
        // The checker's own pipeline, as a bulk run uses it: its concurrency asking, and the
        // lines awaiting their shared sync beside them. A client gone takes no further id.
        let ids = futures_util::stream::iter(ids)
            .take_while(move |_| std::future::ready(!gone.is_closed()));
        let _counted = self.metrics.in_flight();
        // The batch holds its share of the global bound on checks in flight while it runs.
        let share = self
            .checker
            .concurrency()
            .min(self.options.max_in_flight.max(1)) as u32;
        let Ok(_share) = self.in_flight.acquire_many(share).await else {
            return;
        };
        let mut results = self.checker.check_stream_send(ids, ordered, &ask);
        while let Some(result) = results.next().await {
            let mut line = match result {
                Ok(result) => {
                    self.metrics.checked(&result);
                    serde_json::to_vec(&result).unwrap_or_default()
                }
                Err(_) => serde_json::to_vec(&unaudited()).unwrap_or_default(),
            };
            line.push(b'\n');
            // A client gone: the rest of the checks under way still finish (and are audited).
            let _ = lines.send(Bytes::from(line)).await;
        }
    }
}

/// What `POST /v1/cache/sync` did, per gateway.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CacheSync {
    /// Each configured gateway's feed.
    pub gateways: Vec<SyncedFeed>,
}

/// One gateway's feed, synced.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SyncedFeed {
    /// The gateway.
    pub gateway: GatewayKind,
    /// Whether it has a change feed (the ledger has none).
    pub has_feed: bool,
    /// Changes read.
    pub changes: u64,
    /// Cached answers dropped because their payment changed.
    pub dropped: u64,
    /// Why the feed could not be read to its end, if it could not.
    pub error: Option<String>,
}

/// `POST /v1/cache/sync` (admin): the gateways' change feeds read into the cache now.
#[utoipa::path(
    post,
    path = "/v1/cache/sync",
    responses(
        (status = 200, description = "Per gateway: whether it has a feed, changes read, entries dropped, or why it could not be synced", body = CacheSync),
        (status = 403, description = "Not an admin token", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn cache_sync(
    State(service): State<Arc<Service>>,
    Extension(authed): Extension<Authed>,
) -> Response {
    if let Err(problem) = authed.require(Role::Admin, "syncing the cache") {
        return problem.into_response();
    }
    let Some(cache) = service.checker.cache() else {
        return Problem::new(
            StatusCode::CONFLICT,
            "no_cache",
            "No cache",
            "this service runs without the status cache",
        )
        .into_response();
    };
    match service.checker.sync_feeds(cache).await {
        Ok(report) => {
            let gateways = report
                .iter()
                .map(|sync| SyncedFeed {
                    gateway: sync.gateway,
                    has_feed: sync.has_feed,
                    changes: sync.changes,
                    dropped: sync.dropped,
                    error: sync.error.as_deref().map(crate::credential::redact),
                })
                .collect();
            axum::Json(CacheSync { gateways }).into_response()
        }
        Err(e) => Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "cache_unavailable",
            "Cache unavailable",
            e.to_string(),
        )
        .into_response(),
    }
}
