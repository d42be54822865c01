//! What Plaid keeps about one transfer's history, for `paystat explain`: read from the
//! check's own reply (`/transfer/get`: network, expected settlement date, failure, refunds) and
//! `POST /transfer/event/list` for that transfer (every event with its time), 25 a page.

use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use serde_json::Value;

use super::super::history::{GatewayEvent, HistoryPage, joined, text};
use super::super::{Facts, Reply, url_with_segments, utc_rfc3339};
use super::wire::read_error;

/// Plaid's largest page of `/transfer/event/list`.
const EVENTS_PER_PAGE: u32 = 25;

/// The most events one explanation reads (a runaway list ends there).
const MAX_OFFSET: u32 = 10_000;

/// `POST {base}/transfer/event/list`.
pub fn event_list_url(base: &reqwest::Url) -> reqwest::Url {
    url_with_segments(base, &["transfer", "event", "list"])
}

/// The body of `/transfer/event/list`. It borrows the secrets for the moment it is serialized.
#[derive(Serialize)]
struct WireEventList<'a> {
    client_id: &'a str,
    secret: &'a str,
    transfer_id: &'a str,
    count: u32,
    offset: u32,
}

/// The body asking for the events of transfer `id` from `offset` on.
pub(super) fn event_list_body(
    client_id: &SecretString,
    secret: &SecretString,
    id: &str,
    page: Option<&str>,
) -> Option<Vec<u8>> {
    let offset = match page {
        None => 0,
        Some(page) => page.parse().ok().filter(|o| *o <= MAX_OFFSET)?,
    };
    let body = WireEventList {
        client_id: client_id.expose_secret(),
        secret: secret.expose_secret(),
        transfer_id: id,
        count: EVENTS_PER_PAGE,
        offset,
    };
    serde_json::to_vec(&body).ok()
}

/// `failure_reason` as words: its code and description.
fn failure(object: &Value) -> Option<String> {
    let reason = object.get("failure_reason").filter(|r| r.is_object())?;
    joined(&[text(reason, "failure_code"), text(reason, "description")])
}

/// An event at RFC 3339 `key` of `object`, when it has that time.
fn dated(object: &Value, key: &str, what: &str, detail: Option<String>) -> Option<GatewayEvent> {
    let at = utc_rfc3339(object.get(key)?.as_str()?)?;
    Some(GatewayEvent::new(at, what, detail))
}

/// The facts in a reply to `/transfer/get`.
pub(super) fn facts(reply: &Reply) -> Facts {
    let mut facts = Facts::default();
    if reply.status != 200 {
        return facts;
    }
    let Some(transfer) = serde_json::from_slice::<Value>(&reply.body)
        .ok()
        .and_then(|body| body.get("transfer").cloned())
    else {
        return facts;
    };
    facts.method = text(&transfer, "network");
    facts.expected_settlement = text(&transfer, "expected_settlement_date");
    let amount = joined(&[
        text(&transfer, "type"),
        text(&transfer, "amount"),
        text(&transfer, "iso_currency_code"),
        text(&transfer, "network"),
    ]);
    facts
        .events
        .extend(dated(&transfer, "created", "transfer.created", amount));
    if let Some(failure) = failure(&transfer) {
        facts.notes.push(format!("failure reason: {failure}"));
    }
    if let Some(day) = &facts.expected_settlement {
        facts
            .notes
            .push(format!("Plaid expects the transfer to settle on {day}"));
    }
    let refunds = transfer.get("refunds").and_then(Value::as_array);
    for refund in refunds.into_iter().flatten() {
        let detail = joined(&[
            text(refund, "status"),
            text(refund, "amount"),
            failure(refund),
        ]);
        facts
            .events
            .extend(dated(refund, "created", "refund.created", detail));
    }
    facts
}

/// Reads a page of `/transfer/event/list` that started at `page`.
pub(super) fn read_events(reply: &Reply, page: Option<&str>) -> Result<HistoryPage, String> {
    if reply.status != 200 {
        return Err(read_error(reply.status, &reply.body)
            .verdict
            .list_refusal("the transfer's event list", reply.status));
    }
    let body: Value = serde_json::from_slice(&reply.body)
        .map_err(|e| format!("the transfer's event list is not JSON: {e}"))?;
    let listed = body
        .get("transfer_events")
        .and_then(Value::as_array)
        .ok_or("the transfer's event list has no `transfer_events` list")?;
    let events = listed
        .iter()
        .filter_map(|event| {
            let what = text(event, "event_type")?;
            let detail = joined(&[
                failure(event),
                text(event, "refund_id").map(|r| format!("refund {r}")),
            ]);
            dated(event, "timestamp", &format!("transfer.{what}"), detail)
        })
        .collect();
    Ok(HistoryPage {
        events,
        next_page: next_offset(page, listed.len()),
    })
}

/// The page after one that started at `page` and listed `listed` events: Plaid has no
/// `has_more` here, so a full page means there may be more.
fn next_offset(page: Option<&str>, listed: usize) -> Option<String> {
    let offset: u32 = page.map_or(Some(0), |p| p.parse().ok())?;
    (listed == EVENTS_PER_PAGE as usize)
        .then(|| offset.checked_add(EVENTS_PER_PAGE))
        .flatten()
        .filter(|next| *next <= MAX_OFFSET)
        .map(|next| next.to_string())
}
