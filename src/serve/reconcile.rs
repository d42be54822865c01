//! `POST /v1/reconciliations` (admin): `paystat reconcile` through the service. The export
//! comes in the body as CSV text; the rows go out as NDJSON while they are decided, then one
//! line with the summary (the fill, the totals per status and per difference). Every row is
//! a check audited as the token's actor, like any other.

use std::sync::Arc;

use axum::Extension;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::Service;
use super::access::Authed;
use super::problem::Problem;
use super::tokens::Role;
use crate::fill::{FillOptions, Window};
use crate::result::GatewayKind;

/// A reconciliation to run.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReconcileRequest {
    /// `stripe` or `plaid`: the gateway whose list is read.
    pub gateway: String,
    /// The window's first instant, RFC 3339 (`2026-11-01T00:00:00Z`).
    pub since: String,
    /// The first instant after it.
    pub until: String,
    /// The company's export of the period, as CSV text (`payment_id`, optionally `amount` or
    /// `amount_minor` with `currency`).
    pub export: String,
    /// Read the window again even when an earlier fill read it to its end.
    #[serde(default)]
    pub refill: bool,
}

/// `POST /v1/reconciliations`: reconcile an export against a gateway's list of a window.
#[utoipa::path(
    post,
    path = "/v1/reconciliations",
    request_body(content = ReconcileRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "One reconciled row per line as decided (the check's result with `difference`, `in_export`, `export_amount_minor`, `export_currency`, `in_window`), then `{\"summary\": …}`", content_type = "application/x-ndjson"),
        (status = 400, description = "A request or an export that cannot be read", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin token", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn reconciliations(
    State(service): State<Arc<Service>>,
    Extension(authed): Extension<Authed>,
    body: Bytes,
) -> Response {
    if let Err(problem) = authed.require(Role::Admin, "reconciling") {
        return problem.into_response();
    }
    let request: ReconcileRequest = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(e) => {
            return Problem::bad_request(format!(
                "the body is not a reconciliation ({{gateway, since, until, export}}): {e}"
            ))
            .into_response();
        }
    };
    let gateway = match request.gateway.as_str() {
        "stripe" => GatewayKind::Stripe,
        "plaid" => GatewayKind::Plaid,
        _ => {
            return Problem::bad_request("`gateway` is stripe or plaid (the gateways with a list)")
                .into_response();
        }
    };
    let instant = |text: &str| {
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()
    };
    let (Some(since), Some(until)) = (instant(&request.since), instant(&request.until)) else {
        return Problem::bad_request("`since` and `until` are RFC 3339 instants").into_response();
    };
    if until <= since {
        return Problem::bad_request("`until` must come after `since`").into_response();
    }
    let export = match crate::reconcile::read_export(request.export.as_bytes()) {
        Ok(export) => export,
        Err(e) => return Problem::bad_request(e.to_string()).into_response(),
    };
    if service.checker.cache().is_none() {
        return Problem::new(
            StatusCode::CONFLICT,
            "no_cache",
            "No cache",
            "this service runs without the status cache, which a reconciliation fills",
        )
        .into_response();
    }
    let options = FillOptions {
        gateway,
        window: Window { since, until },
        refill: request.refill,
        caller: Some(Arc::clone(&authed.caller)),
    };
    let (lines, mut receiver) = tokio::sync::mpsc::unbounded_channel::<Bytes>();
    tokio::spawn(async move {
        let _counted = service.metrics.in_flight();
        let rows = lines.clone();
        let report = service
            .checker
            .reconcile(export, &options, &|_| {}, move |row| {
                let mut line = serde_json::to_vec(row).unwrap_or_default();
                line.push(b'\n');
                let _ = rows.send(Bytes::from(line));
            })
            .await;
        let last = match report {
            Ok(report) => serde_json::json!({ "summary": report }),
            Err(e) => serde_json::json!({ "error": crate::credential::redact(&e.to_string()) }),
        };
        let mut line = serde_json::to_vec(&last).unwrap_or_default();
        line.push(b'\n');
        let _ = lines.send(Bytes::from(line));
    });
    let body = futures_util::stream::poll_fn(move |cx| receiver.poll_recv(cx))
        .map(Ok::<_, std::convert::Infallible>);
    let mut response = Response::new(Body::from_stream(body));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-ndjson"),
    );
    response
}

use futures_util::StreamExt as _;
