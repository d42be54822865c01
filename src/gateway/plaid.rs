//! Plaid Transfer: `POST {base}/transfer/get` with `{client_id, secret, transfer_id}`.
//!
//! Wire facts (GATEWAYS.md): a read that is a POST, with the credentials in the JSON body —
//! so the body is built here, sent, and never logged or audited (the audit line records only
//! the method and path). `amount` is a decimal string, `iso_currency_code` upper case,
//! `created` RFC 3339. `cancelled` has two l's; a `settled` debit can still become `returned`.
//! Errors are flat `{error_type, error_code, error_message, display_message, request_id}`, and
//! Plaid asks clients to branch on `error_type`/`error_code`, not on the HTTP status.

use std::sync::Arc;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use super::{
    Changes, CommonSettings, FeedRules, Gateway, GatewayError, GatewayKind, MappingRow, Payment,
    Profile, Reading, Reply, Section, Verdict, error_verdict, outcome_for_http_status,
    url_with_segments, utc_rfc3339,
};
use crate::credential::{self, CredentialError};
use crate::result::{self, Environment, Finality, Money, Outcome, PaymentStatus};
use crate::retry::RetrySettings;

/// Plaid's sandbox (production is `https://production.plaid.com`, set by config).
pub const DEFAULT_BASE_URL: &str = "https://sandbox.plaid.com";

/// How sentences name this gateway.
const NAME: &str = "Plaid";

/// Plaid's place among the gateways: ids are hyphenated UUIDs; not paced.
pub static PROFILE: Profile = Profile {
    kind: GatewayKind::Plaid,
    default_base_url: DEFAULT_BASE_URL,
    url_env: "PAYSTAT_PLAID_URL",
    requests_per_second: None,
    routing_rule: "a UUID (8-4-4-4-12 hex digits) to Plaid",
    owns_id: is_hyphenated_uuid,
};

/// Plaid's ids are hyphenated UUIDs. Only that exact form is routed to Plaid (the `uuid`
/// crate would also accept braced, URN and unhyphenated forms, which Plaid never sends).
fn is_hyphenated_uuid(id: &str) -> bool {
    let groups: Vec<&str> = id.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(group, len)| group.len() == len && group.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// `[plaid]` in the config file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlaidSection {
    /// Base URL (default `https://sandbox.plaid.com`).
    pub base_url: Option<String>,
    /// Per-request timeout, like `5s`.
    #[serde(default, deserialize_with = "crate::clock::optional_duration")]
    pub timeout: Option<Duration>,
    /// The variable holding the client id (default `PAYSTAT_PLAID_CLIENT_ID`).
    pub client_id_env: Option<String>,
    /// The variable holding the secret (default `PAYSTAT_PLAID_SECRET`).
    pub secret_env: Option<String>,
    /// Client-side pacing in requests per second (0 turns it off; Plaid is not paced).
    pub requests_per_second: Option<f64>,
    /// Retries, deadline and retry budget (`[plaid.retry]`).
    #[serde(default)]
    pub retry: RetrySettings,
}

impl Section for PlaidSection {
    fn common(&self) -> CommonSettings<'_> {
        CommonSettings {
            base_url: self.base_url.as_deref(),
            timeout: self.timeout,
            requests_per_second: self.requests_per_second,
            retry: &self.retry,
        }
    }

    fn adapter(
        &self,
        base_url: reqwest::Url,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Arc<dyn Gateway>, CredentialError> {
        let var = |key, configured: Option<&str>, default| {
            credential::variable(GatewayKind::Plaid, key, configured, default).map(str::to_owned)
        };
        let client_id = credential::required(
            env,
            GatewayKind::Plaid,
            &var(
                "client_id_env",
                self.client_id_env.as_deref(),
                "PAYSTAT_PLAID_CLIENT_ID",
            )?,
            "the client id",
        )?;
        let secret = credential::required(
            env,
            GatewayKind::Plaid,
            &var(
                "secret_env",
                self.secret_env.as_deref(),
                "PAYSTAT_PLAID_SECRET",
            )?,
            "the secret",
        )?;
        Ok(Arc::new(Plaid::new(base_url, client_id, secret)))
    }
}

/// The API version paystat's mapping is written against.
pub const PLAID_VERSION: &str = "2020-09-14";

/// The Plaid adapter.
#[derive(Debug, Clone)]
pub struct Plaid {
    base_url: reqwest::Url,
    client_id: SecretString,
    secret: SecretString,
}

impl Plaid {
    /// Plaid at `base_url` with the team's `client_id` and `secret`.
    pub fn new(base_url: reqwest::Url, client_id: SecretString, secret: SecretString) -> Plaid {
        Plaid {
            base_url,
            client_id,
            secret,
        }
    }
}

/// Where Plaid answers: `POST {base}/transfer/get`, for every transfer.
pub fn status_url(base: &reqwest::Url) -> reqwest::Url {
    url_with_segments(base, &["transfer", "get"])
}

/// The transfer event sync (the change feed) under `base`.
pub fn event_sync_url(base: &reqwest::Url) -> reqwest::Url {
    url_with_segments(base, &["transfer", "event", "sync"])
}

/// The part of the request body that names the transfer (the rest is credentials), which the
/// embedded mock matches on.
#[cfg(feature = "contract")]
pub fn transfer_selector(id: &str) -> serde_json::Value {
    serde_json::json!({ "transfer_id": id })
}

/// Plaid's seven transfer statuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TransferStatus {
    Pending,
    Posted,
    Settled,
    FundsAvailable,
    Cancelled,
    Failed,
    Returned,
}

impl TransferStatus {
    const ALL: [TransferStatus; 7] = [
        TransferStatus::Pending,
        TransferStatus::Posted,
        TransferStatus::Settled,
        TransferStatus::FundsAvailable,
        TransferStatus::Cancelled,
        TransferStatus::Failed,
        TransferStatus::Returned,
    ];

    fn word(self) -> &'static str {
        match self {
            TransferStatus::Pending => "pending",
            TransferStatus::Posted => "posted",
            TransferStatus::Settled => "settled",
            TransferStatus::FundsAvailable => "funds_available",
            TransferStatus::Cancelled => "cancelled",
            TransferStatus::Failed => "failed",
            TransferStatus::Returned => "returned",
        }
    }

    fn from_word(word: &str) -> Option<TransferStatus> {
        TransferStatus::ALL.into_iter().find(|s| s.word() == word)
    }

    /// The mapping, every status named (no catch-all arm).
    /// `fully_refunded`: the transfer's counted refunds add up to its whole amount.
    fn normalize(self, fully_refunded: bool) -> PaymentStatus {
        match self {
            TransferStatus::Pending | TransferStatus::Posted => PaymentStatus::Pending,
            TransferStatus::Settled | TransferStatus::FundsAvailable if fully_refunded => {
                PaymentStatus::Refunded
            }
            TransferStatus::Settled | TransferStatus::FundsAvailable => PaymentStatus::Completed,
            TransferStatus::Cancelled => PaymentStatus::Canceled,
            TransferStatus::Failed => PaymentStatus::Failed,
            TransferStatus::Returned => PaymentStatus::Returned,
        }
    }

    /// Whether the answer can still change. Failed, cancelled and returned transfers are
    /// done; a settled or available one can still be returned until its return window ends
    /// (and not while a refund of it is under way); pending and posted ones are moving.
    fn finality(self, window_known: bool, refund_pending: bool) -> Finality {
        match self {
            TransferStatus::Failed | TransferStatus::Cancelled | TransferStatus::Returned => {
                Finality::Final
            }
            TransferStatus::Settled | TransferStatus::FundsAvailable
                if window_known && !refund_pending =>
            {
                Finality::FinalAfter
            }
            TransferStatus::Settled
            | TransferStatus::FundsAvailable
            | TransferStatus::Pending
            | TransferStatus::Posted => Finality::Changing,
        }
    }
}

/// Plaid's rows of the status mapping.
pub fn status_mapping() -> Vec<MappingRow> {
    let row = |status: TransferStatus, when, fully_refunded: bool| MappingRow {
        finality: match status.finality(!fully_refunded, false) {
            Finality::Final => "final",
            Finality::FinalAfter => {
                "final after its return window (`final_after`), once no refund is under way"
            }
            Finality::Changing => "changing",
        },
        gateway: GatewayKind::Plaid,
        word: status.word(),
        when,
        status: status.normalize(fully_refunded),
        action: status.normalize(fully_refunded).action(),
    };
    TransferStatus::ALL
        .into_iter()
        .flat_map(|status| match status {
            TransferStatus::Settled | TransferStatus::FundsAvailable => vec![
                row(
                    status,
                    Some("not refunded in full (`final_after` says when no return can follow)"),
                    false,
                ),
                row(
                    status,
                    Some("with `refunds[]` adding up to its whole amount"),
                    true,
                ),
            ],
            _ => vec![row(status, None, false)],
        })
        .collect()
}

/// A refund's statuses under which it moved nothing back. Every other status counts as money
/// sent back — `settled` as done, anything else (`pending`, `posted`, or a word Plaid adds
/// later) as under way — so a refund paystat does not know is never hidden.
const REFUND_NOT_COUNTED: [&str; 3] = ["cancelled", "failed", "returned"];
/// The one refund status that is done.
const REFUND_DONE: &str = "settled";

/// A POST of a JSON `body` to `url` as Plaid wants every request (its credentials ride in the
/// body).
fn post(client: &reqwest::Client, url: reqwest::Url, body: Vec<u8>) -> reqwest::RequestBuilder {
    client
        .post(url)
        .header("Plaid-Version", PLAID_VERSION)
        .header("content-type", "application/json")
        .body(body)
}

/// How many transfer events paystat asks for per page (Plaid's default is 25).
const EVENTS_PER_PAGE: u32 = 25;

/// The body of `/transfer/event/sync`. It borrows the secrets for the moment it is serialized.
#[derive(Serialize)]
struct WireEventSync<'a> {
    client_id: &'a str,
    secret: &'a str,
    after_id: u64,
    count: u32,
}

#[derive(Deserialize)]
struct WireEventPage {
    transfer_events: Vec<WireTransferEvent>,
}

#[derive(Deserialize)]
struct WireTransferEvent {
    event_id: u64,
    transfer_id: String,
}

/// The request body. It borrows the secrets for the moment it is serialized.
#[derive(Serialize)]
struct WireRequest<'a> {
    client_id: &'a str,
    secret: &'a str,
    transfer_id: &'a str,
}

#[derive(Deserialize)]
struct WireResponse {
    transfer: WireTransfer,
    #[serde(default)]
    request_id: Option<String>,
}

#[derive(Deserialize)]
struct WireTransfer {
    id: String,
    amount: String,
    iso_currency_code: String,
    status: String,
    created: String,
    #[serde(default)]
    failure_reason: Option<WireFailure>,
    #[serde(default)]
    refunds: Vec<WireRefund>,
    /// The last day a standard ACH return can come (YYYY-MM-DD).
    #[serde(default)]
    standard_return_window: Option<String>,
    /// The last day an unauthorized ACH return (R10, …) can come (YYYY-MM-DD).
    #[serde(default)]
    unauthorized_return_window: Option<String>,
}

#[derive(Deserialize)]
struct WireRefund {
    amount: String,
    status: String,
}

#[derive(Deserialize)]
struct WireFailure {
    #[serde(default)]
    failure_code: Option<String>,
    #[serde(default)]
    description: Option<String>,
}

#[derive(Deserialize)]
struct WireError {
    #[serde(default)]
    error_type: Option<String>,
    #[serde(default)]
    error_code: Option<String>,
    #[serde(default)]
    error_message: Option<String>,
    #[serde(default)]
    request_id: Option<String>,
}

impl Gateway for Plaid {
    fn kind(&self) -> GatewayKind {
        GatewayKind::Plaid
    }

    fn base_url(&self) -> &reqwest::Url {
        &self.base_url
    }

    fn request(&self, client: &reqwest::Client, id: &str) -> reqwest::Result<reqwest::Request> {
        let url = status_url(&self.base_url);
        let body = serde_json::to_vec(&WireRequest {
            client_id: self.client_id.expose_secret(),
            secret: self.secret.expose_secret(),
            transfer_id: id,
        })
        .expect("three strings always serialize");
        post(client, url, body).build()
    }

    fn secrets(&self) -> Vec<&SecretString> {
        vec![&self.client_id, &self.secret]
    }

    fn feed(&self) -> Option<FeedRules> {
        // Plaid keeps transfer events from the start: a first sync reads from event 0.
        Some(FeedRules {
            keeps: None,
            start: |_| "0".to_owned(),
        })
    }

    fn changes_request(
        &self,
        client: &reqwest::Client,
        position: &str,
        page: Option<&str>,
    ) -> Option<reqwest::Result<reqwest::Request>> {
        // The next page starts after the previous page's largest event id.
        let after_id: u64 = page.unwrap_or(position).parse().unwrap_or(0);
        let body = serde_json::to_vec(&WireEventSync {
            client_id: self.client_id.expose_secret(),
            secret: self.secret.expose_secret(),
            after_id,
            count: EVENTS_PER_PAGE,
        })
        .expect("strings and numbers always serialize");
        let url = event_sync_url(&self.base_url);
        Some(post(client, url, body).build())
    }

    fn read_changes(&self, reply: &Reply) -> Result<Changes, String> {
        if reply.status != 200 {
            let reading = read_error(reply.status, &reply.body);
            return Err(match reading.verdict {
                Verdict::NoPayment { detail, .. } => format!("the transfer event sync: {detail}"),
                Verdict::Found(_) => {
                    format!("Plaid's transfer event sync answered HTTP {}", reply.status)
                }
            });
        }
        let page: WireEventPage = serde_json::from_slice(&reply.body)
            .map_err(|e| format!("Plaid's transfer event sync is not a list of events: {e}"))?;
        let newest = page.transfer_events.iter().map(|e| e.event_id).max();
        let full = page.transfer_events.len() >= EVENTS_PER_PAGE as usize;
        Ok(Changes {
            payment_ids: page
                .transfer_events
                .into_iter()
                .map(|e| e.transfer_id)
                .collect(),
            position: newest.map(|n| n.to_string()),
            // A full page may have more after it; a shorter one is the end.
            next_page: newest.filter(|_| full).map(|n| n.to_string()),
        })
    }

    fn api_version(&self) -> Option<&str> {
        Some(PLAID_VERSION)
    }

    fn environment(&self) -> Environment {
        // Plaid's environments are hosts: sandbox.plaid.com is test money, production.plaid.com real.
        match self.base_url.host_str() {
            Some("sandbox.plaid.com") => Environment::Test,
            _ => Environment::Live,
        }
    }

    fn read(&self, id: &str, reply: &Reply) -> Reading {
        match reply.status {
            200 => read_transfer(id, &reply.body),
            status => read_error(status, &reply.body),
        }
    }
}

fn read_transfer(id: &str, body: &[u8]) -> Reading {
    let bad = |detail: String, request_id: Option<String>| Reading {
        verdict: Verdict::refused(Outcome::BadResponse, detail),
        request_id,
        retry_advice: None,
    };
    let wire: WireResponse = match serde_json::from_slice(body) {
        Ok(wire) => wire,
        Err(e) => return bad(format!("Plaid's 200 body is not a transfer: {e}"), None),
    };
    let t = wire.transfer;
    let request_id = wire.request_id;
    if t.id != id {
        return bad(
            "Plaid answered with a different transfer than the one asked for".into(),
            request_id,
        );
    }
    let amount = match result::currency(&t.iso_currency_code)
        .and_then(|currency| Money::from_major_text(&t.amount, currency))
        .and_then(Money::non_negative)
    {
        Ok(amount) => amount,
        Err(e) => return bad(format!("Plaid's amount is unusable: {e}"), request_id),
    };
    let Some(created_at) = utc_rfc3339(&t.created) else {
        return bad(
            "Plaid's created is not an RFC 3339 timestamp".into(),
            request_id,
        );
    };
    // Refunds: what was sent back (pending ones count, and say so).
    let mut refunded = 0_i64;
    let mut refund_pending = false;
    for refund in t
        .refunds
        .iter()
        .filter(|r| !REFUND_NOT_COUNTED.contains(&r.status.as_str()))
    {
        let minor = match Money::from_major_text(&refund.amount, amount.currency)
            .and_then(Money::non_negative)
        {
            Ok(money) => money.amount_minor,
            Err(e) => {
                return bad(
                    format!("Plaid's refund amount is unusable: {e}"),
                    request_id,
                );
            }
        };
        refunded = refunded.saturating_add(minor);
        refund_pending |= refund.status != REFUND_DONE;
    }
    let transfer_status = TransferStatus::from_word(&t.status);
    let fully_refunded = refunded > 0 && refunded >= amount.amount_minor;
    let status = transfer_status.map_or(PaymentStatus::Unknown, |s| s.normalize(fully_refunded));
    // A completed ACH transfer can still be pulled back until its unauthorized-return window
    // ends (GATEWAYS.md): say when it becomes final.
    let final_after = match status {
        PaymentStatus::Completed => t
            .unauthorized_return_window
            .or(t.standard_return_window)
            .filter(|d| !d.is_empty()),
        _ => None,
    };
    if final_after.as_deref().is_some_and(|d| !is_date(d)) {
        return bad(
            "Plaid's return window is not a date (YYYY-MM-DD)".into(),
            request_id,
        );
    }
    let finality = transfer_status.map_or(Finality::Changing, |s| {
        s.finality(final_after.is_some(), refunded > 0 && refund_pending)
    });
    let (failure_code, status_reason) = match t.failure_reason {
        Some(f) => (f.failure_code, f.description),
        None => (None, None),
    };
    Reading {
        verdict: Verdict::Found(Payment {
            status,
            gateway_status: t.status,
            amount,
            amount_requested: None,
            amount_refunded: (refunded > 0).then(|| Money::from_minor(refunded, amount.currency)),
            refund_pending: (refunded > 0).then_some(refund_pending),
            dispute_status: None,
            final_after,
            finality,
            created_at: Some(created_at),
            failure_code,
            status_reason,
        }),
        request_id,
        retry_advice: None,
    }
}

/// Whether `text` is a calendar date written YYYY-MM-DD.
fn is_date(text: &str) -> bool {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(text, &format).is_ok()
}

/// Plaid's error codes that mean the credentials, not the request, are wrong.
const CREDENTIAL_CODES: [&str; 3] = [
    "INVALID_API_KEYS",
    "UNAUTHORIZED_ENVIRONMENT",
    "INVALID_PRODUCT",
];

fn read_error(status: u16, body: &[u8]) -> Reading {
    // Plaid's error object always names its type and code; JSON without them is someone
    // else's (a proxy's), and its request id is not Plaid's.
    let wire = serde_json::from_slice::<WireError>(body)
        .ok()
        .filter(|w| w.error_type.is_some() || w.error_code.is_some());
    let request_id = wire.as_ref().and_then(|w| w.request_id.clone());
    let error_type = wire.as_ref().and_then(|w| w.error_type.as_deref());
    let error_code = wire.as_ref().and_then(|w| w.error_code.as_deref());
    // Branch on what Plaid says first, as Plaid asks; the HTTP status decides the rest.
    let outcome = match (error_type, error_code) {
        (Some("RATE_LIMIT_EXCEEDED"), _) | (_, Some("RATE_LIMIT_EXCEEDED")) => Outcome::RateLimited,
        (Some("API_ERROR"), _) => Outcome::GatewayError,
        (_, Some(code)) if CREDENTIAL_CODES.contains(&code) => Outcome::Unauthorized,
        (_, Some(code)) if is_not_found(code) => Outcome::NotFound,
        (Some("INVALID_INPUT" | "INVALID_REQUEST"), _) => Outcome::BadRequest,
        _ => match outcome_for_http_status(status) {
            Outcome::Found => Outcome::BadResponse,
            outcome => outcome,
        },
    };
    let error = wire.map(|w| GatewayError {
        kind: w.error_type,
        code: w.error_code,
        message: w.error_message,
    });
    Reading {
        verdict: error_verdict(NAME, status, outcome, outcome == Outcome::NotFound, error),
        request_id,
        retry_advice: None,
    }
}

/// Plaid's error code for a transfer it does not have. UNVERIFIED: Plaid does not publish the
/// code for an unknown `transfer_id` (GATEWAYS.md), so `NOT_FOUND` itself or any code ending in
/// `_NOT_FOUND` counts; `fixtures/plaid/not_found_transfer.toml` says so in its requirement.
const NOT_FOUND_CODE: &str = "NOT_FOUND";

fn is_not_found(code: &str) -> bool {
    code == NOT_FOUND_CODE
        || code
            .strip_suffix(NOT_FOUND_CODE)
            .is_some_and(|prefix| prefix.ends_with('_'))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Plaid asks clients to branch on `error_type` and `error_code`, not on the HTTP status:
    /// the body decides even when the status says something else.
    #[test]
    fn refunds_count_unless_they_moved_nothing_and_an_unknown_one_is_not_hidden() {
        let transfer = |refunds: &str| {
            format!(
                r#"{{"transfer": {{"id": "t1", "amount": "10.00", "iso_currency_code": "USD",
                "status": "settled", "created": "2024-07-29T20:22:21Z", "refunds": [{refunds}],
                "unauthorized_return_window": "2024-09-26"}}, "request_id": "r"}}"#
            )
        };
        let refund = |amount: &str, status: &str| {
            format!(r#"{{"amount": "{amount}", "status": "{status}"}}"#)
        };
        let read =
            |refunds: String| match read_transfer("t1", transfer(&refunds).as_bytes()).verdict {
                Verdict::Found(p) => (
                    p.status,
                    p.amount_refunded.map(|m| m.amount_minor),
                    p.refund_pending,
                ),
                other => panic!("{other:?}"),
            };
        let none = read(String::new());
        assert_eq!(none, (PaymentStatus::Completed, None, None));
        let moved_nothing = [
            refund("10.00", "cancelled"),
            refund("10.00", "failed"),
            refund("10.00", "returned"),
        ];
        assert_eq!(
            read(moved_nothing.join(",")),
            (PaymentStatus::Completed, None, None)
        );
        assert_eq!(
            read(refund("4.00", "settled")),
            (PaymentStatus::Completed, Some(400), Some(false))
        );
        assert_eq!(
            read(refund("4.00", "posted")),
            (PaymentStatus::Completed, Some(400), Some(true))
        );
        assert_eq!(
            read(refund("10.00", "in_review")),
            (PaymentStatus::Refunded, Some(1000), Some(true)),
            "a refund status Plaid adds later counts, as under way"
        );
    }

    #[test]
    fn the_error_body_outranks_the_http_status() {
        let body = |error_type: &str, code: &str| {
            format!(
                r#"{{"error_type": "{error_type}", "error_code": "{code}", "error_message": "m", "display_message": null, "request_id": "r"}}"#
            )
        };
        let outcome = |status, body: String| read_error(status, body.as_bytes()).verdict.outcome();
        assert_eq!(
            outcome(400, body("RATE_LIMIT_EXCEEDED", "TRANSFERS_LIMIT")),
            Outcome::RateLimited
        );
        assert_eq!(
            outcome(400, body("INVALID_REQUEST", "RATE_LIMIT_EXCEEDED")),
            Outcome::RateLimited
        );
        assert_eq!(
            outcome(400, body("API_ERROR", "INTERNAL_SERVER_ERROR")),
            Outcome::GatewayError
        );
        assert_eq!(
            outcome(500, body("INVALID_INPUT", "INVALID_API_KEYS")),
            Outcome::Unauthorized
        );
        assert_eq!(
            outcome(500, body("INVALID_INPUT", "TRANSFER_NOT_FOUND")),
            Outcome::NotFound
        );
        assert_eq!(
            outcome(500, body("INVALID_REQUEST", "MISSING_FIELDS")),
            Outcome::BadRequest
        );
        assert_eq!(outcome(503, "not json".into()), Outcome::GatewayError);
        assert_eq!(outcome(204, "".into()), Outcome::BadResponse);
    }

    #[test]
    fn every_status_round_trips_through_its_word() {
        for status in TransferStatus::ALL {
            assert_eq!(TransferStatus::from_word(status.word()), Some(status));
        }
        assert_eq!(
            TransferStatus::from_word("canceled"),
            None,
            "Plaid spells it with two l's"
        );
    }

    #[test]
    fn debug_output_hides_the_credentials() {
        let plaid = Plaid::new(
            DEFAULT_BASE_URL.parse().unwrap(),
            SecretString::from("client_canary_1"),
            SecretString::from("secret_canary_2"),
        );
        let debug = format!("{plaid:?}");
        assert!(
            !debug.contains("client_canary_1") && !debug.contains("secret_canary_2"),
            "{debug}"
        );
    }
}
