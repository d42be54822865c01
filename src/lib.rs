//! # paystat
//!
//! One question, answered the same way whatever system the money went through: *what is the
//! status of this payment?* paystat asks a gateway (the internal ledger, Stripe or Plaid), turns its reply
//! into one normalized [`CheckResult`] — an [`Outcome`] and, when found, a [`PaymentStatus`],
//! the exact [`Money`] and the gateway's own word — and writes an audit line for every check
//! before anyone sees the answer.
//!
//! A checker is built one way, by [`CheckerBuilder`]: the configuration (file, environment,
//! flags) configures each gateway — its adapter builds its own credentials from its section —
//! and the audit settings open the trail.
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
//!
//! The layers, each importing only those below it:
//! - `result`: the normalized vocabulary ([`CheckResult`], [`Outcome`], [`PaymentStatus`],
//!   [`Money`]); a leaf that imports nothing of paystat;
//! - `payment_id`, `clock`, `credential`, [`ownership`]: what an id may be, injected time,
//!   secrets held safely, files only their user can change;
//! - `retry`: the one decision on retrying ([`RetryPolicy::next`]), the budget and pacing;
//! - `gateway`: one adapter per gateway, the only code that knows a wire format;
//! - `audit`: the append-only JSON-lines trail, whose lines are the results themselves, synced to
//!   disk with group commit;
//! - `config`: the file, the environment and the flags, turned into configured gateways;
//! - `check`: the [`Checker`] — ask, decide, wait, audit, return; [`remote`]: `check --server`,
//!   asking the service instead;
//! - `feed`, `build`: the gateways' change feeds read into the cache ([`FeedSync`]), and the
//!   one [`CheckerBuilder`];
//! - `serve` (feature `serve`, on by default): the Payment Status Service — the checker behind
//!   an authenticated HTTP API, its tokens, problems, metrics and OpenAPI document;
//! - [`contract`] (feature `contract`, on by default): the scenario files, the embedded mock
//!   gateway, coverage and the requirements report, provider schemas, record and verify.
//!
//! The command line lives in the `paystat` binary, not here.

mod audit;
mod bounds;
mod build;
mod cache;
mod check;
pub mod clock;
mod config;
mod credential;
pub mod explain;
mod feed;
pub mod fill;
mod gateway;
pub mod ownership;
pub mod payment_id;
pub mod reconcile;
pub mod remote;
mod result;
pub mod retry;

#[cfg(feature = "contract")]
pub mod contract;
#[cfg(feature = "serve")]
pub mod serve;

// Building a checker.
pub use build::{BuildError, Built, CheckerBuilder};
pub use config::{ConfigError, ConfigFile, ExplainSection, Overrides, ServeSection};

// Checking.
pub use check::{Ask, Checker, Explained, Routing, UnauditedCheck};

// The result vocabulary.
pub use result::{
    AttemptRecord, CheckResult, Environment, Finality, GatewayError, GatewayKind, Money, Outcome,
    PaymentStatus, RetryStop, Source, WaitReason, currency, flat,
};

// The audit trail and its readers.
pub use audit::{AuditError, AuditRecord, AuditTrail, Envelope};
/// The audit trail's parts and readers: where it lives, how lines are sealed and synced, and
/// [`verify`](audit_trail::verify), [`query`](audit_trail::query) (history, export, stats) and
/// [`prune`](audit_trail::prune).
pub mod audit_trail {
    pub use crate::audit::{
        Asked, Caller, Checkpoint, Durability, EVENT_AUDIT_READ, EVENT_CACHE_REJECTED,
        EVENT_KEY_ROTATED, EVENT_KEYED, EVENT_PRUNE, EVENT_REPAIR, EVENT_STATUS_CHECK,
        EVENT_TOKEN_CREATED, EVENT_TOKEN_REVOKED, EVENTS, GENESIS, LineRef, Location, Origin,
        RequestLine, Sealer, Target, TrailOptions, Written, chain, day_of, default_actor, durable,
        index, prune, query, sync_totals, verify,
    };
}

// The status cache and the change feeds.
pub use cache::{Cache, CacheError};
pub use feed::FeedSync;
/// The status cache's keys, entries, feed cursors and counts.
pub mod status_cache {
    pub use crate::cache::{
        Cursor, Entry, Feed, Followed, GatewayStats, Key, Provenance, reusable,
    };
}

/// The gateways: the adapter trait and its replies, each gateway's profile, routing by an
/// id's shape, and the status mapping the adapters implement.
pub mod gateways {
    pub use crate::config::Configured;
    pub use crate::gateway::{
        Gateway, Ledger, MappingRow, Payment, Plaid, Profile, Reading, Reply, Stripe, Verdict,
        answer_rules, profile, route, status_mapping, status_mapping_table,
    };
}

/// Redacts anything shaped like a credential in `text` (the last line of defence for a message
/// that quotes what a person typed).
pub use credential::redact;
