//! `paystat explain`'s arguments.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};

use super::{AuditArgs, ConnectionArgs, GatewayArg, parse_duration};

/// How an explanation is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExplainFormat {
    /// The timeline and the diagnosis, for people.
    Text,
    /// One JSON object: the check, the timeline and the diagnosis as data.
    Json,
}

/// `paystat explain`.
#[derive(Debug, Args)]
#[command(after_help = EXPLAIN_HELP)]
pub struct ExplainArgs {
    /// The payment id.
    #[arg(value_name = "ID")]
    pub id: String,
    /// The gateway to ask (default: ledger, like `check`; `auto` decides from the id's shape).
    #[arg(long, value_enum, default_value = "ledger")]
    pub gateway: GatewayArg,
    /// The gateway's base URL (default: its PAYSTAT_…_URL variable, the config file, then the
    /// provider's own); needs a named --gateway.
    #[arg(long, value_name = "URL")]
    pub base_url: Option<String>,
    /// A folder of rule files to use instead of the built-in rules (also `[explain] rules_dir`).
    #[arg(long, value_name = "DIR")]
    pub rules: Option<PathBuf>,
    /// The output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: ExplainFormat,
    /// The configuration file (default: PAYSTAT_CONFIG, else
    /// $XDG_CONFIG_HOME/paystat/config.toml or ~/.config/paystat/config.toml, if present).
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// The per-attempt timeout, like `5s`.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub timeout: Option<Duration>,
    /// Do not say which configuration file was read.
    #[arg(long, short)]
    pub quiet: bool,
    /// How paystat reaches the gateways.
    #[command(flatten)]
    pub connection: ConnectionArgs,
    /// Audit settings.
    #[command(flatten)]
    pub audit: AuditArgs,
}

const EXPLAIN_HELP: &str =
    "Explain checks the payment now (an audited check, never from the cache), reads what the \
gateway keeps about it (Stripe: the PaymentIntent's charge, disputes and refunds; Plaid: the \
transfer's events and expected settlement day) and every line of our audit trail about it, puts \
them on one timeline (UTC, oldest first) and tries the diagnosis rules in order: the first whose \
every condition holds says what it means, what to do and whom to escalate to.

Exit codes: as `check` for the payment's check (0 found, 1 not found or invalid id, 3 no answer,
4 the check could not be audited), 2 for usage or a rules folder paystat cannot use.";
