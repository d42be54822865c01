//! Plaid's change feed: `/transfer/event/sync`, after the last event id read.

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use super::super::{Changes, Reply};
use super::wire::read_error;

/// How many transfer events paystat asks for per page: Plaid's most (its default is 100).
const EVENTS_PER_PAGE: u32 = 500;

/// The body of `/transfer/event/sync`. It borrows the secrets for the moment it is serialized.
#[derive(Serialize)]
struct WireEventSync<'a> {
    client_id: &'a str,
    secret: &'a str,
    after_id: u64,
    count: u32,
}

#[derive(Deserialize)]
struct WireEventPage {
    transfer_events: Vec<WireTransferEvent>,
    /// Whether more events follow this page.
    #[serde(default)]
    has_more: bool,
}

#[derive(Deserialize)]
struct WireTransferEvent {
    event_id: u64,
    transfer_id: String,
}

/// The body of the sync page after `page` (the previous page's largest event id), else after
/// `position`.
pub(super) fn sync_body(
    client_id: &SecretString,
    secret: &SecretString,
    position: &str,
    page: Option<&str>,
) -> Vec<u8> {
    let after_id: u64 = page.unwrap_or(position).parse().unwrap_or(0);
    serde_json::to_vec(&WireEventSync {
        client_id: client_id.expose_secret(),
        secret: secret.expose_secret(),
        after_id,
        count: EVENTS_PER_PAGE,
    })
    .expect("strings and numbers always serialize")
}

/// The transfers a sync page names, the position it reached and the next page, if any.
pub(super) fn read_changes(reply: &Reply) -> Result<Changes, String> {
    if reply.status != 200 {
        return Err(read_error(reply.status, &reply.body)
            .verdict
            .list_refusal("Plaid's transfer event sync", reply.status));
    }
    let page: WireEventPage = serde_json::from_slice(&reply.body)
        .map_err(|e| format!("Plaid's transfer event sync is not a list of events: {e}"))?;
    let newest = page.transfer_events.iter().map(|e| e.event_id).max();
    let more = page.has_more;
    Ok(Changes {
        payment_ids: page
            .transfer_events
            .into_iter()
            .map(|e| e.transfer_id)
            .collect(),
        position: newest.map(|n| n.to_string()),
        // Plaid says whether more follow; the next page starts after this one's newest event.
        next_page: newest.filter(|_| more).map(|n| n.to_string()),
    })
}
