//! The Payment Status Service (`paystat serve`): the checker behind an authenticated HTTP API.
//! One process holds the gateways' keys, one pacer per gateway, one status cache and one trail
//! writer for every client; each request's audit line names the token's actor, the token's id,
//! the client's address and the request id.
//!
//! Its rooms: [`tokens`] (who may ask), [`problem`] (errors as RFC 9457 problem details),
//! `access` (authentication, roles, limits and request ids), `api` (checks), `trail` (history
//! and export for Compliance), `probes` (liveness, readiness, metrics, the OpenAPI document),
//! [`metrics`], [`openapi`] and `listen` (connections: TLS, limits, slow clients, shutdown).

mod access;
mod api;
pub mod console;
mod listen;
pub mod metrics;
pub mod openapi;
mod probes;
pub mod problem;
mod reconcile;
pub mod tokens;
mod trail;

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::{get, post};

use crate::audit::{Location, Sealer};
use crate::check::Checker;

pub use listen::{Listening, Tls, serve};
pub use tokens::TokenError;
pub use tokens::{Role, Token, Tokens};

/// How the service runs, beyond the checker it serves.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// The most ids one batch may hold (more: 413, nothing checked).
    pub max_batch: usize,
    /// The largest request body, in bytes.
    pub body_limit: usize,
    /// How long a client may take to send a request's headers.
    pub header_timeout: Duration,
    /// The most connections open at once (more wait to be accepted).
    pub max_connections: usize,
    /// The most checks under way at once, over all clients.
    pub max_in_flight: usize,
    /// Requests a token may make per second (a burst of as many).
    pub token_rate: u32,
    /// Requests of one token under way at once.
    pub token_concurrency: usize,
    /// How long checks in flight may take to finish once a stop is asked.
    pub shutdown_grace: Duration,
    /// How often the gateways' change feeds are synced into the cache (zero: never).
    pub sync_every: Duration,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<IpAddr>,
    /// The diagnosis rules and calendar of `GET /v1/payments/{id}/explanation`.
    pub explain: crate::explain::ExplainOptions,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            max_batch: 10_000,
            body_limit: 4 * 1024 * 1024,
            header_timeout: Duration::from_secs(10),
            max_connections: 1024,
            max_in_flight: 256,
            token_rate: 200,
            token_concurrency: 32,
            shutdown_grace: Duration::from_secs(30),
            sync_every: Duration::from_secs(300),
            trusted_proxies: Vec::new(),
            explain: crate::explain::ExplainOptions::default(),
        }
    }
}

/// The default address: loopback only.
pub const DEFAULT_LISTEN: SocketAddr =
    SocketAddr::new(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 8080);

/// Where the trail is read back from, and how its chain is judged (history and export).
#[derive(Debug, Clone)]
pub struct TrailReading {
    /// Where the trail is.
    pub location: Location,
    /// How its lines are sealed.
    pub sealer: Sealer,
    /// The key before the last rotation, if any.
    pub previous: Option<Sealer>,
}

/// Everything a request handler shares.
#[derive(Debug)]
pub struct Service {
    checker: Arc<Checker>,
    tokens: Tokens,
    options: ServeOptions,
    trail: TrailReading,
    metrics: metrics::Metrics,
    limits: Arc<access::Limits>,
    /// Room for the checks under way, over all clients.
    in_flight: tokio::sync::Semaphore,
    /// The state directory (readiness checks it is writable).
    state_dir: PathBuf,
}

impl Service {
    /// A service over `checker`, accepting the tokens of `state_dir`.
    pub fn new(
        checker: Arc<Checker>,
        state_dir: PathBuf,
        trail: TrailReading,
        options: ServeOptions,
    ) -> Arc<Service> {
        Arc::new(Service {
            limits: Arc::new(access::Limits::new(&options)),
            in_flight: tokio::sync::Semaphore::new(options.max_in_flight.max(1)),
            tokens: Tokens::at(&state_dir),
            checker,
            options,
            trail,
            metrics: metrics::Metrics::default(),
            state_dir,
        })
    }

    /// The checker it serves.
    pub fn checker(&self) -> &Arc<Checker> {
        &self.checker
    }

    /// Its routes: the API under `/v1` (every call authenticated), the probes, the metrics and
    /// the OpenAPI document (open).
    pub fn router(self: &Arc<Self>) -> Router {
        let api = Router::new()
            .route("/v1/payments/{id}", get(api::payment))
            .route("/v1/checks", post(api::checks))
            .route("/v1/payments/{id}/history", get(trail::history))
            .route("/v1/payments/{id}/explanation", get(api::explanation))
            .route("/v1/audit/export", get(trail::export))
            .route("/v1/cache/sync", post(api::cache_sync))
            .route("/v1/reconciliations", post(reconcile::reconciliations))
            .route("/v1/whoami", get(console::whoami))
            .route_layer(axum::middleware::from_fn_with_state(
                Arc::clone(self),
                access::authenticate,
            ));
        Router::new()
            .merge(api)
            .route("/", get(console::index))
            .route("/console.css", get(console::style))
            .route("/console.js", get(console::script))
            .route("/livez", get(probes::livez))
            .route("/readyz", get(probes::readyz))
            .route("/metrics", get(probes::metrics))
            .route("/openapi.json", get(probes::openapi))
            .fallback(probes::no_route)
            .layer(axum::extract::DefaultBodyLimit::max(
                self.options.body_limit,
            ))
            .layer(axum::middleware::from_fn_with_state(
                Arc::clone(self),
                access::finish,
            ))
            .with_state(Arc::clone(self))
    }

    /// Syncs every gateway's change feed into the cache now (what the background sync runs):
    /// one sentence for each feed that could not be read, or for the cache.
    pub async fn sync_feeds(&self) -> Vec<String> {
        let Some(cache) = self.checker.cache() else {
            return Vec::new();
        };
        match self.checker.sync_feeds(cache).await {
            Ok(report) => report
                .into_iter()
                .filter_map(|sync| {
                    let why = sync.error?;
                    Some(format!("the {} change feed: {why}", sync.gateway))
                })
                .collect(),
            Err(e) => vec![format!("the status cache: {e}")],
        }
    }

    /// Brings the trail's index up to date at start and then every minute, until the service
    /// stops, so that an explanation or a history reads only the lines written since.
    pub async fn index_in_background(self: Arc<Self>) {
        loop {
            let location = self.trail.location.clone();
            let refreshed = tokio::task::spawn_blocking(move || {
                crate::audit::index::Index::open(&location).map(drop)
            })
            .await;
            if let Ok(Err(e)) = refreshed {
                tracing::warn!(error = %e, "the trail's index is not kept up to date");
            }
            self.checker.clock().sleep(Duration::from_secs(60)).await;
        }
    }

    /// Syncs the feeds every `sync_every`, until the service stops: a payment's cached answer is
    /// dropped once its gateway's feed says it changed.
    pub async fn sync_in_background(self: Arc<Self>) {
        let every = self.options.sync_every;
        if every.is_zero() || self.checker.cache().is_none() {
            return;
        }
        loop {
            self.checker.clock().sleep(every).await;
            for why in self.sync_feeds().await {
                tracing::warn!(why = %crate::credential::redact(&why), "could not sync");
            }
        }
    }
}
