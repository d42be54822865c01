//! Stripe's change feed: `GET /v1/events` of the types that change a payment's answer.

use std::time::Duration;

use serde::Deserialize;

use super::super::{Changes, Reply, Verdict};
use super::wire::read_error;

/// How long Stripe keeps events (`GET /v1/events` lists the last 30 days).
pub const EVENTS_KEPT: Duration = Duration::from_secs(30 * 24 * 3600);

/// The events that change what paystat says of a PaymentIntent (GATEWAYS.md).
pub const EVENT_TYPES: [&str; 11] = [
    "payment_intent.succeeded",
    "payment_intent.amount_capturable_updated",
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

/// The events page from `position` (unix seconds), after the event `page` when not the first.
pub(super) fn events_page_url(
    base: &reqwest::Url,
    position: &str,
    page: Option<&str>,
) -> reqwest::Url {
    let mut url = super::events_url(base);
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
    url
}

/// The payments an events page names, the position it reached and the next page, if any.
pub(super) fn read_changes(reply: &Reply) -> Result<Changes, String> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_feed_asks_for_every_event_that_changes_an_answer() {
        let base = reqwest::Url::parse("https://api.stripe.com").unwrap();
        let url = events_page_url(&base, "1700000000", None);
        let types: Vec<String> = url
            .query_pairs()
            .filter(|(k, _)| k == "types[]")
            .map(|(_, v)| v.into_owned())
            .collect();
        // The move to requires_capture has no status event of its own but this one.
        assert!(
            types.contains(&"payment_intent.amount_capturable_updated".to_owned()),
            "{types:?}"
        );
        assert!(types.contains(&"charge.dispute.closed".to_owned()));
    }
}
