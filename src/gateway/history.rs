//! What a gateway keeps about one payment's history, for `paystat explain`: the facts a rule
//! can test (how the customer pays, what the gateway waits for, when it expects to settle) and
//! the gateway's own dated events. Each adapter reads them from its own wire format: from the
//! reply of the check explain makes, and from one more request ([`super::Gateway::history_request`])
//! with its pages.

use serde::Serialize;

/// One dated thing the gateway says happened to the payment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GatewayEvent {
    /// When, RFC 3339 UTC.
    pub at: String,
    /// What, in the gateway's own word (`charge.created`, `posted`, `refund.created`).
    pub what: String,
    /// More, in a few words (an outcome, a failure reason, an amount).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl GatewayEvent {
    /// An event at `at` (RFC 3339) named `what`.
    pub fn new(at: String, what: impl Into<String>, detail: Option<String>) -> GatewayEvent {
        GatewayEvent {
            at,
            what: what.into(),
            detail: detail.filter(|d| !d.is_empty()),
        }
    }
}

/// What the gateway's reply to a check says about the payment beyond its status.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Facts {
    /// How the customer pays: Stripe's payment method type (`card`, `us_bank_account`,
    /// `sepa_debit`), Plaid's network (`ach`, `same-day-ach`, `rtp`, `wire`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// What the gateway waits for from someone else: Stripe's `next_action.type`
    /// (`use_stripe_sdk` for 3-D Secure, `verify_with_microdeposits`, `redirect_to_url`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_action: Option<String>,
    /// The day the gateway expects the money to settle (Plaid's `expected_settlement_date`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected_settlement: Option<String>,
    /// The gateway's own dated events, in the order it lists them (an explanation shows them on
    /// its timeline, not here).
    #[serde(skip_serializing)]
    pub events: Vec<GatewayEvent>,
    /// What the gateway says without a date (Stripe's `last_payment_error`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// One page of a payment's history.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HistoryPage {
    /// Its events.
    pub events: Vec<GatewayEvent>,
    /// Where the next page starts, when there is more.
    pub next_page: Option<String>,
}

/// Unix seconds as RFC 3339 UTC, when in range.
pub(crate) fn unix_rfc3339(seconds: i64) -> Option<String> {
    let at = time::OffsetDateTime::from_unix_timestamp(seconds).ok()?;
    at.format(&time::format_description::well_known::Rfc3339)
        .ok()
}

/// A JSON value's text, when it is a non-empty string.
pub(crate) fn text(value: &serde_json::Value, key: &str) -> Option<String> {
    value
        .get(key)?
        .as_str()
        .filter(|s| !s.is_empty())
        .map(printable)
}

/// Joins the parts that are there with `, `.
pub(crate) fn joined(parts: &[Option<String>]) -> Option<String> {
    let parts: Vec<&str> = parts.iter().flatten().map(String::as_str).collect();
    (!parts.is_empty()).then(|| parts.join(", "))
}

/// The most characters of gateway text an explanation keeps in one field.
const MAX_CHARS: usize = 200;

/// Gateway text as an explanation shows it: control characters written visibly (`\u{1b}`, so
/// no escape sequence reaches a terminal), cut to [`MAX_CHARS`] characters.
pub(crate) fn printable(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(MAX_CHARS * 2));
    for (i, c) in text.chars().enumerate() {
        if i == MAX_CHARS {
            out.push('…');
            break;
        }
        if c.is_control() || c == '\u{7f}' {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

impl Facts {
    /// Replaces every echo of a credential in the gateway's text with `[REDACTED]`.
    pub fn redact(&mut self, echoes: &super::Echoes) {
        let mut texts: Vec<&mut String> = Vec::new();
        texts.extend(self.method.as_mut());
        texts.extend(self.next_action.as_mut());
        texts.extend(self.expected_settlement.as_mut());
        texts.extend(self.notes.iter_mut());
        for event in &mut self.events {
            texts.push(&mut event.what);
            texts.extend(event.detail.as_mut());
        }
        for text in texts {
            echoes.scrub_text(text);
            let redacted = crate::credential::redact(text);
            if redacted != *text {
                *text = redacted;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gateway_text_is_shown_safely() {
        assert_eq!(printable("ok"), "ok");
        assert_eq!(printable("a\u{1b}[31mb\n"), "a\\u{1b}[31mb\\u{a}");
        let long = "x".repeat(500);
        assert_eq!(printable(&long).chars().count(), MAX_CHARS + 1);
    }

    #[test]
    fn unix_seconds_read_as_utc() {
        assert_eq!(
            unix_rfc3339(1_680_800_504).as_deref(),
            Some("2023-04-06T17:01:44Z")
        );
        assert_eq!(unix_rfc3339(i64::MAX), None);
    }
}
