//! # paystat
//!
//! One question, answered the same way whatever system the money went through: *what is the
//! status of this payment?* paystat asks a gateway (the internal ledger, Stripe or Plaid), turns its reply
//! into one normalized [`CheckResult`] — an [`Outcome`] and, when found, a [`PaymentStatus`],
//! the exact [`Money`] and the gateway's own word — and writes an audit line for every check
//! before anyone sees the answer.
//!
//! A checker is built one way: the configuration (file, environment, flags) configures each
//! gateway — its adapter builds its own credentials from its section — and
//! [`Checker::new`] takes the configured gateways, the audit trail and the run's options.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use paystat::{AuditTrail, Checker, CheckerOptions, ConfigFile, GatewayKind, Overrides, Routing};
//!
//! let config = ConfigFile::load(None)?;
//! let env = |name: &str| std::env::var(name).ok();
//! let ledger = config.gateway(GatewayKind::Ledger, &env, &Overrides::default())?;
//! let audit = AuditTrail::open("payment_audit.jsonl".as_ref(), "ops-oncall".into())?;
//! let options = CheckerOptions::new(Routing::Fixed(GatewayKind::Ledger));
//! let checker = Checker::new(vec![ledger], Arc::new(audit), options);
//! let result = checker.check("txn_001").await?;
//! println!("{} is {:?}", result.payment_id, result.status);
//! # Ok(()) }
//! ```
//!
//! The layers, each importing only those below it:
//! - `result`: the normalized vocabulary ([`CheckResult`], [`Outcome`], [`PaymentStatus`],
//!   [`Money`]); a leaf that imports nothing of paystat;
//! - `payment_id`, `clock`, `credential`: what an id may be, injected time, secrets held safely;
//! - `retry`: the one decision on retrying ([`RetryPolicy::next`]), the budget and pacing;
//! - `gateway`: one adapter per gateway, the only code that knows a wire format;
//! - `audit`: the append-only JSON-lines trail, whose lines are the results themselves, synced to
//!   disk with group commit;
//! - `config`: the file, the environment and the flags, turned into configured gateways;
//! - `check`: the [`Checker`] — ask, decide, wait, audit, return;
//! - [`contract`] (feature `contract`, on by default): the scenario files, the embedded mock
//!   gateway, coverage and the requirements report, provider schemas, record and verify.
//!
//! The command line lives in the `paystat` binary, not here.

mod audit;
mod bounds;
mod cache;
mod check;
mod clock;
mod config;
mod credential;
mod gateway;
mod payment_id;
mod result;
mod retry;

#[cfg(feature = "contract")]
pub mod contract;

pub use audit::{
    Asked, AuditError, AuditRecord, AuditTrail, Checkpoint, Durability, EVENT_REPAIR,
    EVENT_STATUS_CHECK, Envelope, GENESIS, Location, Origin, RequestLine, Sealer, Target,
    TrailOptions, Written, default_actor,
};
/// The audit trail's chain, retention and queries.
pub mod audit_trail {
    pub use crate::audit::{chain, prune, query, verify};
}
pub use bounds::{MAX_CONCURRENCY, OutOfRange, concurrency as validate_concurrency};
pub use cache::{
    Cache, CacheError, Cursor, Entry as CacheEntry, Feed, GatewayStats, Key as CacheKey,
};
pub use check::{
    CacheUse, Checker, CheckerOptions, DEFAULT_CONCURRENCY, FeedSync, MAX_BODY_BYTES, Routing,
    UnauditedCheck,
};
pub use clock::{Clock, ManualClock, SystemClock, human as human_duration, parse_duration};
pub use config::{
    AUDIT_DIR_ENV, AUDIT_KEY_ENV, AuditSettings, ConfigError, ConfigFile, Configured, Overrides,
    ProxyUrl, STATE_DIR_ENV, Trust, cache_path, parse_base_url, state_dir,
};
pub use credential::{
    Credential, CredentialError, IncompleteCredential, REDACTED, looks_like_secret, redact,
    redact_url,
};
pub use gateway::{
    Changes, FeedRules, Gateway, Ledger, MappingRow, Payment, Plaid, Profile, Reading, Reply,
    Stripe, Verdict, answer_rules, profile, route, routing_rules, status_mapping,
    status_mapping_table,
};
pub use payment_id::{InvalidId, MAX_ID_BYTES, display_safe, validate as validate_id};
pub use result::{
    AttemptRecord, CheckResult, Environment, Finality, GatewayError, GatewayKind, MAX_TEXT_CHARS,
    Money, MoneyError, Outcome, PaymentStatus, RetryStop, Source, WaitReason, currency, flat,
};
pub use retry::{Decision, Facts, Jitter, Pacer, RetryBudget, RetryPolicy, RetrySettings};
