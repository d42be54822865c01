//! The command line as clap sees it. These types mirror the flags; [`super`] turns them into
//! library types before any I/O.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

mod explain;
mod reconcile;
#[cfg(feature = "serve")]
mod serve;
pub use explain::{ExplainArgs, ExplainFormat};
pub use reconcile::{CacheFillArgs, ReconcileArgs, ReconcileFormat, WindowArgs};
#[cfg(feature = "serve")]
pub use serve::{LogFormat, ServeCmdArgs, TokenCommand, TokenConfigArgs};

/// What is the status of this payment, whatever system it went through?
#[derive(Debug, Parser)]
#[command(name = "paystat", version = env!("PAYSTAT_VERSION"), about, long_about = None, after_help = super::exit::EXIT_CODES_HELP)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check the status of one or more payments.
    Check(Box<CheckArgs>),
    /// Explain one payment: its timeline across our trail and the gateway, and a diagnosis.
    Explain(Box<ExplainArgs>),
    /// Reconcile the company's export of a period against the gateway's list of it.
    Reconcile(Box<ReconcileArgs>),
    /// Start the embedded mock gateway and check the reference payments against it.
    #[cfg(feature = "contract")]
    Demo(DemoArgs),
    /// Run the mock gateway built from the fixtures.
    #[cfg(feature = "contract")]
    Mock {
        /// What to do with the mock.
        #[command(subcommand)]
        command: MockCommand,
    },
    /// Ask a gateway about one payment and write the answer, scrubbed, as a new scenario file.
    #[cfg(feature = "contract")]
    Record(RecordArgs),
    /// Replay the scenarios a real provider can answer against it, and report broken promises.
    #[cfg(feature = "contract")]
    Verify(VerifyArgs),
    /// Print a shell completion script (`paystat completions bash > /etc/bash_completion.d/paystat`).
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (`paystat man > paystat.1; man ./paystat.1`).
    Man,
    /// Show, clear, or sync the status cache with the gateways' change feeds.
    Cache {
        /// What to do with the cache.
        #[command(subcommand)]
        command: CacheCommand,
    },
    /// Run the Payment Status Service: the checker behind an authenticated HTTP API.
    #[cfg(feature = "serve")]
    Serve(ServeCmdArgs),
    /// Create, list and revoke the service's bearer tokens.
    #[cfg(feature = "serve")]
    Token {
        /// What to do with the tokens.
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Verify, anchor, export and question the audit trail, and prune it past retention.
    Audit {
        /// What to do with the trail.
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Check the scenario files, or write the requirements document from them.
    #[cfg(feature = "contract")]
    Fixtures {
        /// What to do with the fixtures.
        #[command(subcommand)]
        command: FixturesCommand,
    },
}

/// The fixtures subcommands.
#[derive(Debug, Subcommand)]
pub enum FixturesCommand {
    /// Validate every scenario file: fields, words, situations, placeholders, and every body
    /// against its provider's JSON Schema.
    Check(FixturesArgs),
    /// Write the requirements document (coverage matrix, status mapping, every scenario).
    Report(ReportArgs),
}

/// Where the fixtures are.
#[derive(Debug, Args)]
pub struct FixturesArgs {
    /// The fixtures folder.
    #[arg(long, value_name = "DIR", default_value = "fixtures")]
    pub fixtures: PathBuf,
}

/// `paystat fixtures report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The fixtures folder.
    #[command(flatten)]
    pub fixtures: FixturesArgs,
    /// Where to write the document (default: REQUIREMENTS.md in the fixtures folder; `-` for stdout).
    #[arg(long, value_name = "PATH")]
    pub out: Option<PathBuf>,
}

/// The mock subcommands.
#[derive(Debug, Subcommand)]
pub enum MockCommand {
    /// Serve every fixture scenario over HTTP until interrupted.
    Serve(ServeArgs),
}

/// The gateways `--gateway` accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GatewayArg {
    /// The internal ledger.
    Ledger,
    /// Stripe PaymentIntents.
    Stripe,
    /// Plaid Transfer.
    Plaid,
    /// Decide from each id: `txn_…` ledger, `pi_…` Stripe, a UUID Plaid.
    Auto,
}

/// The output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// A table for people (amounts like `150.00 USD`), printed in pages that fit the terminal.
    Table,
    /// A JSON array of the normalized results.
    Json,
    /// One JSON object per line, each printed as its check completes.
    Jsonl,
    /// CSV (RFC 4180) with a header, one flat column per field; the attempt log stays out.
    Csv,
}

/// How paystat reaches the gateways: proxies, trust, and the account asked on behalf of.
#[derive(Debug, Args)]
pub struct ConnectionArgs {
    /// Ignore HTTPS_PROXY, ALL_PROXY and the like, and connect to every gateway directly.
    #[arg(long)]
    pub no_proxy: bool,
    /// A PEM file of certificate authorities to trust besides the system's (a company CA).
    #[arg(long, value_name = "FILE")]
    pub ca_cert: Option<PathBuf>,
    /// The connected Stripe account to ask on behalf of (`acct_…`, sent as Stripe-Account).
    #[arg(long, value_name = "ACCOUNT")]
    pub stripe_account: Option<String>,
}

/// Where the audit trail is.
#[derive(Debug, Clone, Default, Args)]
pub struct TrailArgs {
    /// A single-file trail instead of day files: one file, appended to, never rolled over.
    #[arg(long, value_name = "FILE", conflicts_with = "audit_dir")]
    pub audit_log: Option<PathBuf>,
    /// The trail's directory of UTC day files (default: PAYSTAT_AUDIT_DIR, the config's
    /// `[audit] dir`, else $XDG_STATE_HOME/paystat/audit or ~/.local/state/paystat/audit).
    #[arg(long, value_name = "DIR")]
    pub audit_dir: Option<PathBuf>,
}

/// Where and as whom checks are audited.
#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Where the trail is.
    #[command(flatten)]
    pub trail: TrailArgs,
    /// Who is checking, recorded in every audit line beside the operating-system user (which is
    /// always recorded; it is also the actor when none is given). Must not be empty.
    #[arg(long, value_name = "NAME")]
    pub actor: Option<String>,
    /// How far each audit line must get before its answer is shown: `disk` (synced, shared by
    /// concurrent checks; the default) or `os` (throw-away runs; each line says so). Config
    /// file: `[audit] sync`.
    #[arg(long, value_enum, value_name = "WHERE")]
    pub audit_sync: Option<AuditSync>,
}

/// The values of `--audit-sync`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AuditSync {
    /// Synced to disk before the answer is shown.
    Disk,
    /// Handed to the operating system only.
    Os,
}

/// `paystat check`.
#[derive(Debug, Args)]
#[command(after_help = CHECK_HELP)]
pub struct CheckArgs {
    /// Payment ids to check; `-` reads them from standard input (a list or CSV, see below).
    #[arg(value_name = "ID", required_unless_present = "ids_file")]
    pub ids: Vec<String>,
    /// Read the ids from this file (a list or CSV) instead.
    #[arg(long, value_name = "PATH", conflicts_with = "ids")]
    pub ids_file: Option<PathBuf>,
    /// The CSV column holding the ids (default: `payment_id`, else `id`, else the first).
    #[arg(long, value_name = "NAME")]
    pub column: Option<String>,
    /// Skip input lines that start with `#` (by default they are ids: `#1001` can be one).
    #[arg(long)]
    pub skip_comments: bool,
    /// Print results in input order (a slow check holds back at most --concurrency others)
    /// instead of as they complete. `table` and `json` are always in input order.
    #[arg(long)]
    pub ordered: bool,
    /// Mark found payments still pending, authorized or requiring action after this long
    /// (`24h`, `3d`) as stale, with their age (a column, and `age_s`/`stale` in JSON and CSV).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub stale_after: Option<Duration>,
    /// Attach the diagnosis rules' verdict to each stale result (a `diagnosis` object in JSON,
    /// `diagnosis` and `escalate_to` columns in CSV); needs --stale-after. Reads the facts from
    /// each stale payment's own answer and our trail; asks the gateway nothing more.
    #[arg(long, requires = "stale_after", conflicts_with = "server")]
    pub explain: bool,
    /// A folder of rule files for --explain (default: `[explain] rules_dir`, else the built-in rules).
    #[arg(long, value_name = "DIR", requires = "explain")]
    pub rules: Option<PathBuf>,
    /// Print only some results (every check is still audited): `stale`, `status=pending,failed`,
    /// `outcome=timeout`; commas are OR, repeated flags are AND.
    #[arg(long, value_name = "WHAT")]
    pub only: Vec<String>,
    /// Also reuse cached answers that can still change while younger than this (`10m`). By
    /// default only answers that can no longer change (final) are reused.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, conflicts_with_all = ["no_cache", "refresh"])]
    pub max_age: Option<Duration>,
    /// Ask every gateway; neither read nor write the status cache.
    #[arg(long, conflicts_with = "refresh")]
    pub no_cache: bool,
    /// Do not sync the change feeds the cache follows before reusing its answers: answers that
    /// can still change are then reused only within --max-age.
    #[arg(long, conflicts_with_all = ["no_cache", "refresh"])]
    pub no_sync: bool,
    /// Ask every gateway and overwrite the cached answers.
    #[arg(long)]
    pub refresh: bool,
    /// Also write the run's summary as one JSON object to this file.
    #[arg(long, value_name = "FILE")]
    pub summary_json: Option<PathBuf>,
    /// No progress line and no summary on stderr (errors still are).
    #[arg(long, short)]
    pub quiet: bool,
    /// The gateway to ask.
    #[arg(long, value_enum, default_value = "ledger")]
    pub gateway: GatewayArg,
    /// Ask the Payment Status Service at this URL instead of the gateways (`paystat serve`;
    /// the token from PAYSTAT_TOKEN): no gateway key is needed here, and the service audits.
    #[arg(long, value_name = "URL", conflicts_with_all = ["base_url", "max_age", "no_cache", "refresh", "no_sync"])]
    pub server: Option<String>,
    /// The gateway's base URL (not with `--gateway auto`; use the config file or
    /// PAYSTAT_LEDGER_URL, PAYSTAT_STRIPE_URL, PAYSTAT_PLAID_URL).
    #[arg(long, value_name = "URL")]
    pub base_url: Option<String>,
    /// The configuration file (default: PAYSTAT_CONFIG, else
    /// $XDG_CONFIG_HOME/paystat/config.toml or ~/.config/paystat/config.toml, if present).
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// The output format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
    /// The per-request timeout, like `5s` or `250ms` (default: the config file's, else 5s).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub timeout: Option<Duration>,
    /// Attempts in all per check, the first included (default 3; 1 never retries).
    #[arg(long, value_name = "N")]
    pub max_attempts: Option<u32>,
    /// First backoff ceiling, doubling per retry (default 500ms).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub backoff_base: Option<Duration>,
    /// Largest backoff ceiling (default 5s).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub backoff_cap: Option<Duration>,
    /// Longest Retry-After honoured (default 60s).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub retry_after_cap: Option<Duration>,
    /// Each check's deadline, all attempts and waits included (default 15s).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub deadline: Option<Duration>,
    /// Client-side pacing per gateway, requests per second; 0 turns it off
    /// (default: 25 for Stripe, off for the others).
    #[arg(long, value_name = "PER_SECOND")]
    pub rate: Option<f64>,
    /// How many checks run at once (1 to 1024).
    #[arg(long, value_name = "N", default_value_t = paystat::CheckerBuilder::DEFAULT_CONCURRENCY)]
    pub concurrency: usize,
    /// How paystat reaches the gateways.
    #[command(flatten)]
    pub connection: ConnectionArgs,
    /// Audit settings.
    #[command(flatten)]
    pub audit: AuditArgs,
}

/// `paystat demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// The output format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
    /// Who is running the demo, for its audit lines (default: the operating-system user). The
    /// demo's lines go to the state directory's `demo/` trail, never the live one.
    #[arg(long, value_name = "NAME")]
    pub actor: Option<String>,
}

/// `paystat mock serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The port to listen on (default: a free one, printed; `--port 5000` is where clients of
    /// the original mock API look).
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// A fixtures folder to serve instead of the scenarios built into paystat.
    #[arg(long, value_name = "DIR")]
    pub fixtures: Option<PathBuf>,
    /// Listen on every interface instead of 127.0.0.1 only.
    #[arg(long)]
    pub expose: bool,
    /// Hold clients to the scenarios' `[request]` (headers, credentials): a request that breaks
    /// one gets HTTP 418. Without it the mock answers any client, as the original mock API did.
    #[arg(long)]
    pub strict: bool,
}

/// The one gateway `record` and `verify` talk to.
#[derive(Debug, Args)]
pub struct OneGatewayArgs {
    /// The gateway.
    #[arg(long, value_enum)]
    pub gateway: OneGateway,
    /// Its base URL (default: the environment, the config file, then the provider's own).
    #[arg(long, value_name = "URL")]
    pub base_url: Option<String>,
    /// The configuration file (default: PAYSTAT_CONFIG, else
    /// $XDG_CONFIG_HOME/paystat/config.toml or ~/.config/paystat/config.toml, if present).
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// The per-attempt timeout, like `5s`.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub timeout: Option<Duration>,
    /// How paystat reaches the gateways.
    #[command(flatten)]
    pub connection: ConnectionArgs,
}

/// A single gateway (no `auto`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OneGateway {
    /// The internal ledger.
    Ledger,
    /// Stripe PaymentIntents.
    Stripe,
    /// Plaid Transfer.
    Plaid,
}

impl From<OneGateway> for paystat::GatewayKind {
    fn from(gateway: OneGateway) -> paystat::GatewayKind {
        match gateway {
            OneGateway::Ledger => paystat::GatewayKind::Ledger,
            OneGateway::Stripe => paystat::GatewayKind::Stripe,
            OneGateway::Plaid => paystat::GatewayKind::Plaid,
        }
    }
}

/// `paystat record`.
#[derive(Debug, Args)]
pub struct RecordArgs {
    /// The gateway to record from.
    #[command(flatten)]
    pub gateway: OneGatewayArgs,
    /// The payment id to ask about.
    #[arg(value_name = "ID")]
    pub id: String,
    /// The scenario file to write, like fixtures/stripe/status_succeeded_live.toml.
    #[arg(long, value_name = "PATH")]
    pub out: PathBuf,
    /// Replace the file if it exists.
    #[arg(long)]
    pub force: bool,
    /// Audit settings.
    #[command(flatten)]
    pub audit: AuditArgs,
}

/// `paystat verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The provider to verify.
    #[command(flatten)]
    pub gateway: OneGatewayArgs,
    /// A fixtures folder (default: the scenarios and schemas built into paystat).
    #[arg(long, value_name = "DIR")]
    pub fixtures: Option<PathBuf>,
    /// Audit settings.
    #[command(flatten)]
    pub audit: AuditArgs,
}

/// The cache subcommands.
#[derive(Debug, Subcommand)]
pub enum CacheCommand {
    /// Entries per gateway and finality, their ages, and the change feeds' cursors.
    #[command(after_help = "Example:\n  paystat cache stats")]
    Stats,
    /// Drop every entry (or one gateway's) and the feeds' cursors.
    #[command(
        after_help = "Examples:\n  paystat cache clear --all\n  paystat cache clear --gateway stripe"
    )]
    Clear(CacheClearArgs),
    /// Read what changed since the last sync from Stripe's events and Plaid's transfer event
    /// sync, and drop those payments' entries. Exit 0 synced, 1 a feed could not be read, 2
    /// usage.
    #[command(after_help = CACHE_SYNC_HELP)]
    Sync(CacheSyncArgs),
    /// Read a window of Stripe's or Plaid's list of payments into the cache: a hundredth of the
    /// requests of a check per payment. Exit 0 read to its end, 1 stopped (resumable), 2 usage.
    Fill(Box<CacheFillArgs>),
}

/// `paystat cache clear`.
#[derive(Debug, Args)]
pub struct CacheClearArgs {
    /// Only this gateway's entries.
    #[arg(
        long,
        value_enum,
        conflicts_with = "all",
        required_unless_present = "all"
    )]
    pub gateway: Option<OneGateway>,
    /// Every entry.
    #[arg(long)]
    pub all: bool,
}

/// `paystat cache sync`.
#[derive(Debug, Args)]
pub struct CacheSyncArgs {
    /// Only this gateway's feed (default: every gateway that has one and is configured).
    #[arg(long, value_enum)]
    pub gateway: Option<OneGateway>,
    /// The configuration file (default: PAYSTAT_CONFIG, else
    /// $XDG_CONFIG_HOME/paystat/config.toml or ~/.config/paystat/config.toml, if present).
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
}

const CACHE_SYNC_HELP: &str = "Examples:
  paystat cache sync
  paystat cache sync --gateway plaid

Stripe keeps events for 30 days: when the last sync is older than that (or there was none),
every Stripe entry that can still change is dropped, and the sync says so. The ledger has no
change feed: its entries that can still change are reused only within --max-age.
Credentials and base URLs as for `paystat check` (PAYSTAT_STRIPE_KEY, PAYSTAT_PLAID_CLIENT_ID +
PAYSTAT_PLAID_SECRET, PAYSTAT_STRIPE_URL, PAYSTAT_PLAID_URL, the config file).";

/// The audit subcommands.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Walk the hash chain and name the first line that was edited, inserted, deleted,
    /// reordered or cut off. Exit 0 intact, 1 broken, 2 usage.
    Verify(AuditVerifyArgs),
    /// Print the chain's head (sequence number and hash), to anchor elsewhere.
    Head(TrailOnly),
    /// Stream the lines of a range as JSON lines (as written) or CSV, verifying the chain.
    Export(AuditExportArgs),
    /// Every check of one payment, oldest first: when, who, outcome, status, how long.
    History(AuditHistoryArgs),
    /// Counts per outcome, timeouts, retries, rate limits and latency percentiles.
    Stats(AuditStatsArgs),
    /// Remove day files past retention (leaving a checkpoint) and compress older ones.
    Prune(AuditPruneArgs),
    /// Seal a trail written without the audit key with the key from now on (PAYSTAT_AUDIT_KEY);
    /// a line sealed with the key records the change.
    Seal(TrailOnly),
    /// Rotate the audit key: a line sealed with the old key (PAYSTAT_AUDIT_KEY_PREVIOUS) names
    /// the new one (PAYSTAT_AUDIT_KEY); verify then needs both.
    RotateKey(TrailOnly),
}

/// The trail and the config file, for every `audit` command.
#[derive(Debug, Args)]
pub struct TrailOnly {
    /// Where the trail is.
    #[command(flatten)]
    pub trail: TrailArgs,
    /// The configuration file (default: PAYSTAT_CONFIG, else
    /// $XDG_CONFIG_HOME/paystat/config.toml or ~/.config/paystat/config.toml, if present).
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
}

/// A time range: `--since` inclusive, `--until` exclusive.
#[derive(Debug, Args)]
pub struct RangeArgs {
    /// From this time: a date (`2026-10-01`, UTC midnight), an RFC 3339 time, or an age (`7d`).
    #[arg(long, value_name = "WHEN")]
    pub since: Option<String>,
    /// Up to (not including) this time, in the same forms.
    #[arg(long, value_name = "WHEN")]
    pub until: Option<String>,
}

/// `paystat audit verify`.
#[derive(Debug, Args)]
pub struct AuditVerifyArgs {
    /// The trail.
    #[command(flatten)]
    pub trail: TrailOnly,
    /// The range to verify.
    #[command(flatten)]
    pub range: RangeArgs,
    /// A head hash recorded earlier (`paystat audit head`): the trail must still hold it.
    #[arg(long, value_name = "HASH")]
    pub expect_head: Option<String>,
}

/// The export formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    /// The lines as written (they still verify).
    Jsonl,
    /// One flat row per line, with a header.
    Csv,
}

/// `paystat audit export`.
#[derive(Debug, Args)]
pub struct AuditExportArgs {
    /// The trail.
    #[command(flatten)]
    pub trail: TrailOnly,
    /// The range to export.
    #[command(flatten)]
    pub range: RangeArgs,
    /// The output format.
    #[arg(long, value_enum, default_value = "jsonl")]
    pub format: ExportFormat,
    /// Only checks by this actor.
    #[arg(long, value_name = "NAME")]
    pub actor: Option<String>,
    /// Only checks of this payment.
    #[arg(long, value_name = "ID")]
    pub payment_id: Option<String>,
    /// Only checks asked of this gateway.
    #[arg(long, value_enum)]
    pub gateway: Option<OneGateway>,
    /// Only checks with this outcome (`found`, `not_found`, `timeout`, …).
    #[arg(long, value_name = "OUTCOME")]
    pub outcome: Option<String>,
    /// Only lines of this event (repeat for more): `payment.status_check`, `audit.prune`,
    /// `audit.key_rotated`, `audit.keyed`, `audit.repair`, `audit.halted`,
    /// `cache.row_rejected`. Every event by default.
    #[arg(long, value_name = "EVENT")]
    pub event: Vec<String>,
}

/// `paystat audit history`.
#[derive(Debug, Args)]
pub struct AuditHistoryArgs {
    /// The trail.
    #[command(flatten)]
    pub trail: TrailOnly,
    /// The payment id.
    #[arg(value_name = "ID")]
    pub id: String,
    /// Read every file of the trail, not only those its index says name the payment (the
    /// index is a guide to where to look; this does without it).
    #[arg(long)]
    pub no_index: bool,
}

/// How `audit stats` groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GroupBy {
    /// Per gateway.
    Gateway,
    /// Per actor.
    Actor,
    /// Per outcome.
    Outcome,
    /// Per UTC day.
    Day,
}

/// `paystat audit stats`.
#[derive(Debug, Args)]
pub struct AuditStatsArgs {
    /// The trail.
    #[command(flatten)]
    pub trail: TrailOnly,
    /// The range to count.
    #[command(flatten)]
    pub range: RangeArgs,
    /// How to group.
    #[arg(long, value_enum, default_value = "gateway")]
    pub by: GroupBy,
}

/// `paystat audit prune`.
#[derive(Debug, Args)]
pub struct AuditPruneArgs {
    /// The trail.
    #[command(flatten)]
    pub trail: TrailOnly,
    /// Prune even when the retention is shorter than PCI DSS's 365 days.
    #[arg(long)]
    pub force: bool,
}

/// Examples and environment for `paystat check --help`.
const CHECK_HELP: &str = "Examples:
  paystat check txn_001 txn_002
  paystat check --gateway stripe --format json pi_3MtwBwLkdIwHu7ix28a3tqPa
  paystat check --gateway auto --format jsonl --ids-file payments.csv > results.jsonl
  paystat check --gateway auto --stale-after 24h --only stale --ids-file pending.csv
  cut -d, -f1 ids.txt | paystat check --format csv - > results.csv

Ids from standard input or --ids-file: one per line, or CSV whose first row is a header when a
cell is `payment_id` or `id` (or the --column name); blank lines are skipped, and `#` lines only
with --skip-comments. A record that does not parse stops the input with exit 2, naming its line.

Credentials (read from the environment only, never from flags):
  PAYSTAT_LEDGER_TOKEN, or PAYSTAT_LEDGER_USER + PAYSTAT_LEDGER_PASSWORD   the ledger (optional)
  PAYSTAT_STRIPE_KEY                                                       Stripe
  PAYSTAT_PLAID_CLIENT_ID + PAYSTAT_PLAID_SECRET                           Plaid
  PAYSTAT_AUDIT_KEY                                                        seals the audit trail
Base URLs: --base-url, else PAYSTAT_LEDGER_URL / PAYSTAT_STRIPE_URL / PAYSTAT_PLAID_URL, else the
config file, else http://127.0.0.1:5000/v1, https://api.stripe.com, https://sandbox.plaid.com.

The status cache ($PAYSTAT_STATE_DIR/cache.sqlite3): answers that can no longer change are
reused and marked `cache` with their age, and still audited; --max-age also reuses younger
answers that can change, --refresh asks again and overwrites, --no-cache leaves it alone.

Ctrl-C or SIGTERM: no new ids are taken, the checks in flight finish and are printed and
audited, exit 130 / 143; a second signal cuts them short.";

fn parse_duration(text: &str) -> Result<Duration, String> {
    paystat::clock::parse_duration(text)
}
