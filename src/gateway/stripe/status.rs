//! A PaymentIntent's status, refunds, disputes and amount, normalized: Stripe's seven words,
//! what the latest charge says happened after the money moved, and Stripe's own currency
//! exponents.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::super::{GatewayKind, MappingRow, Payment, Verdict};
use super::wire::{Expandable, WireCharge, WireDispute, WireDisputeList, WireIntent};
use crate::result::{self, Finality, Money, Outcome, PaymentStatus};

/// Currencies Stripe sends in whole units, whatever ISO 4217 says (its "Supported currencies"
/// page; MGA, for one, has two ISO decimals).
const ZERO_DECIMAL: [&str; 15] = [
    "BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA", "PYG", "RWF", "VND", "VUV", "XAF",
    "XOF", "XPF",
];
/// Currencies Stripe sends with three decimals.
const THREE_DECIMAL: [&str; 5] = ["BHD", "JOD", "KWD", "OMR", "TND"];
/// Stripe's special cases sent with two decimals although ISO 4217 has none: ISK and UGX (`100`
/// is one króna or one shilling; Stripe requires multiples of 100, and an amount that is not one
/// is a `bad_response`). HUF and TWD are two-decimal in both.
const TWO_DECIMAL_SPECIAL: [&str; 2] = ["ISK", "UGX"];

/// The number of decimals in Stripe's `amount` for `currency`.
pub(super) fn stripe_exponent(currency: iso_currency::Currency) -> u16 {
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

    /// Whether the answer can still change. Only a canceled intent is done. A succeeded one
    /// can still be refunded (Stripe sets no deadline) or disputed (most card disputes come
    /// within [`DISPUTE_WINDOW_DAYS`], some far later), whatever its charge says today: its
    /// dispute window is shown as information (`final_after`), never as a promise.
    fn finality(self) -> Finality {
        match self {
            IntentStatus::Canceled => Finality::Final,
            IntentStatus::Succeeded
            | IntentStatus::RequiresPaymentMethod
            | IntentStatus::RequiresConfirmation
            | IntentStatus::RequiresAction
            | IntentStatus::Processing
            | IntentStatus::RequiresCapture => Finality::Changing,
        }
    }
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
            finality: match (status.finality(), status) {
                (Finality::Final, _) => "final",
                (_, IntentStatus::Succeeded) => {
                    "changing (Stripe sets no deadline for refunds; `final_after` gives the usual end of the card-dispute window, 120 days after `created`)"
                }
                (Finality::FinalAfter | Finality::Changing, _) => "changing",
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

/// The dispute statuses that close a dispute without taking the money: won, an inquiry closed,
/// a dispute prevented (newer API versions).
const CLOSED_KEEPING_THE_MONEY: [&str; 3] = ["won", "warning_closed", "prevented"];

/// What the latest charge and, when it was disputed, its dispute list say happened after the
/// money moved: the aftermath, the amount refunded (Stripe's minor units), and the dispute that
/// decided it. Of several disputes, any lost one decides (`returned`); else any still open
/// (`warning_needs_response`, `warning_under_review`, `needs_response`, `under_review`, or a word
/// paystat does not know) makes it `disputed`; else the refunds decide, with the latest closed
/// dispute shown. A disputed charge whose list was not read, or is empty, stays `disputed`.
fn aftermath<'d>(
    charge: Option<&Expandable<WireCharge>>,
    disputes: Option<&'d [WireDispute]>,
) -> (Aftermath, i64, Option<&'d WireDispute>) {
    let Some(charge) = charge.and_then(Expandable::object) else {
        return (Aftermath::Nothing, 0, None);
    };
    let refunds = if charge.refunded {
        Aftermath::Refunded
    } else if charge.amount_refunded > 0 {
        Aftermath::PartlyRefunded
    } else {
        Aftermath::Nothing
    };
    if !charge.disputed {
        return (refunds, charge.amount_refunded, None);
    }
    let disputes = disputes.unwrap_or_default();
    let lost = disputes.iter().find(|d| d.status == "lost");
    let open = disputes
        .iter()
        .find(|d| !CLOSED_KEEPING_THE_MONEY.contains(&d.status.as_str()) && d.status != "lost");
    let closed = disputes
        .iter()
        .filter(|d| CLOSED_KEEPING_THE_MONEY.contains(&d.status.as_str()))
        .max_by_key(|d| d.created.unwrap_or(i64::MIN));
    let (state, dispute) = match (lost, open, closed) {
        (Some(lost), _, _) => (Aftermath::DisputeLost, Some(lost)),
        (None, Some(open), _) => (Aftermath::DisputeOpen, Some(open)),
        // A won dispute (or a closed inquiry) leaves the money where the refunds left it.
        (None, None, Some(closed)) if refunds == Aftermath::Nothing => {
            (Aftermath::DisputeWon, Some(closed))
        }
        (None, None, Some(closed)) => (refunds, Some(closed)),
        (None, None, None) => (Aftermath::DisputeOpen, None),
    };
    (state, charge.amount_refunded, dispute)
}

/// Reads a PaymentIntent `body` for `id`, with its dispute list (`disputes`) when its latest
/// charge was disputed and the list was asked.
pub(super) fn read_intent(id: &str, body: &[u8], disputes: Option<&[u8]>) -> Verdict {
    let bad = |detail: String| Verdict::refused(Outcome::BadResponse, detail);
    let wire: WireIntent = match serde_json::from_slice(body) {
        Ok(wire) => wire,
        Err(e) => return bad(format!("Stripe's 200 body is not a PaymentIntent: {e}")),
    };
    let disputes: Option<WireDisputeList> = match disputes.map(serde_json::from_slice) {
        None => None,
        Some(Ok(list)) => Some(list),
        Some(Err(e)) => {
            return bad(format!(
                "Stripe's dispute list is not a list of disputes: {e}"
            ));
        }
    };
    if let Some(list) = &disputes
        && list.has_more
        && !list.data.iter().any(|d| d.status == "lost")
    {
        return bad(
            "Stripe lists more than 100 disputes for this PaymentIntent, and paystat reads one page of them"
                .into(),
        );
    }
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
        Some(IntentStatus::Succeeded) => aftermath(
            wire.latest_charge.as_ref(),
            disputes.as_ref().map(|l| l.data.as_slice()),
        ),
        _ => (Aftermath::Nothing, 0, None),
    };
    let status = match intent_status {
        Some(status) => status.normalize(declined, after),
        None => PaymentStatus::Unknown,
    };
    let finality = intent_status.map_or(Finality::Changing, IntentStatus::finality);
    // The usual end of the card-dispute window, as information (none while a dispute is open,
    // or for a `created` at the end of time).
    let final_after = match (intent_status, after) {
        (Some(IntentStatus::Succeeded), Aftermath::DisputeOpen) => None,
        (Some(IntentStatus::Succeeded), _) => OffsetDateTime::from_unix_timestamp(wire.created)
            .ok()
            .and_then(|t| t.checked_add(time::Duration::days(DISPUTE_WINDOW_DAYS)))
            .map(|t| t.date().to_string()),
        _ => None,
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A charge, its disputes' statuses, what they make of it and the dispute shown.
    type Case<'a> = (
        &'a Expandable<WireCharge>,
        &'a [&'a str],
        Aftermath,
        Option<&'a str>,
    );

    #[test]
    fn the_latest_charge_and_its_disputes_say_what_happened_after_the_money_moved() {
        let charge = |json: &str| serde_json::from_str::<Expandable<WireCharge>>(json).unwrap();
        let disputes = |statuses: &[&str]| -> Vec<WireDispute> {
            statuses
                .iter()
                .enumerate()
                .map(|(n, status)| WireDispute {
                    status: (*status).to_owned(),
                    reason: Some(format!("reason {n}")),
                    created: Some(1_700_000_000 + n as i64),
                })
                .collect()
        };
        let undisputed = [
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
        ];
        for (json, expected) in undisputed {
            assert_eq!(aftermath(Some(&charge(json)), None).0, expected, "{json}");
        }
        let disputed = charge(
            r#"{"amount_refunded": 0, "refunded": false, "disputed": true, "dispute": "dp_1"}"#,
        );
        let refunded = charge(r#"{"amount_refunded": 2000, "refunded": true, "disputed": true}"#);
        let table: [Case<'_>; 14] = [
            // The list not read, or empty: the charge says disputed, so it is.
            (&disputed, &[], Aftermath::DisputeOpen, None),
            (
                &disputed,
                &["needs_response"],
                Aftermath::DisputeOpen,
                Some("needs_response"),
            ),
            (
                &disputed,
                &["under_review"],
                Aftermath::DisputeOpen,
                Some("under_review"),
            ),
            (
                &disputed,
                &["warning_needs_response"],
                Aftermath::DisputeOpen,
                Some("warning_needs_response"),
            ),
            (
                &disputed,
                &["warning_under_review"],
                Aftermath::DisputeOpen,
                Some("warning_under_review"),
            ),
            (
                &disputed,
                &["a_word_stripe_adds_later"],
                Aftermath::DisputeOpen,
                Some("a_word_stripe_adds_later"),
            ),
            (&disputed, &["lost"], Aftermath::DisputeLost, Some("lost")),
            (&disputed, &["won"], Aftermath::DisputeWon, Some("won")),
            (
                &disputed,
                &["warning_closed"],
                Aftermath::DisputeWon,
                Some("warning_closed"),
            ),
            (
                &disputed,
                &["prevented"],
                Aftermath::DisputeWon,
                Some("prevented"),
            ),
            (&refunded, &["won"], Aftermath::Refunded, Some("won")),
            // Several disputes: any lost one decides, else any open one.
            (
                &disputed,
                &["warning_closed", "won", "lost"],
                Aftermath::DisputeLost,
                Some("lost"),
            ),
            (
                &disputed,
                &["won", "needs_response"],
                Aftermath::DisputeOpen,
                Some("needs_response"),
            ),
            (
                &disputed,
                &["warning_closed", "won"],
                Aftermath::DisputeWon,
                Some("won"),
            ),
        ];
        for (charge, statuses, expected, shown) in table {
            let list = disputes(statuses);
            let read = if statuses.is_empty() {
                None
            } else {
                Some(list.as_slice())
            };
            let (state, _, dispute) = aftermath(Some(charge), read);
            assert_eq!(state, expected, "{statuses:?}");
            assert_eq!(dispute.map(|d| d.status.as_str()), shown, "{statuses:?}");
        }
        assert_eq!(aftermath(None, None).0, Aftermath::Nothing);
        // An expanded charge paystat cannot read fails the intent, never reads as "nothing".
        let unreadable = r#"{"id": "pi_1", "object": "payment_intent", "amount": 2000, "currency": "usd",
            "status": "succeeded", "created": 1680800504, "latest_charge": {"refunded": "yes"}}"#;
        assert!(matches!(
            read_intent("pi_1", unreadable.as_bytes(), None),
            Verdict::NoPayment {
                outcome: Outcome::BadResponse,
                ..
            }
        ));
        assert_eq!(
            aftermath(Some(&charge(r#""ch_1""#)), None).0,
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

    /// A dispute list that is not one, or that goes on past its one page without a lost
    /// dispute on it, is no answer paystat can show.
    #[test]
    fn a_dispute_list_paystat_cannot_read_whole_is_a_bad_response() {
        let intent = r#"{"id": "pi_1", "object": "payment_intent", "amount": 2000, "currency": "usd",
            "status": "succeeded", "created": 1680800504,
            "latest_charge": {"amount_refunded": 0, "refunded": false, "disputed": true}}"#;
        let outcome =
            |list: &str| read_intent("pi_1", intent.as_bytes(), Some(list.as_bytes())).outcome();
        assert_eq!(outcome("[]"), Outcome::BadResponse);
        assert_eq!(
            outcome(r#"{"data": [{"status": "won"}], "has_more": true}"#),
            Outcome::BadResponse
        );
        assert_eq!(
            outcome(r#"{"data": [{"status": "lost"}], "has_more": true}"#),
            Outcome::Found,
            "a lost dispute decides whatever the other pages hold"
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
        let Verdict::Found(payment) = read_intent("pi_1", body.as_bytes(), None) else {
            panic!("a canceled intent is found");
        };
        assert_eq!(payment.status, PaymentStatus::Canceled);
        assert_eq!(payment.failure_code, None);
        assert_eq!(payment.status_reason.as_deref(), Some("abandoned"));
    }

    /// UGX, like ISK, comes in hundredths that must make whole shillings: one that does not is
    /// no answer paystat can show.
    #[test]
    fn a_ugx_amount_that_is_not_whole_shillings_is_a_bad_response() {
        let body = r#"{"id": "pi_1", "object": "payment_intent", "amount": 50050, "currency": "ugx",
            "status": "processing", "created": 1680800504}"#;
        assert!(matches!(
            read_intent("pi_1", body.as_bytes(), None),
            Verdict::NoPayment {
                outcome: crate::result::Outcome::BadResponse,
                ..
            }
        ));
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
