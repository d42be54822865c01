//! `paystat cache sync`: each configured gateway's change feed, read from the cache's cursor to
//! its end, and the entries of every payment it names dropped. The adapters know the feeds'
//! wire formats; this file only pages through them and keeps the cursors. It checks no
//! payment: it borrows a checker's configured gateways and its HTTP client.

use serde::Serialize;

use crate::cache::{Cache, CacheError, Cursor, Followed, position_after};
use crate::check::exchange::{self, Exchange};
use crate::check::{Checker, Endpoint};
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
            report.push(self.sync_feed(cache, endpoint).await?.0);
        }
        Ok(report)
    }

    /// Before a check run reuses cached answers: syncs the feed of every gateway whose feed
    /// the cache follows (it has a cursor), so that an answer that can still change is reused
    /// only if no event has named it since it was stored. Returns, per gateway whose feed could
    /// not be synced, why: those gateways' changing answers are not reused in this run.
    pub async fn follow_feeds(&self) -> Vec<(GatewayKind, String)> {
        let Some(cache) = self.cache() else {
            return Vec::new();
        };
        let mut failed = Vec::new();
        for endpoint in self.endpoints() {
            if endpoint.gateway.feed().is_none() {
                continue;
            }
            let scope = endpoint.cache_scope(cache);
            // A feed nobody follows (never synced) proves nothing: --max-age decides there.
            match cache.cursor(&endpoint.feed(&scope)) {
                Ok(Some(_)) => {}
                Ok(None) => continue,
                Err(e) => {
                    endpoint.set_followed(Some(Followed::Failed));
                    failed.push((endpoint.gateway.kind(), e.to_string()));
                    continue;
                }
            }
            let followed = match self.sync_feed(cache, endpoint).await {
                Ok((_, Some(cursor))) => Followed::Synced {
                    since: cursor.since.unwrap_or_else(|| cursor.position.clone()),
                    position: cursor.position,
                },
                Ok((sync, None)) => {
                    failed.push((
                        endpoint.gateway.kind(),
                        sync.error.unwrap_or_else(|| "it has no change feed".into()),
                    ));
                    Followed::Failed
                }
                Err(e) => {
                    failed.push((endpoint.gateway.kind(), e.to_string()));
                    Followed::Failed
                }
            };
            endpoint.set_followed(Some(followed));
        }
        failed
    }

    /// Forgets how this checker stands with every gateway's feed (after [`Checker::follow_feeds`]):
    /// from now on its changing answers are reused only within `--max-age`, until a run follows
    /// the feeds again. A long-lived checker (the service) calls it after a reconciliation, so a
    /// sync made for it does not vouch for answers long after.
    pub fn unfollow_feeds(&self) {
        for endpoint in self.endpoints() {
            endpoint.set_followed(None);
        }
    }

    /// Reads one gateway's change feed from the cache's cursor to its end, dropping the entries
    /// of every payment it names; the cursor it set, when it read to the end.
    pub(crate) async fn sync_feed(
        &self,
        cache: &Cache,
        endpoint: &Endpoint,
    ) -> Result<(FeedSync, Option<Cursor>), CacheError> {
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
            return Ok((sync, None));
        };
        sync.has_feed = true;
        let scope = endpoint.cache_scope(cache);
        let feed = endpoint.feed(&scope);
        let wall = time::OffsetDateTime::from(self.clock().wall_time());
        let now = wall.unix_timestamp();
        let cursor = cache.cursor(&feed)?;
        // Where this sync starts, and from where the feed has then been read without a gap.
        let start = || (rules.start)(now);
        let (position, since) = match (cursor, rules.keeps) {
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
                (start(), start())
            }
            (Some(cursor), _) => {
                let since = cursor.since.unwrap_or_else(|| cursor.position.clone());
                (cursor.position, since)
            }
            (None, Some(_)) => {
                sync.reset = Some("there was no earlier sync".to_owned());
                (start(), start())
            }
            // A feed read from its beginning misses nothing.
            (None, None) => (start(), start()),
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
            let read = match gateway.changes_request(self.client(), &position, page.as_deref()) {
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
                && position_after(&position, &newest)
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
        if sync.error.is_some() {
            return Ok((sync, None));
        }
        let cursor = Cursor {
            position: newest,
            synced_at: now,
            since: Some(since),
        };
        cache.set_cursor(&feed, &cursor)?;
        Ok((sync, Some(cursor)))
    }
}
