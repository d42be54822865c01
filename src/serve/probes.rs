//! The open endpoints: liveness, readiness (the trail writable, the cache open, each gateway's
//! configuration valid — no gateway is called), the metrics, the OpenAPI document, and the
//! problem for a route that does not exist.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::Service;
use super::problem::Problem;

/// `GET /livez`: the process answers.
#[utoipa::path(get, path = "/livez", responses((status = 200, description = "The process answers")))]
pub async fn livez() -> &'static str {
    "ok\n"
}

/// `GET /readyz`: whether checks can be answered and audited now.
#[utoipa::path(
    get,
    path = "/readyz",
    responses(
        (status = 200, description = "Ready: the trail takes lines, the cache is open"),
        (status = 503, description = "Not ready, and why", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn readyz(State(service): State<Arc<Service>>) -> Response {
    match service.not_ready() {
        None => "ready\n".into_response(),
        Some(why) => Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_ready",
            "Not ready",
            why,
        )
        .into_response(),
    }
}

impl Service {
    /// Why the service cannot answer checks now, if it cannot.
    fn not_ready(&self) -> Option<String> {
        if self.checker.halted() {
            return Some(
                "an audit line could not be written; the service checks nothing more until it is restarted"
                    .to_owned(),
            );
        }
        // The trail's directory takes a new file (a full disk or a read-only one does not).
        let dir = self.checker.audit_trail().path();
        let dir = dir.parent().unwrap_or(std::path::Path::new("."));
        let probe = dir.join(format!(".paystat-ready.{}", std::process::id()));
        let written = std::fs::write(&probe, vec![0u8; 4096]);
        let _ = std::fs::remove_file(&probe);
        if let Err(e) = written {
            return Some(format!(
                "the audit trail's directory {} does not take a write: {e}",
                dir.display()
            ));
        }
        if let Some(cache) = self.checker.cache()
            && let Err(e) = cache.stats()
        {
            return Some(format!("the status cache cannot be read: {e}"));
        }
        if !self.state_dir.is_dir() {
            return Some(format!(
                "the state directory {} is gone",
                self.state_dir.display()
            ));
        }
        None
    }
}

/// `GET /metrics`: the Prometheus text exposition.
#[utoipa::path(get, path = "/metrics", responses((status = 200, description = "Prometheus text format", content_type = "text/plain")))]
pub async fn metrics(State(service): State<Arc<Service>>) -> Response {
    let entries = service
        .checker
        .cache()
        .and_then(|c| c.stats().ok())
        .map(|stats| stats.iter().map(|(_, s)| s.entries).sum());
    let mut response = service.metrics.render(entries).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
    );
    response
}

/// `GET /openapi.json`: the API, generated from the types it serves.
#[utoipa::path(get, path = "/openapi.json", responses((status = 200, description = "OpenAPI 3.1")))]
pub async fn openapi() -> Response {
    axum::Json(super::openapi::document()).into_response()
}

/// Any other path.
pub async fn no_route() -> Problem {
    Problem::no_route()
}
