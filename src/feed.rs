//! `paystat cache sync`: each configured gateway's change feed, read from the cache's cursor to
//! its end, and the entries of every payment it names dropped. The adapters know the feeds'
//! wire formats; this file only pages through them and keeps the cursors. It checks no
//! payment: it borrows a checker's configured gateways and its HTTP client.

use serde::Serialize;

use crate::cache::{Cache, CacheError, Cursor};
use crate::check::Checker;
use crate::check::exchange::{self, Exchange};
use crate::clock::human;
use crate::result::GatewayKind;

/// The most pages one sync reads from one feed (a runaway feed ends with an error): a million
/// Stripe events, five million of Plaid's.
const MAX_PAGES: u32 = 10_000;

/// What one gateway's sync did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FeedSync {
    /// The gateway.
    pub gateway: GatewayKind,
    /// Whether the gateway has a change feed (not every gateway has one).
    pub has_feed: bool,
    /// Pages read.
    pub pages: u32,
    /// Changes read (one per event; a payment may change more than once).
    pub changes: u64,
    /// Entries dropped because their payment changed.
    pub dropped: u64,
    /// Why every entry that could still change was dropped first, when it was: no earlier
    /// sync, or one older than the gateway keeps its changes.
    pub reset: Option<String>,
    /// Entries dropped by that reset.
    pub reset_dropped: u64,
    /// Why the feed could not be read to its end (its cursor is then left where it was).
    pub error: Option<String>,
}

impl Checker {
    /// Reads every configured gateway's change feed into `cache`. A feed that cannot be read
    /// is reported in its [`FeedSync`]; an unusable cache ends the sync.
    pub async fn sync_feeds(&self, cache: &Cache) -> Result<Vec<FeedSync>, CacheError> {
        let mut report = Vec::new();
        for endpoint in self.endpoints() {
            let gateway = endpoint.gateway.as_ref();
            let mut sync = FeedSync {
                gateway: gateway.kind(),
                has_feed: false,
                pages: 0,
                changes: 0,
                dropped: 0,
                reset: None,
                reset_dropped: 0,
                error: None,
            };
            let Some(rules) = gateway.feed() else {
                report.push(sync);
                continue;
            };
            sync.has_feed = true;
            let scope = endpoint.cache_scope(cache);
            let feed = endpoint.feed(&scope);
            let wall = time::OffsetDateTime::from(self.clock().wall_time());
            let now = wall.unix_timestamp();
            let cursor = cache.cursor(&feed)?;
            let position = match (cursor, rules.keeps) {
                (Some(cursor), Some(keeps))
                    if now.saturating_sub(cursor.synced_at)
                        > i64::try_from(keeps.as_secs()).unwrap_or(i64::MAX) =>
                {
                    let ago = std::time::Duration::from_secs(
                        u64::try_from(now.saturating_sub(cursor.synced_at)).unwrap_or(0),
                    );
                    sync.reset = Some(format!(
                        "the last sync was {} ago, and {} keeps its changes for {} only",
                        human(ago),
                        gateway.kind(),
                        human(keeps)
                    ));
                    (rules.start)(now)
                }
                (Some(cursor), _) => cursor.position,
                (None, Some(_)) => {
                    sync.reset = Some("there was no earlier sync".to_owned());
                    (rules.start)(now)
                }
                (None, None) => (rules.start)(now),
            };
            if sync.reset.is_some() {
                let today = wall.date().to_string();
                sync.reset_dropped = cache.forget_unsettled(&feed, &today)?;
            }
            let mut newest = position.clone();
            let mut page: Option<String> = None;
            loop {
                if sync.pages >= MAX_PAGES {
                    sync.error = Some(format!("the feed did not end within {MAX_PAGES} pages"));
                    break;
                }
                let read = match gateway.changes_request(self.client(), &position, page.as_deref())
                {
                    None => Err(format!("{} has no change feed", gateway.kind())),
                    Some(Err(e)) => Err(format!(
                        "the feed request cannot be built: {}",
                        e.without_url()
                    )),
                    Some(Ok(request)) => {
                        let proxy = endpoint.proxy.as_ref().map(|p| &p.0);
                        let timeout = endpoint.policy.attempt_timeout;
                        match exchange::send(self.client(), request, timeout, proxy).await {
                            Exchange::Replied(reply) => gateway.read_changes(&reply),
                            Exchange::Failed { detail, .. } => Err(detail),
                        }
                    }
                };
                let changes = match read {
                    Ok(changes) => changes,
                    Err(e) => {
                        // A gateway may echo a credential in its error text.
                        let mut e = crate::credential::redact(&e);
                        endpoint.echoes.scrub_text(&mut e);
                        sync.error = Some(e);
                        break;
                    }
                };
                sync.pages += 1;
                sync.changes += changes.payment_ids.len() as u64;
                sync.dropped += cache.forget(&feed, &changes.payment_ids)?;
                if let Some(position) = changes.position
                    && later(&position, &newest)
                {
                    newest = position;
                }
                match changes.next_page {
                    // A page that says "more" but would start where this one did is a feed that
                    // does not advance: asking again would get the same page for ever.
                    Some(next) if next == page.as_deref().unwrap_or(&position) => {
                        sync.error = Some(format!(
                            "the feed did not advance: page {} said there was more, after the same place",
                            sync.pages
                        ));
                        break;
                    }
                    Some(next) => page = Some(next),
                    None => break,
                }
            }
            if sync.error.is_none() {
                let cursor = Cursor {
                    position: newest,
                    synced_at: now,
                };
                cache.set_cursor(&feed, &cursor)?;
            }
            report.push(sync);
        }
        Ok(report)
    }
}

/// Whether feed position `a` is after `b` (positions are integers: event ids, unix seconds).
fn later(a: &str, b: &str) -> bool {
    match (a.parse::<i128>(), b.parse::<i128>()) {
        (Ok(a), Ok(b)) => a > b,
        (Ok(_), Err(_)) => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::later;

    #[test]
    fn positions_compare_as_numbers() {
        assert!(later("10", "9"));
        assert!(!later("9", "10"));
        assert!(!later("9", "9"));
        assert!(later("1", "not a number"));
        assert!(!later("junk", "1"));
    }
}
