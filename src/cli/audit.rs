//! `paystat audit …`: verify the chain, print its head, export a range, a payment's history,
//! statistics, and pruning past retention. Every command reads the trail line by line, so a
//! trail of millions of lines is answered in bounded memory.

use std::io::Write;
use std::path::Path;

use comfy_table::{Table, presets};

use super::render::cell;
use time::OffsetDateTime;

use paystat::audit_trail::Location;
use paystat::audit_trail::query::{self, Filter};
use paystat::audit_trail::verify::{self, Place, Report, VerifyOptions};
use paystat::payment_id::display_safe;
use paystat::{ConfigFile, GatewayKind, Outcome};

use super::args::{
    AuditCommand, AuditExportArgs, AuditHistoryArgs, AuditPruneArgs, AuditStatsArgs,
    AuditVerifyArgs, ExportFormat, GroupBy, RangeArgs, TrailOnly,
};
use super::exit::Exit;
use super::{CliError, builder, print, process_env, sentence, with_trail};

/// Runs one `audit` command.
pub fn run(command: AuditCommand) -> Result<Exit, CliError> {
    match command {
        AuditCommand::Verify(args) => verify_trail(&args),
        AuditCommand::Head(args) => head(&args),
        AuditCommand::Export(args) => export(&args),
        AuditCommand::History(args) => history(&args),
        AuditCommand::Stats(args) => stats(&args),
        AuditCommand::Prune(args) => prune_trail(&args),
        AuditCommand::Seal(args) => seal(&args),
        AuditCommand::RotateKey(args) => rotate_key(&args),
    }
}

/// `paystat audit rotate-key`: a line sealed with the old key (`PAYSTAT_AUDIT_KEY_PREVIOUS`)
/// names the new one (`PAYSTAT_AUDIT_KEY`); the lines after it are sealed with the new key.
fn rotate_key(args: &TrailOnly) -> Result<Exit, CliError> {
    let (_, file) = trail(args)?;
    let builder = with_trail(builder(args.config.as_deref(), false)?, &args.trail);
    let new = sealer(&file)?;
    let old = previous_sealer(&file)?.ok_or_else(|| {
        CliError::usage(
            "rotating the audit key needs the old key in PAYSTAT_AUDIT_KEY_PREVIOUS and the new one in PAYSTAT_AUDIT_KEY",
        )
    })?;
    let trail = builder
        .rotate_trail_key(old, &new)
        .map_err(|e| CliError::audit(sentence(&e)))?;
    print(format_args!(
        "rotated: the line just written to {} is sealed with the old key and names the new one; from here on lines are sealed with PAYSTAT_AUDIT_KEY, and `audit verify` needs PAYSTAT_AUDIT_KEY_PREVIOUS too\n",
        trail.path().display()
    ))?;
    Ok(Exit::Done)
}

/// `paystat audit seal`: the trail sealed with the audit key from a recorded line on.
fn seal(args: &TrailOnly) -> Result<Exit, CliError> {
    trail(args)?;
    let trail = with_trail(builder(args.config.as_deref(), false)?, &args.trail)
        .seal_trail()
        .map_err(|e| CliError::audit(sentence(&e)))?;
    print(format_args!(
        "sealed: from the line just written on, {} is sealed with the audit key; `audit verify` needs the key\n",
        trail.path().display()
    ))?;
    Ok(Exit::Done)
}

/// The trail named by the flags, the environment or the config, and the config itself.
fn trail(args: &TrailOnly) -> Result<(Location, ConfigFile), CliError> {
    let builder = with_trail(builder(args.config.as_deref(), false)?, &args.trail);
    let location = builder.trail_location();
    let file = builder.config().clone();
    let exists = match &location {
        Location::File(path) => path.is_file(),
        Location::Days(dir) => dir.is_dir(),
    };
    if !exists {
        return Err(CliError::usage(format!(
            "there is no audit trail at {}; name one with --audit-dir DIR or --audit-log FILE",
            location.path().display()
        )));
    }
    Ok((location, file))
}

/// `--since`/`--until` as times: a date (UTC midnight), an RFC 3339 time, or an age (`7d`).
fn range(
    args: &RangeArgs,
    now: OffsetDateTime,
) -> Result<(Option<OffsetDateTime>, Option<OffsetDateTime>), CliError> {
    let parse = |flag: &str, text: &Option<String>| -> Result<Option<OffsetDateTime>, CliError> {
        text.as_deref()
            .map(|t| {
                parse_when(t, now)
                    .map_err(|why| CliError::usage(format!("{flag} `{}` {why}", display_safe(t))))
            })
            .transpose()
    };
    let since = parse("--since", &args.since)?;
    let until = parse("--until", &args.until)?;
    if let (Some(s), Some(u)) = (since, until)
        && s >= u
    {
        return Err(CliError::usage("--since must be before --until"));
    }
    Ok((since, until))
}

/// A time a person gives: `2026-10-01`, `2026-10-01T12:00:00Z`, or an age like `7d`, `24h`.
pub fn parse_when(text: &str, now: OffsetDateTime) -> Result<OffsetDateTime, String> {
    use time::format_description::well_known::Rfc3339;
    if let Ok(at) = OffsetDateTime::parse(text, &Rfc3339) {
        return Ok(at);
    }
    if let Ok(day) = time::Date::parse(
        text,
        time::macros::format_description!("[year]-[month]-[day]"),
    ) {
        return Ok(day.midnight().assume_utc());
    }
    match humantime::parse_duration(text) {
        Ok(age) => time::Duration::try_from(age)
            .ok()
            .and_then(|age| now.checked_sub(age))
            .ok_or_else(|| "is too long ago".to_owned()),
        Err(_) => Err("is not a date (2026-10-01), an RFC 3339 time or an age (7d)".to_owned()),
    }
}

/// A place, shown relative to the trail (`2026-11-27.jsonl line 4`).
fn shown(place: &Place, location: &Location) -> String {
    let file = match location {
        Location::Days(dir) => place.file.strip_prefix(dir).unwrap_or(&place.file),
        Location::File(_) => place.file.as_path(),
    };
    format!("{} line {}", file.display(), place.line)
}

fn sealer(file: &ConfigFile) -> Result<paystat::audit_trail::Sealer, CliError> {
    file.audit_sealer(&process_env)
        .map_err(|e| CliError::usage(sentence(&e)))
}

/// The audit key before the last rotation (`PAYSTAT_AUDIT_KEY_PREVIOUS`), if set.
fn previous_sealer(file: &ConfigFile) -> Result<Option<paystat::audit_trail::Sealer>, CliError> {
    file.audit_previous_sealer(&process_env)
        .map_err(|e| CliError::usage(sentence(&e)))
}

fn verify_trail(args: &AuditVerifyArgs) -> Result<Exit, CliError> {
    let (location, file) = trail(&args.trail)?;
    let (since, until) = range(&args.range, OffsetDateTime::now_utc())?;
    let options = VerifyOptions {
        since,
        until,
        expect_head: args.expect_head.clone(),
        sealer: sealer(&file)?,
        previous: previous_sealer(&file)?,
    };
    let report = verify::verify(&location, &options).map_err(|e| CliError::usage(sentence(&e)))?;
    print(format_args!("{}", describe(&report, &location)))?;
    Ok(Exit::Audited {
        broken: report.broken.is_some(),
    })
}

/// The report of a walk, for people: counts, warnings, then intact or where it broke.
fn describe(report: &Report, location: &Location) -> String {
    let mut text = format!(
        "{} line{} in {} file{} ({} legacy, unchained; {})\n",
        report.lines,
        if report.lines == 1 { "" } else { "s" },
        report.files,
        if report.files == 1 { "" } else { "s" },
        report.legacy,
        if report.keyed {
            "sealed with the audit key"
        } else {
            "plain SHA-256, no key"
        },
    );
    for place in &report.repairs {
        text.push_str(&format!(
            "warning: {}: a fragment a crash left, kept and recorded by the repair line after it\n",
            shown(place, location)
        ));
    }
    let legacy_warning = report.legacy_unverified.then(|| {
        format!(
            "warning: the chain began before paystat counted the lines written before it: its {} legacy line{} cannot be shown not to have been put there\n",
            report.legacy,
            if report.legacy == 1 { "" } else { "s" }
        )
    });
    match &report.broken {
        None => {
            let head = report
                .head
                .as_ref()
                .map_or("no chained line yet".to_owned(), |(seq, hash)| {
                    format!("head seq {seq} {hash}")
                });
            if let Some(warning) = &legacy_warning {
                text.push_str(warning);
            }
            match &report.unrecorded_checkpoint {
                // Not intact: what the checkpoint stands for cannot be shown to be pruning.
                Some(path) => text.push_str(&format!(
                    "warning: no line of the chain records {} (written by hand, or by a paystat from before pruning was recorded): the day files before it cannot be shown to have been pruned\nunverified: every line after the checkpoint follows the one before it; {head}\n",
                    display_safe(&path.display().to_string())
                )),
                None if legacy_warning.is_some() => text.push_str(&format!(
                    "unverified: every chained line follows the one before it; {head}\n"
                )),
                None => text.push_str(&format!(
                    "intact: every line follows the one before it; {head}\n"
                )),
            }
        }
        Some(broken) => {
            let place = broken
                .place
                .as_ref()
                .map_or("the end of the trail".to_owned(), |p| shown(p, location));
            text.push_str(&format!(
                "BROKEN at {place}: {} — {}\n",
                broken.kind.as_str(),
                broken.detail
            ));
        }
    }
    text
}

fn head(args: &TrailOnly) -> Result<Exit, CliError> {
    let (location, _) = trail(args)?;
    match verify::head(&location).map_err(|e| CliError::usage(sentence(&e)))? {
        Some((seq, hash, place)) => {
            print(format_args!(
                "seq {seq} hash {hash} at {}\n",
                shown(&place, &location)
            ))?;
            let today = OffsetDateTime::now_utc().date();
            if let Some(day) = paystat::audit_trail::day_of(&place.file).filter(|day| *day > today)
            {
                print(format_args!(
                    "the clock is behind the trail: its head is in the day file of {day}, and today is {today} (UTC)\n"
                ))?;
            }
            Ok(Exit::Done)
        }
        None => Err(CliError::usage(format!(
            "the audit trail at {} has no chained line yet",
            location.path().display()
        ))),
    }
}

fn filter(
    args: &AuditExportArgs,
    since: Option<OffsetDateTime>,
    until: Option<OffsetDateTime>,
) -> Result<Filter, CliError> {
    let outcome = args
        .outcome
        .as_deref()
        .map(|text| {
            Outcome::from_word(text).ok_or_else(|| {
                CliError::usage(format!(
                    "--outcome `{}` is not an outcome; use one of {}",
                    display_safe(text),
                    Outcome::ALL.map(Outcome::as_str).join(", ")
                ))
            })
        })
        .transpose()?;
    if let Some(unknown) = args
        .event
        .iter()
        .find(|e| !paystat::audit_trail::EVENTS.contains(&e.as_str()))
    {
        return Err(CliError::usage(format!(
            "--event `{}` is not an event of the trail; use one of {}",
            display_safe(unknown),
            paystat::audit_trail::EVENTS.join(", ")
        )));
    }
    Ok(Filter {
        since,
        until,
        actor: args.actor.clone(),
        payment_id: args.payment_id.clone(),
        gateway: args.gateway.map(GatewayKind::from),
        outcome,
        events: args.event.clone(),
        every_file: false,
    })
}

fn export(args: &AuditExportArgs) -> Result<Exit, CliError> {
    let (location, file) = trail(&args.trail)?;
    let (since, until) = range(&args.range, OffsetDateTime::now_utc())?;
    let filter = filter(args, since, until)?;
    let format = match args.format {
        ExportFormat::Jsonl => query::ExportFormat::Jsonl,
        ExportFormat::Csv => query::ExportFormat::Csv,
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let scanned =
        query::export(&location, &filter, format, &mut out).map_err(|e| output_or_read(&e))?;
    out.flush()
        .map_err(|e| output_or_read(&query::QueryError::Write(e)))?;
    drop(out);
    // The chain over the same range, so what was exported is known to be what was written.
    let report = verify::verify(
        &location,
        &VerifyOptions {
            since,
            until,
            expect_head: None,
            sealer: sealer(&file)?,
            previous: previous_sealer(&file)?,
        },
    )
    .map_err(|e| CliError::usage(sentence(&e)))?;
    let legacy = match scanned.legacy {
        0 => String::new(),
        n => format!(" ({n} legacy, unchained: not verified)"),
    };
    let chain = match &report.broken {
        None => "the chain verified over the range".to_owned(),
        Some(b) => format!(
            "the chain is BROKEN at {}: {} — {}",
            b.place
                .as_ref()
                .map_or("the end of the trail".to_owned(), |p| shown(p, &location)),
            b.kind.as_str(),
            b.detail
        ),
    };
    eprintln!(
        "paystat: exported {} line{}{}{legacy}; {chain}",
        scanned.matched,
        if scanned.matched == 1 { "" } else { "s" },
        other_events(&scanned)
    );
    Ok(Exit::Audited {
        broken: report.broken.is_some(),
    })
}

/// The lines of other events than status checks a query went through, for its summary:
/// ` (of them: audit.prune 1, cache.row_rejected 2)`.
fn other_events(scanned: &query::Scanned) -> String {
    if scanned.other_events.is_empty() {
        return String::new();
    }
    let counts: Vec<String> = scanned
        .other_events
        .iter()
        .map(|(event, n)| format!("{} {n}", display_safe(event)))
        .collect();
    format!(" (other events: {})", counts.join(", "))
}

/// A query error as the CLI reports it: a closed pipe ends quietly, a write error is exit 5.
fn output_or_read(error: &query::QueryError) -> CliError {
    match error {
        query::QueryError::Write(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
            CliError::output(e)
        }
        query::QueryError::Write(_) => CliError {
            failure: super::exit::Failure::Output,
            message: sentence(error),
        },
        // Reading the trail failed (and whatever a later paystat adds): a usage error.
        _ => CliError::usage(sentence(error)),
    }
}

fn history(args: &AuditHistoryArgs) -> Result<Exit, CliError> {
    let (location, _) = trail(&args.trail)?;
    let mut table = Table::new();
    table.load_preset(presets::ASCII_MARKDOWN);
    table.set_header([
        "when (UTC)",
        "event",
        "actor",
        "os user",
        "gateway",
        "environment",
        "outcome",
        "status",
        "gateway status",
        "took",
    ]);
    let mut rows = 0u64;
    let scanned = query::history_reading(&location, &args.id, args.no_index, |row| {
        rows += 1;
        // Every cell escaped: a trail line's text is whatever was written into it.
        table.add_row(
            [
                row.timestamp,
                // A line from before the chain is shown, never as if it were verified.
                if row.unchained {
                    format!("{} (unchained, not verified)", row.event)
                } else {
                    row.event
                },
                row.actor,
                row.os_user,
                row.gateway.map(|g| g.to_string()).unwrap_or_default(),
                row.environment.unwrap_or_default(),
                row.outcome.map(|o| o.to_string()).unwrap_or_default(),
                row.status.unwrap_or_default(),
                row.gateway_status.unwrap_or_default(),
                if row.outcome.is_some() {
                    format!("{} ms", row.duration_ms)
                } else {
                    String::new()
                },
            ]
            .map(|text| cell(&text)),
        );
        Ok(())
    })
    .map_err(|e| output_or_read(&e))?;
    if rows == 0 {
        let read = if scanned.narrowed {
            "the files its index says could hold it"
        } else {
            "the trail"
        };
        eprintln!(
            "paystat: no line about payment {} in {read} ({} lines read)",
            display_safe(&args.id),
            scanned.read
        );
        return Ok(Exit::Audited { broken: false });
    }
    print(format_args!("{table}\n"))?;
    eprintln!(
        "paystat: {rows} line{} about payment {}{}",
        if rows == 1 { "" } else { "s" },
        display_safe(&args.id),
        match scanned.legacy {
            0 => String::new(),
            n => format!(" ({n} unchained, not verified)"),
        }
    );
    Ok(Exit::Done)
}

fn stats(args: &AuditStatsArgs) -> Result<Exit, CliError> {
    let (location, _) = trail(&args.trail)?;
    let (since, until) = range(&args.range, OffsetDateTime::now_utc())?;
    let by = match args.by {
        GroupBy::Gateway => query::GroupBy::Gateway,
        GroupBy::Actor => query::GroupBy::Actor,
        GroupBy::Outcome => query::GroupBy::Outcome,
        GroupBy::Day => query::GroupBy::Day,
    };
    let filter = Filter {
        since,
        until,
        ..Filter::default()
    };
    // Checks are counted in the table; other events in the summary.
    let (rows, scanned) = query::stats(&location, &filter, by).map_err(|e| output_or_read(&e))?;
    let mut table = Table::new();
    table.load_preset(presets::ASCII_MARKDOWN);
    let by_name = match args.by {
        GroupBy::Gateway => "gateway",
        GroupBy::Actor => "actor",
        GroupBy::Outcome => "outcome",
        GroupBy::Day => "day",
    };
    table.set_header([
        by_name,
        "checks",
        "outcomes",
        "timeouts",
        "retries",
        "rate limited",
        "from cache",
        "p50",
        "p95",
        "p99",
        "max",
    ]);
    for row in &rows {
        let outcomes: Vec<String> = row
            .outcomes
            .iter()
            .map(|(o, n)| format!("{o} {n}"))
            .collect();
        table.add_row([
            cell(&row.group),
            row.checks.to_string(),
            outcomes.join(", "),
            row.timeouts.to_string(),
            row.retries.to_string(),
            row.rate_limited.to_string(),
            row.from_cache.to_string(),
            format!("{} ms", row.p50_ms),
            format!("{} ms", row.p95_ms),
            format!("{} ms", row.p99_ms),
            format!("{} ms", row.max_ms),
        ]);
    }
    print(format_args!("{table}\n"))?;
    let checks = scanned.matched - scanned.other_events.values().sum::<u64>();
    eprintln!(
        "paystat: {} check{} counted{}{}",
        checks,
        if checks == 1 { "" } else { "s" },
        match scanned.legacy {
            0 => String::new(),
            n => format!(" ({n} legacy, unchained: not verified)"),
        },
        other_events(&scanned)
    );
    Ok(Exit::Done)
}

fn prune_trail(args: &AuditPruneArgs) -> Result<Exit, CliError> {
    let (_, file) = trail(&args.trail)?;
    let (retain, compress) = file
        .audit_retention(args.force)
        .map_err(|e| CliError::usage(sentence(&e)))?;
    let today = OffsetDateTime::now_utc().date();
    // `audit_retention` has refused a short retention unless the file allows it or --force.
    let short_allowed = args.force || file.audit.allow_short_retention;
    // Pruning is recorded in the chain, so the trail is opened as a check would open it (a
    // keyed trail needs its key) before anything is removed.
    let opened = with_trail(
        builder(args.trail.config.as_deref(), false)?,
        &args.trail.trail,
    )
    .open_trail()
    .map_err(|e| CliError::audit(format!("{}; nothing was pruned", sentence(&e))))?;
    let pruned = opened
        .prune(today, retain, compress, short_allowed)
        .map_err(|e| CliError::usage(sentence(&e)))?;
    let name = |p: &Path| {
        p.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    for path in &pruned.removed {
        print(format_args!("removed {}\n", name(path)))?;
    }
    for path in &pruned.compressed {
        print(format_args!("compressed {}\n", name(path)))?;
    }
    if let Some(checkpoint) = &pruned.checkpoint {
        print(format_args!(
            "checkpoint: the chain continues after seq {} {} (through {})\n",
            checkpoint.seq, checkpoint.hash, checkpoint.through
        ))?;
    }
    eprintln!(
        "paystat: kept {retain} days; {} day file{} removed, {} compressed",
        pruned.removed.len(),
        if pruned.removed.len() == 1 { "" } else { "s" },
        pruned.compressed.len()
    );
    Ok(Exit::Done)
}
