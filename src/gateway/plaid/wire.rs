//! Plaid's bodies as it sends them, and its flat error shape.

use serde::{Deserialize, Serialize};

use super::super::{GatewayError, Reading, error_verdict, outcome_for_http_status};
use super::NAME;
use crate::result::Outcome;

/// The request body. It borrows the secrets for the moment it is serialized.
#[derive(Serialize)]
pub(super) struct WireRequest<'a> {
    pub(super) client_id: &'a str,
    pub(super) secret: &'a str,
    pub(super) transfer_id: &'a str,
}

#[derive(Deserialize)]
pub(super) struct WireResponse {
    pub(super) transfer: WireTransfer,
    #[serde(default)]
    pub(super) request_id: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct WireTransfer {
    pub(super) id: String,
    pub(super) amount: String,
    pub(super) iso_currency_code: String,
    pub(super) status: String,
    pub(super) created: String,
    #[serde(default)]
    pub(super) failure_reason: Option<WireFailure>,
    #[serde(default)]
    pub(super) refunds: Vec<WireRefund>,
    /// The last day a standard ACH return can come (YYYY-MM-DD).
    #[serde(default)]
    pub(super) standard_return_window: Option<String>,
    /// The last day an unauthorized ACH return (R10, …) can come (YYYY-MM-DD).
    #[serde(default)]
    pub(super) unauthorized_return_window: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct WireRefund {
    pub(super) amount: String,
    pub(super) status: String,
}

#[derive(Deserialize)]
pub(super) struct WireFailure {
    #[serde(default)]
    pub(super) failure_code: Option<String>,
    #[serde(default)]
    pub(super) description: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct WireError {
    #[serde(default)]
    pub(super) error_type: Option<String>,
    #[serde(default)]
    pub(super) error_code: Option<String>,
    #[serde(default)]
    pub(super) error_message: Option<String>,
    #[serde(default)]
    pub(super) request_id: Option<String>,
}

/// Plaid's error codes that mean the credentials, not the request, are wrong.
pub(super) const CREDENTIAL_CODES: [&str; 3] = [
    "INVALID_API_KEYS",
    "UNAUTHORIZED_ENVIRONMENT",
    "INVALID_PRODUCT",
];

pub(super) fn read_error(status: u16, body: &[u8]) -> Reading {
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
pub(super) const NOT_FOUND_CODE: &str = "NOT_FOUND";

pub(super) fn is_not_found(code: &str) -> bool {
    code == NOT_FOUND_CODE
        || code
            .strip_suffix(NOT_FOUND_CODE)
            .is_some_and(|prefix| prefix.ends_with('_'))
}
