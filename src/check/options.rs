//! How a checker runs its checks, beyond each gateway's own settings: routing, concurrency,
//! the injected clock and jitter, and the certificate authorities it trusts.

use std::sync::Arc;
use std::time::Duration;

use super::route::Routing;
use crate::cache::Cache;
use crate::clock::{Clock, SystemClock};
use crate::config::Trust;
use crate::retry::Jitter;

/// How many checks run at once when none is configured.
pub const DEFAULT_CONCURRENCY: usize = 8;

/// How a checker runs its checks, beyond the gateways' own settings.
#[derive(Debug, Clone)]
pub struct CheckerOptions {
    /// How an id finds its gateway.
    pub routing: Routing,
    /// How many checks run at once (at least one).
    pub concurrency: usize,
    /// The source of time for waits and durations (tests inject a manual clock).
    pub clock: Arc<dyn Clock>,
    /// The source of backoff jitter (tests inject a seeded one).
    pub jitter: Arc<Jitter>,
    /// Certificate authorities trusted besides the system's and the bundled ones.
    pub trust: Trust,
    /// The status cache, when used (`--no-cache`: none).
    pub cache: Option<CacheUse>,
}

/// How a checker uses the status cache.
#[derive(Debug, Clone)]
pub struct CacheUse {
    /// The cache.
    pub cache: Arc<Cache>,
    /// Answers that can still change are reused too while younger than this (`--max-age`;
    /// zero: only answers that can no longer change).
    pub max_age: Duration,
    /// Ask every gateway and overwrite the entries (`--refresh`).
    pub refresh: bool,
    /// The checker serves one run (a `check` command): a gateway of which the cache held no
    /// answer when the run first looked is not looked up id by id for the rest of the run, so a
    /// cold cache costs one query, not one per id. (The service, which lives through many
    /// runs and reuses the answers it stores, looks every id up.)
    pub one_run: bool,
}

impl CheckerOptions {
    /// The defaults, routing ids by `routing`: 8 at once, the real clock, random jitter.
    pub fn new(routing: Routing) -> CheckerOptions {
        CheckerOptions {
            routing,
            concurrency: DEFAULT_CONCURRENCY,
            clock: Arc::new(SystemClock::default()),
            jitter: Arc::new(Jitter::random()),
            trust: Trust::default(),
            cache: None,
        }
    }
}

/// How one check, or one batch, is asked beyond the checker's options: what a request to the
/// service says. The default asks as the checker was built to.
#[derive(Debug, Clone, Default)]
pub struct Ask {
    /// The gateway, when the request names one (else the checker's routing).
    pub routing: Option<Routing>,
    /// Who asked: the audit line's actor and how the request came (else the checker's actor).
    pub caller: Option<Arc<crate::audit::Caller>>,
    /// Changing answers younger than this are reused (else the checker's `--max-age`).
    pub max_age: Option<Duration>,
    /// Ask the gateway, never the cache (the answer is still kept).
    pub refresh: bool,
}
