//! Errors as RFC 9457 problem details (`application/problem+json`): a `type` URI, a `title`, the
//! HTTP `status`, one sentence of `detail`, paystat's own `code` and the request id. Never a
//! secret, never a backtrace: every detail passes through [`crate::credential::redact`].

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// The problem types: a URN per code, described in the README (not meant to be fetched).
pub const TYPE_BASE: &str = "urn:paystat:problem:";

/// One problem, as the body of an error response.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem (`urn:paystat:problem:<code>`).
    #[serde(rename = "type")]
    pub kind: String,
    /// A short summary of the kind of problem.
    pub title: &'static str,
    /// The HTTP status.
    pub status: u16,
    /// One sentence on this occurrence.
    pub detail: String,
    /// paystat's own code for the kind of problem (`unauthorized`, `forbidden`, …).
    pub code: &'static str,
    /// The request id the response's `X-Request-Id` carries.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub request_id: String,
    /// Seconds to wait before trying again, for a 429 or a 503.
    #[serde(skip)]
    pub retry_after: Option<u32>,
}

impl Problem {
    /// A problem of `code` with `status`, `title` and `detail`.
    pub fn new(
        status: StatusCode,
        code: &'static str,
        title: &'static str,
        detail: impl Into<String>,
    ) -> Problem {
        Problem {
            kind: format!("{TYPE_BASE}{code}"),
            title,
            status: status.as_u16(),
            detail: crate::credential::redact(&detail.into()),
            code,
            request_id: String::new(),
            retry_after: None,
        }
    }

    /// 400: the request cannot be understood.
    pub fn bad_request(detail: impl Into<String>) -> Problem {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "Bad request",
            detail,
        )
    }

    /// 404: no such route.
    pub fn no_route() -> Problem {
        Problem::new(
            StatusCode::NOT_FOUND,
            "no_route",
            "No such endpoint",
            "this service has no such endpoint; see /openapi.json",
        )
    }

    /// Says when to try again.
    pub fn retry_after(mut self, seconds: u32) -> Problem {
        self.retry_after = Some(seconds);
        self
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&self).unwrap_or_default();
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"paystat\""),
            );
        }
        if let Some(seconds) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}
