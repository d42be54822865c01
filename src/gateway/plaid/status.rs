//! A transfer's status, refunds and amount, normalized.

use super::super::{GatewayKind, MappingRow, Payment, Reading, Verdict, utc_rfc3339};
use super::wire::WireResponse;
use crate::result::{self, Finality, Money, Outcome, PaymentStatus};

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

pub(super) fn read_transfer(id: &str, body: &[u8]) -> Reading {
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

#[cfg(test)]
mod tests {
    use super::super::wire::read_error;
    use super::super::{DEFAULT_BASE_URL, Plaid};
    use super::*;
    use secrecy::SecretString;

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
