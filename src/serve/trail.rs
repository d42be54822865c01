//! Reading the trail, for the compliance role: a payment's history and an export of a range,
//! streamed as they are read; as `audit export` does, an export verifies the range's chain
//! first (the result in the `Paystat-Chain` header), and as `audit history` does, a history
//! reads without walking the whole chain. Each read is itself audited (`audit.read`): who read which range
//! with which filters, and how many lines.

use std::io::Write;
use std::sync::Arc;

use axum::Extension;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::Service;
use super::access::Authed;
use super::problem::Problem;
use super::tokens::Role;
use crate::audit::query::{self, ExportFormat, Filter, Scanned};
use crate::audit::verify::{self, VerifyOptions};
use crate::result::{GatewayKind, Outcome};

/// The query of `GET /v1/audit/export`: the CLI's filters.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExportQuery {
    /// At or after this time (RFC 3339).
    pub since: Option<String>,
    /// Before this time (RFC 3339).
    pub until: Option<String>,
    /// `jsonl` (the lines as written) or `csv`.
    pub format: Option<String>,
    /// Lines by this actor.
    pub actor: Option<String>,
    /// Lines about this payment.
    pub payment_id: Option<String>,
    /// Checks of this gateway.
    pub gateway: Option<String>,
    /// Checks with this outcome.
    pub outcome: Option<String>,
    /// Lines of this event only.
    pub event: Option<String>,
}

fn time_of(name: &str, text: Option<&str>) -> Result<Option<OffsetDateTime>, Problem> {
    text.map(|t| {
        OffsetDateTime::parse(t, &Rfc3339).map_err(|_| {
            Problem::bad_request(format!(
                "`{name}` is a time in RFC 3339, such as 2026-12-01T00:00:00Z"
            ))
        })
    })
    .transpose()
}

impl ExportQuery {
    fn filter(&self) -> Result<(Filter, ExportFormat), Problem> {
        let format = match self.format.as_deref() {
            None | Some("jsonl") => ExportFormat::Jsonl,
            Some("csv") => ExportFormat::Csv,
            Some(_) => return Err(Problem::bad_request("`format` is `jsonl` or `csv`")),
        };
        let gateway = match self.gateway.as_deref() {
            None => None,
            Some(g) => Some(
                serde_json::from_value::<GatewayKind>(g.into())
                    .map_err(|_| Problem::bad_request("`gateway` is ledger, stripe or plaid"))?,
            ),
        };
        let outcome = match self.outcome.as_deref() {
            None => None,
            Some(o) => Some(Outcome::from_word(o).ok_or_else(|| {
                Problem::bad_request("`outcome` is one of the outcome words (found, not_found, …)")
            })?),
        };
        let events = match self.event.as_deref() {
            None => Vec::new(),
            Some(e) if crate::audit::EVENTS.contains(&e) => vec![e.to_owned()],
            Some(_) => {
                return Err(Problem::bad_request(format!(
                    "`event` is one of {}",
                    crate::audit::EVENTS.join(", ")
                )));
            }
        };
        Ok((
            Filter {
                since: time_of("since", self.since.as_deref())?,
                until: time_of("until", self.until.as_deref())?,
                actor: self.actor.clone(),
                payment_id: self.payment_id.clone(),
                gateway,
                outcome,
                events,
                every_file: false,
            },
            format,
        ))
    }
}

/// A writer whose bytes go to the response body, a piece at a time.
struct ToBody {
    sender: tokio::sync::mpsc::Sender<Bytes>,
    buffer: Vec<u8>,
}

impl Write for ToBody {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.buffer.extend_from_slice(bytes);
        if self.buffer.len() >= 64 * 1024 {
            self.flush()?;
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let piece = Bytes::from(std::mem::take(&mut self.buffer));
        self.sender
            .blocking_send(piece)
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "client gone"))
    }
}

/// The chain over `since..until`: `verified`, or `broken` and where.
fn chain_of(service: &Service, filter: &Filter) -> Result<(&'static str, String), Problem> {
    let report = verify::verify(
        &service.trail.location,
        &VerifyOptions {
            since: filter.since,
            until: filter.until,
            expect_head: None,
            sealer: service.trail.sealer.clone(),
            previous: service.trail.previous.clone(),
        },
    )
    .map_err(|e| {
        Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "trail_unreadable",
            "Trail unreadable",
            e.to_string(),
        )
    })?;
    Ok(match report.broken {
        None => ("verified", String::new()),
        Some(b) => ("broken", format!("{}: {}", b.kind.as_str(), b.detail)),
    })
}

/// A streamed read of the trail: verified first when `verified` (on a blocking thread: a walk
/// over a big trail takes seconds), then `read` run on a blocking thread into the body, then
/// audited with what it read.
async fn streamed(
    service: Arc<Service>,
    authed: Authed,
    what: &'static str,
    (filter, verified): (Filter, bool),
    content_type: &'static str,
    read: impl FnOnce(&Service, &Filter, &mut ToBody) -> Result<Scanned, query::QueryError>
    + Send
    + 'static,
) -> Response {
    let (chain, detail, filter) = if verified {
        let walking = Arc::clone(&service);
        let walked = tokio::task::spawn_blocking(move || {
            let chain = chain_of(&walking, &filter);
            (chain, filter)
        })
        .await;
        match walked {
            Ok((Ok((chain, detail)), filter)) => (chain, detail, filter),
            Ok((Err(problem), _)) => return problem.into_response(),
            Err(_) => {
                return Problem::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "trail_unreadable",
                    "Trail unreadable",
                    "the walk over the trail's chain stopped before its end",
                )
                .into_response();
            }
        }
    } else {
        ("not verified", String::new(), filter)
    };
    let (sender, mut receiver) = tokio::sync::mpsc::channel::<Bytes>(16);
    tokio::task::spawn_blocking(move || {
        let mut out = ToBody {
            sender,
            buffer: Vec::new(),
        };
        let scanned = read(&service, &filter, &mut out).and_then(|s| {
            out.flush().map_err(query::QueryError::Write)?;
            Ok(s)
        });
        let (lines, complete) = match &scanned {
            Ok(s) => (s.matched, true),
            Err(_) => (0, false),
        };
        let mut fields = serde_json::Map::new();
        fields.insert("read".into(), what.into());
        let range = |t: Option<OffsetDateTime>| t.and_then(|t| t.format(&Rfc3339).ok());
        fields.insert("since".into(), range(filter.since).into());
        fields.insert("until".into(), range(filter.until).into());
        fields.insert(
            "filters".into(),
            serde_json::json!({
                "actor": filter.actor,
                "payment_id": filter.payment_id.as_deref().map(crate::result::kept_id),
                "gateway": filter.gateway,
                "outcome": filter.outcome,
                "events": filter.events,
            }),
        );
        fields.insert("lines".into(), lines.into());
        fields.insert("complete".into(), complete.into());
        fields.insert("range_chain".into(), chain.into());
        if let Err(e) = service.checker.audit_trail().note_as(
            crate::audit::EVENT_AUDIT_READ,
            fields,
            Some(&authed.caller),
        ) {
            tracing::error!(error = %e, "the read of the trail could not be audited");
        }
    });
    let body = futures_util::stream::poll_fn(move |cx| {
        receiver
            .poll_recv(cx)
            .map(|piece| piece.map(Ok::<_, std::convert::Infallible>))
    });
    let mut response = Response::new(Body::from_stream(body));
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if verified {
        headers.insert("paystat-chain", HeaderValue::from_static(chain));
    }
    if !detail.is_empty()
        && let Ok(value) = HeaderValue::from_str(&crate::credential::redact(&detail))
    {
        headers.insert("paystat-chain-detail", value);
    }
    response
}

/// `GET /v1/payments/{id}/history` (compliance): every line about the payment, as NDJSON.
#[utoipa::path(
    get,
    path = "/v1/payments/{id}/history",
    params(("id" = String, Path, description = "The payment id")),
    responses(
        (status = 200, description = "One history row per line about the payment, oldest first (the chain is not walked, as `audit history` does not)", body = crate::audit::query::HistoryRow, content_type = "application/x-ndjson"),
        (status = 403, description = "Not a compliance or admin token", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn history(
    State(service): State<Arc<Service>>,
    Extension(authed): Extension<Authed>,
    Path(id): Path<String>,
) -> Response {
    if let Err(problem) = authed.require(Role::Compliance, "reading a history") {
        return problem.into_response();
    }
    let filter = Filter {
        payment_id: Some(id.clone()),
        ..Filter::default()
    };
    streamed(
        service,
        authed,
        "history",
        (filter, false),
        "application/x-ndjson",
        move |service, _, out| {
            query::history(&service.trail.location, &id, |row| {
                serde_json::to_writer(&mut *out, &row)
                    .map_err(|e| query::QueryError::Write(e.into()))?;
                out.write_all(b"\n").map_err(query::QueryError::Write)
            })
        },
    )
    .await
}

/// `GET /v1/audit/export` (compliance): the lines of a range, as written or as CSV.
#[utoipa::path(
    get,
    path = "/v1/audit/export",
    params(ExportQuery),
    responses(
        (status = 200, description = "The lines (JSON lines as written, or CSV); `Paystat-Chain` says whether the range verified", content_type = "application/x-ndjson"),
        (status = 400, description = "A filter that cannot be read", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a compliance or admin token", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn export(
    State(service): State<Arc<Service>>,
    Extension(authed): Extension<Authed>,
    query: Result<Query<ExportQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    if let Err(problem) = authed.require(Role::Compliance, "exporting the trail") {
        return problem.into_response();
    }
    let Ok(Query(query)) = query else {
        return Problem::bad_request("the export's query cannot be read").into_response();
    };
    let (filter, format) = match query.filter() {
        Ok(f) => f,
        Err(problem) => return problem.into_response(),
    };
    let content_type = match format {
        ExportFormat::Jsonl => "application/x-ndjson",
        ExportFormat::Csv => "text/csv",
    };
    streamed(
        service,
        authed,
        "export",
        (filter, true),
        content_type,
        move |service, filter, out| query::export(&service.trail.location, filter, format, out),
    )
    .await
}
