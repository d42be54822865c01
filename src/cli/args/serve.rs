//! The flags of `paystat serve` and `paystat token` (feature `serve`).

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand, ValueEnum};

use super::{AuditArgs, TrailArgs};

/// `paystat serve`.
#[derive(Debug, Args)]
pub struct ServeCmdArgs {
    /// The config file (default: PAYSTAT_CONFIG, else ~/.config/paystat/config.toml).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Where to listen (default: the config's `[serve] listen`, else 127.0.0.1:8080; port 0
    /// picks a free one, and the address is said on stderr).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<std::net::SocketAddr>,
    /// The TLS certificate chain (PEM); with --tls-key, the service speaks HTTPS.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The TLS private key (PEM, readable by its owner only).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// A folder of diagnosis rules for the explanation endpoint (default: `[explain] rules_dir`,
    /// else the built-in rules). Read once at start: restart the service to apply an edit.
    #[arg(long, value_name = "DIR")]
    pub rules: Option<PathBuf>,
    /// Plain HTTP on an address other than loopback: a TLS-terminating proxy is in front.
    #[arg(long)]
    pub insecure_http: bool,
    /// How long checks in flight may take to finish on SIGTERM or SIGINT (default 30s).
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub shutdown_grace: Option<Duration>,
    /// How often the gateways' change feeds are synced into the cache (default 5m; 0s: never).
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub sync_every: Option<Duration>,
    /// The most ids in one batch (default 10000).
    #[arg(long, value_name = "N")]
    pub max_batch: Option<usize>,
    /// Requests one token may make per second (default 200; its burst is as many).
    #[arg(long, value_name = "N")]
    pub token_rate: Option<u32>,
    /// Requests of one token under way at once (default 32).
    #[arg(long, value_name = "N")]
    pub token_concurrency: Option<usize>,
    /// A proxy whose X-Forwarded-For is believed (repeatable).
    #[arg(long = "trusted-proxy", value_name = "IP")]
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Answer without the status cache.
    #[arg(long)]
    pub no_cache: bool,
    /// Log lines as JSON (the default when stderr is not a terminal) or as text.
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub log_format: Option<LogFormat>,
    /// Where the trail is, and how far a line gets before its answer is sent.
    #[command(flatten)]
    pub audit: AuditArgs,
}

/// The log formats of `paystat serve`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// One JSON object per line.
    Json,
    /// Text for people.
    Text,
}

/// The token subcommands.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token and print it, once (the state directory keeps only its SHA-256).
    Create(TokenCreateArgs),
    /// List the tokens (never a token itself).
    List(TokenConfigArgs),
    /// Revoke a token, at once for the running service.
    Revoke(TokenRevokeArgs),
}

/// Where the tokens and the trail are.
#[derive(Debug, Args)]
pub struct TokenConfigArgs {
    /// The config file (default: PAYSTAT_CONFIG, else ~/.config/paystat/config.toml).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Where the trail is (creating and revoking tokens is audited).
    #[command(flatten)]
    pub trail: TrailArgs,
}

/// `paystat token create`.
#[derive(Debug, Args)]
pub struct TokenCreateArgs {
    /// Who the token is: the actor of every audit line written for its requests.
    #[arg(long, value_name = "NAME")]
    pub actor: String,
    /// What it may do: ops checks; compliance also reads histories and exports; admin also syncs the cache.
    #[arg(long, value_enum)]
    pub role: paystat::serve::Role,
    /// How long it is valid (default 90d).
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration, default_value = "90d")]
    pub expires: Duration,
    #[command(flatten)]
    pub config: TokenConfigArgs,
}

/// `paystat token revoke`.
#[derive(Debug, Args)]
pub struct TokenRevokeArgs {
    /// The token's id (`tok_…`, from `token list`).
    pub id: String,
    #[command(flatten)]
    pub config: TokenConfigArgs,
}
