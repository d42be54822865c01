//! The command line: flags in, library calls, results and exit codes out. It knows no HTTP;
//! everything about gateways goes through [`crate::checker::Checker`].

pub mod args;
pub mod render;

use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;

use std::collections::BTreeSet;

use secrecy::SecretString;

use crate::audit::{self, AuditTrail};
use crate::checker::{CheckResult, Checker, Routing};
use crate::config::{self, ConfigFile, Overrides};
use crate::credential::Credential;
use crate::gateway::{self, Gateway, GatewayKind, Ledger, Plaid, Stripe};
use crate::mock::{self, EmbeddedMock};
use crate::scenario::ScenarioSet;
use crate::status::Outcome;
use args::{AuditArgs, CheckArgs, Cli, Command, DemoArgs, Format, MockCommand, ServeArgs};

/// The exit codes, as `--help` shows them.
pub const EXIT_CODES_HELP: &str = "Exit codes:
  0  every payment was found
  1  some payment was not found or its id is invalid (and every check got an answer)
  2  usage or configuration error
  3  some check got no answer from the gateway (unauthorized, bad request, rate limited,
     gateway error, timeout, connection error, bad response)
  4  the audit trail could not be written; those results are withheld";

/// paystat's documented exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Exit {
    /// Every payment was found.
    AllFound = 0,
    /// Some payment was not found or its id is invalid.
    SomeNotFound = 1,
    /// Usage or configuration error.
    Usage = 2,
    /// Some check got no answer from the gateway.
    SomeFailed = 3,
    /// The audit trail could not be written.
    AuditFailed = 4,
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> ExitCode {
        ExitCode::from(exit as u8)
    }
}

/// A failure that ends the run with one sentence on stderr.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct CliError {
    exit: Exit,
    message: String,
}

impl CliError {
    fn usage(message: impl Into<String>) -> CliError {
        CliError {
            exit: Exit::Usage,
            message: message.into(),
        }
    }

    fn audit(message: impl Into<String>) -> CliError {
        CliError {
            exit: Exit::AuditFailed,
            message: message.into(),
        }
    }
}

/// Parses the process's arguments and runs paystat; the whole program behind `main`.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("paystat: cannot start the async runtime: {e}");
            return Exit::Usage.into();
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(exit) => exit.into(),
        Err(e) => {
            eprintln!("paystat: {e}");
            e.exit.into()
        }
    }
}

/// Diagnostics go to stderr, filtered by `RUST_LOG` (default: errors only, so that a normal
/// run's stderr holds nothing but paystat's one-sentence error).
fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("paystat=error"))
        // The embedded mock traces every request it receives with its headers, which hold the
        // credentials of whoever calls it; it stays silent whatever RUST_LOG says.
        .add_directive("httpmock=off".parse().expect("a fixed directive parses"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .init();
}

async fn run(cli: Cli) -> Result<Exit, CliError> {
    match cli.command {
        Command::Check(args) => check(args).await,
        Command::Demo(args) => demo(args).await,
        Command::Mock {
            command: MockCommand::Serve(args),
        } => serve(args).await,
    }
}

fn open_audit(args: &AuditArgs) -> Result<Arc<AuditTrail>, CliError> {
    let actor = args.actor.clone().unwrap_or_else(audit::default_actor);
    AuditTrail::open(&args.audit_log, actor)
        .map(Arc::new)
        .map_err(|e| CliError::audit(format!("{e}; no payment was checked")))
}

fn read_ids(ids: Vec<String>) -> Result<Vec<String>, CliError> {
    if ids.iter().any(|id| id == "-") {
        if ids.len() > 1 {
            return Err(CliError::usage(
                "give ids as arguments or `-` for standard input, not both",
            ));
        }
        let stdin = std::io::stdin().lock();
        let mut read = Vec::new();
        for line in stdin.lines() {
            let line = line.map_err(|e| {
                CliError::usage(format!("cannot read ids from standard input: {e}"))
            })?;
            let id = line.trim();
            if !id.is_empty() {
                read.push(id.to_owned());
            }
        }
        return Ok(read);
    }
    Ok(ids)
}

async fn check(args: CheckArgs) -> Result<Exit, CliError> {
    let ids = read_ids(args.ids)?;
    let routing = match args.gateway {
        args::GatewayArg::Ledger => Routing::Fixed(GatewayKind::Ledger),
        args::GatewayArg::Stripe => Routing::Fixed(GatewayKind::Stripe),
        args::GatewayArg::Plaid => Routing::Fixed(GatewayKind::Plaid),
        args::GatewayArg::Auto => Routing::Auto,
    };
    let base_url = match (routing, args.base_url) {
        (_, None) => None,
        (Routing::Fixed(kind), Some(url)) => Some((kind, url)),
        (Routing::Auto, Some(_)) => {
            return Err(CliError::usage(
                "--base-url names one gateway's URL and cannot be used with --gateway auto; \
                 set PAYSTAT_LEDGER_URL, PAYSTAT_STRIPE_URL, PAYSTAT_PLAID_URL or the config file instead",
            ));
        }
    };
    if args.rate.is_some_and(|r| !r.is_finite() || r < 0.0) {
        return Err(CliError::usage(
            "--rate must be a number of requests per second, 0 or more",
        ));
    }
    let overrides = Overrides {
        base_url,
        timeout: args.timeout,
        max_attempts: args.max_attempts,
        backoff_base: args.backoff_base,
        backoff_cap: args.backoff_cap,
        retry_after_cap: args.retry_after_cap,
        deadline: args.deadline,
        requests_per_second: args.rate,
    };
    let file =
        ConfigFile::load(args.config.as_deref()).map_err(|e| CliError::usage(e.to_string()))?;
    // Only the gateways these ids need are configured, so a Stripe-only run needs no Plaid keys.
    let needed: BTreeSet<GatewayKind> = match routing {
        Routing::Fixed(kind) => BTreeSet::from([kind]),
        Routing::Auto => ids.iter().filter_map(|id| gateway::route(id)).collect(),
    };
    let env = |name: &str| std::env::var(name).ok();
    let mut configured = Vec::new();
    for kind in needed {
        configured.push(
            file.gateway(kind, &env, &overrides)
                .map_err(|e| CliError::usage(e.to_string()))?,
        );
    }
    let audit = open_audit(&args.audit)?;
    let gateways = configured.iter().map(|c| Arc::clone(&c.gateway)).collect();
    let mut checker = Checker::routing(gateways, routing, audit).with_concurrency(args.concurrency);
    for c in &configured {
        let kind = Some(c.gateway.kind());
        checker = checker
            .with_retry_policy(kind, c.policy)
            .with_retry_budget(kind, c.retry_budget)
            .with_pacing(kind, c.requests_per_second);
    }
    report(&checker, &ids, args.format).await
}

/// The reference payments the demo checks: the ledger's data set, then a succeeded, a
/// processing and a declined Stripe PaymentIntent, then a settled, a pending and a returned
/// Plaid transfer.
pub const DEMO_IDS: [&str; 10] = [
    "txn_001",
    "txn_002",
    "txn_003",
    "txn_999",
    "pi_3MtwBwLkdIwHu7ix28a3tqPa",
    "pi_3MtwBwLkdIwHu7ixProcessng",
    "pi_3MtwBwLkdIwHu7ixDeclined1",
    "460cbe92-2dcc-8eae-5ad6-b37d0ec90fd9",
    "7a1c3f0e-5b2d-4e8f-9a6b-1c2d3e4f5a6b",
    "c0ffee00-1234-4abc-8def-0123456789ab",
];

async fn demo(args: DemoArgs) -> Result<Exit, CliError> {
    let scenarios = ScenarioSet::embedded();
    let mock = EmbeddedMock::start(scenarios.scenarios()).await;
    let url = |kind| {
        config::parse_base_url(&mock.base_url(kind), kind)
            .map_err(|e| CliError::usage(e.to_string()))
    };
    // The demo talks only to its own mock: it never reads, let alone sends, real credentials.
    let demo_secret = || SecretString::from("demo-not-a-secret");
    let gateways: Vec<Arc<dyn Gateway>> = vec![
        Arc::new(Ledger::new(url(GatewayKind::Ledger)?, Credential::None)),
        Arc::new(Stripe::new(url(GatewayKind::Stripe)?, demo_secret(), None)),
        Arc::new(Plaid::new(
            url(GatewayKind::Plaid)?,
            demo_secret(),
            demo_secret(),
        )),
    ];
    let audit = open_audit(&args.audit)?;
    let checker = Checker::routing(gateways, Routing::Auto, audit);
    let ids: Vec<String> = DEMO_IDS.iter().map(|id| id.to_string()).collect();
    let exit = report(&checker, &ids, args.format).await?;
    eprintln!(
        "Checked {} payments against the embedded mock ledger, Stripe and Plaid; audit lines appended to {}",
        ids.len(),
        display_path(checker.audit_trail().path())
    );
    // The demo's own answer: the reference data set has one missing payment, on purpose.
    Ok(if exit == Exit::SomeNotFound {
        Exit::AllFound
    } else {
        exit
    })
}

fn display_path(path: &Path) -> String {
    std::path::absolute(path)
        .unwrap_or_else(|_| path.to_owned())
        .display()
        .to_string()
}

/// Runs the checks, prints the audited results and withheld ones, and picks the exit code.
async fn report(checker: &Checker, ids: &[String], format: Format) -> Result<Exit, CliError> {
    let mut shown: Vec<CheckResult> = Vec::with_capacity(ids.len());
    let mut withheld = Vec::new();
    for result in checker.check_all(ids).await {
        match result {
            Ok(result) => shown.push(result),
            Err(unaudited) => withheld.push(unaudited),
        }
    }
    let text = match format {
        Format::Table => render::table(&shown),
        Format::Json => render::json(&shown),
    };
    let mut stdout = std::io::stdout().lock();
    if !shown.is_empty() || format == Format::Json {
        // A closed stdout (e.g. `| head`) is not a reason to fail the audited run.
        let _ = writeln!(stdout, "{text}");
    }
    if let Some(first) = withheld.first() {
        return Err(CliError::audit(format!(
            "{first}; {} of {} results withheld",
            withheld.len(),
            ids.len()
        )));
    }
    let exit = shown
        .iter()
        .map(|r| exit_for(r.outcome))
        .max()
        .unwrap_or(Exit::AllFound);
    Ok(exit)
}

fn exit_for(outcome: Outcome) -> Exit {
    match outcome {
        Outcome::Found => Exit::AllFound,
        Outcome::NotFound | Outcome::InvalidId => Exit::SomeNotFound,
        Outcome::Unauthorized
        | Outcome::BadRequest
        | Outcome::RateLimited
        | Outcome::GatewayError
        | Outcome::Timeout
        | Outcome::ConnectionError
        | Outcome::BadResponse => Exit::SomeFailed,
    }
}

async fn serve(args: ServeArgs) -> Result<Exit, CliError> {
    let scenarios = match &args.fixtures {
        Some(dir) => ScenarioSet::from_dir(dir).map_err(|e| CliError::usage(e.to_string()))?,
        None => ScenarioSet::embedded(),
    };
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let list = scenarios.scenarios().to_vec();
    mock::serve(args.port, args.expose, &list, shutdown, |addr, registered| {
        let url = format!("http://{addr}");
        println!("paystat mock gateway on {url} playing {registered} scenarios (Ctrl-C stops it)");
        println!("# point paystat check at it (the mock accepts any credentials):");
        for kind in GatewayKind::ALL {
            let var = format!("PAYSTAT_{}_URL", kind.as_str().to_ascii_uppercase());
            println!("export {var}={}", mock::base_url(&url, kind));
        }
        println!("export PAYSTAT_STRIPE_KEY=sk_test_mock PAYSTAT_PLAID_CLIENT_ID=mock PAYSTAT_PLAID_SECRET=mock");
        println!("# scenarios:");
        for s in list.iter().filter(|s| s.is_http()) {
            let id = crate::payment_id::display_safe(&s.payment_id);
            println!("#   {:<7} {id:<38} {}", s.gateway.as_str(), s.title);
        }
        let _ = std::io::stdout().flush();
    })
    .await
    .map_err(|e| CliError::usage(e.to_string()))?;
    Ok(Exit::AllFound)
}
