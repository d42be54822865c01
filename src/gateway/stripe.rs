//! Stripe PaymentIntents: `GET {base}/v1/payment_intents/{id}`.
//!
//! Wire facts (GATEWAYS.md): `status` is exactly one of seven words and there is no `failed`
//! — a declined attempt sends the intent back to `requires_payment_method` with a non-null
//! `last_payment_error`. `amount` is already an integer in minor units, `currency` is lower
//! case, `created` is unix seconds. Errors are `{"error": {type, code, message, …}}`; the
//! `Request-Id` header is what Stripe support asks for.

use std::sync::Arc;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::{
    Changes, CommonSettings, FeedRules, Gateway, GatewayError, GatewayKind, MappingRow, Payment,
    Profile, Reading, Reply, Section, Verdict, error_verdict, header_text, outcome_for_http_status,
    url_with_segments,
};
use crate::credential::{self, CredentialError};
use crate::result::{self, Environment, Finality, Money, Outcome, PaymentStatus};
use crate::retry::RetrySettings;

/// Stripe's API.
pub const DEFAULT_BASE_URL: &str = "https://api.stripe.com";

/// Stripe's default per-endpoint rate limit (GATEWAYS.md): paystat paces itself under it.
pub const REQUESTS_PER_SECOND: f64 = 25.0;

/// How sentences name this gateway.
const NAME: &str = "Stripe";

/// Stripe's place among the gateways: ids `pi_…`, paced at 25 requests per second.
pub static PROFILE: Profile = Profile {
    kind: GatewayKind::Stripe,
    default_base_url: DEFAULT_BASE_URL,
    url_env: "PAYSTAT_STRIPE_URL",
    requests_per_second: Some(REQUESTS_PER_SECOND),
    routing_rule: "`pi_…` to Stripe",
    owns_id: |id| id.starts_with("pi_"),
};

/// `[stripe]` in the config file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StripeSection {
    /// Base URL (default `https://api.stripe.com`).
    pub base_url: Option<String>,
    /// Per-request timeout, like `5s`.
    #[serde(default, deserialize_with = "crate::clock::optional_duration")]
    pub timeout: Option<Duration>,
    /// The variable holding the secret key (default `PAYSTAT_STRIPE_KEY`).
    pub key_env: Option<String>,
    /// The `Stripe-Version` to send (default [`STRIPE_VERSION`]).
    pub stripe_version: Option<String>,
    /// The connected account to ask on behalf of (`acct_…`, sent as `Stripe-Account`).
    pub stripe_account: Option<String>,
    /// Client-side pacing in requests per second (0 turns it off; default 25).
    pub requests_per_second: Option<f64>,
    /// Retries, deadline and retry budget (`[stripe.retry]`).
    #[serde(default)]
    pub retry: RetrySettings,
}

impl Section for StripeSection {
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
        let key = credential::required(
            env,
            GatewayKind::Stripe,
            credential::variable(
                GatewayKind::Stripe,
                "key_env",
                self.key_env.as_deref(),
                "PAYSTAT_STRIPE_KEY",
            )?,
            "the secret key, sk_…",
        )?;
        if let Some(account) = self.stripe_account.as_deref().filter(|a| !is_account_id(a)) {
            return Err(CredentialError::NotAnAccount {
                value: crate::credential::redact(account),
            });
        }
        Ok(Arc::new(Stripe::new(
            base_url,
            key,
            self.stripe_version.as_deref().unwrap_or(STRIPE_VERSION),
            self.stripe_account.clone(),
        )))
    }
}

/// The header Stripe support asks for.
const REQUEST_ID_HEADER: &str = "request-id";

/// Stripe's explicit retry advice.
const SHOULD_RETRY_HEADER: &str = "stripe-should-retry";

/// The Stripe adapter.
#[derive(Debug, Clone)]
pub struct Stripe {
    base_url: reqwest::Url,
    key: SecretString,
    version: String,
    account: Option<String>,
}

/// The API version paystat's reading of Stripe (and its fixtures) is written against, sent as
/// `Stripe-Version` unless the config file pins another (Stripe's own libraries always pin one).
pub const STRIPE_VERSION: &str = "2024-06-20";

impl Stripe {
    /// Stripe at `base_url` (normally `https://api.stripe.com`) with secret key `key`, asking
    /// with `Stripe-Version: version`, on behalf of the connected `account` (`acct_…`, sent as
    /// `Stripe-Account`) when one is given.
    pub fn new(
        base_url: reqwest::Url,
        key: SecretString,
        version: &str,
        account: Option<String>,
    ) -> Stripe {
        Stripe {
            base_url,
            key,
            version: version.to_owned(),
            account,
        }
    }
}

/// Whether `account` looks like a Stripe account id (`acct_` and letters or digits).
fn is_account_id(account: &str) -> bool {
    account
        .strip_prefix("acct_")
        .is_some_and(|rest| !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// Where Stripe answers for PaymentIntent `id`: `{base}/v1/payment_intents/{id}`, the id
/// percent-encoded as one path segment. The embedded mock serves the same URL.
pub fn status_url(base: &reqwest::Url, id: &str) -> reqwest::Url {
    url_with_segments(base, &["v1", "payment_intents", id])
}

/// The events list (the change feed) under `base`.
pub fn events_url(base: &reqwest::Url) -> reqwest::Url {
    url_with_segments(base, &["v1", "events"])
}

/// Currencies Stripe sends in whole units, whatever ISO 4217 says (its "Supported currencies"
/// page; MGA, for one, has two ISO decimals).
const ZERO_DECIMAL: [&str; 16] = [
    "BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA", "PYG", "RWF", "UGX", "VND", "VUV",
    "XAF", "XOF", "XPF",
];
/// Currencies Stripe sends with three decimals.
const THREE_DECIMAL: [&str; 5] = ["BHD", "JOD", "KWD", "OMR", "TND"];
/// Stripe's special cases sent with two decimals although ISO 4217 has none: ISK (`100` is
/// one króna; Stripe requires multiples of 100). HUF and TWD are two-decimal in both.
const TWO_DECIMAL_SPECIAL: [&str; 1] = ["ISK"];

/// The number of decimals in Stripe's `amount` for `currency`.
fn stripe_exponent(currency: iso_currency::Currency) -> u16 {
    let code = currency.code();
    if ZERO_DECIMAL.contains(&code) {
        0
    } else if THREE_DECIMAL.contains(&code) {
        3
    } else if TWO_DECIMAL_SPECIAL.contains(&code) {
        2
    } else {
        currency.exponent().unwrap_or(2)
    }
}

/// Stripe's seven PaymentIntent statuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum IntentStatus {
    RequiresPaymentMethod,
    RequiresConfirmation,
    RequiresAction,
    Processing,
    RequiresCapture,
    Canceled,
    Succeeded,
}

impl IntentStatus {
    const ALL: [IntentStatus; 7] = [
        IntentStatus::RequiresPaymentMethod,
        IntentStatus::RequiresConfirmation,
        IntentStatus::RequiresAction,
        IntentStatus::Processing,
        IntentStatus::RequiresCapture,
        IntentStatus::Canceled,
        IntentStatus::Succeeded,
    ];

    fn word(self) -> &'static str {
        match self {
            IntentStatus::RequiresPaymentMethod => "requires_payment_method",
            IntentStatus::RequiresConfirmation => "requires_confirmation",
            IntentStatus::RequiresAction => "requires_action",
            IntentStatus::Processing => "processing",
            IntentStatus::RequiresCapture => "requires_capture",
            IntentStatus::Canceled => "canceled",
            IntentStatus::Succeeded => "succeeded",
        }
    }

    /// A word Stripe adds later is `None`, and becomes `unknown` with the raw word kept.
    fn from_word(word: &str) -> Option<IntentStatus> {
        IntentStatus::ALL.into_iter().find(|s| s.word() == word)
    }

    /// The mapping, every status named (no catch-all arm: a new variant is a compile error).
    fn normalize(self, declined: bool, aftermath: Aftermath) -> PaymentStatus {
        match self {
            // A succeeded intent stays `succeeded` whatever happens next; its latest charge
            // says whether the money was sent back or pulled back.
            IntentStatus::Succeeded => match aftermath {
                Aftermath::Nothing | Aftermath::PartlyRefunded | Aftermath::DisputeWon => {
                    PaymentStatus::Completed
                }
                Aftermath::Refunded => PaymentStatus::Refunded,
                Aftermath::DisputeOpen => PaymentStatus::Disputed,
                Aftermath::DisputeLost => PaymentStatus::Returned,
            },
            IntentStatus::Processing => PaymentStatus::Pending,
            IntentStatus::RequiresCapture => PaymentStatus::Authorized,
            IntentStatus::RequiresAction | IntentStatus::RequiresConfirmation => {
                PaymentStatus::RequiresAction
            }
            // Stripe has no `failed`: a declined attempt returns here with last_payment_error.
            IntentStatus::RequiresPaymentMethod if declined => PaymentStatus::Failed,
            IntentStatus::RequiresPaymentMethod => PaymentStatus::RequiresAction,
            IntentStatus::Canceled => PaymentStatus::Canceled,
        }
    }

    /// Whether the answer can still change. A canceled intent is done. A succeeded one can
    /// still be refunded or disputed: card networks take disputes for about 120 days, so it is
    /// final only after [`DISPUTE_WINDOW_DAYS`] — and not while a dispute is open.
    fn finality(self, aftermath: Aftermath) -> Finality {
        match (self, aftermath) {
            (IntentStatus::Canceled, _) => Finality::Final,
            (IntentStatus::Succeeded, Aftermath::DisputeOpen) => Finality::Changing,
            (IntentStatus::Succeeded, _) => Finality::FinalAfter,
            (
                IntentStatus::RequiresPaymentMethod
                | IntentStatus::RequiresConfirmation
                | IntentStatus::RequiresAction
                | IntentStatus::Processing
                | IntentStatus::RequiresCapture,
                _,
            ) => Finality::Changing,
        }
    }
}

/// How long Stripe keeps events (`GET /v1/events` lists the last 30 days).
pub const EVENTS_KEPT: Duration = Duration::from_secs(30 * 24 * 3600);

/// The events that change what paystat says of a PaymentIntent (GATEWAYS.md).
pub const EVENT_TYPES: [&str; 10] = [
    "payment_intent.succeeded",
    "payment_intent.payment_failed",
    "payment_intent.canceled",
    "payment_intent.processing",
    "payment_intent.requires_action",
    "charge.refunded",
    "charge.refund.updated",
    "charge.dispute.created",
    "charge.dispute.updated",
    "charge.dispute.closed",
];

#[derive(Deserialize)]
struct WireEventList {
    data: Vec<WireEvent>,
    has_more: bool,
}

#[derive(Deserialize)]
struct WireEvent {
    id: String,
    created: i64,
    data: WireEventData,
}

#[derive(Deserialize)]
struct WireEventData {
    object: WireEventObject,
}

/// The changed object: a PaymentIntent, or a charge, refund or dispute naming one.
#[derive(Deserialize)]
struct WireEventObject {
    id: String,
    object: String,
    #[serde(default)]
    payment_intent: Option<String>,
}

/// How long after a card payment a dispute can still arrive, in days (card-network rules, as
/// Stripe's dispute documentation gives them; see fixtures/GATEWAYS.md).
pub const DISPUTE_WINDOW_DAYS: i64 = 120;

/// What happened to a succeeded payment's money after it moved, read from its latest charge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Aftermath {
    /// No refund, no dispute.
    Nothing,
    /// Part of it was refunded.
    PartlyRefunded,
    /// All of it was refunded (`refunded: true`).
    Refunded,
    /// A dispute is open (`warning_needs_response`, `needs_response`, `under_review`, …).
    DisputeOpen,
    /// A dispute was lost: the money was pulled back.
    DisputeLost,
    /// A dispute was won (or an inquiry closed): the money stays.
    DisputeWon,
}

/// Stripe's rows of the status mapping.
pub fn status_mapping() -> Vec<MappingRow> {
    let row = |status: IntentStatus, when: Option<&'static str>, declined, aftermath| {
        let normalized = status.normalize(declined, aftermath);
        MappingRow {
            finality: match status.finality(aftermath) {
                Finality::Final => "final",
                Finality::FinalAfter => {
                    "final 120 days after `created` (the card-dispute window), given as `final_after`"
                }
                Finality::Changing => "changing",
            },
            gateway: GatewayKind::Stripe,
            word: status.word(),
            when,
            status: normalized,
            action: match (status, declined) {
                (IntentStatus::RequiresConfirmation, _) => {
                    "The merchant's own integration must confirm the intent: escalate to the team that built the checkout; nothing for the customer to do."
                }
                (IntentStatus::RequiresPaymentMethod, false) => {
                    "The customer has not given a payment method yet: wait, or ask them to finish checkout."
                }
                _ => normalized.action(),
            },
        }
    };
    IntentStatus::ALL
        .into_iter()
        .flat_map(|status| match status {
            IntentStatus::RequiresPaymentMethod => vec![
                row(status, Some("with `last_payment_error` (a decline)"), true, Aftermath::Nothing),
                row(status, Some("without `last_payment_error`"), false, Aftermath::Nothing),
            ],
            IntentStatus::Succeeded => vec![
                row(status, Some("with no refund or dispute on its latest charge (or a partial refund, or a won dispute)"), false, Aftermath::Nothing),
                row(status, Some("whose latest charge is fully refunded"), false, Aftermath::Refunded),
                row(status, Some("whose latest charge has an open dispute"), false, Aftermath::DisputeOpen),
                row(status, Some("whose latest charge lost its dispute"), false, Aftermath::DisputeLost),
            ],
            _ => vec![row(status, None, false, Aftermath::Nothing)],
        })
        .collect()
}

/// A field Stripe sends as an id, or as the object itself when the GET expanded it. An object
/// that does not read as `T` fails the whole body: a charge paystat cannot read must not pass
/// for "no refund, no dispute".
#[derive(Deserialize)]
#[serde(untagged)]
enum Expandable<T> {
    Id(#[allow(dead_code)] String),
    Object(T),
}

impl<T> Expandable<T> {
    fn object(&self) -> Option<&T> {
        match self {
            Expandable::Id(_) => None,
            Expandable::Object(object) => Some(object),
        }
    }
}

/// The latest charge, when the GET expanded it (`expand[]=latest_charge`).
#[derive(Deserialize)]
struct WireCharge {
    amount_refunded: i64,
    refunded: bool,
    disputed: bool,
    /// The dispute's id, or the dispute itself when expanded (`latest_charge.dispute`).
    #[serde(default)]
    dispute: Option<Expandable<WireDispute>>,
}

#[derive(Deserialize)]
struct WireDispute {
    status: String,
    #[serde(default)]
    reason: Option<String>,
}

/// What the latest charge says happened after the money moved: the aftermath, the amount
/// refunded (Stripe's minor units), and the dispute's status and reason.
fn aftermath(charge: Option<&Expandable<WireCharge>>) -> (Aftermath, i64, Option<&WireDispute>) {
    let Some(charge) = charge.and_then(Expandable::object) else {
        return (Aftermath::Nothing, 0, None);
    };
    let dispute = charge.dispute.as_ref().and_then(Expandable::object);
    let refunds = if charge.refunded {
        Aftermath::Refunded
    } else if charge.amount_refunded > 0 {
        Aftermath::PartlyRefunded
    } else {
        Aftermath::Nothing
    };
    let state = match dispute.as_ref().map(|d| d.status.as_str()) {
        Some("lost") => Aftermath::DisputeLost,
        // A won dispute (or a closed inquiry) leaves the money where the refunds left it.
        Some("won" | "warning_closed") if refunds == Aftermath::Nothing => Aftermath::DisputeWon,
        Some("won" | "warning_closed") => refunds,
        Some(_) => Aftermath::DisputeOpen,
        None if charge.disputed => Aftermath::DisputeOpen,
        None => refunds,
    };
    (state, charge.amount_refunded, dispute)
}

#[derive(Deserialize)]
struct WireIntent {
    id: String,
    #[serde(default)]
    object: Option<String>,
    amount: i64,
    #[serde(default)]
    amount_received: Option<i64>,
    #[serde(default)]
    amount_capturable: Option<i64>,
    currency: String,
    status: String,
    created: i64,
    #[serde(default)]
    last_payment_error: Option<WireError>,
    #[serde(default)]
    latest_charge: Option<Expandable<WireCharge>>,
    #[serde(default)]
    cancellation_reason: Option<String>,
}

#[derive(Deserialize)]
struct WireError {
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    decline_code: Option<String>,
    #[serde(default)]
    message: Option<String>,
}

#[derive(Deserialize)]
struct WireErrorBody {
    error: WireError,
}

impl Stripe {
    /// A GET of `url` as Stripe wants every request: the key, the pinned version, and the
    /// connected account when there is one.
    fn get(&self, client: &reqwest::Client, url: reqwest::Url) -> reqwest::RequestBuilder {
        let request = client
            .get(url)
            .bearer_auth(self.key.expose_secret())
            .header("Stripe-Version", &self.version);
        match &self.account {
            Some(account) => request.header("Stripe-Account", account),
            None => request,
        }
    }
}

impl Gateway for Stripe {
    fn kind(&self) -> GatewayKind {
        GatewayKind::Stripe
    }

    fn base_url(&self) -> &reqwest::Url {
        &self.base_url
    }

    fn request(&self, client: &reqwest::Client, id: &str) -> reqwest::Result<reqwest::Request> {
        let mut url = status_url(&self.base_url, id);
        // The intent's status never changes after `succeeded`: its latest charge (and that
        // charge's dispute) say whether the money was refunded or disputed. One GET asks for both.
        url.query_pairs_mut()
            .append_pair("expand[]", "latest_charge")
            .append_pair("expand[]", "latest_charge.dispute");
        self.get(client, url).build()
    }

    fn secrets(&self) -> Vec<&SecretString> {
        vec![&self.key]
    }

    fn api_version(&self) -> Option<&str> {
        Some(&self.version)
    }

    fn account(&self) -> Option<&str> {
        self.account.as_deref()
    }

    fn feed(&self) -> Option<FeedRules> {
        Some(FeedRules {
            keeps: Some(EVENTS_KEPT),
            // From five minutes before now: clocks differ, and reading an event twice is
            // harmless (it drops an entry already dropped).
            start: |now| now.saturating_sub(300).to_string(),
        })
    }

    fn changes_request(
        &self,
        client: &reqwest::Client,
        position: &str,
        page: Option<&str>,
    ) -> Option<reqwest::Result<reqwest::Request>> {
        let mut url = events_url(&self.base_url);
        {
            let mut query = url.query_pairs_mut();
            for kind in EVENT_TYPES {
                query.append_pair("types[]", kind);
            }
            // `gte`, not `gt`: an event of the cursor's own second may have come after it.
            query.append_pair("created[gte]", position);
            query.append_pair("limit", "100");
            if let Some(page) = page {
                query.append_pair("starting_after", page);
            }
        }
        Some(self.get(client, url).build())
    }

    fn read_changes(&self, reply: &Reply) -> Result<Changes, String> {
        if reply.status != 200 {
            return Err(match read_error(reply.status, &reply.body) {
                Verdict::NoPayment { detail, .. } => {
                    format!(
                        "Stripe's events list answered HTTP {}: {detail}",
                        reply.status
                    )
                }
                Verdict::Found(_) => format!("Stripe's events list answered HTTP {}", reply.status),
            });
        }
        let list: WireEventList = serde_json::from_slice(&reply.body)
            .map_err(|e| format!("Stripe's events list is not a list of events: {e}"))?;
        let mut changes = Changes::default();
        let mut newest: Option<i64> = None;
        for event in &list.data {
            newest = Some(newest.map_or(event.created, |n| n.max(event.created)));
            let object = &event.data.object;
            let intent = match object.object.as_str() {
                "payment_intent" => Some(object.id.clone()),
                // Charges, refunds and disputes name their PaymentIntent.
                _ => object.payment_intent.clone(),
            };
            changes.payment_ids.extend(intent);
        }
        changes.position = newest.map(|n| n.to_string());
        if list.has_more {
            let last = list
                .data
                .last()
                .ok_or("Stripe said there were more events after an empty page")?;
            changes.next_page = Some(last.id.clone());
        }
        Ok(changes)
    }

    fn environment(&self) -> Environment {
        // Stripe's test-mode keys say so in their prefix (`sk_test_`, `rk_test_`).
        let key = self.key.expose_secret();
        if key.starts_with("sk_test_") || key.starts_with("rk_test_") {
            Environment::Test
        } else {
            Environment::Live
        }
    }

    fn read(&self, id: &str, reply: &Reply) -> Reading {
        let request_id = header_text(&reply.headers, REQUEST_ID_HEADER);
        let verdict = match reply.status {
            200 => read_intent(id, &reply.body),
            status => read_error(status, &reply.body),
        };
        // Stripe's explicit advice overrides the status: `false` forbids a retry, `true` asks
        // for one (GATEWAYS.md); anything else is no advice.
        let retry_advice = match header_text(&reply.headers, SHOULD_RETRY_HEADER).as_deref() {
            Some("true") => Some(true),
            Some("false") => Some(false),
            _ => None,
        };
        Reading {
            verdict,
            request_id,
            retry_advice,
        }
    }
}

fn read_intent(id: &str, body: &[u8]) -> Verdict {
    let bad = |detail: String| Verdict::refused(Outcome::BadResponse, detail);
    let wire: WireIntent = match serde_json::from_slice(body) {
        Ok(wire) => wire,
        Err(e) => return bad(format!("Stripe's 200 body is not a PaymentIntent: {e}")),
    };
    if wire
        .object
        .as_deref()
        .is_some_and(|o| o != "payment_intent")
    {
        return bad("Stripe's 200 body is not a PaymentIntent object".into());
    }
    if wire.id != id {
        return bad("Stripe answered with a different PaymentIntent than the one asked for".into());
    }
    let Ok(currency) = result::currency(&wire.currency) else {
        return bad(format!(
            "Stripe's currency `{}` is not an ISO 4217 currency",
            wire.currency
        ));
    };
    let money = |minor: i64| Money::from_gateway_minor(minor, stripe_exponent(currency), currency);
    let intent_status = IntentStatus::from_word(&wire.status);
    // The amount that moved or is held: collected when succeeded, capturable when authorized,
    // the intent's amount while it is under way.
    let moved = match intent_status {
        Some(IntentStatus::Succeeded) => wire.amount_received.unwrap_or(wire.amount),
        Some(IntentStatus::RequiresCapture) => wire.amount_capturable.unwrap_or(wire.amount),
        _ => wire.amount,
    };
    let (amount, requested) = match (money(moved), money(wire.amount)) {
        (Ok(amount), Ok(requested)) => (amount, requested),
        (Err(e), _) | (_, Err(e)) => return bad(format!("Stripe's amount is unusable: {e}")),
    };
    let Some(created_at) = OffsetDateTime::from_unix_timestamp(wire.created)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
    else {
        return bad(format!(
            "Stripe's created ({}) is not a unix time",
            wire.created
        ));
    };
    let declined = wire.last_payment_error.is_some();
    let (after, refunded_minor, dispute) = match intent_status {
        Some(IntentStatus::Succeeded) => aftermath(wire.latest_charge.as_ref()),
        _ => (Aftermath::Nothing, 0, None),
    };
    let status = match intent_status {
        Some(status) => status.normalize(declined, after),
        None => PaymentStatus::Unknown,
    };
    let finality = intent_status.map_or(Finality::Changing, |s| s.finality(after));
    let final_after = match finality {
        Finality::FinalAfter => OffsetDateTime::from_unix_timestamp(wire.created)
            .ok()
            .and_then(|t| t.checked_add(time::Duration::days(DISPUTE_WINDOW_DAYS)))
            .map(|t| t.date().to_string()),
        Finality::Final | Finality::Changing => None,
    };
    // A date that cannot be computed (a `created` at the end of time) leaves it changing.
    let finality = match (finality, &final_after) {
        (Finality::FinalAfter, None) => Finality::Changing,
        (finality, _) => finality,
    };
    let amount_refunded = match refunded_minor {
        0 => None,
        minor => match money(minor) {
            Ok(refunded) => Some(refunded),
            Err(e) => return bad(format!("Stripe's amount refunded is unusable: {e}")),
        },
    };
    let (failure_code, decline_message) = match (wire.last_payment_error, &dispute) {
        (Some(e), _) if status == PaymentStatus::Failed => (e.decline_code.or(e.code), e.message),
        // A lost dispute's reason (`fraudulent`, `product_not_received`, …) is why the money
        // came back.
        (_, Some(d)) if after == Aftermath::DisputeLost => (d.reason.clone(), None),
        _ => (None, None),
    };
    Verdict::Found(Payment {
        status,
        gateway_status: wire.status,
        amount,
        amount_requested: Some(requested),
        amount_refunded,
        refund_pending: None,
        dispute_status: dispute.map(|d| d.status.clone()),
        final_after,
        finality,
        created_at: Some(created_at),
        failure_code,
        status_reason: wire.cancellation_reason.or(decline_message),
    })
}

fn read_error(status: u16, body: &[u8]) -> Verdict {
    let outcome = match (status, outcome_for_http_status(status)) {
        // 402 is Stripe's "request failed" for card errors: the request, not the gateway.
        (402, _) => Outcome::BadRequest,
        // 409 is a conflict with a concurrent request on the same object: transient, not ours.
        (409, _) => Outcome::GatewayError,
        (_, Outcome::Found) => Outcome::BadResponse,
        (_, outcome) => outcome,
    };
    let error = serde_json::from_slice::<WireErrorBody>(body)
        .ok()
        .map(|b| GatewayError {
            kind: b.error.kind,
            code: b.error.code,
            message: b.error.message,
        });
    // Only Stripe's own error says the intent does not exist (on this account, in this mode).
    let not_found = status == 404
        && error
            .as_ref()
            .is_some_and(|e| e.code.as_deref() == Some(NOT_FOUND_CODE));
    error_verdict(NAME, status, outcome, not_found, error)
}

/// Stripe's error code for an object it does not have (with HTTP 404).
const NOT_FOUND_CODE: &str = "resource_missing";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_latest_charge_says_what_happened_after_the_money_moved() {
        let charge = |json: &str| serde_json::from_str::<Expandable<WireCharge>>(json).unwrap();
        let state = |json: &str| aftermath(Some(&charge(json))).0;
        let table = [
            (
                r#"{"amount_refunded": 0, "refunded": false, "disputed": false, "dispute": null}"#,
                Aftermath::Nothing,
            ),
            (
                r#"{"amount_refunded": 500, "refunded": false, "disputed": false}"#,
                Aftermath::PartlyRefunded,
            ),
            (
                r#"{"amount_refunded": 2000, "refunded": true, "disputed": false}"#,
                Aftermath::Refunded,
            ),
            (
                r#"{"amount_refunded": 0, "refunded": false, "disputed": true, "dispute": "dp_1"}"#,
                Aftermath::DisputeOpen,
            ),
            (
                r#"{"amount_refunded": 0, "refunded": false, "disputed": true, "dispute": {"status": "needs_response", "reason": "fraudulent"}}"#,
                Aftermath::DisputeOpen,
            ),
            (
                r#"{"amount_refunded": 0, "refunded": false, "disputed": true, "dispute": {"status": "under_review"}}"#,
                Aftermath::DisputeOpen,
            ),
            (
                r#"{"amount_refunded": 0, "refunded": false, "disputed": true, "dispute": {"status": "warning_needs_response"}}"#,
                Aftermath::DisputeOpen,
            ),
            (
                r#"{"amount_refunded": 0, "refunded": false, "disputed": true, "dispute": {"status": "lost", "reason": "fraudulent"}}"#,
                Aftermath::DisputeLost,
            ),
            (
                r#"{"amount_refunded": 0, "refunded": false, "disputed": true, "dispute": {"status": "won"}}"#,
                Aftermath::DisputeWon,
            ),
            (
                r#"{"amount_refunded": 2000, "refunded": true, "disputed": true, "dispute": {"status": "won"}}"#,
                Aftermath::Refunded,
            ),
            (
                r#"{"amount_refunded": 0, "refunded": false, "disputed": true, "dispute": {"status": "warning_closed"}}"#,
                Aftermath::DisputeWon,
            ),
        ];
        for (json, expected) in table {
            assert_eq!(state(json), expected, "{json}");
        }
        assert_eq!(aftermath(None).0, Aftermath::Nothing);
        // An expanded charge paystat cannot read fails the intent, never reads as "nothing".
        let unreadable = r#"{"id": "pi_1", "object": "payment_intent", "amount": 2000, "currency": "usd",
            "status": "succeeded", "created": 1680800504, "latest_charge": {"refunded": "yes"}}"#;
        assert!(matches!(
            read_intent("pi_1", unreadable.as_bytes()),
            Verdict::NoPayment {
                outcome: Outcome::BadResponse,
                ..
            }
        ));
        assert_eq!(
            aftermath(Some(&charge(r#""ch_1""#))).0,
            Aftermath::Nothing,
            "not expanded"
        );
        let normalize = |a| IntentStatus::Succeeded.normalize(false, a);
        assert_eq!(
            normalize(Aftermath::PartlyRefunded),
            PaymentStatus::Completed
        );
        assert_eq!(normalize(Aftermath::DisputeWon), PaymentStatus::Completed);
        assert_eq!(normalize(Aftermath::Refunded), PaymentStatus::Refunded);
        assert_eq!(normalize(Aftermath::DisputeOpen), PaymentStatus::Disputed);
        assert_eq!(normalize(Aftermath::DisputeLost), PaymentStatus::Returned);
        assert_eq!(
            IntentStatus::Canceled.normalize(false, Aftermath::Refunded),
            PaymentStatus::Canceled,
            "only a succeeded intent has an aftermath"
        );
    }

    /// An intent canceled after a declined attempt keeps its `last_payment_error`: it is
    /// `canceled` with Stripe's cancellation reason, and the old decline is not its failure.
    #[test]
    fn a_decline_before_cancellation_is_not_the_failure_code() {
        let body = r#"{"id": "pi_1", "object": "payment_intent", "amount": 2000, "currency": "usd",
            "status": "canceled", "created": 1680800504, "cancellation_reason": "abandoned",
            "last_payment_error": {"type": "card_error", "code": "card_declined",
              "decline_code": "insufficient_funds", "message": "Your card has insufficient funds."}}"#;
        let Verdict::Found(payment) = read_intent("pi_1", body.as_bytes()) else {
            panic!("a canceled intent is found");
        };
        assert_eq!(payment.status, PaymentStatus::Canceled);
        assert_eq!(payment.failure_code, None);
        assert_eq!(payment.status_reason.as_deref(), Some("abandoned"));
    }

    #[test]
    fn every_status_round_trips_through_its_word() {
        for status in IntentStatus::ALL {
            assert_eq!(IntentStatus::from_word(status.word()), Some(status));
        }
        assert_eq!(IntentStatus::from_word("failed"), None);
    }

    #[test]
    fn a_decline_is_failed_and_a_fresh_intent_waits() {
        assert_eq!(
            IntentStatus::RequiresPaymentMethod.normalize(true, Aftermath::Nothing),
            PaymentStatus::Failed
        );
        assert_eq!(
            IntentStatus::RequiresPaymentMethod.normalize(false, Aftermath::Nothing),
            PaymentStatus::RequiresAction
        );
        assert_eq!(status_mapping().len(), 11);
    }
}
