//! The gateway adapters and the contract between them and the checker.
//!
//! An adapter is one file that knows one gateway's wire format: how to ask for a payment
//! ([`Gateway::request`]) and how to read any reply into paystat's words ([`Gateway::read`]).
//! The checker sends, times and audits; it never looks inside a body. An adapter never sees
//! the audit trail.

pub mod history;
pub mod ledger;
pub mod list;
pub mod plaid;
pub mod stripe;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::HeaderMap;
use secrecy::SecretString;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::credential::CredentialError;
pub use crate::credential::echo::Echoes;
use crate::result::{Environment, Money};
use crate::retry::RetrySettings;

pub use crate::result::{Finality, GatewayError, GatewayKind, Outcome, PaymentStatus};
pub use history::{Facts, GatewayEvent, HistoryPage};
pub use ledger::Ledger;
pub use list::{ListedPage, Lister, Window};
pub use plaid::Plaid;
pub use stripe::Stripe;

/// What is specific to one gateway outside its wire format: where it lives by default, the
/// variable that moves it, its pacing, and which ids are its own. Each adapter defines its own.
#[derive(Debug)]
pub struct Profile {
    /// The gateway.
    pub kind: GatewayKind,
    /// Its base URL when nothing else is configured.
    pub default_base_url: &'static str,
    /// The environment variable that sets its base URL.
    pub url_env: &'static str,
    /// The environment variable that marks a loopback base URL as a mock (`mock`).
    pub environment_env: &'static str,
    /// Client-side pacing by default, requests per second (`None`: not paced).
    pub requests_per_second: Option<f64>,
    /// Its routing rule, as `--gateway auto` explains it to people.
    pub routing_rule: &'static str,
    /// Whether an id has this gateway's shape (for `--gateway auto`).
    pub owns_id: fn(&str) -> bool,
}

/// The profile of `kind`.
pub fn profile(kind: GatewayKind) -> &'static Profile {
    match kind {
        GatewayKind::Ledger => &ledger::PROFILE,
        GatewayKind::Stripe => &stripe::PROFILE,
        GatewayKind::Plaid => &plaid::PROFILE,
    }
}

/// Picks the gateway an id belongs to, from its shape alone.
pub fn route(id: &str) -> Option<GatewayKind> {
    GatewayKind::ALL
        .into_iter()
        .find(|kind| (profile(*kind).owns_id)(id))
}

/// The rules `--gateway auto` uses, as shown to people when no rule fits an id.
pub fn routing_rules() -> String {
    GatewayKind::ALL
        .map(|kind| profile(kind).routing_rule)
        .join(", ")
}

/// The settings every gateway's section of the config file has.
#[derive(Debug, Clone, Copy)]
pub struct CommonSettings<'a> {
    /// `base_url`.
    pub base_url: Option<&'a str>,
    /// `timeout`: each attempt's timeout.
    pub timeout: Option<Duration>,
    /// `requests_per_second` (0 turns pacing off).
    pub requests_per_second: Option<f64>,
    /// `[<gateway>.retry]`.
    pub retry: &'a RetrySettings,
}

/// One credential variable of a gateway's section: the key that may name it, the name
/// configured, and the default name.
#[derive(Debug, Clone, Copy)]
pub struct CredentialVar<'a> {
    /// The config key (`key_env`).
    pub key: &'static str,
    /// The variable the file names, if it names one.
    pub configured: Option<&'a str>,
    /// The variable read when the file names none.
    pub default: &'static str,
}

/// A gateway's section of the config file. Each adapter defines its own (its credential keys
/// differ) and builds itself from it.
pub trait Section: fmt::Debug {
    /// The settings every gateway has.
    fn common(&self) -> CommonSettings<'_>;

    /// The variables its credentials are read from.
    fn credential_vars(&self) -> Vec<CredentialVar<'_>>;

    /// Builds the adapter at `base_url`, reading its credentials through `env` (the process
    /// environment in production, a map in tests).
    fn adapter(
        &self,
        base_url: reqwest::Url,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Arc<dyn Gateway>, CredentialError>;
}

/// One row of the status mapping: a gateway's word (under a condition, for Stripe's
/// `requires_payment_method`) and the normalized status paystat gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MappingRow {
    /// The gateway.
    pub gateway: GatewayKind,
    /// The gateway's status word.
    pub word: &'static str,
    /// When the word's mapping depends on another field, which case this row is.
    pub when: Option<&'static str>,
    /// What paystat makes of it.
    pub status: PaymentStatus,
    /// What Operations should do: the status's own action, unless this gateway's word needs
    /// another (Stripe's `requires_confirmation` is the merchant's step, not the customer's).
    pub action: &'static str,
    /// Whether the answer can still change, and until when: the rule the status cache follows.
    pub finality: &'static str,
}

/// Every documented status word of every gateway and what paystat makes of it — the table
/// TPMs own, in `fixtures/README.md`. Each adapter computes its rows with the same function
/// that maps real replies, so the table cannot drift from the code.
pub fn status_mapping() -> Vec<MappingRow> {
    let mut rows = ledger::status_mapping();
    rows.extend(stripe::status_mapping());
    rows.extend(plaid::status_mapping());
    rows
}

/// [`status_mapping`] as a Markdown table (the fixtures README holds exactly this table).
pub fn status_mapping_table() -> String {
    let mut table = String::from(
        "| gateway | gateway word | paystat status | finality | what Operations should do |\n|---|---|---|---|---|\n",
    );
    for row in status_mapping() {
        let word = match row.when {
            Some(when) => format!("`{}` {when}", row.word),
            None => format!("`{}`", row.word),
        };
        table.push_str(&format!(
            "| {} | {word} | `{}` | {} | {} |\n",
            row.gateway,
            row.status.as_str(),
            row.finality,
            row.action
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
    /// The reply to the follow-up request this one called for ([`Gateway::follow_up`]), when
    /// kept with it (for `paystat record`).
    pub follow_up: Option<Box<Reply>>,
}

impl Reply {
    /// Replaces every echo of `secrets` (raw, escaped, in base64) in the body and the header values with
    /// `[REDACTED]` (for a reply kept to be recorded as a fixture).
    pub fn redact(&mut self, echoes: &Echoes) {
        if let Some(body) = echoes.scrub(&self.body) {
            self.body = body;
        }
        for value in self.headers.values_mut() {
            if let Some(scrubbed) = echoes.scrub(value.as_bytes())
                && let Ok(scrubbed) = reqwest::header::HeaderValue::from_bytes(&scrubbed)
            {
                *value = scrubbed;
            }
        }
    }
}

/// A payment the gateway knows, in paystat's words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payment {
    /// The normalized status.
    pub status: PaymentStatus,
    /// The word the gateway used.
    pub gateway_status: String,
    /// The exact amount that moved or is held (for Stripe: collected when succeeded,
    /// capturable when authorized, else what is under way).
    pub amount: Money,
    /// What the payment asked for, when the gateway tells it apart from `amount`.
    pub amount_requested: Option<Money>,
    /// What the merchant sent back (succeeded and pending refunds), when any.
    pub amount_refunded: Option<Money>,
    /// Whether some of `amount_refunded` is still under way, when the gateway says.
    pub refund_pending: Option<bool>,
    /// The dispute's own status, when disputed.
    pub dispute_status: Option<String>,
    /// The date after which the payment can no longer be pulled back, when not yet final.
    pub final_after: Option<String>,
    /// Whether this answer can still change (`FinalAfter` goes with `final_after`).
    pub finality: Finality,
    /// When the gateway created the payment, RFC 3339 UTC.
    pub created_at: Option<String>,
    /// Why the payment failed or came back, in the gateway's code.
    pub failure_code: Option<String>,
    /// Why the payment is in this status, in the gateway's words (Stripe's
    /// `cancellation_reason` or decline message, Plaid's failure description).
    pub status_reason: Option<String>,
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
        /// What the gateway's error body said, if it sent one paystat could read.
        error: Option<GatewayError>,
    },
}

impl Verdict {
    /// A verdict without a payment.
    pub fn refused(outcome: Outcome, detail: impl Into<String>) -> Verdict {
        Verdict::NoPayment {
            outcome,
            detail: detail.into(),
            error: None,
        }
    }

    /// A verdict without a payment on an answer that carried an error body (if readable).
    pub fn answered(
        outcome: Outcome,
        detail: impl Into<String>,
        error: Option<GatewayError>,
    ) -> Verdict {
        Verdict::NoPayment {
            outcome,
            detail: detail.into(),
            error,
        }
    }

    /// The verdict on an error reply to a request for one of a gateway's lists (`what`: how a
    /// sentence names the list), as the one sentence a page that cannot be read ends with.
    pub fn list_refusal(self, what: &str, status: u16) -> String {
        match self {
            Verdict::NoPayment { detail, .. } => format!("{what}: {detail}"),
            Verdict::Found(_) => format!("{what} answered HTTP {status}"),
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
    /// The gateway's explicit retry advice, when it gives one (Stripe's `Stripe-Should-Retry`).
    pub retry_advice: Option<bool>,
}

impl Reading {
    /// Replaces every echo of `secrets` in the gateway's text with `[REDACTED]`.
    pub fn redact(&mut self, echoes: &Echoes) {
        if echoes.is_empty() {
            return;
        }
        let scrub = |text: &mut String| echoes.scrub_text(text);
        let scrub_all = |texts: &mut [&mut Option<String>]| {
            for text in texts.iter_mut().filter_map(|t| t.as_mut()) {
                scrub(text);
            }
        };
        scrub_all(&mut [&mut self.request_id]);
        match &mut self.verdict {
            Verdict::Found(payment) => {
                scrub(&mut payment.gateway_status);
                scrub_all(&mut [&mut payment.failure_code, &mut payment.status_reason]);
            }
            Verdict::NoPayment { detail, error, .. } => {
                scrub(detail);
                if let Some(error) = error {
                    scrub_all(&mut [&mut error.kind, &mut error.code, &mut error.message]);
                }
            }
        }
    }

    /// A reading with no request id and no retry advice.
    pub fn new(verdict: Verdict) -> Reading {
        Reading {
            verdict,
            request_id: None,
            retry_advice: None,
        }
    }
}

/// One gateway's wire format.
pub trait Gateway: Send + Sync + fmt::Debug {
    /// Which gateway this is.
    fn kind(&self) -> GatewayKind;

    /// Where this gateway lives.
    fn base_url(&self) -> &reqwest::Url;

    /// Builds the request that asks for payment `id` (already validated by
    /// [`crate::payment_id::validate`]).
    fn request(&self, client: &reqwest::Client, id: &str) -> reqwest::Result<reqwest::Request>;

    /// Reads a complete reply to the request for payment `id`.
    fn read(&self, id: &str, reply: &Reply) -> Reading;

    /// A second request that `reply` (to the request for payment `id`) calls for before it can
    /// be read — Stripe's dispute list, when the latest charge says it was disputed. `None`: the
    /// reply is read on its own (most replies, so most checks cost one request).
    fn follow_up(
        &self,
        client: &reqwest::Client,
        id: &str,
        reply: &Reply,
    ) -> Option<reqwest::Result<reqwest::Request>> {
        let _ = (client, id, reply);
        None
    }

    /// Reads `reply` together with `follow_up`, the reply to [`Gateway::follow_up`]'s request.
    fn read_followed(&self, id: &str, reply: &Reply, follow_up: &Reply) -> Reading {
        let _ = follow_up;
        self.read(id, reply)
    }

    /// The secret values this adapter sends, so that a gateway echoing one back (in an error
    /// message, say) never puts it into a result, an audit line or a recorded fixture.
    fn secrets(&self) -> Vec<&SecretString>;

    /// The API version this adapter asks for (`Stripe-Version`, `Plaid-Version`), if the
    /// gateway has versions.
    fn api_version(&self) -> Option<&str> {
        None
    }

    /// The account asked on behalf of (Stripe's connected account), if any.
    fn account(&self) -> Option<&str> {
        None
    }

    /// Whether this gateway moves real money (`live`) or is a provider's test mode (`test`),
    /// as far as its configuration shows. Only the configuration makes it `mock` (see
    /// `Configured::environment`); no reply changes it.
    fn environment(&self) -> Environment {
        Environment::Live
    }

    /// This gateway's change feed, if it has one.
    fn feed(&self) -> Option<FeedRules> {
        None
    }

    /// The request for one page of the change feed: the changes after `position` (the
    /// cursor; see [`FeedRules::start`]), continuing after `page` when the previous page said
    /// there was more. `None` for a gateway without a feed.
    fn changes_request(
        &self,
        client: &reqwest::Client,
        position: &str,
        page: Option<&str>,
    ) -> Option<reqwest::Result<reqwest::Request>> {
        let _ = (client, position, page);
        None
    }

    /// Reads a reply to [`Gateway::changes_request`]: the payments that changed, or one
    /// sentence on why the page cannot be read.
    fn read_changes(&self, reply: &Reply) -> Result<Changes, String> {
        let _ = reply;
        Err(format!("{} has no change feed", self.kind()))
    }

    /// What `reply` (the answer to a check of payment `id`, with its follow-up when kept) says
    /// about the payment beyond its status: how it is paid, what the gateway waits for, its
    /// dated events (`paystat explain`).
    fn facts(&self, id: &str, reply: &Reply) -> Facts {
        let _ = (id, reply);
        Facts::default()
    }

    /// The request for one page of what the gateway keeps about payment `id`'s history beyond
    /// `reply` (its answer to the check): Plaid's transfer events, Stripe's refunds. `page` is
    /// where the previous page said the next one starts. `None`: nothing more to ask.
    fn history_request(
        &self,
        client: &reqwest::Client,
        id: &str,
        reply: &Reply,
        page: Option<&str>,
    ) -> Option<reqwest::Result<reqwest::Request>> {
        let _ = (client, id, reply, page);
        None
    }

    /// Reads a reply to [`Gateway::history_request`] for `page`, or says in one sentence why
    /// it cannot.
    fn read_history(&self, reply: &Reply, page: Option<&str>) -> Result<HistoryPage, String> {
        let _ = (reply, page);
        Err(format!("{} keeps no history paystat reads", self.kind()))
    }

    /// The pages of this gateway's list of the payments created in `window`, from the start or
    /// from `resume` (a [`Lister::resume_point`] of an earlier fill). `None`: the gateway has no
    /// list paystat reads.
    fn lister(&self, window: Window, resume: Option<&str>) -> Option<Box<dyn Lister>> {
        let _ = (window, resume);
        None
    }
}

/// What a gateway's change feed promises.
#[derive(Debug, Clone, Copy)]
pub struct FeedRules {
    /// How long the gateway keeps its changes (Stripe: 30 days); a cursor older than that
    /// cannot be trusted. `None`: the feed reads from its beginning.
    pub keeps: Option<Duration>,
    /// The position to read from when there is no cursor, or it cannot be trusted, given the
    /// time now (unix seconds).
    pub start: fn(i64) -> String,
}

/// One page of a change feed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    /// The payments that changed (a payment may appear more than once).
    pub payment_ids: Vec<String>,
    /// The newest position on this page, to keep as the cursor once the feed is read to its
    /// end.
    pub position: Option<String>,
    /// Where the next page starts, when there is more.
    pub next_page: Option<String>,
}

/// The rules that judge answers, as the status cache records them: this paystat's version and a
/// digest of the status mapping with its finality column. A cached answer judged under other
/// rules is asked again.
pub fn answer_rules() -> String {
    let digest = crate::result::sha256_hex(status_mapping_table().as_bytes());
    format!("{}+{}", env!("CARGO_PKG_VERSION"), &digest[..16])
}

/// What Operations read when an HTTP 404 does not carry the gateway's own not-found error: a
/// web server, a proxy or a router answered, not the gateway, so nothing is known about the
/// payment. (Telling a customer their payment does not exist on that evidence is the most
/// dangerous wrong answer a status tool can give.)
pub const NOT_THE_GATEWAYS_404: &str =
    "the URL answered 404 without the gateway's not-found error: check the base URL";

/// The outcome an HTTP status stands for when the body says nothing more precise. Adapters
/// start from this and refine it with what their gateway's error body says. A 404 alone is a
/// `bad_response`: only the gateway's own not-found error makes it `not_found`.
pub fn outcome_for_http_status(status: u16) -> Outcome {
    match status {
        200..=299 => Outcome::Found,
        404 => Outcome::BadResponse,
        401 | 403 => Outcome::Unauthorized,
        429 => Outcome::RateLimited,
        400..=499 => Outcome::BadRequest,
        500..=599 => Outcome::GatewayError,
        // 1xx and 3xx never end a request that paystat sent: redirects to other hosts are
        // not followed, so a 3xx here is a reply paystat cannot use.
        _ => Outcome::BadResponse,
    }
}

/// The verdict on an error reply: `not_found` when `not_found` says the gateway's own
/// not-found error is there; a 404 without it is [`NOT_THE_GATEWAYS_404`]; anything else
/// `outcome`, with [`http_error_detail`].
pub fn error_verdict(
    name: &str,
    status: u16,
    outcome: Outcome,
    not_found: bool,
    error: Option<GatewayError>,
) -> Verdict {
    if not_found {
        Verdict::answered(
            Outcome::NotFound,
            http_error_detail(name, status, error.as_ref()),
            error,
        )
    } else if status == 404 {
        Verdict::answered(Outcome::BadResponse, NOT_THE_GATEWAYS_404, error)
    } else {
        Verdict::answered(
            outcome,
            http_error_detail(name, status, error.as_ref()),
            error,
        )
    }
}

/// A sentence for an HTTP error: `the ledger answered HTTP 404: payment_not_found (No payment …)`.
/// `name` is how a sentence names the gateway (`the ledger`, `Stripe`).
pub fn http_error_detail(name: &str, status: u16, error: Option<&GatewayError>) -> String {
    let said = error
        .map(|e| {
            let label = e.code.as_deref().or(e.kind.as_deref());
            match (label, e.message.as_deref()) {
                (Some(label), Some(message)) => format!(": {label} ({message})"),
                (Some(label), None) => format!(": {label}"),
                (None, Some(message)) => format!(": {message}"),
                (None, None) => String::new(),
            }
        })
        .unwrap_or_default();
    format!("{name} answered HTTP {status}{said}")
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
    fn routing_rules_read_as_one_sentence() {
        assert_eq!(
            routing_rules(),
            "`txn_…` goes to the ledger, `pi_…` to Stripe, a UUID (8-4-4-4-12 hex digits) to Plaid"
        );
        for kind in GatewayKind::ALL {
            assert_eq!(profile(kind).kind, kind);
        }
    }

    #[test]
    fn routing_by_id_shape() {
        assert_eq!(route("txn_001"), Some(GatewayKind::Ledger));
        assert_eq!(
            route("pi_3MtwBwLkdIwHu7ix28a3tqPa"),
            Some(GatewayKind::Stripe)
        );
        assert_eq!(
            route("460cbe92-2dcc-8eae-5ad6-b37d0ec90fd9"),
            Some(GatewayKind::Plaid)
        );
        assert_eq!(
            route("460CBE92-2DCC-8EAE-5AD6-B37D0EC90FD9"),
            Some(GatewayKind::Plaid)
        );
        assert_eq!(route("460cbe922dcc8eae5ad6b37d0ec90fd9"), None);
        assert_eq!(route("460cbe92-2dcc-8eae-5ad6-b37d0ec90fdz"), None);
        assert_eq!(route("ch_123"), None);
        assert_eq!(route(""), None);
    }

    #[test]
    fn status_classes() {
        assert_eq!(outcome_for_http_status(200), Outcome::Found);
        assert_eq!(outcome_for_http_status(404), Outcome::BadResponse);
        assert_eq!(outcome_for_http_status(403), Outcome::Unauthorized);
        assert_eq!(outcome_for_http_status(422), Outcome::BadRequest);
        assert_eq!(outcome_for_http_status(429), Outcome::RateLimited);
        assert_eq!(outcome_for_http_status(503), Outcome::GatewayError);
        assert_eq!(outcome_for_http_status(302), Outcome::BadResponse);
    }
}
