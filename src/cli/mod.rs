//! The command line: flags in, library calls, results and exit codes out. It knows no HTTP;
//! everything about gateways goes through [`crate::checker::Checker`].

pub mod args;
pub mod render;

use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;

use crate::audit::{self, AuditTrail};
use crate::checker::{CheckResult, Checker};
use crate::credential::Credential;
use crate::gateway::{GatewayKind, Ledger};
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

/// The ledger credential from the environment.
fn ledger_credential() -> Result<Credential, CliError> {
    Credential::from_lookup(
        |name| std::env::var(name).ok(),
        "PAYSTAT_LEDGER_TOKEN",
        "PAYSTAT_LEDGER_USER",
        "PAYSTAT_LEDGER_PASSWORD",
    )
    .map_err(|e| CliError::usage(format!("incomplete ledger credentials: {e}")))
}

fn parse_base_url(text: &str) -> Result<reqwest::Url, CliError> {
    let url = reqwest::Url::parse(text)
        .map_err(|e| CliError::usage(format!("the base URL `{text}` is not a URL ({e})")))?;
    if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() {
        return Err(CliError::usage(format!(
            "the base URL `{text}` must be an http:// or https:// URL"
        )));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(CliError::usage(
            "the base URL must not carry credentials; set PAYSTAT_LEDGER_USER and PAYSTAT_LEDGER_PASSWORD instead",
        ));
    }
    if url.query().is_some() {
        return Err(CliError::usage("the base URL must not have a query string"));
    }
    Ok(url)
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
    let gateway = match args.gateway {
        args::GatewayArg::Ledger => Arc::new(Ledger::new(
            parse_base_url(&args.base_url)?,
            ledger_credential()?,
        )),
    };
    let audit = open_audit(&args.audit)?;
    let checker = Checker::new(gateway, audit)
        .with_timeout(args.timeout)
        .with_concurrency(args.concurrency);
    report(&checker, &ids, args.format).await
}

/// The reference payments the demo checks.
pub const DEMO_IDS: [&str; 4] = ["txn_001", "txn_002", "txn_003", "txn_999"];

async fn demo(args: DemoArgs) -> Result<Exit, CliError> {
    let scenarios = ScenarioSet::embedded();
    let mock = EmbeddedMock::start(scenarios.scenarios()).await;
    let base_url = parse_base_url(&mock.base_url(GatewayKind::Ledger))?;
    let audit = open_audit(&args.audit)?;
    // The demo talks only to its own mock: it never reads, let alone sends, real credentials.
    let checker = Checker::new(Arc::new(Ledger::new(base_url, Credential::None)), audit);
    let ids: Vec<String> = DEMO_IDS.iter().map(|id| id.to_string()).collect();
    let exit = report(&checker, &ids, args.format).await?;
    eprintln!(
        "Checked {} payments against the embedded mock ledger; audit lines appended to {}",
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
    mock::serve(
        args.port,
        args.expose,
        &list,
        shutdown,
        |addr, registered| {
            let url = format!("http://{addr}");
            println!(
                "paystat mock gateway on {url} playing {registered} scenarios (Ctrl-C stops it)"
            );
            println!(
                "ledger base URL: {}",
                mock::base_url(&url, GatewayKind::Ledger)
            );
            for s in list.iter().filter(|s| s.is_http()) {
                println!(
                    "  {:<8} {:<28} {}",
                    s.gateway.as_str(),
                    crate::payment_id::display_safe(&s.payment_id),
                    s.title
                );
            }
            let _ = std::io::stdout().flush();
        },
    )
    .await
    .map_err(|e| CliError::usage(e.to_string()))?;
    Ok(Exit::AllFound)
}
