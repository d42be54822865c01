//! The gateway adapters and the contract between them and the checker.
//!
//! An adapter is one file that knows one gateway's wire format: how to ask for a payment
//! ([`Gateway::request`]) and how to read any reply into paystat's words ([`Gateway::read`]).
//! The checker sends, times and audits; it never looks inside a body. An adapter never sees
//! the audit trail.

pub mod ledger;

use std::fmt;

use reqwest::header::HeaderMap;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::money::Money;
use crate::status::{Outcome, PaymentStatus};

pub use ledger::Ledger;

/// The gateways paystat can ask.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GatewayKind {
    /// The company's internal ledger.
    Ledger,
}

impl GatewayKind {
    /// The word used in output, audit lines and fixtures.
    pub fn as_str(self) -> &'static str {
        match self {
            GatewayKind::Ledger => "ledger",
        }
    }
}

impl fmt::Display for GatewayKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Every documented status word of every gateway and what paystat makes of it — the table
/// TPMs own, in `fixtures/README.md`.
pub fn status_mapping() -> Vec<(GatewayKind, &'static str, PaymentStatus)> {
    ledger::STATUS_WORDS
        .iter()
        .map(|word| (GatewayKind::Ledger, *word, ledger::map_status(word)))
        .collect()
}

/// [`status_mapping`] as a Markdown table (the fixtures README holds exactly this table).
pub fn status_mapping_table() -> String {
    let mut table = String::from(
        "| gateway | gateway word | paystat status | what Operations should do |\n|---|---|---|---|\n",
    );
    for (gateway, word, status) in status_mapping() {
        table.push_str(&format!(
            "| {gateway} | `{word}` | `{}` | {} |\n",
            status.as_str(),
            status.action()
        ));
    }
    table
}

/// A complete HTTP reply, as the checker received it (body already bounded to 1 MiB).
#[derive(Debug, Clone)]
pub struct Reply {
    /// The HTTP status code.
    pub status: u16,
    /// The response headers.
    pub headers: HeaderMap,
    /// The whole body.
    pub body: Vec<u8>,
}

/// A payment the gateway knows, in paystat's words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payment {
    /// The normalized status.
    pub status: PaymentStatus,
    /// The word the gateway used.
    pub gateway_status: String,
    /// The exact amount.
    pub amount: Money,
    /// When the gateway created the payment, RFC 3339 UTC.
    pub created_at: Option<String>,
    /// Why the payment failed or came back, in the gateway's code.
    pub failure_code: Option<String>,
}

/// What an adapter made of a reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The gateway knows the payment.
    Found(Payment),
    /// Anything else, with one sentence saying what happened.
    NoPayment {
        /// Why there is no payment to show.
        outcome: Outcome,
        /// One sentence for Operations.
        detail: String,
    },
}

impl Verdict {
    /// A verdict without a payment.
    pub fn refused(outcome: Outcome, detail: impl Into<String>) -> Verdict {
        Verdict::NoPayment {
            outcome,
            detail: detail.into(),
        }
    }

    /// The outcome this verdict stands for.
    pub fn outcome(&self) -> Outcome {
        match self {
            Verdict::Found(_) => Outcome::Found,
            Verdict::NoPayment { outcome, .. } => *outcome,
        }
    }
}

/// An adapter's reading of one reply: the verdict and the gateway's request id, if sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reading {
    /// What the reply means.
    pub verdict: Verdict,
    /// The gateway's own id for this request (quote it to the gateway's support).
    pub request_id: Option<String>,
}

/// One gateway's wire format.
pub trait Gateway: Send + Sync + fmt::Debug {
    /// Which gateway this is.
    fn kind(&self) -> GatewayKind;

    /// Builds the request that asks for payment `id` (already validated by
    /// [`crate::payment_id::validate`]).
    fn request(&self, client: &reqwest::Client, id: &str) -> reqwest::Result<reqwest::Request>;

    /// Reads a complete reply to the request for payment `id`.
    fn read(&self, id: &str, reply: &Reply) -> Reading;
}

/// The outcome an HTTP status stands for when the body says nothing more precise. Adapters
/// start from this and refine it with what their gateway's error body says.
pub fn outcome_for_http_status(status: u16) -> Outcome {
    match status {
        200..=299 => Outcome::Found,
        404 => Outcome::NotFound,
        401 | 403 => Outcome::Unauthorized,
        429 => Outcome::RateLimited,
        400..=499 => Outcome::BadRequest,
        500..=599 => Outcome::GatewayError,
        // 1xx and 3xx never end a request that paystat sent: redirects to other hosts are
        // not followed, so a 3xx here is a reply paystat cannot use.
        _ => Outcome::BadResponse,
    }
}

/// Appends `segments` to a base URL, each percent-encoded as exactly one path segment.
pub fn url_with_segments(base: &reqwest::Url, segments: &[&str]) -> reqwest::Url {
    let mut url = base.clone();
    url.set_query(None);
    url.set_fragment(None);
    if let Ok(mut path) = url.path_segments_mut() {
        path.pop_if_empty().extend(segments);
    }
    url
}

/// A header's value as text, if present and printable.
pub fn header_text(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// Re-writes an RFC 3339 timestamp in UTC; `None` if it is not RFC 3339.
pub fn utc_rfc3339(text: &str) -> Option<String> {
    let parsed = OffsetDateTime::parse(text, &Rfc3339).ok()?;
    parsed.to_offset(time::UtcOffset::UTC).format(&Rfc3339).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rewritten_in_utc() {
        assert_eq!(
            utc_rfc3339("2025-01-06T10:30:00Z"),
            Some("2025-01-06T10:30:00Z".into())
        );
        assert_eq!(
            utc_rfc3339("2025-01-06T12:30:00+02:00"),
            Some("2025-01-06T10:30:00Z".into())
        );
        assert_eq!(utc_rfc3339("yesterday"), None);
    }

    #[test]
    fn ids_become_one_segment() {
        let base = reqwest::Url::parse("http://127.0.0.1:5000/v1").unwrap();
        let url = url_with_segments(&base, &["payments", "a/b?c#d%e f"]);
        assert_eq!(url.path(), "/v1/payments/a%2Fb%3Fc%23d%25e%20f");
        assert_eq!(url.query(), None);
        let slash = reqwest::Url::parse("http://h/v1/").unwrap();
        assert_eq!(
            url_with_segments(&slash, &["payments", "x"]).path(),
            "/v1/payments/x"
        );
    }

    #[test]
    fn status_classes() {
        assert_eq!(outcome_for_http_status(200), Outcome::Found);
        assert_eq!(outcome_for_http_status(404), Outcome::NotFound);
        assert_eq!(outcome_for_http_status(403), Outcome::Unauthorized);
        assert_eq!(outcome_for_http_status(422), Outcome::BadRequest);
        assert_eq!(outcome_for_http_status(429), Outcome::RateLimited);
        assert_eq!(outcome_for_http_status(503), Outcome::GatewayError);
        assert_eq!(outcome_for_http_status(302), Outcome::BadResponse);
    }
}
