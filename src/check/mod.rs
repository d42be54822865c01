//! The checker: for each id, ask the gateway, decide, wait, audit, return.
//!
//! It owns one pooled HTTP client ([`exchange`]), picks the gateway for an id ([`route`]),
//! hands every reply to the gateway's adapter, carries out what [`RetryPolicy::next`]
//! decides, and writes the audit line before it returns anything: a result that could not be
//! audited is never returned. It knows no wire format and no gateway by name.
//!
//! [`RetryPolicy::next`]: crate::retry::RetryPolicy::next

mod answer;
mod bulk;
mod exchange;
mod feed;
mod options;
mod route;
mod stop;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::audit::{Asked, AuditError, AuditTrail, RequestLine, Target, Written};
use crate::config::Configured;
use crate::gateway::Reply;
use crate::payment_id::display_safe;
use crate::result::{CheckResult, Environment, GatewayKind, Outcome, RetryStop, Source};
use crate::retry::{Decision, Facts, retry_after};

pub use answer::UnauditedCheck;
use answer::{Answer, log, log_stop, millis};
use route::Endpoint;

pub use exchange::MAX_BODY_BYTES;
pub use feed::FeedSync;
pub use options::{CacheUse, CheckerOptions, DEFAULT_CONCURRENCY};
pub use route::Routing;

/// `time` as unix milliseconds (the status cache's clock).
fn unix_ms(time: time::OffsetDateTime) -> i64 {
    i64::try_from(time.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

/// The detail of a check cut short by [`Checker::interrupt`].
const INTERRUPTED: &str = "the run was interrupted before the gateway answered";

/// A check whose line is written, not yet known durable.
type Checked = (CheckResult, Option<Reply>, Written);

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
    pub fn new(
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

    /// The gateways this checker paces, and their rates (requests per second).
    pub fn pacing(&self) -> Vec<(GatewayKind, f64)> {
        let paced = self
            .endpoints
            .iter()
            .filter_map(|e| Some((e.gateway.kind(), e.rate?)));
        paced.collect()
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
        self.run(id, false).await.map(|(result, _)| result)
    }

    /// Checks one payment like [`Checker::check`], and also returns the gateway's last complete
    /// reply as received (for recording fixtures and verifying providers; never logged).
    pub async fn check_capturing(
        &self,
        id: &str,
    ) -> Result<(CheckResult, Option<Reply>), UnauditedCheck> {
        self.run(id, true).await
    }

    async fn run(
        &self,
        id: &str,
        capture: bool,
    ) -> Result<(CheckResult, Option<Reply>), UnauditedCheck> {
        let written = self.ask_and_write(&self.client, id, capture).await;
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
    ) -> Result<Checked, UnauditedCheck> {
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
        let (result, asked, reply) =
            match route::endpoint_for(&self.endpoints, self.options.routing, id) {
                Err((gateway, detail)) => {
                    Answer::refused(gateway, Outcome::InvalidId, detail).into_result(id, took())
                }
                Ok(endpoint) => match self.cached(endpoint, id) {
                    Some((mut result, asked)) => {
                        result.duration_ms = millis(took());
                        (result, asked, None)
                    }
                    None => {
                        let asked = self.ask(client, endpoint, id, capture).await;
                        let (result, asked, reply) = asked.into_result(id, took());
                        self.remember(endpoint, id, &result, &asked);
                        (result, asked, reply)
                    }
                },
            };
        log(&result);
        match self.audit.write(&result, &asked).await {
            Ok(written) => Ok((result, reply, written)),
            Err(source) => Err(self.unaudited(id, source)),
        }
    }

    /// The result once its line is durable; withheld if it cannot be made so.
    async fn when_durable(
        &self,
        written: Result<Checked, UnauditedCheck>,
    ) -> Result<(CheckResult, Option<Reply>), UnauditedCheck> {
        let (result, reply, written) = written?;
        match written.durable().await {
            Ok(()) => Ok((result, reply)),
            Err(source) => Err(self.unaudited(&result.payment_id, source)),
        }
    }

    /// The cached answer for `id` at `endpoint`, when the cache is used and holds one that may
    /// be shown today: final, or younger than `--max-age`. It is audited like an asked answer,
    /// with `source: cache`, its age, and no request.
    fn cached(&self, endpoint: &Endpoint, id: &str) -> Option<(CheckResult, Asked)> {
        let using = self.options.cache.as_ref().filter(|c| !c.refresh)?;
        if self.cache_failed.load(Ordering::Relaxed) {
            return None;
        }
        let entry = match using.cache.get(&endpoint.cache_key(id)) {
            Ok(entry) => entry?,
            Err(e) => {
                self.cache_failure(&e);
                return None;
            }
        };
        let wall = time::OffsetDateTime::from(self.options.clock.wall_time());
        let age = entry.age(unix_ms(wall));
        if !crate::cache::reusable(&entry.result, wall.date(), age, using.max_age) {
            return None;
        }
        let mut result = entry.result;
        result.source = Source::Cache;
        result.cache_age_s = Some(age.as_secs());
        result.attempts = 0;
        result.attempt_log.clear();
        result.retry_stop = None;
        let asked = Asked {
            request: None,
            target: Some(Target::of(endpoint.gateway.base_url())),
            environment: Some(entry.environment),
        };
        Some((result, asked))
    }

    /// Keeps a found payment's answer in the cache, when it is used.
    fn remember(&self, endpoint: &Endpoint, id: &str, result: &CheckResult, asked: &Asked) {
        let Some(using) = &self.options.cache else {
            return;
        };
        if result.outcome != Outcome::Found || self.cache_failed.load(Ordering::Relaxed) {
            return;
        }
        let now = unix_ms(time::OffsetDateTime::from(self.options.clock.wall_time()));
        let environment = asked.environment.unwrap_or(Environment::Live);
        // Written in batches by the cache's own thread: a bulk run does not wait on commits.
        if let Err(e) = using
            .cache
            .put_later(&endpoint.cache_key(id), result, environment, now)
        {
            self.cache_failure(&e);
        }
    }

    /// Stops using the cache for the rest of the run, and says so once.
    fn cache_failure(&self, error: &crate::cache::CacheError) {
        if !self.cache_failed.swap(true, Ordering::SeqCst) {
            tracing::error!("{error}; the rest of this run asks every gateway");
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

    /// Sleeps `wait` on the checker's clock; false when [`Checker::interrupt`] cut it short.
    async fn wait(&self, wait: Duration) -> bool {
        let sleep = self.options.clock.sleep(wait);
        self.stop.unless_interrupted(sleep).await.is_some()
    }

    /// Asks the gateway about a valid id, retrying as the policy decides.
    async fn ask(
        &self,
        client: &reqwest::Client,
        endpoint: &Endpoint,
        id: &str,
        capture: bool,
    ) -> Answer {
        let (gateway, policy, clock) = (&endpoint.gateway, endpoint.policy, &self.options.clock);
        let kind = gateway.kind();
        let mut answer = Answer::asking(gateway.as_ref());
        // Waiting for the first request slot is queueing in a bulk run, not time spent at the
        // gateway: the check's deadline starts when its first request may go. (Slots for
        // retries are part of the retry's wait, and do count.)
        if let Some(pacer) = &endpoint.pacer {
            let wait = pacer.reserve(clock.now());
            if !wait.is_zero() {
                tracing::debug!(gateway = %kind, payment_id = %display_safe(id), wait_ms = millis(wait), "pacing");
                if !self.wait(wait).await {
                    return answer.refuse(Outcome::Interrupted, INTERRUPTED.into());
                }
            }
        }
        let deadline = clock.now() + policy.deadline;
        loop {
            let request = match gateway.request(client, id) {
                Ok(request) => request,
                Err(e) => {
                    let detail = format!(
                        "the payment id cannot be put in a request: {}",
                        e.without_url()
                    );
                    return answer.refuse(Outcome::InvalidId, detail);
                }
            };
            let line = RequestLine {
                method: request.method().as_str().to_owned(),
                path: request.url().path().to_owned(),
            };
            let attempt = answer.attempts() + 1;
            tracing::debug!(gateway = %kind, payment_id = %display_safe(id), attempt, method = %line.method, path = %line.path, "sending status request");
            answer.sent(line);
            let attempt_started = clock.now();
            let timeout = policy
                .attempt_timeout
                .min(deadline.saturating_sub(attempt_started));
            let proxy = endpoint.proxy.as_ref().map(|p| &p.0);
            let exchange = self
                .stop
                .unless_interrupted(exchange::send(client, request, timeout, proxy))
                .await
                .unwrap_or_else(|| exchange::Exchange::Failed {
                    outcome: Outcome::Interrupted,
                    detail: INTERRUPTED.into(),
                    http_status: None,
                });
            let took = clock.now().saturating_sub(attempt_started);
            let headers = answer.read(gateway.as_ref(), id, exchange, took, capture);
            let outcome = answer.outcome();
            if matches!(outcome, Outcome::Found | Outcome::NotFound) {
                endpoint.budget.refill();
                return answer;
            }
            let now = clock.now();
            let facts = Facts {
                attempt,
                outcome,
                http_status: answer.http_status(),
                advice: answer.retry_advice(),
                retry_after: headers.and_then(|h| retry_after(&h, clock.wall_time())),
                jitter: &self.options.jitter,
                time_left: deadline.saturating_sub(now),
                next_slot: endpoint
                    .pacer
                    .as_ref()
                    .map_or(Duration::ZERO, |p| p.free_in(now)),
                budget_tokens: endpoint.budget.remaining(),
            };
            let decision = match policy.next(&facts) {
                Decision::Wait(..) if !endpoint.budget.try_spend(outcome) => {
                    Decision::Stop(RetryStop::RetryBudget)
                }
                decision => decision,
            };
            let (wait, reason) = match decision {
                Decision::Wait(wait, reason) => (wait, reason),
                Decision::Stop(stop) => {
                    log_stop(kind, id, attempt, stop);
                    return answer.stop(stop);
                }
            };
            // Take the request slot the decision counted on (a concurrent check may have taken
            // it meanwhile; then the wait grows to the next one).
            let wait = match &endpoint.pacer {
                Some(pacer) => wait + pacer.reserve(now + wait),
                None => wait,
            };
            answer.waits(millis(wait), reason);
            tracing::info!(gateway = %kind, payment_id = %display_safe(id), attempt, outcome = %outcome, http_status = answer.http_status(), reason = ?reason, wait_ms = millis(wait), "retrying");
            if !self.wait(wait).await {
                return answer.refuse(Outcome::Interrupted, INTERRUPTED.into());
            }
        }
    }
}
