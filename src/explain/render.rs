//! An explanation as people read it in a terminal: the payment, its timeline, what the gateway
//! notes, the diagnosis, and what was read of our trail. Every text from a gateway, a rule file
//! or the trail is shown with its control characters written visibly.

use std::fmt::Write as _;

use super::Explanation;

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
        crate::payment_id::display_safe(&e.payment_id)
    );
    if let Some(detail) = &r.detail {
        let _ = writeln!(out, "{}", shown(detail));
    }
    if let Some(created) = &r.created_at {
        let age = e
            .age_s
            .map(|s| {
                format!(
                    ", {} ago",
                    crate::clock::human(std::time::Duration::from_secs(s))
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
    if let Some(method) = &e.facts.method {
        facts.push(format!("paid by {}", shown(method)));
    }
    if let Some(action) = &e.facts.next_action {
        facts.push(format!("next action {}", shown(action)));
    }
    if let Some(day) = &e.facts.expected_settlement {
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
    if !e.facts.notes.is_empty() || e.history_error.is_some() {
        let _ = writeln!(out, "\nThe gateway says");
        for note in &e.facts.notes {
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
        "\nOur trail: {} earlier line{} about this payment ({shown_lines}); {} of our checks of it timed out in the last 24 h, this one included; {}.",
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
