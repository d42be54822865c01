//! The internal ledger: `GET {base}/payments/{id}`.
//!
//! Wire facts (GATEWAYS.md): a 200 body is `{id, status, amount, currency, created_at}` with
//! `status` one of `completed`, `pending`, `failed`; a failed payment carries `error_code` and
//! may lack `created_at`; `amount` is a JSON number in major units, read exactly from its raw
//! text. A 404 body is `{"error": "payment_not_found", "message": …}`.

use std::sync::Arc;
use std::time::Duration;

use secrecy::SecretString;
use serde::Deserialize;
use serde_json::value::RawValue;

use super::{
    CommonSettings, CredentialVar, Gateway, GatewayError, GatewayKind, MappingRow, Payment,
    Profile, Reading, Reply, Section, Verdict, error_verdict, header_text, outcome_for_http_status,
    url_with_segments, utc_rfc3339,
};
use crate::credential::{self, Credential, CredentialError};
use crate::result::{self, Finality, Money, Outcome, PaymentStatus};
use crate::retry::RetrySettings;

/// The default base URL: the original mock API on this machine.
pub const DEFAULT_BASE_URL: &str = "http://127.0.0.1:5000/v1";

/// How sentences name this gateway.
const NAME: &str = "the ledger";

/// The ledger's place among the gateways: ids `txn_…`, not paced.
pub static PROFILE: Profile = Profile {
    kind: GatewayKind::Ledger,
    default_base_url: DEFAULT_BASE_URL,
    url_env: "PAYSTAT_LEDGER_URL",
    environment_env: "PAYSTAT_LEDGER_ENVIRONMENT",
    requests_per_second: None,
    routing_rule: "`txn_…` goes to the ledger",
    owns_id: |id| id.starts_with("txn_"),
};

/// `[ledger]` in the config file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LedgerSection {
    /// Base URL, like `https://ledger.internal/v1`.
    pub base_url: Option<String>,
    /// Per-request timeout, like `5s`.
    #[serde(default, deserialize_with = "crate::clock::optional_duration")]
    pub timeout: Option<Duration>,
    /// The variable holding the bearer token (default `PAYSTAT_LEDGER_TOKEN`).
    pub token_env: Option<String>,
    /// The variable holding the Basic user (default `PAYSTAT_LEDGER_USER`).
    pub user_env: Option<String>,
    /// The variable holding the Basic password (default `PAYSTAT_LEDGER_PASSWORD`).
    pub password_env: Option<String>,
    /// Client-side pacing in requests per second (0 turns it off; the ledger is not paced).
    pub requests_per_second: Option<f64>,
    /// Retries, deadline and retry budget (`[ledger.retry]`).
    #[serde(default)]
    pub retry: RetrySettings,
}

impl Section for LedgerSection {
    fn common(&self) -> CommonSettings<'_> {
        CommonSettings {
            base_url: self.base_url.as_deref(),
            timeout: self.timeout,
            requests_per_second: self.requests_per_second,
            retry: &self.retry,
        }
    }

    fn credential_vars(&self) -> Vec<CredentialVar<'_>> {
        vec![
            CredentialVar {
                key: "token_env",
                configured: self.token_env.as_deref(),
                default: "PAYSTAT_LEDGER_TOKEN",
            },
            CredentialVar {
                key: "user_env",
                configured: self.user_env.as_deref(),
                default: "PAYSTAT_LEDGER_USER",
            },
            CredentialVar {
                key: "password_env",
                configured: self.password_env.as_deref(),
                default: "PAYSTAT_LEDGER_PASSWORD",
            },
        ]
    }

    /// Ledger credentials are optional (the original mock API has none): a bearer token, else
    /// HTTP Basic, else nothing.
    fn adapter(
        &self,
        base_url: reqwest::Url,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Arc<dyn Gateway>, CredentialError> {
        let var = |key, configured: Option<&str>, default| {
            credential::variable(GatewayKind::Ledger, key, configured, default).map(str::to_owned)
        };
        let credential = Credential::from_lookup(
            env,
            GatewayKind::Ledger,
            &var(
                "token_env",
                self.token_env.as_deref(),
                "PAYSTAT_LEDGER_TOKEN",
            )?,
            &var("user_env", self.user_env.as_deref(), "PAYSTAT_LEDGER_USER")?,
            &var(
                "password_env",
                self.password_env.as_deref(),
                "PAYSTAT_LEDGER_PASSWORD",
            )?,
        )?;
        Ok(Arc::new(Ledger::new(base_url, credential)))
    }
}

/// The ledger's request-id header, when a deployment sends one.
const REQUEST_ID_HEADER: &str = "x-request-id";

/// The ledger adapter.
#[derive(Debug, Clone)]
pub struct Ledger {
    base_url: reqwest::Url,
    credential: Credential,
}

impl Ledger {
    /// A ledger at `base_url` (like `http://127.0.0.1:5000/v1`).
    pub fn new(base_url: reqwest::Url, credential: Credential) -> Ledger {
        Ledger {
            base_url,
            credential,
        }
    }
}

/// Where the ledger answers for payment `id`: `{base}/payments/{id}`, the id percent-encoded as
/// one path segment. The embedded mock serves the same URL.
pub fn status_url(base: &reqwest::Url, id: &str) -> reqwest::Url {
    url_with_segments(base, &["payments", id])
}

/// The ledger's documented status words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LedgerStatus {
    Completed,
    Pending,
    Failed,
}

impl LedgerStatus {
    const ALL: [LedgerStatus; 3] = [
        LedgerStatus::Completed,
        LedgerStatus::Pending,
        LedgerStatus::Failed,
    ];

    fn word(self) -> &'static str {
        match self {
            LedgerStatus::Completed => "completed",
            LedgerStatus::Pending => "pending",
            LedgerStatus::Failed => "failed",
        }
    }

    /// A word the ledger adds later is `None`, and becomes `unknown` with the raw word kept.
    fn from_word(word: &str) -> Option<LedgerStatus> {
        LedgerStatus::ALL.into_iter().find(|s| s.word() == word)
    }

    /// The mapping, every status named (no catch-all arm: a new variant is a compile error).
    fn normalize(self) -> PaymentStatus {
        match self {
            LedgerStatus::Completed => PaymentStatus::Completed,
            LedgerStatus::Pending => PaymentStatus::Pending,
            LedgerStatus::Failed => PaymentStatus::Failed,
        }
    }

    /// Whether the answer can still change. The ledger books an entry once: a completed or
    /// failed entry is never changed in place (a correction is a new entry with its own id),
    /// and the ledger documents no refund, return or reversal status.
    fn finality(self) -> Finality {
        match self {
            LedgerStatus::Completed | LedgerStatus::Failed => Finality::Final,
            LedgerStatus::Pending => Finality::Changing,
        }
    }
}

/// The ledger's rows of the status mapping.
pub fn status_mapping() -> Vec<MappingRow> {
    LedgerStatus::ALL
        .into_iter()
        .map(|status| MappingRow {
            gateway: GatewayKind::Ledger,
            word: status.word(),
            when: None,
            status: status.normalize(),
            action: status.normalize().action(),
            finality: match status.finality() {
                Finality::Final => "final (the ledger books an entry once)",
                Finality::FinalAfter | Finality::Changing => "changing",
            },
        })
        .collect()
}

#[derive(Deserialize)]
struct WirePayment<'a> {
    id: String,
    status: String,
    #[serde(borrow)]
    amount: &'a RawValue,
    currency: String,
    #[serde(default)]
    created_at: Option<String>,
    #[serde(default)]
    error_code: Option<String>,
}

#[derive(Deserialize)]
struct WireError {
    error: String,
    #[serde(default)]
    message: Option<String>,
}

impl Gateway for Ledger {
    fn kind(&self) -> GatewayKind {
        GatewayKind::Ledger
    }

    fn base_url(&self) -> &reqwest::Url {
        &self.base_url
    }

    fn request(&self, client: &reqwest::Client, id: &str) -> reqwest::Result<reqwest::Request> {
        let url = status_url(&self.base_url, id);
        self.credential
            .authorize(client.get(url).header("accept", "application/json"))
            .build()
    }

    fn secrets(&self) -> Vec<&SecretString> {
        self.credential.secrets()
    }

    fn facts(&self, id: &str, reply: &Reply) -> super::Facts {
        // The ledger keeps no history beyond its one body: when the payment was created.
        let mut facts = super::Facts::default();
        if let Verdict::Found(payment) = read_payment(id, &reply.body)
            && let Some(created) = payment.created_at
        {
            let detail = format!("{} {}", payment.gateway_status, payment.amount);
            facts.events.push(super::GatewayEvent::new(
                created,
                "payment.created",
                Some(detail),
            ));
        }
        facts
    }

    fn read(&self, id: &str, reply: &Reply) -> Reading {
        let request_id = header_text(&reply.headers, REQUEST_ID_HEADER);
        let verdict = match reply.status {
            200 => read_payment(id, &reply.body),
            status => read_error(status, &reply.body),
        };
        Reading {
            verdict,
            request_id,
            retry_advice: None,
        }
    }
}

fn read_payment(id: &str, body: &[u8]) -> Verdict {
    let wire: WirePayment = match serde_json::from_slice(body) {
        Ok(wire) => wire,
        Err(e) => {
            return Verdict::refused(
                Outcome::BadResponse,
                format!("the ledger's 200 body is not a payment: {e}"),
            );
        }
    };
    if wire.id != id {
        return Verdict::refused(
            Outcome::BadResponse,
            "the ledger answered with a different payment id than the one asked for",
        );
    }
    let amount_text = wire.amount.get();
    if !amount_text.starts_with(|c: char| c == '-' || c.is_ascii_digit()) {
        return Verdict::refused(
            Outcome::BadResponse,
            format!("the ledger's amount is not a JSON number: {amount_text}"),
        );
    }
    let amount = match result::currency(&wire.currency)
        .and_then(|currency| Money::from_major_text(amount_text, currency))
        .and_then(Money::non_negative)
    {
        Ok(amount) => amount,
        Err(e) => {
            return Verdict::refused(
                Outcome::BadResponse,
                format!("the ledger's amount is unusable: {e}"),
            );
        }
    };
    let created_at = match wire
        .created_at
        .as_deref()
        .map(|t| utc_rfc3339(t).ok_or(()))
        .transpose()
    {
        Ok(created_at) => created_at,
        Err(()) => {
            return Verdict::refused(
                Outcome::BadResponse,
                "the ledger's created_at is not an RFC 3339 timestamp",
            );
        }
    };
    let known = LedgerStatus::from_word(&wire.status);
    Verdict::Found(Payment {
        status: known.map_or(PaymentStatus::Unknown, LedgerStatus::normalize),
        finality: known.map_or(Finality::Changing, LedgerStatus::finality),
        gateway_status: wire.status,
        amount,
        amount_requested: None,
        amount_refunded: None,
        refund_pending: None,
        dispute_status: None,
        final_after: None,
        created_at,
        failure_code: wire.error_code,
        status_reason: None,
    })
}

fn read_error(status: u16, body: &[u8]) -> Verdict {
    let outcome = match outcome_for_http_status(status) {
        // A 2xx other than 200 carries no payment.
        Outcome::Found => Outcome::BadResponse,
        outcome => outcome,
    };
    let error = serde_json::from_slice::<WireError>(body)
        .ok()
        .map(|e| GatewayError {
            kind: None,
            code: Some(e.error),
            message: e.message,
        });
    // Only the ledger's own error says the payment does not exist.
    let not_found = status == 404
        && error
            .as_ref()
            .is_some_and(|e| e.code.as_deref() == Some(NOT_FOUND_CODE));
    error_verdict(NAME, status, outcome, not_found, error)
}

/// The ledger's error code for a payment it does not have (with HTTP 404).
const NOT_FOUND_CODE: &str = "payment_not_found";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_documented_word_is_mapped() {
        for status in LedgerStatus::ALL {
            assert_eq!(LedgerStatus::from_word(status.word()), Some(status));
        }
        let rows: Vec<(&str, PaymentStatus)> = status_mapping()
            .iter()
            .map(|r| (r.word, r.status))
            .collect();
        assert_eq!(
            rows,
            [
                ("completed", PaymentStatus::Completed),
                ("pending", PaymentStatus::Pending),
                ("failed", PaymentStatus::Failed),
            ]
        );
        assert_eq!(LedgerStatus::from_word("refunded"), None);
    }
}
