//! `paystat cache fill` and `paystat reconcile`: a window of a gateway's list into the status
//! cache, and the company's export of the period against it.

use std::collections::BTreeSet;
use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Duration;

use paystat::fill::{FillOptions, FillReport, Window};
use paystat::reconcile::{ReconcileReport, Reconciled};
use paystat::{Checker, GatewayKind, Overrides, Routing};

use super::args::{CacheFillArgs, ReconcileArgs, ReconcileFormat, WindowArgs};
use super::exit::Exit;
use super::{CliError, build, builder, print, sentence, with_audit};

/// The checker a fill runs on: the one gateway, fixed, with the status cache.
fn checker(args: &WindowArgs) -> Result<(Checker, FillOptions), CliError> {
    let kind = GatewayKind::from(args.gateway);
    if args.until <= args.since {
        return Err(CliError::usage("--until must come after --since"));
    }
    let overrides = Overrides {
        base_url: args.base_url.clone().map(|url| (kind, url)),
        timeout: args.timeout,
        requests_per_second: args.rate,
        no_proxy: args.connection.no_proxy,
        ca_cert: args.connection.ca_cert.clone(),
        stripe_account: args.connection.stripe_account.clone(),
        ..Overrides::default()
    };
    let builder = with_audit(builder(args.config.as_deref(), args.quiet)?, &args.audit)?
        .overrides(overrides)
        .routing(Routing::Fixed(kind))
        .cache(Duration::ZERO, false);
    let (checker, _) = build(builder, &BTreeSet::from([kind]), false)?;
    let options = FillOptions {
        gateway: kind,
        window: Window {
            since: args.since,
            until: args.until,
        },
        refill: args.refill,
        caller: None,
    };
    Ok((checker, options))
}

/// The progress bar of a fill on stderr (when it is a terminal and not `--quiet`).
fn bar(quiet: bool) -> Option<indicatif::ProgressBar> {
    if quiet || !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::no_length();
    if let Ok(style) = indicatif::ProgressStyle::with_template("{pos} pages  {msg}  {elapsed}") {
        bar.set_style(style);
    }
    bar.set_draw_target(indicatif::ProgressDrawTarget::stderr_with_hz(4));
    Some(bar)
}

fn on_page(bar: &Option<indicatif::ProgressBar>) -> impl Fn(&FillReport) + Sync + '_ {
    move |report: &FillReport| {
        if let Some(bar) = bar {
            bar.set_position(report.resumed_after + report.pages);
            bar.set_message(format!("{} payments listed", report.listed));
        }
    }
}

/// The fill's report in a few lines.
fn fill_text(report: &FillReport) -> String {
    let mut text = if report.reused {
        format!(
            "{}: {} to {} was filled before, after it closed ({} payments); not read again (--refill reads it again)\n",
            report.gateway, report.since, report.until, report.listed
        )
    } else {
        format!(
            "{}: {} to {}: {} pages in {} requests, {} payments listed, {} answers stored{}\n",
            report.gateway,
            report.since,
            report.until,
            report.pages,
            report.requests,
            report.listed,
            report.stored,
            if report.resumed_after > 0 {
                format!(", resumed after page {}", report.resumed_after)
            } else {
                String::new()
            }
        )
    };
    if let Some(why) = &report.feed_error {
        text.push_str(&format!(
            "{}: the change feed could not be read ({}); the answers stored are reused only once final or within --max-age\n",
            report.gateway,
            paystat::payment_id::display_safe(why)
        ));
    }
    if report.unread_count > 0 {
        text.push_str(&format!(
            "{}: {} listed payments could not be read whole and are asked of the gateway when checked",
            report.gateway, report.unread_count
        ));
        if let Some(first) = report.unread.first() {
            text.push_str(&format!(
                " (first: {}: {})",
                paystat::payment_id::display_safe(&first.payment_id),
                paystat::payment_id::display_safe(&first.detail)
            ));
        }
        text.push('\n');
    }
    if let Some(error) = &report.error {
        text.push_str(&format!(
            "{}: the fill stopped before the list's end: {}; run it again to resume\n",
            report.gateway,
            paystat::payment_id::display_safe(error)
        ));
    }
    text
}

fn fill_error(e: &paystat::fill::FillError) -> CliError {
    match e {
        paystat::fill::FillError::Unaudited(_) => CliError::audit(sentence(e)),
        _ => CliError::usage(sentence(e)),
    }
}

/// `paystat cache fill`.
pub async fn fill(args: CacheFillArgs) -> Result<Exit, CliError> {
    let (checker, options) = checker(&args.window)?;
    let bar = bar(args.window.quiet);
    let report = checker
        .fill(&options, &on_page(&bar))
        .await
        .map_err(|e| fill_error(&e))?;
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    if args.json {
        let json = serde_json::to_string_pretty(&report)
            .map_err(|e| CliError::usage(format!("cannot write the report: {e}")))?;
        print(format_args!("{json}\n"))?;
    } else {
        print(format_args!("{}", fill_text(&report)))?;
    }
    Ok(Exit::Synced {
        failed: !report.finished,
    })
}

/// The CSV columns of a reconciled row.
const CSV_COLUMNS: [&str; 17] = [
    "payment_id",
    "difference",
    "in_export",
    "export_amount_minor",
    "export_currency",
    "gateway",
    "outcome",
    "status",
    "gateway_status",
    "amount_minor",
    "currency",
    "amount_refunded_minor",
    "dispute_status",
    "created_at",
    "in_window",
    "source",
    "detail",
];

fn csv_row(row: &Reconciled) -> Vec<String> {
    let r = &row.result;
    let text = |v: Option<String>| v.unwrap_or_default();
    vec![
        r.payment_id.clone(),
        row.difference.as_str().to_owned(),
        row.in_export.to_string(),
        text(row.export_amount_minor.map(|m| m.to_string())),
        text(row.export_currency.map(str::to_owned)),
        text(r.gateway.map(|g| g.as_str().to_owned())),
        r.outcome.as_str().to_owned(),
        text(r.status.map(|s| s.as_str().to_owned())),
        text(r.gateway_status.clone()),
        text(r.amount.map(|m| m.amount_minor.to_string())),
        text(r.amount.map(|m| m.currency_code().to_owned())),
        text(r.amount_refunded_minor.map(|m| m.to_string())),
        text(r.dispute_status.clone()),
        text(r.created_at.clone()),
        text(row.in_window.map(|w| w.to_string())),
        r.source.as_str().to_owned(),
        text(r.detail.clone()),
    ]
}

/// An amount in minor units with its currency, as people read it (`20.00 USD`).
fn amount(minor: Option<i64>, currency: Option<&str>) -> String {
    match (minor, currency.and_then(|c| paystat::currency(c).ok())) {
        (Some(minor), Some(currency)) => paystat::Money::from_minor(minor, currency).to_string(),
        _ => String::new(),
    }
}

/// The totals, as lines of text.
fn totals_text(report: &ReconcileReport) -> String {
    let sums = |total: &paystat::reconcile::Total| {
        total
            .amount_minor
            .iter()
            .map(|(code, minor)| amount(Some(*minor), Some(code)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut text = format!(
        "{} export rows; {} payments shown, each audited\n",
        report.export_rows, report.shown
    );
    text.push_str("by difference:\n");
    for (name, total) in &report.by_difference {
        text.push_str(&format!("  {name}: {} ({})\n", total.payments, sums(total)));
    }
    text.push_str("by status:\n");
    for (name, total) in &report.by_status {
        text.push_str(&format!("  {name}: {} ({})\n", total.payments, sums(total)));
    }
    for withheld in &report.withheld {
        text.push_str(&format!("withheld (not audited): {withheld}\n"));
    }
    text
}

/// `paystat reconcile`.
pub async fn reconcile(args: ReconcileArgs) -> Result<Exit, CliError> {
    let file = std::fs::File::open(&args.ids_file).map_err(|e| {
        CliError::usage(format!(
            "cannot read the export {}: {e}",
            args.ids_file.display()
        ))
    })?;
    let export = paystat::reconcile::read_export(std::io::BufReader::new(file))
        .map_err(|e| CliError::usage(sentence(&e)))?;
    let (checker, options) = checker(&args.window)?;
    let checker = Arc::new(checker);
    let bar = bar(args.window.quiet);
    let mut rows = Vec::new();
    let mut csv = (args.format == ReconcileFormat::Csv).then(|| {
        let mut writer = csv::Writer::from_writer(std::io::stdout());
        let _ = writer.write_record(CSV_COLUMNS);
        writer
    });
    let mut output_error = None;
    let report = checker
        .reconcile(export, &options, &on_page(&bar), |row| {
            let written = match args.format {
                ReconcileFormat::Jsonl => serde_json::to_string(row)
                    .map_err(std::io::Error::other)
                    .and_then(|line| {
                        use std::io::Write;
                        writeln!(std::io::stdout(), "{line}")
                    }),
                ReconcileFormat::Csv => csv.as_mut().map_or(Ok(()), |w| {
                    let cells = csv_row(row);
                    let cells = cells
                        .iter()
                        .map(|c| paystat::flat::spreadsheet_safe(c).into_owned());
                    w.write_record(cells).map_err(std::io::Error::other)
                }),
                ReconcileFormat::Json => {
                    rows.push(row.clone());
                    Ok(())
                }
                ReconcileFormat::Table => {
                    if args.all || row.difference != paystat::reconcile::Difference::None {
                        rows.push(row.clone());
                    }
                    Ok(())
                }
            };
            if let Err(e) = written
                && output_error.is_none()
            {
                // Nobody reads the rows any more: check no further payment.
                output_error = Some(e);
                checker.stop_taking();
            }
        })
        .await
        .map_err(|e| match &e {
            paystat::reconcile::ReconcileError::Fill(fill) => fill_error(fill),
            _ => CliError::usage(sentence(&e)),
        })?;
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    if let Some(mut w) = csv
        && let Err(e) = w.flush()
    {
        output_error.get_or_insert(e);
    }
    if let Some(e) = output_error {
        return Err(CliError::output(&e));
    }
    eprint!("{}", fill_text(&report.fill));
    match args.format {
        ReconcileFormat::Json => {
            let json = serde_json::json!({"rows": rows, "summary": report});
            let json = serde_json::to_string_pretty(&json)
                .map_err(|e| CliError::usage(format!("cannot write the report: {e}")))?;
            print(format_args!("{json}\n"))?;
        }
        ReconcileFormat::Jsonl => {
            let json = serde_json::to_string(&serde_json::json!({"summary": report}))
                .map_err(|e| CliError::usage(format!("cannot write the report: {e}")))?;
            print(format_args!("{json}\n"))?;
        }
        ReconcileFormat::Csv => eprint!("{}", totals_text(&report)),
        ReconcileFormat::Table => {
            let mut table = comfy_table::Table::new();
            table
                .load_preset(comfy_table::presets::ASCII_MARKDOWN)
                .set_header([
                    "payment",
                    "difference",
                    "status",
                    "amount",
                    "export amount",
                    "detail",
                ]);
            for row in &rows {
                let r = &row.result;
                table.add_row([
                    paystat::payment_id::display_safe(&r.payment_id),
                    row.difference.as_str().to_owned(),
                    r.status
                        .map_or_else(|| r.outcome.as_str().to_owned(), |s| s.as_str().to_owned()),
                    r.amount.map(|m| m.to_string()).unwrap_or_default(),
                    amount(row.export_amount_minor, row.export_currency),
                    r.detail
                        .as_deref()
                        .map(paystat::payment_id::display_safe)
                        .unwrap_or_default(),
                ]);
            }
            let shown = if rows.is_empty() {
                "no payment differs\n".to_owned()
            } else {
                format!("{table}\n")
            };
            print(format_args!("{shown}{}", totals_text(&report)))?;
        }
    }
    if !report.withheld.is_empty() {
        return Err(CliError::audit(format!(
            "{} checks could not be audited, and their answers are withheld",
            report.withheld.len()
        )));
    }
    let count = |name: &str| report.by_difference.get(name).map_or(0, |t| t.payments);
    Ok(Exit::Reconciled {
        differs: count("missing_at_gateway") + count("missing_in_export") + count("amount_differs")
            > 0,
        unresolved: count("unresolved") > 0,
    })
}
