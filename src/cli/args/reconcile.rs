//! The arguments of `paystat cache fill` and `paystat reconcile`.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};

use super::{AuditArgs, ConnectionArgs, parse_duration};

/// A gateway with a list of payments paystat reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ListedGateway {
    /// Stripe PaymentIntents (`GET /v1/payment_intents`, 100 a page).
    Stripe,
    /// Plaid Transfer (`POST /transfer/list`, 25 a page).
    Plaid,
}

impl From<ListedGateway> for paystat::GatewayKind {
    fn from(gateway: ListedGateway) -> paystat::GatewayKind {
        match gateway {
            ListedGateway::Stripe => paystat::GatewayKind::Stripe,
            ListedGateway::Plaid => paystat::GatewayKind::Plaid,
        }
    }
}

/// The window and the gateway of a fill.
#[derive(Debug, Args)]
pub struct WindowArgs {
    /// The gateway whose list is read.
    #[arg(long, value_enum)]
    pub gateway: ListedGateway,
    /// The window's first day (`2026-11-01`, UTC midnight) or instant (RFC 3339).
    #[arg(long, value_name = "DATE", value_parser = parse_instant)]
    pub since: time::OffsetDateTime,
    /// The first day (or instant) after the window: `--since 2026-11-01 --until 2026-12-01` is
    /// November.
    #[arg(long, value_name = "DATE", value_parser = parse_instant)]
    pub until: time::OffsetDateTime,
    /// Read the window again even when an earlier fill read it to its end.
    #[arg(long)]
    pub refill: bool,
    /// The gateway's base URL (default: its PAYSTAT_…_URL variable, the config file, then the
    /// provider's own).
    #[arg(long, value_name = "URL")]
    pub base_url: Option<String>,
    /// The per-attempt timeout, like `5s`.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub timeout: Option<Duration>,
    /// Requests per second to the gateway (0: unpaced; default: the gateway's pacing).
    #[arg(long, value_name = "N")]
    pub rate: Option<f64>,
    /// The configuration file (default: PAYSTAT_CONFIG, else
    /// $XDG_CONFIG_HOME/paystat/config.toml or ~/.config/paystat/config.toml, if present).
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// No progress bar, and do not say which configuration file was read.
    #[arg(long, short)]
    pub quiet: bool,
    /// How paystat reaches the gateways.
    #[command(flatten)]
    pub connection: ConnectionArgs,
    /// Audit settings.
    #[command(flatten)]
    pub audit: AuditArgs,
}

/// `paystat cache fill`.
#[derive(Debug, Args)]
#[command(after_help = FILL_HELP)]
pub struct CacheFillArgs {
    /// The window and the gateway.
    #[command(flatten)]
    pub window: WindowArgs,
    /// Print the fill's report as JSON.
    #[arg(long)]
    pub json: bool,
}

const FILL_HELP: &str = "Examples:
  paystat cache fill --gateway stripe --since 2026-11-01 --until 2026-12-01
  paystat cache fill --gateway plaid --since 2026-11-01 --until 2026-12-01 --json

The gateway's change feed is synced first and where it stands is kept with every answer stored,
so a sync after the fill drops whatever changed while it ran. Each page is one audit line
(event cache.fill_page); nobody is shown a status. An interrupted fill resumes from its last
page; a window read to its end after it closed is not read again (--refill reads it again).
Exit codes: 0 the list was read to its end, 1 it stopped before (run it again to resume),
2 usage, 4 a page could not be audited.";

/// How a reconciliation is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReconcileFormat {
    /// The differences as a table, then the totals.
    Table,
    /// One JSON object: every row and the totals.
    Json,
    /// One JSON object a line, each row as it is decided, the totals last.
    Jsonl,
    /// One row a line with a header (safe to open in a spreadsheet); the totals on stderr.
    Csv,
}

/// `paystat reconcile`.
#[derive(Debug, Args)]
#[command(after_help = RECONCILE_HELP)]
pub struct ReconcileArgs {
    /// The window and the gateway.
    #[command(flatten)]
    pub window: WindowArgs,
    /// The company's export of the period: CSV with a `payment_id` (or `id`) column and,
    /// optionally, `amount` (major units) or `amount_minor` with `currency`.
    #[arg(long, value_name = "FILE")]
    pub ids_file: PathBuf,
    /// The output format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: ReconcileFormat,
    /// In the table, every payment, not only those that differ.
    #[arg(long)]
    pub all: bool,
}

const RECONCILE_HELP: &str = "Examples:
  paystat reconcile --gateway stripe --since 2026-11-01 --until 2026-12-01 --ids-file export.csv
  paystat reconcile --gateway plaid --since 2026-11-01 --until 2026-12-01 --ids-file export.csv --format csv

Fills the window from the gateway's list (or uses a fill of it), then checks every payment of
the export and every payment the gateway has in the window that the export lacks: each check
is audited, and answered from the filled cache wherever its rules allow. Each row's difference:
none, missing_at_gateway, missing_in_export, amount_differs (the export's amount or currency is
not the amount that moved), unresolved (the gateway gave no answer). Totals per status and per
difference follow.
Exit codes: 0 no difference, 1 some difference, 2 usage (an export it cannot read), 3 some
payment unresolved, 4 some check could not be audited (its answer withheld).";

/// A day (UTC midnight) or an RFC 3339 instant.
fn parse_instant(text: &str) -> Result<time::OffsetDateTime, String> {
    let day = time::macros::format_description!("[year]-[month]-[day]");
    if let Ok(date) = time::Date::parse(text, day) {
        return Ok(date.midnight().assume_utc());
    }
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .map(|t| t.to_offset(time::UtcOffset::UTC))
        .map_err(|_| format!("`{text}` is neither a day (2026-11-01) nor an RFC 3339 instant"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_day_is_its_utc_midnight_and_an_instant_is_read_in_utc() {
        assert_eq!(
            parse_instant("2026-11-01").unwrap(),
            time::macros::datetime!(2026-11-01 0:00 UTC)
        );
        assert_eq!(
            parse_instant("2026-11-01T02:00:00+02:00").unwrap(),
            time::macros::datetime!(2026-11-01 0:00 UTC)
        );
        assert!(parse_instant("November").unwrap_err().contains("November"));
    }
}
