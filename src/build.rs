//! The one way to build a checker: from the configuration (the file, the environment, the
//! flags' overrides), the gateways wanted, and the audit settings, to a ready [`Checker`] that
//! trusts the configured certificate authorities and audits where the configuration says.
//! The command line, the tests and the service build through it, so none of them can reach a
//! set-up the others cannot.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use paystat::{CheckerBuilder, GatewayKind};
//!
//! let built = CheckerBuilder::load(None)?
//!     .gateway(GatewayKind::Ledger)
//!     .actor("ops-oncall".to_owned())
//!     .build()?;
//! let result = built.checker.check("txn_001").await?;
//! println!("{} is {:?}", result.payment_id, result.status);
//! # Ok(()) }
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::audit::{AuditError, AuditTrail, Durability, Location, TrailOptions};
use crate::bounds::{self, OutOfRange};
use crate::cache::{Cache, CacheError};
use crate::check::{CacheUse, Checker, CheckerOptions, DEFAULT_CONCURRENCY, Routing};
use crate::clock::Clock;
use crate::config::{ConfigError, ConfigFile, Overrides};
use crate::gateway::answer_rules;
use crate::result::GatewayKind;
use crate::retry::Jitter;

/// Why a checker could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// The configuration cannot be used (a missing credential, a bad URL, an unreadable file).
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A number out of its range (`--concurrency`).
    #[error(transparent)]
    OutOfRange(#[from] OutOfRange),
    /// The audit trail cannot be opened: nothing may be checked.
    #[error(transparent)]
    Audit(#[from] AuditError),
    /// The status cache cannot be used.
    #[error(transparent)]
    Cache(#[from] CacheError),
}

/// A checker, and the gateways left out of a tolerant build with the reason each could not be
/// configured.
#[derive(Debug)]
pub struct Built {
    /// The checker.
    pub checker: Checker,
    /// Gateways asked for but not configured (only in a tolerant build), with why.
    pub unconfigured: BTreeMap<GatewayKind, ConfigError>,
}

/// Where the environment is read from: the process's, or one a caller supplies.
type Env = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// From configuration to a ready [`Checker`]; see the module's example.
pub struct CheckerBuilder {
    file: ConfigFile,
    env: Env,
    overrides: Overrides,
    gateways: BTreeSet<GatewayKind>,
    tolerant: bool,
    routing: Option<Routing>,
    audit_log: Option<PathBuf>,
    audit_dir: Option<PathBuf>,
    actor: Option<String>,
    audit_sync: Option<Durability>,
    concurrency: usize,
    fit: Option<fn(usize) -> usize>,
    clock: Option<Arc<dyn Clock>>,
    jitter: Option<Arc<Jitter>>,
    cache: Option<(Duration, bool)>,
    /// See [`CacheUse::one_run`].
    one_run: bool,
}

impl std::fmt::Debug for CheckerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The environment may hold credentials: never shown.
        f.debug_struct("CheckerBuilder")
            .field("gateways", &self.gateways)
            .field("routing", &self.routing)
            .finish_non_exhaustive()
    }
}

impl CheckerBuilder {
    /// How many checks run at once when not said.
    pub const DEFAULT_CONCURRENCY: usize = DEFAULT_CONCURRENCY;

    /// A builder over the config file `file`, reading the process environment.
    pub fn new(file: ConfigFile) -> CheckerBuilder {
        CheckerBuilder {
            file,
            env: Arc::new(|name: &str| std::env::var(name).ok()),
            overrides: Overrides::default(),
            gateways: BTreeSet::new(),
            tolerant: false,
            routing: None,
            audit_log: None,
            audit_dir: None,
            actor: None,
            audit_sync: None,
            concurrency: DEFAULT_CONCURRENCY,
            fit: None,
            clock: None,
            jitter: None,
            cache: None,
            one_run: false,
        }
    }

    /// A builder over the config file at `path`, else the default one when present.
    pub fn load(path: Option<&Path>) -> Result<CheckerBuilder, BuildError> {
        Ok(CheckerBuilder::new(ConfigFile::load(path)?))
    }

    /// Reads the environment through `env` instead of the process's (tests, the demo).
    pub fn env(mut self, env: impl Fn(&str) -> Option<String> + Send + Sync + 'static) -> Self {
        self.env = Arc::new(env);
        self
    }

    /// What the flags say, over the file and the environment.
    pub fn overrides(mut self, overrides: Overrides) -> Self {
        self.overrides = overrides;
        self
    }

    /// Configures `kind` too; with no other routing said, ids go to it when it is the only one.
    pub fn gateway(mut self, kind: GatewayKind) -> Self {
        self.gateways.insert(kind);
        self
    }

    /// Configures each of `kinds`. With `tolerant`, one that cannot be configured is left out
    /// and its reason returned in [`Built::unconfigured`] (for ids not known in advance),
    /// unless none can be.
    pub fn gateways(
        mut self,
        kinds: impl IntoIterator<Item = GatewayKind>,
        tolerant: bool,
    ) -> Self {
        self.gateways.extend(kinds);
        self.tolerant = tolerant;
        self
    }

    /// How ids find their gateway (default: the one gateway configured, else by shape).
    pub fn routing(mut self, routing: Routing) -> Self {
        self.routing = Some(routing);
        self
    }

    /// Audits into the single file `path` (`--audit-log`).
    pub fn audit_log(mut self, path: Option<PathBuf>) -> Self {
        self.audit_log = path;
        self
    }

    /// Audits into day files under `dir` (`--audit-dir`).
    pub fn audit_dir(mut self, dir: Option<PathBuf>) -> Self {
        self.audit_dir = dir;
        self
    }

    /// Who is checking (`--actor`); the operating-system user when not said.
    pub fn actor(mut self, actor: impl Into<Option<String>>) -> Self {
        self.actor = actor.into();
        self
    }

    /// How durable a line is before its answer is shown (`--audit-sync`; else the file's).
    pub fn audit_sync(mut self, durability: Option<Durability>) -> Self {
        self.audit_sync = durability;
        self
    }

    /// How many checks run at once (`--concurrency`), checked when built.
    pub fn concurrency(mut self, concurrency: usize) -> Self {
        self.concurrency = concurrency;
        self
    }

    /// Adjusts the validated concurrency to what the process can hold (the command line lowers
    /// it to fit the open-files limit, and says so).
    pub fn fit_concurrency(mut self, fit: fn(usize) -> usize) -> Self {
        self.fit = Some(fit);
        self
    }

    /// The clock waits and durations are measured with (tests inject a manual one).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// The source of backoff jitter (tests inject a seeded one).
    pub fn jitter(mut self, jitter: Arc<Jitter>) -> Self {
        self.jitter = Some(jitter);
        self
    }

    /// Uses the state directory's status cache: answers that can no longer change are reused,
    /// and those younger than `max_age`; with `refresh`, every gateway is asked and the
    /// entries overwritten.
    pub fn cache(mut self, max_age: Duration, refresh: bool) -> Self {
        self.cache = Some((max_age, refresh));
        self
    }

    /// The checker serves one run: a gateway of which the cache held no answer when the run
    /// first looked is not looked up id by id (see [`CacheUse::one_run`]).
    pub fn one_run(mut self) -> Self {
        self.one_run = true;
        self
    }

    /// The config file this builder reads.
    pub fn config(&self) -> &ConfigFile {
        &self.file
    }

    /// The state directory (`PAYSTAT_STATE_DIR`, else XDG's state home).
    pub fn state_dir(&self) -> PathBuf {
        crate::config::state_dir(&*self.env)
    }

    /// Where the trail is, from the audit flags given, the environment and the config file.
    pub fn trail_location(&self) -> Location {
        self.file.audit_location(
            self.audit_log.as_deref(),
            self.audit_dir.as_deref(),
            &*self.env,
        )
    }

    /// The status cache of the state directory, judged by this paystat's rules, its rows
    /// sealed as the trail's lines are (with the audit key when there is one).
    pub fn open_cache(&self) -> Result<Cache, BuildError> {
        let sealer = self.file.audit_sealer(&*self.env)?;
        let cache = Cache::open(&crate::config::cache_path(&*self.env))?;
        Ok(cache
            .with_rules(answer_rules())
            .with_seal(move |row| sealer.hash(row)))
    }

    /// Seals the audit trail the configuration names, written so far without the audit key,
    /// with the key from a recorded line on ([`AuditTrail::seal_with_key`]).
    pub fn seal_trail(&self) -> Result<AuditTrail, BuildError> {
        let options = TrailOptions {
            actor: self.actor.clone(),
            durability: Durability::Disk,
            sealer: self.file.audit_sealer(&*self.env)?,
        };
        Ok(AuditTrail::seal_with_key(self.trail_location(), options)?)
    }

    /// Rotates the audit key of the trail the configuration names from `old` to `new`
    /// ([`AuditTrail::rotate_key`]).
    pub fn rotate_trail_key(
        &self,
        old: crate::audit::Sealer,
        new: &crate::audit::Sealer,
    ) -> Result<AuditTrail, BuildError> {
        let options = TrailOptions {
            actor: self.actor.clone(),
            durability: Durability::Disk,
            sealer: old,
        };
        Ok(AuditTrail::rotate_key(self.trail_location(), options, new)?)
    }

    /// Opens the audit trail the configuration names.
    pub fn open_trail(&self) -> Result<AuditTrail, BuildError> {
        let durability = self
            .audit_sync
            .unwrap_or_else(|| self.file.audit.sync.unwrap_or_default());
        let sealer = self.file.audit_sealer(&*self.env)?;
        let options = TrailOptions {
            actor: self.actor.clone(),
            durability,
            sealer,
        };
        Ok(AuditTrail::open_at(self.trail_location(), options)?)
    }

    /// The checker: each gateway configured, the trust added, the trail opened, the cache
    /// opened when asked for.
    pub fn build(self) -> Result<Built, BuildError> {
        let concurrency = bounds::concurrency("--concurrency", self.concurrency)?;
        let concurrency = self.fit.map_or(concurrency, |fit| fit(concurrency));
        let mut configured = Vec::new();
        let mut unconfigured = BTreeMap::new();
        for kind in &self.gateways {
            match self.file.gateway(*kind, &*self.env, &self.overrides) {
                Ok(gateway) => configured.push(gateway),
                Err(e) if self.tolerant => {
                    unconfigured.insert(*kind, e);
                }
                Err(e) => return Err(e.into()),
            }
        }
        if configured.is_empty()
            && let Some((_, e)) = unconfigured.pop_first()
        {
            // None could be configured: the first one's reason is the run's.
            return Err(e.into());
        }
        let trust = self.file.trust(&self.overrides)?;
        // The state directory holds the trail and the cache by default: another user who can
        // write it could swap either.
        crate::ownership::check("the state directory", &self.state_dir())
            .map_err(ConfigError::from)?;
        let audit = self.open_trail()?;
        let cache = match self.cache {
            Some((max_age, refresh)) => Some(CacheUse {
                cache: Arc::new(self.open_cache()?),
                max_age,
                refresh,
                one_run: self.one_run,
            }),
            None => None,
        };
        let routing = self.routing.unwrap_or(match self.gateways.len() {
            1 => Routing::Fixed(*self.gateways.first().expect("one gateway")),
            _ => Routing::Auto,
        });
        let mut options = CheckerOptions::new(routing);
        options.concurrency = concurrency;
        options.trust = trust;
        options.cache = cache;
        if let Some(clock) = self.clock {
            options.clock = clock;
        }
        if let Some(jitter) = self.jitter {
            options.jitter = jitter;
        }
        let checker = Checker::new(configured, Arc::new(audit), options);
        Ok(Built {
            checker,
            unconfigured,
        })
    }
}
