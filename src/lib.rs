//! # paystat
//!
//! One question, answered the same way whatever system the money went through: *what is the
//! status of this payment?* paystat asks a gateway (the internal ledger, Stripe or Plaid), turns its reply
//! into one normalized [`CheckResult`] — an [`Outcome`] and, when found, a [`PaymentStatus`],
//! the exact [`Money`] and the gateway's own word — and writes an audit line for every check
//! before anyone sees the answer.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use paystat::{AuditTrail, Checker, Credential, Ledger};
//!
//! let ledger = Ledger::new("http://127.0.0.1:5000/v1".parse()?, Credential::None);
//! let audit = AuditTrail::open("payment_audit.jsonl".as_ref(), "ops-oncall".into())?;
//! let checker = Checker::new(Arc::new(ledger), Arc::new(audit));
//! let result = checker.check("txn_001").await?;
//! println!("{} is {:?}", result.payment_id, result.status);
//! # Ok(()) }
//! ```
//!
//! The layers, each in its own module:
//! - [`gateway`]: one adapter per gateway, the only code that knows a wire format;
//! - [`checker`]: sends, times, bounds and audits checks, knowing no wire format;
//! - [`audit`]: the append-only JSON-lines trail;
//! - [`scenario`] and [`mock`]: the fixture files and the embedded mock gateway that plays them;
//! - [`cli`]: the command line, which knows no HTTP.

pub mod audit;
pub mod checker;
pub mod cli;
pub mod clock;
pub mod config;
pub mod credential;
pub mod fixtures;
pub mod gateway;
pub mod mock;
pub mod money;
pub mod payment_id;
pub mod record;
pub mod retry;
pub mod scenario;
pub mod schema;
pub mod status;
pub mod verify;

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/fixtures.rs"));
}

pub use audit::{AuditError, AuditRecord, AuditTrail};
pub use checker::{CheckResult, Checker, UnauditedCheck};
pub use credential::Credential;
pub use gateway::{Gateway, GatewayKind, Ledger};
pub use money::Money;
pub use scenario::{Scenario, ScenarioError, ScenarioSet};
pub use status::{Outcome, PaymentStatus};
