//! `paystat explain`: one payment's timeline and diagnosis, for a terminal or as JSON.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use paystat::explain::{ExplainOptions, Explanation};
use paystat::{Ask, GatewayKind, Overrides, Routing};

use super::args::{ExplainArgs, ExplainFormat, GatewayArg};
use super::check::checked;
use super::exit::Exit;
use super::{CliError, build, builder, print, sentence, with_audit};

/// `paystat explain`.
pub async fn run(args: ExplainArgs) -> Result<Exit, CliError> {
    let routing = match args.gateway {
        GatewayArg::Ledger => Routing::Fixed(GatewayKind::Ledger),
        GatewayArg::Stripe => Routing::Fixed(GatewayKind::Stripe),
        GatewayArg::Plaid => Routing::Fixed(GatewayKind::Plaid),
        GatewayArg::Auto => Routing::Auto,
    };
    let builder = builder(args.config.as_deref(), args.quiet)?;
    // The rules first: a rules folder that cannot be used stops before anything is asked.
    let options =
        ExplainOptions::from_section(&builder.config().explain, args.rules.as_deref(), true)
            .map_err(|e| CliError::usage(format!("the diagnosis rules cannot be used: {e}")))?;
    let needed: BTreeSet<GatewayKind> = match routing {
        Routing::Fixed(kind) => BTreeSet::from([kind]),
        Routing::Auto => paystat::gateways::route(&args.id).into_iter().collect(),
    };
    let overrides = Overrides {
        timeout: args.timeout,
        no_proxy: args.connection.no_proxy,
        ca_cert: args.connection.ca_cert,
        stripe_account: args.connection.stripe_account,
        ..Overrides::default()
    };
    let builder = with_audit(builder, &args.audit)?
        .overrides(overrides)
        .routing(routing)
        .concurrency(1);
    let (checker, _) = build(builder, &needed, false)?;
    let explanation = checker
        .explain(&args.id, &Ask::default(), &options)
        .await
        .map_err(|e| CliError::audit(sentence(&e)))?;
    match args.format {
        ExplainFormat::Json => {
            let json = serde_json::to_string_pretty(&explanation)
                .map_err(|e| CliError::usage(format!("cannot write the explanation: {e}")))?;
            print(format_args!("{json}\n"))?;
        }
        ExplainFormat::Text => print(format_args!("{}", render(&explanation)))?,
    }
    Ok(Exit::Checked(checked(explanation.result.outcome)))
}

/// Text as a terminal shows it safely: control characters written visibly.
fn shown(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() && c != '\n' {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        } else {
            out.push(c);
        }
    }
    out
}

/// Indents every line after the first by `pad`.
fn indented(text: &str, pad: &str) -> String {
    shown(text).replace('\n', &format!("\n{pad}"))
}

/// The explanation for people: the payment, its timeline, what the gateway notes, the
/// diagnosis, and what was read of the trail.
pub fn render(e: &Explanation) -> String {
    let r = &e.result;
    let mut out = String::new();
    let gateway = r.gateway.map_or("no gateway".into(), |g| g.to_string());
    let status = match (&r.status, &r.gateway_status) {
        (Some(s), Some(w)) => format!("{} ({})", s.as_str(), shown(w)),
        (Some(s), None) => s.as_str().to_owned(),
        _ => r.outcome.to_string(),
    };
    let amount = r
        .amount
        .as_ref()
        .map(|a| format!(" · {a}"))
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "{} · {gateway} · {status}{amount}",
        paystat::payment_id::display_safe(&e.payment_id)
    );
    if let Some(created) = &r.created_at {
        let age = e
            .age_s
            .map(|s| {
                format!(
                    ", {} ago",
                    paystat::clock::human(std::time::Duration::from_secs(s))
                )
            })
            .unwrap_or_default();
        let days = e
            .business_days
            .map(|d| format!(", {d} business day{}", if d == 1 { "" } else { "s" }))
            .unwrap_or_default();
        let _ = writeln!(out, "created {created}{age}{days}");
    }
    let mut facts = Vec::new();
    if let Some(method) = &e.method {
        facts.push(format!("paid by {}", shown(method)));
    }
    if let Some(action) = &e.next_action {
        facts.push(format!("next action {}", shown(action)));
    }
    if let Some(day) = &e.expected_settlement {
        facts.push(format!("expected to settle {}", shown(day)));
    }
    if !facts.is_empty() {
        let _ = writeln!(out, "{}", facts.join(" · "));
    }
    let _ = writeln!(out, "\nTimeline (UTC, oldest first)");
    for m in &e.timeline {
        let detail = m
            .detail
            .as_deref()
            .map(|d| format!("  {}", shown(d)))
            .unwrap_or_default();
        let actor = m
            .actor
            .as_deref()
            .map(|a| format!("  [by {}]", shown(a)))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "  {:<24}  {:<7}  {}{detail}{actor}",
            shown(&m.at),
            m.from,
            shown(&m.what)
        );
    }
    if !e.notes.is_empty() || e.history_error.is_some() {
        let _ = writeln!(out, "\nThe gateway says");
        for note in &e.notes {
            let _ = writeln!(out, "  - {}", shown(note));
        }
        if let Some(error) = &e.history_error {
            let _ = writeln!(
                out,
                "  - its history could not be read to the end: {}",
                shown(error)
            );
        }
    }
    let d = &e.diagnosis;
    match &d.rule {
        Some(rule) => {
            let _ = writeln!(
                out,
                "\nDiagnosis: {}  (rules: {})",
                shown(rule),
                shown(&d.rules)
            );
        }
        None => {
            let _ = writeln!(
                out,
                "\nDiagnosis: no rule matched  (rules: {})",
                shown(&d.rules)
            );
        }
    }
    let pad = " ".repeat(17);
    let _ = writeln!(out, "  What it means:  {}", indented(&d.meaning, &pad));
    let _ = writeln!(out, "  What to do:     {}", indented(&d.action, &pad));
    let _ = writeln!(out, "  Escalate to:    {}", indented(&d.escalate_to, &pad));
    let t = &e.trail;
    let shown_lines = if t.shown == t.lines {
        "all shown".to_owned()
    } else {
        format!("the newest {} shown", t.shown)
    };
    let _ = writeln!(
        out,
        "\nOur trail: {} earlier line{} about this payment ({shown_lines}); {} timed out in the last 24 h; {}.",
        t.lines,
        if t.lines == 1 { "" } else { "s" },
        t.timeouts_24h,
        t.note
    );
    if let Some(error) = &t.error {
        let _ = writeln!(out, "The trail could not be read whole: {}", shown(error));
    }
    out
}
