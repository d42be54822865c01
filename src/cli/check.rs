//! `paystat check`: ids in, audited results out, and an exit code that says how it went.

use std::collections::BTreeSet;
use std::io::BufRead;

use paystat::{CheckResult, Checker, CheckerOptions, GatewayKind, Outcome, Overrides, Routing};

use super::args::{CheckArgs, Format, GatewayArg};
use super::exit::{Checked, Exit};
use super::{CliError, configured_checker, load_config, print, process_env, render, sentence};

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

/// `paystat check`.
pub async fn run(args: CheckArgs) -> Result<Exit, CliError> {
    let ids = read_ids(args.ids)?;
    let routing = match args.gateway {
        GatewayArg::Ledger => Routing::Fixed(GatewayKind::Ledger),
        GatewayArg::Stripe => Routing::Fixed(GatewayKind::Stripe),
        GatewayArg::Plaid => Routing::Fixed(GatewayKind::Plaid),
        GatewayArg::Auto => Routing::Auto,
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
    let overrides = Overrides {
        base_url,
        timeout: args.timeout,
        max_attempts: args.max_attempts,
        backoff_base: args.backoff_base,
        backoff_cap: args.backoff_cap,
        retry_after_cap: args.retry_after_cap,
        deadline: args.deadline,
        requests_per_second: args.rate,
        retry_budget: None,
        no_proxy: args.connection.no_proxy,
        ca_cert: args.connection.ca_cert,
        stripe_account: args.connection.stripe_account,
    };
    // Only the gateways these ids need are configured, so a Stripe-only run needs no Plaid keys.
    let needed: BTreeSet<GatewayKind> = match routing {
        Routing::Fixed(kind) => BTreeSet::from([kind]),
        Routing::Auto => ids.iter().filter_map(|id| paystat::route(id)).collect(),
    };
    let concurrency = paystat::validate_concurrency("--concurrency", args.concurrency)
        .map_err(|e| CliError::usage(sentence(&e)))?;
    let options = CheckerOptions {
        concurrency: within_open_files_limit(concurrency),
        ..CheckerOptions::new(routing)
    };
    let checker = configured_checker(
        &needed,
        &load_config(args.config.as_deref())?,
        &process_env,
        &overrides,
        &args.audit,
        options,
    )?;
    report(&checker, &ids, args.format).await
}

/// Files a process needs besides one connection per check in flight: standard streams, the
/// audit file, the runtime's own descriptors, and idle pooled connections to other gateways.
const FILES_BESIDES_CHECKS: u64 = 64;

/// `concurrency`, or fewer when the open-files limit cannot hold that many connections: the
/// soft limit is raised as far as the hard limit allows first, and a lowered concurrency is
/// said on stderr (it is not an error: the run goes on, slower).
fn within_open_files_limit(concurrency: usize) -> usize {
    let needed = concurrency as u64 + FILES_BESIDES_CHECKS;
    let Ok(limit) = rlimit::increase_nofile_limit(needed) else {
        return concurrency;
    };
    if limit >= needed {
        return concurrency;
    }
    let allowed = usize::try_from(limit.saturating_sub(FILES_BESIDES_CHECKS))
        .unwrap_or(1)
        .max(1);
    eprintln!(
        "paystat: the open-files limit ({limit}) allows {allowed} checks at once, not {concurrency}; running {allowed} at once"
    );
    allowed
}

/// The signal that stopped a run, and the exit code it ends with (128 + its number).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stopped {
    Interrupt,
    Terminate,
}

impl Stopped {
    fn name(self) -> &'static str {
        match self {
            Stopped::Interrupt => "Ctrl-C (SIGINT)",
            Stopped::Terminate => "SIGTERM",
        }
    }
}

/// Runs the checks, prints the audited results and withheld ones, and picks the exit code.
///
/// Ctrl-C or SIGTERM: no new id is taken, the checks in flight finish within their deadline
/// and are printed and audited, stderr says how many ids were never sent, and the run exits
/// 130 or 143. A second signal cuts the checks in flight short as `interrupted` (audited too).
pub async fn report(checker: &Checker, ids: &[String], format: Format) -> Result<Exit, CliError> {
    use tokio::signal::unix::{SignalKind, signal};
    let listen =
        |kind| signal(kind).map_err(|e| CliError::usage(format!("cannot listen for signals: {e}")));
    let (mut interrupts, mut terminations) = (
        listen(SignalKind::interrupt())?,
        listen(SignalKind::terminate())?,
    );
    let run = checker.check_all(ids);
    tokio::pin!(run);
    let mut stopped = None;
    let results = loop {
        let signal = tokio::select! {
            results = &mut run => break results,
            _ = interrupts.recv() => Stopped::Interrupt,
            _ = terminations.recv() => Stopped::Terminate,
        };
        if stopped.is_none() {
            stopped = Some(signal);
            checker.stop_taking();
            eprintln!(
                "paystat: {}: no new checks; finishing the ones in flight (again to cut them short)",
                signal.name()
            );
        } else {
            checker.interrupt();
        }
    };
    let started = results.len();
    let mut shown: Vec<CheckResult> = Vec::with_capacity(started);
    let mut withheld = Vec::new();
    for result in results {
        match result {
            Ok(result) => shown.push(result),
            Err(unaudited) => withheld.push(unaudited),
        }
    }
    let text = match format {
        Format::Table => render::table(&shown),
        Format::Json => render::json(&shown),
    };
    let printed = if !shown.is_empty() || format == Format::Json {
        print(format_args!("{text}\n"))
    } else {
        Ok(())
    };
    // An audit failure outranks an output failure: Compliance must hear of it first.
    if let Some(first) = withheld.first() {
        let not_sent = withheld
            .iter()
            .filter(|w| matches!(w.source, paystat::AuditError::Halted))
            .count();
        let unsent = match not_sent {
            0 => String::new(),
            n => format!(
                " ({n} of them never sent: paystat stopped asking at the first audit failure)"
            ),
        };
        return Err(CliError::audit(format!(
            "{}; {} of {} results withheld{unsent}",
            sentence(first),
            withheld.len(),
            ids.len()
        )));
    }
    printed?;
    if let Some(signal) = stopped {
        eprintln!(
            "paystat: stopped by {}: {} of {} ids were never sent; every check that was sent is shown and audited",
            signal.name(),
            ids.len() - started,
            ids.len()
        );
        return Ok(Exit::Stopped {
            code: match signal {
                Stopped::Interrupt => 130,
                Stopped::Terminate => 143,
            },
        });
    }
    let worst = shown
        .iter()
        .map(|r| checked(r.outcome))
        .max()
        .unwrap_or(Checked::AllFound);
    Ok(Exit::Checked(worst))
}

fn checked(outcome: Outcome) -> Checked {
    match outcome {
        Outcome::Found => Checked::AllFound,
        Outcome::NotFound | Outcome::InvalidId => Checked::SomeNotFound,
        Outcome::Unauthorized
        | Outcome::BadRequest
        | Outcome::RateLimited
        | Outcome::GatewayError
        | Outcome::Timeout
        | Outcome::ConnectionError
        | Outcome::BadResponse
        | Outcome::Interrupted => Checked::SomeFailed,
    }
}
