//! The command line: flags in, library calls, results and exit codes out. It knows no HTTP;
//! everything about gateways goes through [`crate::checker::Checker`].

pub mod args;
pub mod render;

use std::collections::BTreeSet;
use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use secrecy::SecretString;

use crate::audit::{self, AuditTrail};
use crate::checker::{CheckResult, Checker, Routing};
use crate::config::{self, ConfigFile, Overrides};
use crate::credential::Credential;
use crate::fixtures;
use crate::gateway::{self, Gateway, GatewayKind, Ledger, Plaid, Stripe};
use crate::mock::{self, EmbeddedMock};
use crate::scenario::ScenarioSet;
use crate::schema::ProviderSchemas;
use crate::status::Outcome;
use args::{
    AuditArgs, CheckArgs, Cli, Command, DemoArgs, FixturesArgs, FixturesCommand, Format,
    MockCommand, OneGateway, OneGatewayArgs, RecordArgs, ReportArgs, ServeArgs, VerifyArgs,
};

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
        Command::Record(args) => record(args).await,
        Command::Verify(args) => verify(args).await,
        Command::Fixtures {
            command: FixturesCommand::Check(args),
        } => fixtures_check(&args),
        Command::Fixtures {
            command: FixturesCommand::Report(args),
        } => fixtures_report(&args),
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
    // Only the gateways these ids need are configured, so a Stripe-only run needs no Plaid keys.
    let needed: BTreeSet<GatewayKind> = match routing {
        Routing::Fixed(kind) => BTreeSet::from([kind]),
        Routing::Auto => ids.iter().filter_map(|id| gateway::route(id)).collect(),
    };
    let checker = configured_checker(
        &needed,
        routing,
        args.config.as_deref(),
        &overrides,
        &args.audit,
    )?
    .with_concurrency(args.concurrency);
    report(&checker, &ids, args.format).await
}

/// A checker for `kinds`, each configured from the config file, the environment and the flags
/// (credentials, base URL, retry policy, retry budget, pacing), auditing as `audit` says.
fn configured_checker(
    kinds: &BTreeSet<GatewayKind>,
    routing: Routing,
    config: Option<&Path>,
    overrides: &Overrides,
    audit: &AuditArgs,
) -> Result<Checker, CliError> {
    let file = ConfigFile::load(config).map_err(|e| CliError::usage(e.to_string()))?;
    let env = |name: &str| std::env::var(name).ok();
    let mut configured = Vec::new();
    for kind in kinds {
        configured.push(
            file.gateway(*kind, &env, overrides)
                .map_err(|e| CliError::usage(e.to_string()))?,
        );
    }
    let audit = open_audit(audit)?;
    let gateways = configured.iter().map(|c| Arc::clone(&c.gateway)).collect();
    let mut checker = Checker::routing(gateways, routing, audit);
    for c in &configured {
        let kind = Some(c.gateway.kind());
        checker = checker
            .with_retry_policy(kind, c.policy)
            .with_retry_budget(kind, c.retry_budget)
            .with_pacing(kind, c.requests_per_second);
    }
    Ok(checker)
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

fn load_fixtures(args: &FixturesArgs) -> Result<(ScenarioSet, ProviderSchemas), CliError> {
    let set = ScenarioSet::from_dir(&args.fixtures).map_err(|e| CliError::usage(e.to_string()))?;
    let schemas = ProviderSchemas::load(|name| std::fs::read(args.fixtures.join(name)).ok())
        .map_err(|e| CliError::usage(format!("{}/{e}", args.fixtures.display())))?;
    Ok((set, schemas))
}

/// `paystat fixtures check`: every problem on its own line, then a count; exit 1 if any.
fn fixtures_check(args: &FixturesArgs) -> Result<Exit, CliError> {
    let (set, schemas) = load_fixtures(args)?;
    let problems = fixtures::check(&set, &schemas);
    for problem in &problems {
        println!("{}/{problem}", args.fixtures.display());
    }
    let gaps = fixtures::gaps(&set);
    for (gateway, situation) in &gaps {
        println!("coverage gap: {gateway}: no scenario for {situation}");
    }
    println!(
        "{} scenarios checked: {} problems, {} coverage gaps",
        set.scenarios().len(),
        problems.len(),
        gaps.len()
    );
    Ok(if problems.is_empty() {
        Exit::AllFound
    } else {
        Exit::SomeNotFound
    })
}

/// `paystat fixtures report`: writes the requirements document.
fn fixtures_report(args: &ReportArgs) -> Result<Exit, CliError> {
    let (set, _) = load_fixtures(&args.fixtures)?;
    let text = fixtures::report(&set);
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| args.fixtures.fixtures.join("REQUIREMENTS.md"));
    if out.as_os_str() == "-" {
        print!("{text}");
    } else {
        std::fs::write(&out, text)
            .map_err(|e| CliError::usage(format!("cannot write {}: {e}", out.display())))?;
        eprintln!(
            "wrote {} ({} scenarios)",
            out.display(),
            set.scenarios().len()
        );
    }
    Ok(Exit::AllFound)
}

/// A checker for the one gateway of `record` or `verify`, configured as `check` would be.
fn one_gateway_checker(
    args: &OneGatewayArgs,
    audit: &AuditArgs,
) -> Result<(GatewayKind, Checker), CliError> {
    let kind = match args.gateway {
        OneGateway::Ledger => GatewayKind::Ledger,
        OneGateway::Stripe => GatewayKind::Stripe,
        OneGateway::Plaid => GatewayKind::Plaid,
    };
    let overrides = Overrides {
        base_url: args.base_url.clone().map(|url| (kind, url)),
        timeout: args.timeout,
        ..Overrides::default()
    };
    let checker = configured_checker(
        &BTreeSet::from([kind]),
        Routing::Fixed(kind),
        args.config.as_deref(),
        &overrides,
        audit,
    )?;
    Ok((kind, checker))
}

/// `paystat record`: one audited check, its reply written as a scrubbed scenario.
async fn record(args: RecordArgs) -> Result<Exit, CliError> {
    if args.out.exists() && !args.force {
        return Err(CliError::usage(format!(
            "{} exists; pass --force to replace it",
            args.out.display()
        )));
    }
    let (kind, checker) = one_gateway_checker(&args.gateway, &args.audit)?;
    let (result, reply) = checker
        .check_capturing(&args.id)
        .await
        .map_err(|e| CliError::audit(e.to_string()))?;
    let Some(reply) = reply else {
        return Err(CliError {
            exit: Exit::SomeFailed,
            message: format!(
                "no HTTP answer to record: {} ({})",
                result.outcome,
                result.detail.unwrap_or_default()
            ),
        });
    };
    let text = crate::record::scenario_text(kind, &args.id, &reply, &result);
    if let Some(parent) = args.out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .map_err(|e| CliError::usage(format!("cannot create {}: {e}", parent.display())))?;
    }
    std::fs::write(&args.out, text)
        .map_err(|e| CliError::usage(format!("cannot write {}: {e}", args.out.display())))?;
    println!(
        "recorded {kind} HTTP {} for {} into {} (scrubbed); write its title and requirement, then run `paystat fixtures check`",
        reply.status,
        crate::payment_id::display_safe(&args.id),
        args.out.display()
    );
    Ok(Exit::AllFound)
}

/// `paystat verify`: replays the provider-answerable scenarios and prints the contract report.
async fn verify(args: VerifyArgs) -> Result<Exit, CliError> {
    let (set, schemas) = match &args.fixtures {
        Some(dir) => load_fixtures(&FixturesArgs {
            fixtures: dir.clone(),
        })?,
        None => (ScenarioSet::embedded(), ProviderSchemas::embedded()),
    };
    let (kind, checker) = one_gateway_checker(&args.gateway, &args.audit)?;
    let scenarios = crate::verify::replayable(&set, kind);
    if scenarios.is_empty() {
        return Err(CliError::usage(format!(
            "no {kind} scenario can be replayed against a real provider"
        )));
    }
    let checks = crate::verify::verify(&checker, &scenarios, &schemas)
        .await
        .map_err(|e| CliError::audit(e.to_string()))?;
    print!("{}", crate::verify::render(&checks));
    let broken = checks.iter().any(|c| !c.mismatches.is_empty());
    Ok(if broken {
        Exit::SomeNotFound
    } else {
        Exit::AllFound
    })
}
