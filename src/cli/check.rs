//! `paystat check`: ids in, audited results out, and an exit code that says how it went.

use std::collections::BTreeSet;
use std::io::{BufRead, Write};

use paystat::{CheckResult, Checker, CheckerOptions, GatewayKind, Outcome, Overrides, Routing};

use super::args::{CheckArgs, Format, GatewayArg};
use super::exit::{Checked, Exit};
use super::{CliError, configured_checker, load_config, process_env, render, sentence};

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
        retry_budget: None,
    };
    // Only the gateways these ids need are configured, so a Stripe-only run needs no Plaid keys.
    let needed: BTreeSet<GatewayKind> = match routing {
        Routing::Fixed(kind) => BTreeSet::from([kind]),
        Routing::Auto => ids.iter().filter_map(|id| paystat::route(id)).collect(),
    };
    let options = CheckerOptions {
        concurrency: args.concurrency,
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

/// Runs the checks, prints the audited results and withheld ones, and picks the exit code.
pub async fn report(checker: &Checker, ids: &[String], format: Format) -> Result<Exit, CliError> {
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
            "{}; {} of {} results withheld",
            sentence(first),
            withheld.len(),
            ids.len()
        )));
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
        | Outcome::BadResponse => Checked::SomeFailed,
    }
}
