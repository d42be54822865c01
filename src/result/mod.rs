//! The normalized vocabulary and the result of a check: what every other part of paystat
//! speaks. The checker fills a [`CheckResult`], the adapters name [`PaymentStatus`]es and
//! [`Money`], the audit trail writes the result as its line, the CLI prints it.
//!
//! This module is a leaf: it imports no other module of paystat, so everything can depend on
//! it and nothing here can form a circle.

pub mod flat;
mod money;
mod status;

use std::fmt;

use serde::{Deserialize, Serialize};

pub use money::{Money, currency};
pub use status::{Finality, Outcome, PaymentStatus};

/// The gateways paystat can ask.
#[cfg_attr(feature = "serve", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GatewayKind {
    /// The company's internal ledger.
    Ledger,
    /// Stripe PaymentIntents.
    Stripe,
    /// Plaid Transfer.
    Plaid,
}

impl GatewayKind {
    /// Every gateway, in documentation order.
    pub const ALL: [GatewayKind; 3] =
        [GatewayKind::Ledger, GatewayKind::Stripe, GatewayKind::Plaid];

    /// The word used in output, audit lines and fixtures.
    pub fn as_str(self) -> &'static str {
        match self {
            GatewayKind::Ledger => "ledger",
            GatewayKind::Stripe => "stripe",
            GatewayKind::Plaid => "plaid",
        }
    }
}

impl fmt::Display for GatewayKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which kind of system answered a check, recorded in every audit line so that demo and test
/// checks never pass for live ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Environment {
    /// paystat's own mock gateway (the demo, `paystat mock serve`, or any server answering with
    /// `X-Paystat-Mock: 1`).
    Mock,
    /// A provider's test mode: Stripe test keys, Plaid's sandbox.
    Test,
    /// Anything else: real money.
    Live,
}

impl Environment {
    /// The word written in audit lines.
    pub fn as_str(self) -> &'static str {
        match self {
            Environment::Mock => "mock",
            Environment::Test => "test",
            Environment::Live => "live",
        }
    }
}

/// What a gateway's error body said, kept for Operations and the gateway's support.
#[cfg_attr(feature = "serve", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GatewayError {
    /// The error's category (Stripe `type`, Plaid `error_type`).
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// The error's code (Stripe `code`, Plaid `error_code`, the ledger's `error`).
    pub code: Option<String>,
    /// The gateway's message.
    pub message: Option<String>,
}

/// Why paystat waited before an attempt.
#[cfg_attr(feature = "serve", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum WaitReason {
    /// Exponential backoff with jitter.
    Backoff,
    /// The gateway's `Retry-After` header.
    RetryAfter,
    /// The gateway's explicit advice (Stripe's `Stripe-Should-Retry: true`) asked for a retry
    /// that the status alone would not get.
    ServerAdvice,
}

impl WaitReason {
    /// The word used in output, audit lines and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            WaitReason::Backoff => "backoff",
            WaitReason::RetryAfter => "retry_after",
            WaitReason::ServerAdvice => "server_advice",
        }
    }
}

/// Why a failed check was not tried again.
#[cfg_attr(feature = "serve", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RetryStop {
    /// The failure cannot succeed on a second try (400, 401, 403, a nonsensical body, …).
    NotRetryable,
    /// The gateway said not to (`Stripe-Should-Retry: false`).
    GatewayForbade,
    /// Every allowed attempt was used.
    MaxAttempts,
    /// The next wait or attempt could not finish before the check's deadline.
    Deadline,
    /// The gateway's retry budget is spent: too much is failing, retries are suppressed.
    RetryBudget,
}

impl RetryStop {
    /// The word used in output, audit lines and fixtures.
    pub fn as_str(self) -> &'static str {
        match self {
            RetryStop::NotRetryable => "not_retryable",
            RetryStop::GatewayForbade => "gateway_forbade",
            RetryStop::MaxAttempts => "max_attempts",
            RetryStop::Deadline => "deadline",
            RetryStop::RetryBudget => "retry_budget",
        }
    }
}

/// One request of a check, as the result and the audit line show it.
#[cfg_attr(feature = "serve", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttemptRecord {
    /// 1 for the first request.
    pub attempt: u32,
    /// The HTTP status, if a reply came.
    pub http_status: Option<u16>,
    /// What this attempt alone concluded.
    pub outcome: Outcome,
    /// The transport failure, if there was no reply.
    pub error: Option<String>,
    /// How long the attempt took.
    pub duration_ms: u64,
    /// How long paystat waited before the next attempt, if there was one.
    pub wait_ms: Option<u64>,
    /// Why it waited that long.
    pub wait_reason: Option<WaitReason>,
}

/// The longest text from a gateway kept in a result, in characters.
pub const MAX_TEXT_CHARS: usize = 256;

/// The longest id kept whole in a result, in bytes (the longest paystat sends).
pub const MAX_KEPT_ID_BYTES: usize = 255;

/// How many bytes of an over-long id are kept.
const ID_PREFIX_BYTES: usize = 64;

/// An id as results and audit lines keep it: whole up to [`MAX_KEPT_ID_BYTES`], else its first
/// bytes followed by `…`.
pub fn kept_id(id: &str) -> std::borrow::Cow<'_, str> {
    if id.len() <= MAX_KEPT_ID_BYTES {
        return std::borrow::Cow::Borrowed(id);
    }
    let mut cut = ID_PREFIX_BYTES;
    while !id.is_char_boundary(cut) {
        cut -= 1;
    }
    std::borrow::Cow::Owned(format!("{}…", &id[..cut]))
}

/// The SHA-256 of `bytes`, in lower-case hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex(&sha2::Sha256::digest(bytes))
}

/// `bytes` in lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        text.push(char::from(DIGITS[usize::from(b >> 4)]));
        text.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    text
}

/// Cuts `text` to [`MAX_TEXT_CHARS`] characters, saying how long it was.
fn bound_text(text: &mut String) {
    if let Some((cut, _)) = text.char_indices().nth(MAX_TEXT_CHARS) {
        let chars = text.chars().count();
        text.truncate(cut);
        text.push_str(&format!("… [cut: {chars} characters]"));
    }
}

/// The normalized answer to one status check.
#[cfg_attr(feature = "serve", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckResult {
    /// The payment asked about, exactly as given — unless it is longer than any gateway takes
    /// ([`MAX_KEPT_ID_BYTES`]): then its first bytes, followed by `…`.
    pub payment_id: String,
    /// The full length in bytes of an over-long id cut in `payment_id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_id_bytes: Option<usize>,
    /// The SHA-256 (hex) of an over-long id cut in `payment_id`, to match it with its source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_id_sha256: Option<String>,
    /// The gateway asked (none when `--gateway auto` found no gateway for the id).
    pub gateway: Option<GatewayKind>,
    /// What the check concluded: the last attempt's outcome.
    pub outcome: Outcome,
    /// Where the payment stands, when found.
    pub status: Option<PaymentStatus>,
    /// The word the gateway used, when found.
    pub gateway_status: Option<String>,
    /// The exact amount, when found; written as `amount_minor` (integer minor units) and
    /// `currency` (ISO 4217, upper case).
    #[serde(flatten, with = "money_fields")]
    #[cfg_attr(feature = "serve", schema(value_type = money_fields::Fields))]
    pub amount: Option<Money>,
    /// What the payment asked for, in the same currency's minor units, when the gateway
    /// tells it apart from the amount that moved (Stripe's `amount`, while `amount` above is
    /// what was collected or is held): a partial capture shows 3000 of 5000.
    #[serde(default)]
    pub amount_requested_minor: Option<i64>,
    /// How much of the payment the merchant has sent back, in the same minor units, when any
    /// was (refunds that failed or were canceled do not count; pending ones do).
    #[serde(default)]
    pub amount_refunded_minor: Option<i64>,
    /// Whether some of `amount_refunded_minor` is still under way, when the gateway says.
    #[serde(default)]
    pub refund_pending: Option<bool>,
    /// The dispute's own status (Stripe's `needs_response`, `under_review`, `won`, `lost`, …),
    /// when the payment is or was disputed.
    #[serde(default)]
    pub dispute_status: Option<String>,
    /// The date (YYYY-MM-DD) after which the payment can no longer be pulled back, when it is
    /// completed but not yet final (Plaid's unauthorized-return window for an ACH transfer).
    #[serde(default)]
    pub final_after: Option<String>,
    /// Whether this answer can still change, as the gateway's adapter decides (when found):
    /// `final`, `final_after` (not after the `final_after` date) or `changing`.
    #[serde(default)]
    pub finality: Option<Finality>,
    /// When the gateway created the payment (RFC 3339 UTC), if it says.
    pub created_at: Option<String>,
    /// The gateway's failure or return code, if it gives one.
    pub failure_code: Option<String>,
    /// Why the payment is in this status, in the gateway's words, if it says.
    pub status_reason: Option<String>,
    /// The HTTP status of the last reply, if one came.
    pub http_status: Option<u16>,
    /// The gateway API version asked for (`Stripe-Version`, `Plaid-Version`), when the
    /// gateway has versions and a request was sent.
    #[serde(default)]
    pub api_version: Option<String>,
    /// The account asked on behalf of (a Stripe connected account, `Stripe-Account`), if any.
    #[serde(default)]
    pub account: Option<String>,
    /// The gateway's request id, if it sent one.
    pub gateway_request_id: Option<String>,
    /// How many requests were sent (0 when the id was rejected locally).
    pub attempts: u32,
    /// Every request, with the wait after it and why.
    pub attempt_log: Vec<AttemptRecord>,
    /// Why a failed check was not tried again, when it failed.
    pub retry_stop: Option<RetryStop>,
    /// How long the check took, waits included, in milliseconds.
    pub duration_ms: u64,
    /// One sentence on why there is no payment, when there is none.
    pub detail: Option<String>,
    /// What the gateway's error body said (type, code, message), when it sent one.
    pub gateway_error: Option<GatewayError>,
    /// Where this answer came from: `gateway` (asked now) or `cache` (an earlier answer of the
    /// gateway, reused because it can no longer change, or because `--max-age` allowed it).
    #[serde(default)]
    pub source: Source,
    /// How long ago the gateway gave a reused answer, in seconds (when `source` is `cache`).
    #[serde(default)]
    pub cache_age_s: Option<u64>,
}

/// Where an answer came from.
#[cfg_attr(feature = "serve", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Source {
    /// The gateway was asked during this check.
    #[default]
    Gateway,
    /// The status cache: an answer the gateway gave earlier.
    Cache,
}

impl Source {
    /// The word used in output and audit lines.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Gateway => "gateway",
            Source::Cache => "cache",
        }
    }
}

impl CheckResult {
    /// A result for `payment_id` that concluded `outcome` and knows nothing else yet: the
    /// checker fills in what the check learned.
    pub fn new(
        payment_id: impl Into<String>,
        gateway: Option<GatewayKind>,
        outcome: Outcome,
    ) -> CheckResult {
        CheckResult {
            payment_id: payment_id.into(),
            payment_id_bytes: None,
            payment_id_sha256: None,
            gateway,
            outcome,
            status: None,
            gateway_status: None,
            amount: None,
            amount_requested_minor: None,
            amount_refunded_minor: None,
            refund_pending: None,
            dispute_status: None,
            final_after: None,
            finality: None,
            created_at: None,
            failure_code: None,
            status_reason: None,
            http_status: None,
            api_version: None,
            account: None,
            gateway_request_id: None,
            attempts: 0,
            attempt_log: Vec::new(),
            retry_stop: None,
            duration_ms: 0,
            detail: None,
            gateway_error: None,
            source: Source::Gateway,
            cache_age_s: None,
        }
    }

    /// Bounds what a gateway or a person can make long: every text from a gateway is cut to
    /// [`MAX_TEXT_CHARS`] characters (marked where cut), and an id over [`MAX_KEPT_ID_BYTES`]
    /// is kept as its first bytes, its full length and its SHA-256. A result is bounded before
    /// it is audited or shown, so a 900 KB status word or a 30 MB id costs a line of normal size.
    pub fn bound(&mut self) {
        if self.payment_id.len() > MAX_KEPT_ID_BYTES {
            self.payment_id_bytes = Some(self.payment_id.len());
            self.payment_id_sha256 = Some(sha256_hex(self.payment_id.as_bytes()));
            self.payment_id = kept_id(&self.payment_id).into_owned();
        }
        for text in [
            &mut self.gateway_status,
            &mut self.dispute_status,
            &mut self.final_after,
            &mut self.created_at,
            &mut self.failure_code,
            &mut self.status_reason,
            &mut self.api_version,
            &mut self.account,
            &mut self.gateway_request_id,
            &mut self.detail,
        ]
        .into_iter()
        .flatten()
        {
            bound_text(text);
        }
        if let Some(error) = &mut self.gateway_error {
            for text in [&mut error.kind, &mut error.code, &mut error.message]
                .into_iter()
                .flatten()
            {
                bound_text(text);
            }
        }
        for attempt in &mut self.attempt_log {
            if let Some(error) = &mut attempt.error {
                bound_text(error);
            }
        }
    }

    /// The amount in minor units, when found.
    pub fn amount_minor(&self) -> Option<i64> {
        self.amount.map(|m| m.amount_minor)
    }

    /// The ISO 4217 code, when found.
    pub fn currency_code(&self) -> Option<&'static str> {
        self.amount.map(|m| m.currency_code())
    }

    /// The answer alone, without how it was obtained: as the gateway gave it (`source`
    /// gateway, no cache age), with no attempts, retry stop or duration. A reuse from the cache
    /// is this plus its own source, age and duration, and `audit verify` compares a reuse with
    /// its original by it.
    pub fn answer(&self) -> CheckResult {
        CheckResult {
            source: Source::Gateway,
            cache_age_s: None,
            attempts: 0,
            attempt_log: Vec::new(),
            retry_stop: None,
            duration_ms: 0,
            ..self.clone()
        }
    }

    /// Whether this answer can no longer change on `today` (UTC): a found payment that is
    /// `final`, or `final_after` a day before `today`. A `final_after` without a readable date
    /// is still changing.
    pub fn is_final_on(&self, today: time::Date) -> bool {
        match self.finality {
            Some(Finality::Final) => self.outcome == Outcome::Found,
            Some(Finality::FinalAfter) => self
                .final_after
                .as_deref()
                .and_then(|d| time::Date::parse(d, DATE).ok())
                .is_some_and(|d| d < today),
            Some(Finality::Changing) | None => false,
        }
    }
}

/// The calendar dates of `final_after`: YYYY-MM-DD.
const DATE: &[time::format_description::BorrowedFormatItem<'_>] =
    time::macros::format_description!("[year]-[month]-[day]");

/// `Option<Money>` as the two flat fields the result has always had: `amount_minor` and
/// `currency`, both null when there is no payment.
pub(crate) mod money_fields {
    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::{Money, currency};

    /// The amount's two fields, as a result writes them.
    #[derive(Serialize, Deserialize)]
    #[cfg_attr(feature = "serve", derive(utoipa::ToSchema), schema(as = MoneyFields))]
    pub struct Fields {
        /// The amount that moved, in the currency's minor units (integer).
        amount_minor: Option<i64>,
        /// ISO 4217, upper case (the gateway's own exponent where it differs).
        currency: Option<String>,
    }

    pub fn serialize<S: Serializer>(amount: &Option<Money>, s: S) -> Result<S::Ok, S::Error> {
        Fields {
            amount_minor: amount.map(|m| m.amount_minor),
            currency: amount.map(|m| m.currency_code().to_owned()),
        }
        .serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Money>, D::Error> {
        match Fields::deserialize(d)? {
            Fields {
                amount_minor: Some(minor),
                currency: Some(code),
            } => {
                let currency = currency(&code).map_err(D::Error::custom)?;
                Ok(Some(Money::from_minor(minor, currency)))
            }
            Fields {
                amount_minor: None,
                currency: None,
            } => Ok(None),
            _ => Err(D::Error::custom(
                "amount_minor and currency are given together or not at all",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found() -> CheckResult {
        CheckResult {
            status: Some(PaymentStatus::Completed),
            gateway_status: Some("completed".into()),
            amount: Some(Money::from_minor(15000, currency("USD").unwrap())),
            http_status: Some(200),
            attempts: 1,
            duration_ms: 3,
            ..CheckResult::new("txn_001", Some(GatewayKind::Ledger), Outcome::Found)
        }
    }

    #[test]
    fn money_is_written_as_two_flat_fields_and_read_back() {
        let result = found();
        let json = serde_json::to_value(&result).unwrap();
        assert_eq!(json["amount_minor"], 15000);
        assert_eq!(json["currency"], "USD");
        assert!(json.get("amount").is_none());
        let back: CheckResult = serde_json::from_value(json).unwrap();
        assert_eq!(back, result);

        let none = CheckResult {
            amount: None,
            ..found()
        };
        let json = serde_json::to_value(&none).unwrap();
        assert!(json["amount_minor"].is_null() && json["currency"].is_null());
        assert_eq!(serde_json::from_value::<CheckResult>(json).unwrap(), none);
    }

    #[test]
    fn half_an_amount_does_not_read_back() {
        let mut json = serde_json::to_value(found()).unwrap();
        json["currency"] = serde_json::Value::Null;
        assert!(serde_json::from_value::<CheckResult>(json).is_err());
    }

    #[test]
    fn wait_reason_words_match_serde_names() {
        for reason in [
            WaitReason::Backoff,
            WaitReason::RetryAfter,
            WaitReason::ServerAdvice,
        ] {
            let json = serde_json::to_string(&reason).unwrap();
            assert_eq!(json, format!("\"{}\"", reason.as_str()));
        }
    }

    #[test]
    fn retry_stop_words_match_serde_names() {
        for stop in [
            RetryStop::NotRetryable,
            RetryStop::GatewayForbade,
            RetryStop::MaxAttempts,
            RetryStop::Deadline,
            RetryStop::RetryBudget,
        ] {
            let json = serde_json::to_string(&stop).unwrap();
            assert_eq!(json, format!("\"{}\"", stop.as_str()));
        }
    }

    #[test]
    fn gateway_words_match_serde_names() {
        for kind in GatewayKind::ALL {
            let json = serde_json::to_string(&kind).unwrap();
            assert_eq!(json, format!("\"{}\"", kind.as_str()));
            assert_eq!(kind.to_string(), kind.as_str());
        }
    }
}
