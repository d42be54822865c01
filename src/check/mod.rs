//! The checker: for each id, ask the gateway, decide, wait, audit, return.
//!
//! It owns one pooled HTTP client ([`exchange`]), picks the gateway for an id ([`route`]),
//! hands every reply to the gateway's adapter, carries out what [`RetryPolicy::next`]
//! decides, and writes the audit line before it returns anything: a result that could not be
//! audited is never returned. It knows no wire format and no gateway by name.
//!
//! [`RetryPolicy::next`]: crate::retry::RetryPolicy::next

mod answer;
mod ask;
mod bulk;
pub(crate) mod exchange;
mod explain;
mod list;
mod options;
mod record;
mod reuse;
mod route;
mod stop;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::audit::{AuditError, AuditTrail, Written};
use crate::config::Configured;
use crate::gateway::Reply;
use crate::payment_id::display_safe;
use crate::result::{CheckResult, GatewayKind, Outcome};

pub use answer::UnauditedCheck;
use answer::{Answer, log, millis};
pub use explain::Explained;
pub use list::Page;
pub(crate) use route::Endpoint;

pub use options::{Ask, CacheUse, CheckerOptions, DEFAULT_CONCURRENCY};
pub use route::Routing;

/// The detail of a check cut short by [`Checker::interrupt`].
const INTERRUPTED: &str = "the run was interrupted before the gateway answered";

/// A check whose line is written, not yet known durable.
type WrittenCheck = (CheckResult, Option<Reply>, Written);

/// Checks payments and audits every check.
#[derive(Debug)]
pub struct Checker {
    client: reqwest::Client,
    /// The gateways' proxies, to build another client like `client` (for a thread of checks).
    proxies: Vec<(reqwest::Url, reqwest::Url)>,
    endpoints: Vec<Endpoint>,
    audit: Arc<AuditTrail>,
    options: CheckerOptions,
    /// Set at the first audit failure: from then on nothing is sent.
    halted: AtomicBool,
    /// Whether the run still takes ids, or is cutting its checks short.
    stop: stop::Stop,
    /// Set at the first error of the status cache: from then on every id asks its gateway.
    cache_failed: AtomicBool,
}

impl Checker {
    /// A checker over configured gateways (see [`crate::config::ConfigFile::gateway`]), auditing into
    /// `audit`.
    pub(crate) fn new(
        gateways: Vec<Configured>,
        audit: Arc<AuditTrail>,
        options: CheckerOptions,
    ) -> Checker {
        let endpoints: Vec<Endpoint> = gateways.into_iter().map(Endpoint::from).collect();
        let proxies: Vec<(reqwest::Url, reqwest::Url)> = endpoints
            .iter()
            .filter_map(|e| Some((e.gateway.base_url().clone(), e.proxy.clone()?.0)))
            .collect();
        Checker {
            client: exchange::client(proxies.clone(), &options.trust),
            proxies,
            endpoints,
            audit,
            options,
            halted: AtomicBool::new(false),
            stop: stop::Stop::new(),
            cache_failed: AtomicBool::new(false),
        }
    }

    /// How this checker picks a gateway for an id.
    pub fn routing(&self) -> Routing {
        self.options.routing
    }

    /// How many checks it runs at once.
    pub fn concurrency(&self) -> usize {
        self.options.concurrency.max(1)
    }

    /// The gateways this checker paces, and their rates (requests per second).
    pub fn pacing(&self) -> Vec<(GatewayKind, f64)> {
        let paced = self
            .endpoints
            .iter()
            .filter_map(|e| Some((e.gateway.kind(), e.rate?)));
        paced.collect()
    }

    /// The configured gateways, with their settings (for reading their change feeds).
    pub(crate) fn endpoints(&self) -> &[Endpoint] {
        &self.endpoints
    }

    /// The checker's HTTP client.
    pub(crate) fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// The checker's clock.
    pub(crate) fn clock(&self) -> &dyn crate::clock::Clock {
        self.options.clock.as_ref()
    }

    /// The status cache this checker uses, when it uses one.
    pub fn cache(&self) -> Option<&crate::cache::Cache> {
        self.options
            .cache
            .as_ref()
            .map(|using| using.cache.as_ref())
    }

    /// Whether an audit failure stopped this checker (it then sends nothing more).
    pub fn halted(&self) -> bool {
        self.halted.load(Ordering::SeqCst)
    }

    /// The audit trail this checker writes to.
    pub fn audit_trail(&self) -> &AuditTrail {
        &self.audit
    }

    /// Starts no new check: `check_all` returns once the checks in flight are done, with results
    /// for the ids it started only (the first ones, in order).
    pub fn stop_taking(&self) {
        self.stop.stop_taking();
    }

    /// Cuts the checks in flight short: each ends at once as `interrupted`, and is audited.
    pub fn interrupt(&self) {
        self.stop.interrupt();
    }

    /// Checks one payment. The result is returned only after its audit line is written.
    pub async fn check(&self, id: &str) -> Result<CheckResult, UnauditedCheck> {
        self.check_as(id, &Ask::default()).await
    }

    /// Checks one payment as `ask` says (the service's requests: who asked, which gateway, how
    /// old an answer may be reused). The result is returned only after its audit line is written.
    pub async fn check_as(&self, id: &str, ask: &Ask) -> Result<CheckResult, UnauditedCheck> {
        self.run(id, false, ask).await.map(|(result, _)| result)
    }

    async fn run(
        &self,
        id: &str,
        capture: bool,
        ask: &Ask,
    ) -> Result<(CheckResult, Option<Reply>), UnauditedCheck> {
        let written = self.ask_and_write(&self.client, id, capture, ask).await;
        self.when_durable(written).await
    }

    /// A client like the checker's own, with its own connections (for another thread).
    fn another_client(&self) -> reqwest::Client {
        exchange::client(self.proxies.clone(), &self.options.trust)
    }

    /// Asks about `id` through `client` and writes its audit line; the line may not be on
    /// disk yet.
    async fn ask_and_write(
        &self,
        client: &reqwest::Client,
        id: &str,
        capture: bool,
        ask: &Ask,
    ) -> Result<WrittenCheck, UnauditedCheck> {
        // An answer that cannot be audited is never shown, and after the first one nothing more
        // is asked: the gateway is not sent requests whose answers would be thrown away.
        if self.halted.load(Ordering::SeqCst) {
            return Err(UnauditedCheck {
                payment_id: id.to_owned(),
                source: AuditError::Halted,
            });
        }
        let clock = &self.options.clock;
        let started = clock.now();
        let took = || clock.now().saturating_sub(started);
        let routing = ask.routing.unwrap_or(self.options.routing);
        let (result, mut asked, reply) = match route::endpoint_for(&self.endpoints, routing, id) {
            Err(refused) => Answer::refused(refused.gateway, Outcome::InvalidId, refused.detail)
                .into_result(refused.shown_id, took()),
            Ok(endpoint) => match self.cached(endpoint, id, ask) {
                Some((mut result, asked)) => {
                    result.duration_ms = millis(took());
                    (result, asked, None)
                }
                None => {
                    let asked = self.ask(client, endpoint, id, capture).await;
                    asked.into_result(id, took())
                }
            },
        };
        asked.caller = ask.caller.clone();
        log(&result);
        match self.audit.write(&result, &asked).await {
            Ok(written) => Ok((result, reply, written)),
            // The id as the result shows it (never a credential pasted as an id).
            Err(source) => Err(self.unaudited(&result.payment_id, source)),
        }
    }

    /// The result once its line is durable; withheld if it cannot be made so.
    async fn when_durable(
        &self,
        written: Result<WrittenCheck, UnauditedCheck>,
    ) -> Result<(CheckResult, Option<Reply>), UnauditedCheck> {
        let (result, reply, written) = written?;
        let line = written.line().clone();
        match written.durable().await {
            Ok(()) => {
                self.remember(&result.payment_id, &result, &line);
                Ok((result, reply))
            }
            Err(source) => Err(self.unaudited(&result.payment_id, source)),
        }
    }

    /// Stops all further requests and withholds the check of `id`.
    fn unaudited(&self, id: &str, source: AuditError) -> UnauditedCheck {
        if !self.halted.swap(true, Ordering::SeqCst) {
            self.audit.record_failure(id, &source);
        }
        // The CLI reports this as its one error sentence; this event is for RUST_LOG=warn.
        tracing::warn!(payment_id = %display_safe(id), error = %source, "audit line not written; result withheld");
        UnauditedCheck {
            payment_id: id.to_owned(),
            source,
        }
    }
}
