//! The command line: flags in, library calls, results and exit codes out. It knows no HTTP;
//! each command has its own module, and [`exit`] says what each command's ending means.

mod args;
mod audit;
mod cache;
mod check;
#[cfg(feature = "contract")]
mod contract;
#[cfg(feature = "contract")]
mod demo;
mod exit;
mod explain;
#[cfg(feature = "contract")]
mod fixtures;
mod ids;
#[cfg(feature = "contract")]
mod mock;
mod output;
mod reconcile;
mod render;
#[cfg(feature = "serve")]
mod serve;
mod summary;

use std::collections::{BTreeMap, BTreeSet};
use std::io::IsTerminal;
use std::path::Path;
use std::process::ExitCode;

use clap::Parser;
use paystat::audit_trail::Durability;
use paystat::{BuildError, Checker, CheckerBuilder, ConfigFile, GatewayKind};

use args::{AuditArgs, Cli, Command};
use exit::{Exit, Failure};

/// A failure that ends the run with one sentence on stderr.
#[derive(Debug)]
pub struct CliError {
    pub(crate) failure: Failure,
    pub(crate) message: String,
}

impl CliError {
    fn usage(message: impl Into<String>) -> CliError {
        CliError {
            failure: Failure::Usage,
            message: message.into(),
        }
    }

    /// A failed write to standard output: a closed pipe (`paystat check … | head`) ends the
    /// run quietly; any other write error (a full disk behind `>`) is exit 5.
    fn output(error: &std::io::Error) -> CliError {
        match error.kind() {
            std::io::ErrorKind::BrokenPipe => CliError {
                failure: Failure::ClosedPipe,
                message: String::new(),
            },
            _ => CliError {
                failure: Failure::Output,
                message: format!("cannot write to standard output: {error}"),
            },
        }
    }

    fn audit(message: impl Into<String>) -> CliError {
        CliError {
            failure: Failure::Audit,
            message: message.into(),
        }
    }
}

/// Writes `text` to standard output. A closed pipe (`paystat check … | head`) ends the run
/// quietly; any other write error (a full disk behind `>`) is exit 5.
fn print(text: std::fmt::Arguments<'_>) -> Result<(), CliError> {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_fmt(text)
        .and_then(|()| stdout.flush())
        .map_err(|e| CliError::output(&e))
}

/// An error and its causes as one sentence: `cannot open the audit log x: No such file…`.
/// Library errors keep their cause in `source()`, not in their own message.
fn sentence(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Parses the process's arguments and runs paystat; the whole program behind `main`.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // The service logs as JSON unless told otherwise or run in a terminal, at info; the other
    // commands log errors only, as text.
    #[cfg(feature = "serve")]
    let service = match &cli.command {
        Command::Serve(args) => Some(match args.log_format {
            Some(args::LogFormat::Json) => true,
            Some(args::LogFormat::Text) => false,
            None => !std::io::stderr().is_terminal(),
        }),
        _ => None,
    };
    #[cfg(not(feature = "serve"))]
    let service: Option<bool> = None;
    init_tracing(service);
    // One thread drives the checks and their connections: no hand-off between threads for
    // every answer (a bulk run measured half the CPU per check of the multi-threaded runtime).
    // Disk syncs and reading the ids have threads of their own. The service, which answers
    // many clients at once, runs on every core.
    let runtime = match service {
        Some(_) => tokio::runtime::Builder::new_multi_thread(),
        None => tokio::runtime::Builder::new_current_thread(),
    }
    .enable_all()
    .build();
    let runtime = match runtime {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("paystat: cannot start the async runtime: {e}");
            return Failure::Usage.into();
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(exit) => exit.into(),
        // A reader that went away (`| head`) wanted no more: not an error.
        Err(e) if e.failure == Failure::ClosedPipe => ExitCode::SUCCESS,
        Err(e) => {
            // The last line of defence: a message quoting what a person typed never shows
            // anything shaped like a key.
            eprintln!("paystat: {}", paystat::redact(&e.message));
            e.failure.into()
        }
    }
}

/// Diagnostics go to stderr, filtered by `RUST_LOG` (default: errors only, so that a normal
/// run's stderr holds nothing but paystat's one-sentence error).
fn init_tracing(service: Option<bool>) {
    let default = if service.is_some() {
        "paystat=info"
    } else {
        "paystat=error"
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default))
        // The embedded mock traces every request it receives with its headers, which hold the
        // credentials of whoever calls it; it stays silent whatever RUST_LOG says.
        .add_directive("httpmock=off".parse().expect("a fixed directive parses"));
    if service == Some(true) {
        tracing_subscriber::fmt()
            .json()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .with_target(false)
            .init();
        return;
    }
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colour only for a terminal, and never when NO_COLOR is set (https://no-color.org).
        .with_ansi(
            std::io::stderr().is_terminal()
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
        )
        .with_target(false)
        .init();
}

async fn run(cli: Cli) -> Result<Exit, CliError> {
    match cli.command {
        Command::Check(args) => check::run(*args).await,
        Command::Explain(args) => explain::run(*args).await,
        Command::Reconcile(args) => reconcile::reconcile(*args).await,
        Command::Audit { command } => audit::run(command),
        Command::Cache { command } => cache::run(command).await,
        #[cfg(feature = "serve")]
        Command::Serve(args) => serve::run(args).await,
        #[cfg(feature = "serve")]
        Command::Token { command } => serve::token(command),
        Command::Completions { shell } => {
            let mut command = <Cli as clap::CommandFactory>::command();
            let mut out = Vec::new();
            clap_complete::generate(shell, &mut command, "paystat", &mut out);
            print(format_args!("{}", String::from_utf8_lossy(&out)))?;
            Ok(Exit::Done)
        }
        Command::Man => {
            let mut out = Vec::new();
            clap_mangen::Man::new(<Cli as clap::CommandFactory>::command())
                .render(&mut out)
                .map_err(|e| CliError::usage(format!("cannot write the manual page: {e}")))?;
            print(format_args!("{}", String::from_utf8_lossy(&out)))?;
            Ok(Exit::Done)
        }
        #[cfg(feature = "contract")]
        Command::Demo(args) => demo::run(args).await,
        #[cfg(feature = "contract")]
        Command::Mock {
            command: args::MockCommand::Serve(args),
        } => mock::serve(args).await,
        #[cfg(feature = "contract")]
        Command::Record(args) => contract::record(args).await,
        #[cfg(feature = "contract")]
        Command::Verify(args) => contract::verify(args).await,
        #[cfg(feature = "contract")]
        Command::Fixtures {
            command: args::FixturesCommand::Check(args),
        } => fixtures::check(&args),
        #[cfg(feature = "contract")]
        Command::Fixtures {
            command: args::FixturesCommand::Report(args),
        } => fixtures::report(&args),
    }
}

/// `builder` with the audit flags `args` applied.
fn with_audit(builder: CheckerBuilder, args: &AuditArgs) -> Result<CheckerBuilder, CliError> {
    if args.actor.as_deref().is_some_and(|a| a.trim().is_empty()) {
        return Err(CliError::usage(
            "--actor is empty; say who is checking, or leave it out to record the operating-system user",
        ));
    }
    if let Some(long) = args.actor.as_deref().filter(|a| a.chars().count() > 256) {
        return Err(CliError::usage(format!(
            "--actor is {} characters long; say who is checking in at most 256",
            long.chars().count()
        )));
    }
    let durability = args.audit_sync.map(|sync| match sync {
        args::AuditSync::Disk => Durability::Disk,
        args::AuditSync::Os => Durability::Os,
    });
    Ok(with_trail(builder, &args.trail)
        .actor(args.actor.clone())
        .audit_sync(durability))
}

/// A builder with the trail flags `--audit-log`/`--audit-dir` applied.
fn with_trail(builder: CheckerBuilder, args: &args::TrailArgs) -> CheckerBuilder {
    builder
        .audit_log(args.audit_log.clone())
        .audit_dir(args.audit_dir.clone())
}

/// Builds the checker `builder` describes, for the gateways `kinds` (with `tolerant`, one
/// that cannot be configured is left out and its reason returned as a sentence, unless none
/// can be); an audit trail that cannot be opened is exit 4, anything else a usage error.
fn build(
    builder: CheckerBuilder,
    kinds: &BTreeSet<GatewayKind>,
    tolerant: bool,
) -> Result<(Checker, BTreeMap<GatewayKind, String>), CliError> {
    let built = builder
        .gateways(kinds.iter().copied(), tolerant)
        .build()
        .map_err(|e| match e {
            BuildError::Audit(e) => {
                CliError::audit(format!("{}; no payment was checked", sentence(&e)))
            }
            e => CliError::usage(sentence(&e)),
        })?;
    let trail = built.checker.audit_trail();
    if let Some(day) = trail.ahead_of_clock() {
        eprintln!(
            "paystat: the clock is behind the audit trail, whose newest day file is {day}; lines go on in it with their true time"
        );
    }
    if let Some(link) = trail.link() {
        eprintln!(
            "paystat: the audit log {} is a link; lines go to {}",
            link.display(),
            trail.path().display()
        );
    }
    let unconfigured = built
        .unconfigured
        .iter()
        .map(|(kind, e)| (*kind, sentence(e)))
        .collect();
    Ok((built.checker, unconfigured))
}

/// The config file named by `--config`, else by `PAYSTAT_CONFIG`, else the user's own when
/// present. Which file was read is said on stderr (unless `quiet`), and so is a
/// `./paystat.toml` that is no longer read.
fn load_config(path: Option<&Path>, quiet: bool) -> Result<ConfigFile, CliError> {
    let file = ConfigFile::load(path).map_err(|e| CliError::usage(sentence(&e)))?;
    if !quiet {
        if let Some(source) = file.source() {
            eprintln!(
                "paystat: configuration from {}",
                paystat::payment_id::display_safe(&source.display().to_string())
            );
        }
        if let Some(former) = file.former_file_unread() {
            eprintln!(
                "paystat: {} in this directory is not read (paystat reads only the file you name with --config or PAYSTAT_CONFIG, else ~/.config/paystat/config.toml); see README, Upgrading",
                former.display()
            );
        }
    }
    Ok(file)
}

/// A builder over the config file [`load_config`] finds.
fn builder(path: Option<&Path>, quiet: bool) -> Result<CheckerBuilder, CliError> {
    Ok(CheckerBuilder::new(load_config(path, quiet)?))
}

/// The process environment, as configuration reads it.
fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}
