//! Stripe's bodies as it sends them: the PaymentIntent with its expanded latest charge, and
//! its error shape.

use serde::Deserialize;

use super::super::{GatewayError, Verdict, error_verdict, outcome_for_http_status};
use super::NAME;
use crate::result::Outcome;

/// A field Stripe sends as an id, or as the object itself when the GET expanded it. An object
/// that does not read as `T` fails the whole body: a charge paystat cannot read must not pass
/// for "no refund, no dispute".
#[derive(Deserialize)]
#[serde(untagged)]
pub(super) enum Expandable<T> {
    Id(#[allow(dead_code)] String),
    Object(T),
}

impl<T> Expandable<T> {
    pub(super) fn object(&self) -> Option<&T> {
        match self {
            Expandable::Id(_) => None,
            Expandable::Object(object) => Some(object),
        }
    }
}

/// The latest charge, when the GET expanded it (`expand[]=latest_charge`). Its `dispute` field
/// (deprecated by Stripe: it names one dispute of possibly several) is not read; `disputed`
/// says whether to ask the dispute list.
#[derive(Deserialize)]
pub(super) struct WireCharge {
    pub(super) amount_refunded: i64,
    pub(super) refunded: bool,
    pub(super) disputed: bool,
}

/// One dispute of Stripe's dispute list.
#[derive(Deserialize)]
pub(super) struct WireDispute {
    pub(super) status: String,
    #[serde(default)]
    pub(super) reason: Option<String>,
    /// Unix seconds.
    #[serde(default)]
    pub(super) created: Option<i64>,
}

/// `GET /v1/disputes?payment_intent=…`: the PaymentIntent's disputes, newest first.
#[derive(Deserialize)]
pub(super) struct WireDisputeList {
    pub(super) data: Vec<WireDispute>,
    pub(super) has_more: bool,
}

/// Just enough of a PaymentIntent to tell whether its dispute list must be asked.
#[derive(Deserialize)]
pub(super) struct WireProbe {
    pub(super) status: String,
    #[serde(default)]
    pub(super) latest_charge: Option<Expandable<WireProbeCharge>>,
}

#[derive(Deserialize)]
pub(super) struct WireProbeCharge {
    pub(super) disputed: bool,
}

#[derive(Deserialize)]
pub(super) struct WireIntent {
    pub(super) id: String,
    #[serde(default)]
    pub(super) object: Option<String>,
    pub(super) amount: i64,
    #[serde(default)]
    pub(super) amount_received: Option<i64>,
    #[serde(default)]
    pub(super) amount_capturable: Option<i64>,
    pub(super) currency: String,
    pub(super) status: String,
    pub(super) created: i64,
    #[serde(default)]
    pub(super) last_payment_error: Option<WireError>,
    #[serde(default)]
    pub(super) latest_charge: Option<Expandable<WireCharge>>,
    #[serde(default)]
    pub(super) cancellation_reason: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct WireError {
    #[serde(default, rename = "type")]
    pub(super) kind: Option<String>,
    #[serde(default)]
    pub(super) code: Option<String>,
    #[serde(default)]
    pub(super) decline_code: Option<String>,
    #[serde(default)]
    pub(super) message: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct WireErrorBody {
    pub(super) error: WireError,
}

pub(super) fn read_error(status: u16, body: &[u8]) -> Verdict {
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
pub(super) const NOT_FOUND_CODE: &str = "resource_missing";
