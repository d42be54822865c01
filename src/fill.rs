//! `paystat cache fill`: a window of a gateway's list of payments read into the status cache,
//! a hundred payments a request instead of one, so that the checks after it (a reconciliation's)
//! are answered from the cache wherever its rules allow.
//!
//! The fill first syncs the gateway's change feed and keeps where it stands; every answer it
//! stores carries that position, so the cache's reuse rules apply unchanged — a sync after the
//! fill drops whatever changed while it ran. Each page is audited as one line (event
//! [`EVENT_FILL_PAGE`]: the window, the cursor, the gateway's request id, each payment with its
//! status and the digest of its answer), durable before anything from the page is stored; a
//! check served later from a filled answer names that line as the line it copies. Pages are
//! stored one transaction each with where the list continues, so an interrupted fill resumes.

use std::collections::HashSet;
use std::sync::Arc;

use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::audit::{AuditError, Caller, EVENT_FILL_PAGE, answer_digest_hex};
use crate::cache::{CacheError, FillState, Listed, Provenance};
use crate::check::Checker;
pub use crate::gateway::Window;
use crate::gateway::list::rfc3339;
use crate::result::{GatewayKind, Outcome};

/// The most pages one fill reads (ten million Stripe intents): a runaway list ends there.
const MAX_PAGES: u64 = 100_000;

/// The most unread payments a report names (the count is whole).
const UNREAD_SHOWN: usize = 100;

/// What to fill.
#[derive(Debug, Clone)]
pub struct FillOptions {
    /// The gateway whose list is read.
    pub gateway: GatewayKind,
    /// The creation times to read.
    pub window: Window,
    /// Read the window again even when an earlier fill read it to its end.
    pub refill: bool,
    /// Who asked, when through the service (the page lines are then theirs).
    pub caller: Option<Arc<Caller>>,
}

/// A payment listed whose answer paystat could not read whole: a check asks the gateway for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unread {
    /// The payment.
    pub payment_id: String,
    /// Why.
    pub detail: String,
}

/// What a fill did.
#[derive(Debug, Clone, Serialize)]
pub struct FillReport {
    /// The gateway.
    pub gateway: GatewayKind,
    /// The window's first instant, RFC 3339.
    pub since: String,
    /// The first instant after it.
    pub until: String,
    /// Whether an earlier fill had read the window to its end after it closed, and was used as
    /// it is (no page was asked).
    pub reused: bool,
    /// Pages an interrupted fill had read before this run resumed it.
    pub resumed_after: u64,
    /// Pages this run read (of payments, and of the lists read with them).
    pub pages: u64,
    /// Requests this run sent for those pages, retries included (the feed's sync not).
    pub requests: u64,
    /// Payments the window's list holds, as far as read (each once).
    pub listed: u64,
    /// Answers this run stored.
    pub stored: u64,
    /// Payments listed whose answer could not be read whole (the first hundred).
    pub unread: Vec<Unread>,
    /// How many payments that is.
    pub unread_count: u64,
    /// Where the gateway's change feed stood before the first page.
    pub feed_position: Option<String>,
    /// Why the feed could not be read (the answers are then stored without a position, and
    /// reused only once final or for `--max-age`).
    pub feed_error: Option<String>,
    /// Whether the list is read to its end.
    pub finished: bool,
    /// Why the fill stopped before its end (it resumes from the last page stored).
    pub error: Option<String>,
    /// The fill's place in the cache.
    #[serde(skip)]
    pub state: Option<FillState>,
}

/// Why a fill could not start, or had to stop without a word in its report.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FillError {
    /// The run has no status cache.
    #[error("a fill reads into the status cache, and this run has none (--no-cache)")]
    NoCache,
    /// The gateway is not configured.
    #[error("{0} is not configured")]
    NotConfigured(GatewayKind),
    /// The gateway has no list paystat reads.
    #[error("{0} has no list of payments paystat reads: fill stripe or plaid")]
    NoList(GatewayKind),
    /// The window ends before it starts.
    #[error("the window ends before it starts")]
    EmptyWindow,
    /// The cache failed.
    #[error(transparent)]
    Cache(#[from] CacheError),
    /// A page's line could not be made durable: nothing from the page was stored.
    #[error("a page of the list could not be audited, so nothing from it was stored")]
    Unaudited(#[source] AuditError),
}

impl Checker {
    /// Reads `options.window` of the gateway's list into the status cache (resuming a fill of
    /// the same window that stopped), calling `progress` after each page.
    pub async fn fill(
        &self,
        options: &FillOptions,
        progress: &(dyn Fn(&FillReport) + Sync),
    ) -> Result<FillReport, FillError> {
        let cache = self.cache().ok_or(FillError::NoCache)?;
        let endpoint = self
            .endpoints()
            .iter()
            .find(|e| e.gateway.kind() == options.gateway)
            .ok_or(FillError::NotConfigured(options.gateway))?;
        let window = options.window;
        if window.until <= window.since {
            return Err(FillError::EmptyWindow);
        }
        // A gateway without a list starts no fill (and leaves no trace of one in the cache).
        if endpoint.gateway.lister(window, None).is_none() {
            return Err(FillError::NoList(options.gateway));
        }
        let scope = endpoint.cache_scope(cache);
        let feed = endpoint.feed(&scope);
        let bounds = (window.since.unix_timestamp(), window.until.unix_timestamp());
        let wall = || time::OffsetDateTime::from(self.clock().wall_time());
        let mut report = FillReport {
            gateway: options.gateway,
            since: rfc3339(window.since),
            until: rfc3339(window.until),
            reused: false,
            resumed_after: 0,
            pages: 0,
            requests: 0,
            listed: 0,
            stored: 0,
            unread: Vec::new(),
            unread_count: 0,
            feed_position: None,
            feed_error: None,
            finished: false,
            error: None,
            state: None,
        };
        let mut state = match cache.fill(&feed, bounds)? {
            // Read to its end once the window had closed: nothing can join it since, and the
            // feed drops whatever changed.
            Some(done) if !options.refill && done.finished_at.is_some_and(|at| at >= bounds.1) => {
                report.reused = true;
                report.finished = true;
                report.listed = done.listed;
                report.state = Some(done);
                return Ok(report);
            }
            Some(stopped) if !options.refill && stopped.finished_at.is_none() => {
                report.resumed_after = stopped.pages;
                stopped
            }
            _ => cache.start_fill(&feed, bounds, wall().unix_timestamp())?,
        };
        report.listed = state.listed;
        let mut lister = endpoint
            .gateway
            .lister(window, state.resume.as_deref())
            .ok_or(FillError::NoList(options.gateway))?;
        // Where the feed stands before the first page: every answer stored carries it.
        let (sync, cursor) = self.sync_feed(cache, endpoint).await?;
        report.feed_position = cursor.map(|c| c.position);
        if report.feed_position.is_none() {
            report.feed_error = sync.error;
        }
        // The payments of the page before: a page listing only those does not advance.
        let mut previous: HashSet<String> = HashSet::new();
        while !lister.done() {
            if state.pages >= MAX_PAGES {
                report.error = Some(format!("the list did not end within {MAX_PAGES} pages"));
                break;
            }
            if self.halted() {
                report.error = Some("the audit trail stopped taking lines".into());
                break;
            }
            let page = match self
                .list_page(endpoint, lister.as_mut(), &mut report.requests)
                .await
            {
                Ok(Some(page)) => page,
                Ok(None) => break,
                Err(e) => {
                    report.error = Some(e);
                    break;
                }
            };
            report.pages += 1;
            let listed = &page.page;
            if listed.next.is_some() && listed.next == listed.cursor {
                report.error = Some(format!(
                    "the {} list did not advance: a page said there was more, after the same place",
                    listed.list
                ));
                break;
            }
            let listed_now: HashSet<String> =
                page.results.iter().map(|r| r.payment_id.clone()).collect();
            let fresh = listed_now.difference(&previous).count();
            previous = listed_now;
            if fresh == 0 && !page.results.is_empty() && listed.next.is_some() {
                report.error = Some(format!(
                    "the {} list did not advance: a page listed only payments already listed",
                    listed.list
                ));
                break;
            }
            let line = self
                .audit_trail()
                .note_written(
                    EVENT_FILL_PAGE,
                    page_line(&report, &page, window),
                    options.caller.as_deref(),
                )
                .map_err(FillError::Unaudited)?;
            let found: Vec<Listed<'_>> = page
                .results
                .iter()
                .map(|r| Listed {
                    payment_id: &r.payment_id,
                    result: (r.outcome == Outcome::Found).then_some(r),
                })
                .collect();
            for unread in page.results.iter().filter(|r| r.outcome != Outcome::Found) {
                report.unread_count += 1;
                if report.unread.len() < UNREAD_SHOWN {
                    report.unread.push(Unread {
                        payment_id: crate::result::kept_id(&unread.payment_id).into_owned(),
                        detail: unread.detail.clone().unwrap_or_default(),
                    });
                }
            }
            let fetched_ms =
                i64::try_from(wall().unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX);
            state = cache.store_page(
                &state,
                &feed,
                endpoint.environment,
                Provenance {
                    fetched_ms,
                    feed_position: report.feed_position.as_deref(),
                    line: Some((line.seq, line.hash.as_str())),
                },
                &found,
                (lister.resume_point().as_deref(), lister.done()),
            )?;
            report.stored += found.iter().filter(|l| l.result.is_some()).count() as u64;
            report.listed = state.listed;
            progress(&report);
        }
        report.finished = state.finished_at.is_some();
        report.state = Some(state);
        Ok(report)
    }
}

/// The fields of a page's audit line.
fn page_line(report: &FillReport, page: &crate::check::Page, window: Window) -> Map<String, Value> {
    let listed = &page.page;
    let objects: Vec<Value> = page
        .results
        .iter()
        .filter(|r| r.outcome == Outcome::Found)
        .map(|r| {
            json!({
                "payment_id": crate::result::kept_id(&r.payment_id),
                "status": r.status.map(|s| s.as_str()),
                "answer": answer_digest_hex(r),
            })
        })
        .collect();
    let unread: Vec<Value> = page
        .results
        .iter()
        .filter(|r| r.outcome != Outcome::Found)
        .map(|r| json!({"payment_id": crate::result::kept_id(&r.payment_id), "detail": r.detail}))
        .collect();
    let mut fields = Map::new();
    fields.insert("gateway".into(), report.gateway.as_str().into());
    fields.insert(
        "window".into(),
        json!({"since": rfc3339(window.since), "until": rfc3339(window.until)}),
    );
    fields.insert("list".into(), listed.list.into());
    fields.insert(
        "request".into(),
        json!({"method": page.request.method, "path": page.request.path}),
    );
    fields.insert("cursor".into(), listed.cursor.clone().into());
    fields.insert("next".into(), listed.next.clone().into());
    fields.insert(
        "gateway_request_id".into(),
        listed.request_id.clone().into(),
    );
    fields.insert("feed_position".into(), report.feed_position.clone().into());
    fields.insert("objects".into(), objects.into());
    if !unread.is_empty() {
        fields.insert("unread".into(), unread.into());
    }
    fields
}
