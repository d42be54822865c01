//! What Stripe keeps about one PaymentIntent's history, for `paystat explain`: read from the
//! check's own reply (the intent with its latest charge expanded, and the dispute list when
//! the charge was disputed), and Stripe's refund list of the intent
//! (`GET /v1/refunds?payment_intent=…`), asked only when the charge says money went back.

use serde_json::Value;

use super::super::history::{GatewayEvent, HistoryPage, joined, text, unix_rfc3339};
use super::super::{Facts, Reply, url_with_segments};
use super::wire::read_error;

/// Stripe's largest page.
const PAGE: &str = "100";

/// An event at unix seconds `key` of `object`, when it has that time.
fn dated(object: &Value, key: &str, what: &str, detail: Option<String>) -> Option<GatewayEvent> {
    let at = unix_rfc3339(object.get(key)?.as_i64()?)?;
    Some(GatewayEvent::new(at, what, detail))
}

/// An amount as Stripe gives it (an integer in Stripe's minor unit of the currency), shown
/// exactly in the currency's major unit (`15.00 USD`); as Stripe wrote it when it cannot be read.
fn amount(object: &Value) -> Option<String> {
    let minor = object.get("amount")?.as_i64()?;
    let code = text(object, "currency").unwrap_or_default();
    let money = crate::result::currency(&code.to_ascii_uppercase())
        .ok()
        .and_then(|currency| {
            crate::result::Money::from_gateway_minor(
                minor,
                super::status::stripe_exponent(currency),
                currency,
            )
            .ok()
        });
    Some(match money {
        Some(money) => money.to_string(),
        None => format!("{minor} {code} (Stripe's minor units)"),
    })
}

/// The facts in a reply to the check of an intent.
pub(super) fn facts(reply: &Reply) -> Facts {
    let mut facts = Facts::default();
    let Ok(intent) = serde_json::from_slice::<Value>(&reply.body) else {
        return facts;
    };
    if reply.status != 200 {
        return facts;
    }
    let charge = intent.get("latest_charge").filter(|c| c.is_object());
    facts.method = charge
        .and_then(|c| c.get("payment_method_details"))
        .and_then(|d| text(d, "type"))
        .or_else(|| {
            let types = intent.get("payment_method_types")?.as_array()?;
            types.first()?.as_str().map(str::to_owned)
        });
    facts.next_action = intent.get("next_action").and_then(|n| text(n, "type"));
    let methods = intent
        .get("payment_method_types")
        .and_then(Value::as_array)
        .map(|types| {
            let names: Vec<&str> = types.iter().filter_map(Value::as_str).collect();
            format!("methods {}", names.join(", "))
        });
    facts.events.extend(dated(
        &intent,
        "created",
        "payment_intent.created",
        joined(&[amount(&intent), methods]),
    ));
    if let Some(charge) = charge {
        let outcome = charge.get("outcome");
        let detail = joined(&[
            text(charge, "status"),
            outcome.and_then(|o| text(o, "type")),
            outcome.and_then(|o| text(o, "seller_message")),
            text(charge, "failure_code"),
            text(charge, "failure_message"),
        ]);
        facts
            .events
            .extend(dated(charge, "created", "charge.created", detail));
    }
    if let Some(error) = intent.get("last_payment_error").filter(|e| e.is_object()) {
        let said = joined(&[
            text(error, "code"),
            text(error, "decline_code"),
            text(error, "message"),
        ]);
        facts.notes.push(format!(
            "last payment error: {}",
            said.unwrap_or_else(|| "(no code or message)".into())
        ));
    }
    if let Some(action) = &facts.next_action {
        facts.notes.push(format!(
            "Stripe waits for the customer: next action `{action}`"
        ));
    }
    facts.events.extend(dated(
        &intent,
        "canceled_at",
        "payment_intent.canceled",
        text(&intent, "cancellation_reason"),
    ));
    if let Some(disputes) = reply
        .follow_up
        .as_ref()
        .filter(|f| f.status == 200)
        .and_then(|f| serde_json::from_slice::<Value>(&f.body).ok())
    {
        for dispute in list(&disputes) {
            let due = dispute
                .get("evidence_details")
                .and_then(|e| e.get("due_by"))
                .and_then(Value::as_i64)
                .and_then(unix_rfc3339)
                .map(|due| format!("evidence due {due}"));
            let detail = joined(&[
                text(dispute, "status"),
                text(dispute, "reason"),
                amount(dispute),
                due,
            ]);
            facts
                .events
                .extend(dated(dispute, "created", "charge.dispute.created", detail));
        }
    }
    facts
}

/// The `data` of a Stripe list.
fn list(page: &Value) -> &[Value] {
    page.get("data")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// Whether the check's reply says money went back (then the refund list is asked).
pub(super) fn refunded(reply: &Reply) -> bool {
    if reply.status != 200 {
        return false;
    }
    let Ok(intent) = serde_json::from_slice::<Value>(&reply.body) else {
        return false;
    };
    intent
        .get("latest_charge")
        .and_then(|c| c.get("amount_refunded"))
        .and_then(Value::as_i64)
        .is_some_and(|refunded| refunded > 0)
}

/// The refund list of intent `id` under `base`, after refund `page` when there is one.
pub fn refunds_url(base: &reqwest::Url, id: &str, page: Option<&str>) -> reqwest::Url {
    let mut url = url_with_segments(base, &["v1", "refunds"]);
    {
        let mut query = url.query_pairs_mut();
        query
            .append_pair("payment_intent", id)
            .append_pair("limit", PAGE);
        if let Some(after) = page {
            query.append_pair("starting_after", after);
        }
    }
    url
}

/// Reads a page of the refund list.
pub(super) fn read_refunds(reply: &Reply) -> Result<HistoryPage, String> {
    if reply.status != 200 {
        return Err(
            read_error(reply.status, &reply.body).list_refusal("the refund list", reply.status)
        );
    }
    let page: Value = serde_json::from_slice(&reply.body)
        .map_err(|e| format!("the refund list is not JSON: {e}"))?;
    let refunds = page
        .get("data")
        .and_then(Value::as_array)
        .ok_or("the refund list has no `data` list")?;
    let events = refunds
        .iter()
        .filter_map(|refund| {
            let detail = joined(&[
                text(refund, "status"),
                amount(refund),
                text(refund, "reason"),
                text(refund, "failure_reason"),
            ]);
            dated(refund, "created", "refund.created", detail)
        })
        .collect();
    let more = page.get("has_more").and_then(Value::as_bool) == Some(true);
    let next_page = more
        .then(|| refunds.last().and_then(|r| text(r, "id")))
        .flatten();
    Ok(HistoryPage { events, next_page })
}
