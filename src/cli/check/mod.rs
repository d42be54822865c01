//! `paystat check`: ids in (lazily), audited results out as they complete, a progress line and
//! a summary on stderr, and an exit code that says how it went.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use futures_util::StreamExt;
use paystat::{Checker, GatewayKind, Overrides, Routing};

use super::args::{CheckArgs, GatewayArg};

mod end;
mod presentation;
mod progress;
mod remote;

use super::exit::{Checked, Exit};
use super::ids::{self, IdSource};
use super::output::{Output, Shown};
use super::summary::Summary;
use super::{CliError, build, builder, sentence, with_audit};
pub(crate) use end::checked;
use end::{Ended, Stopped, finish};
pub use presentation::Presentation;
use progress::Progress;

/// Where the ids come from: the arguments, standard input (`-`) or `--ids-file`.
fn source(ids: Vec<String>, file: Option<&std::path::Path>) -> Result<IdSource, CliError> {
    if let Some(path) = file {
        let opened = std::fs::File::open(path).map_err(|e| {
            CliError::usage(format!("cannot read the ids file {}: {e}", path.display()))
        })?;
        return Ok(IdSource::Reader(Box::new(opened)));
    }
    if ids.iter().any(|id| id == "-") {
        if ids.len() > 1 {
            return Err(CliError::usage(
                "give ids as arguments or `-` for standard input, not both",
            ));
        }
        return Ok(IdSource::Reader(Box::new(std::io::stdin())));
    }
    Ok(IdSource::Args(ids))
}

/// `paystat check`.
pub async fn run(args: CheckArgs) -> Result<Exit, CliError> {
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
    let presentation = Presentation::new(&args.only, args.stale_after, args.format, args.ordered)?;
    let source = source(args.ids, args.ids_file.as_deref())?;
    if let Some(server) = &args.server {
        let known = match &source {
            IdSource::Args(ids) => Some(ids.len()),
            IdSource::Reader(_) => None,
        };
        let reading = ids::Reading {
            column: args.column,
            skip_comments: args.skip_comments,
        };
        let gateway = match routing {
            Routing::Fixed(kind) if args.gateway != GatewayArg::Auto => Some(kind),
            _ => None,
        };
        let run = Run {
            presentation,
            known,
            unconfigured: BTreeMap::new(),
            quiet: args.quiet,
            summary_json: args.summary_json,
            explain: None,
        };
        return remote::run(server, gateway, ids::stream(source, reading), run).await;
    }
    // Only the gateways the ids need are configured, so a Stripe-only run needs no Plaid keys.
    // Ids read from input are not known in advance: every gateway is tried, and an id that
    // needs one that could not be configured ends the run with that gateway's error.
    let (needed, tolerant) = match (&routing, &source) {
        (Routing::Fixed(kind), _) => (BTreeSet::from([*kind]), false),
        (Routing::Auto, IdSource::Args(ids)) => (
            ids.iter()
                .filter_map(|id| paystat::gateways::route(id))
                .collect(),
            false,
        ),
        (Routing::Auto, IdSource::Reader(_)) => (BTreeSet::from(GatewayKind::ALL), true),
    };
    let known = match &source {
        IdSource::Args(ids) => Some(ids.len()),
        IdSource::Reader(_) => None,
    };
    let builder = builder(args.config.as_deref(), args.quiet)?;
    let explain = args
        .explain
        .then(|| {
            paystat::explain::ExplainOptions::from_section(
                &builder.config().explain,
                args.rules.as_deref(),
                true,
            )
        })
        .transpose()
        .map_err(|e| CliError::usage(format!("the diagnosis rules cannot be used: {e}")))?;
    let mut builder = with_audit(builder, &args.audit)?
        .overrides(overrides)
        .routing(routing)
        .concurrency(args.concurrency)
        .fit_concurrency(within_open_files_limit);
    // The status cache, unless left alone: answers that cannot change are reused (and
    // audited as such); --max-age reuses younger ones too; --refresh only writes.
    if !args.no_cache {
        builder = builder
            .cache(args.max_age.unwrap_or_default(), args.refresh)
            .one_run();
    }
    let (checker, unconfigured) = build(builder, &needed, tolerant)?;
    let reading = ids::Reading {
        column: args.column,
        skip_comments: args.skip_comments,
    };
    let ids = ids::stream(source, reading);
    let run = Run {
        presentation,
        known,
        unconfigured,
        quiet: args.quiet,
        summary_json: args.summary_json,
        explain,
    };
    // A followed feed is synced before its gateway's changing answers are reused: an answer
    // is reused only if no event has named it since it was stored.
    if !args.no_cache && !args.refresh && !args.no_sync {
        for (gateway, why) in checker.follow_feeds().await {
            eprintln!(
                "paystat: could not sync the {gateway} change feed ({}); only {gateway} answers that can no longer change are reused from the cache in this run",
                paystat::payment_id::display_safe(&why)
            );
        }
    }
    let checker = std::sync::Arc::new(checker);
    let exit = report(&checker, ids, run).await;
    // The answers are shown and audited; keeping them is what is left. A failure here costs
    // later runs requests, never a wrong answer: said, and the exit code is the run's.
    if let Some(Err(e)) = checker.cache().map(|cache| cache.flush()) {
        eprintln!(
            "paystat: {}; those answers will be asked again next time",
            sentence(&e)
        );
    }
    exit
}

/// One run's settings beyond the checker.
pub struct Run {
    pub presentation: Presentation,
    /// How many ids there are, when known in advance (given as arguments).
    pub known: Option<usize>,
    /// Gateways an id may need that could not be configured, and why.
    pub unconfigured: BTreeMap<GatewayKind, String>,
    pub quiet: bool,
    pub summary_json: Option<std::path::PathBuf>,
    /// The rules `--explain` diagnoses stale results with.
    pub explain: Option<paystat::explain::ExplainOptions>,
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

/// Runs the checks as the ids come, prints each audited result as it completes (or in input
/// order), and picks the exit code.
///
/// Ctrl-C or SIGTERM: no new id is taken, the checks in flight finish within their deadline
/// and are printed and audited, stderr says how many ids were never sent, and the run exits
/// 130 or 143. A second signal cuts the checks in flight short as `interrupted` (audited too).
pub async fn report(
    checker: &std::sync::Arc<Checker>,
    ids: impl futures_util::Stream<Item = ids::Item>,
    run: Run,
) -> Result<Exit, CliError> {
    use tokio::signal::unix::{SignalKind, signal};
    let listen =
        |kind| signal(kind).map_err(|e| CliError::usage(format!("cannot listen for signals: {e}")));
    let (mut interrupts, mut terminations) = (
        listen(SignalKind::interrupt())?,
        listen(SignalKind::terminate())?,
    );
    let started = Instant::now();
    // The input ends at its first unreadable part, or at the first id that needs a gateway
    // that could not be configured; that is said at the end (exit 2).
    let read = std::cell::Cell::new(0usize);
    let stopped_input: RefCell<Option<String>> = RefCell::new(None);
    let ids = ids
        .take_while(|item| {
            let go = match item {
                Ok(id) => match paystat::gateways::route(id).and_then(|k| run.unconfigured.get(&k))
                {
                    Some(why) if checker_routes_auto(checker) => {
                        *stopped_input.borrow_mut() = Some(why.clone());
                        false
                    }
                    _ => true,
                },
                Err(why) => {
                    *stopped_input.borrow_mut() = Some(why.clone());
                    false
                }
            };
            if go {
                read.set(read.get() + 1);
            }
            std::future::ready(go)
        })
        .filter_map(|item| std::future::ready(item.ok()));
    let presentation = &run.presentation;
    // With --explain each result comes with its reply, for the facts of a stale payment; the
    // checks then stay on this thread.
    let mut results = match run.explain {
        Some(_) => checker.check_stream_capturing(ids, presentation.ordered),
        None => checker
            .check_stream_parallel(ids, presentation.ordered)
            .map(|r| r.map(|result| (result, None)))
            .boxed_local(),
    }
    .ready_chunks(256);
    let mut tally = Tally::begin(presentation, run.explain.is_some());
    let progress = Progress::new(run.quiet, run.known, checker);
    let mut withheld = Vec::new();
    let mut stopped = None;
    // Lines are flushed when a result is ready and nothing was flushed for FLUSH_EVERY, else
    // FLUSH_EVERY after the last flush: a line shows within that, and a fast run writes its
    // output in large pieces rather than one small write per result.
    let mut last_flush: Option<tokio::time::Instant> = None;
    let mut flush_due: Option<tokio::time::Instant> = None;
    loop {
        let signal = tokio::select! {
            () = sleep_until(flush_due) => {
                flush_due = None;
                last_flush = Some(tokio::time::Instant::now());
                tally.flush();
                continue;
            }
            chunk = results.next() => match chunk {
                Some(chunk) => {
                    let now = time::OffsetDateTime::now_utc();
                    for result in chunk {
                        match result {
                            Ok((result, reply)) => {
                                let diagnosis = match &run.explain {
                                    Some(options) if presentation.age(&result, now).is_some_and(|a| a.stale) => {
                                        Some(checker.diagnose(&result, reply.as_ref(), options).await)
                                    }
                                    _ => None,
                                };
                                tally.add(&result, presentation, now, diagnosis.as_ref());
                                progress.tick(&result);
                            }
                            Err(unaudited) => {
                                progress.tick_withheld();
                                withheld.push(unaudited);
                            }
                        }
                    }
                    let now = tokio::time::Instant::now();
                    match last_flush {
                        Some(last) if now < last + FLUSH_EVERY => {
                            flush_due.get_or_insert(last + FLUSH_EVERY);
                        }
                        _ => {
                            last_flush = Some(now);
                            flush_due = None;
                            tally.flush();
                        }
                    }
                    if tally.output_error.is_some() {
                        // Nobody reads the results any more: ask no more gateways.
                        checker.stop_taking();
                    }
                    continue;
                }
                None => break,
            },
            _ = interrupts.recv() => Stopped::Interrupt,
            _ = terminations.recv() => Stopped::Terminate,
        };
        if stopped.is_none() {
            stopped = Some(signal);
            checker.stop_taking();
            progress.suspend(|| {
                eprintln!(
                    "paystat: {}: no new checks; finishing the ones in flight (again to cut them short)",
                    signal.name()
                );
            });
        } else {
            checker.interrupt();
        }
    }
    progress.finish();
    tally.end();
    finish(
        Ended {
            started,
            summary: tally.summary,
            withheld,
            output_error: tally.output_error,
            worst: tally.worst,
            stopped,
            read: read.get(),
            stopped_input: stopped_input.take(),
        },
        &run,
    )
}

/// Whether the checker routes by id shape (only then can an id need an unconfigured gateway).
fn checker_routes_auto(checker: &Checker) -> bool {
    checker.routing() == Routing::Auto
}

/// What a run has shown and counted so far: the output, its first write error, the summary and
/// the worst ending — shared by a run against the gateways and one through the service.
pub(super) struct Tally {
    pub output: Output,
    pub output_error: Option<std::io::Error>,
    pub summary: Summary,
    pub worst: Checked,
}

impl Tally {
    /// A run's tally, its output begun (with the diagnosis columns when `explaining`).
    pub fn begin(presentation: &Presentation, explaining: bool) -> Tally {
        let mut output = Output::new(
            presentation.format,
            presentation.stale_after.is_some(),
            explaining,
        );
        let output_error = output.begin().err();
        Tally {
            output,
            output_error,
            summary: Summary::default(),
            worst: Checked::AllFound,
        }
    }

    /// Counts an audited result, and shows it unless `--only` leaves it out.
    pub fn add(
        &mut self,
        result: &paystat::CheckResult,
        presentation: &Presentation,
        now: time::OffsetDateTime,
        diagnosis: Option<&paystat::explain::Diagnosis>,
    ) {
        let age = presentation.age(result, now);
        self.summary.add(result, age.is_some_and(|a| a.stale));
        self.worst = self.worst.max(checked(result.outcome));
        if self.output_error.is_none() && presentation.shows(result, age) {
            self.output_error = self
                .output
                .push(Shown {
                    result,
                    age,
                    diagnosis,
                })
                .err();
            self.summary.shown += u64::from(self.output_error.is_none());
        }
    }

    /// Writes out what the output holds, unless writing already failed.
    pub fn flush(&mut self) {
        if self.output_error.is_none() {
            self.output_error = self.output.flush().err();
        }
    }

    /// Ends the output, unless writing already failed.
    pub fn end(&mut self) {
        if self.output_error.is_none() {
            self.output_error = self.output.end().err();
        }
    }
}

/// How long a written result may wait in the output buffer.
const FLUSH_EVERY: std::time::Duration = std::time::Duration::from_millis(10);

/// Sleeps until `due`, or forever when nothing is due.
async fn sleep_until(due: Option<tokio::time::Instant>) {
    match due {
        Some(due) => tokio::time::sleep_until(due).await,
        None => std::future::pending().await,
    }
}
