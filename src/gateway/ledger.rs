//! The internal ledger: `GET {base}/payments/{id}`.
//!
//! Wire facts (GATEWAYS.md): a 200 body is `{id, status, amount, currency, created_at}` with
//! `status` one of `completed`, `pending`, `failed`; a failed payment carries `error_code` and
//! may lack `created_at`; `amount` is a JSON number in major units, read exactly from its raw
//! text. A 404 body is `{"error": "payment_not_found", "message": …}`.

use serde::Deserialize;
use serde_json::value::RawValue;

use super::{
    Gateway, GatewayError, GatewayKind, MappingRow, Payment, Reading, Reply, Verdict, header_text,
    http_error_detail, outcome_for_http_status, url_with_segments, utc_rfc3339,
};
use crate::credential::Credential;
use crate::money::{self, Money};
use crate::status::{Outcome, PaymentStatus};

/// The default base URL: the original mock API on this machine.
pub const DEFAULT_BASE_URL: &str = "http://127.0.0.1:5000/v1";

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

/// The ledger's status words, mapped once. Anything else is kept as `unknown`.
fn normalize(word: &str) -> PaymentStatus {
    match word {
        "completed" => PaymentStatus::Completed,
        "pending" => PaymentStatus::Pending,
        "failed" => PaymentStatus::Failed,
        _ => PaymentStatus::Unknown,
    }
}

/// The words the ledger is documented to send.
const STATUS_WORDS: [&str; 3] = ["completed", "pending", "failed"];

/// The ledger's rows of the status mapping.
pub fn status_mapping() -> Vec<MappingRow> {
    STATUS_WORDS
        .iter()
        .map(|word| MappingRow {
            gateway: GatewayKind::Ledger,
            word,
            when: None,
            status: normalize(word),
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
    let amount = match money::currency(&wire.currency)
        .and_then(|currency| Money::from_major_text(amount_text, currency))
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
    Verdict::Found(Payment {
        status: normalize(&wire.status),
        gateway_status: wire.status,
        amount,
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
    let detail = http_error_detail(GatewayKind::Ledger, status, error.as_ref());
    Verdict::answered(outcome, detail, error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_documented_word_is_mapped() {
        for row in status_mapping() {
            assert_ne!(row.status, PaymentStatus::Unknown, "{}", row.word);
        }
        assert_eq!(normalize("refunded"), PaymentStatus::Unknown);
    }
}
