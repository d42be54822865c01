//! The fixtures as a whole: the checks that keep them honest (`paystat fixtures check`) and the
//! requirements document generated from them (`paystat fixtures report`).
//!
//! TPMs read the scenario files as the requirements; this module makes the set visibly complete
//! (a coverage matrix with its gaps) and true to the providers (every body validates against
//! its provider's JSON Schema, unless the scenario says why it deliberately does not).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::scenario::{Scenario, ScenarioSet, TransportFault};
use super::schema::ProviderSchemas;
use crate::gateway::{self, GatewayKind};
use crate::result::Outcome;

/// Text that marks a requirement nobody has written yet (`paystat record` leaves one).
pub const PLACEHOLDERS: [&str; 4] = ["TODO", "TBD", "FIXME", "XXX"];

/// A problem with one scenario file: the file, the field and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The scenario file, relative to the fixtures folder.
    pub file: String,
    /// The field at fault.
    pub field: String,
    /// What is wrong.
    pub problem: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}: {}", self.file, self.field, self.problem)
    }
}

/// The kinds of situation a scenario can claim (`kind` or `kind:detail`).
const SITUATION_KINDS: [&str; 10] = [
    "change",
    "status",
    "http",
    "timeout",
    "fault",
    "malformed_body",
    "oversize_body",
    "hostile_id",
    "amount",
    "connected_account",
];

/// Every check on a loaded set (parsing already checked each file's fields and words).
pub fn check(set: &ScenarioSet, schemas: &ProviderSchemas) -> Vec<Problem> {
    let mut problems = Vec::new();
    let mut claims: BTreeMap<(GatewayKind, &str), &Scenario> = BTreeMap::new();
    for s in set.scenarios() {
        let mut problem = |field: &str, text: String| {
            problems.push(Problem {
                file: s.file.display().to_string(),
                field: field.to_owned(),
                problem: text,
            })
        };
        if let Some(word) = PLACEHOLDERS
            .iter()
            .find(|p| s.requirement.contains(**p) || s.title.contains(**p))
        {
            problem(
                "requirement",
                format!(
                    "still holds the placeholder `{word}`: a person must write the requirement"
                ),
            );
        }
        if let Err(text) = check_situation(s) {
            problem("situation", text);
        }
        if let Some(other) = claims.insert((s.gateway, s.situation.as_str()), s)
            && !same_expectation(other, s)
        {
            problem(
                "situation",
                format!(
                    "`{}` is also claimed by {} with a different expectation",
                    s.situation,
                    other.file.display()
                ),
            );
        }
        // A change: its event and its later answer are held to the providers' shapes too.
        if let Some(change) = &s.change {
            if let Err(errors) = schemas.check_event(s.gateway, change.event.as_bytes()) {
                problem(
                    "change.event",
                    format!(
                        "does not match the provider's published event shape ({})",
                        errors.join("; ")
                    ),
                );
            }
            let status = change.response.status.unwrap_or(200);
            if let Err(errors) = schemas.check(s.gateway, status, &change.body_bytes) {
                problem(
                    "change.response.body",
                    format!(
                        "does not match the provider's published shape ({})",
                        errors.join("; ")
                    ),
                );
            }
        }
        // Drift: every realistic body has its provider's shape, every off-spec one does not.
        if let (Some(status), true) = (s.response.status, !s.body_bytes.is_empty()) {
            match (
                schemas.check(s.gateway, status, &s.body_bytes),
                &s.response.off_spec,
            ) {
                (Err(errors), None) => problem(
                    "response.body",
                    format!(
                        "does not match the provider's published shape ({}); fix the body, or say why it is deliberately off-spec in response.off_spec",
                        errors.join("; ")
                    ),
                ),
                (Ok(()), Some(_)) => problem(
                    "response.off_spec",
                    "the body matches the provider's shape after all; remove off_spec".into(),
                ),
                _ => {}
            }
        }
    }
    problems.extend(super::rules::check(set));
    problems
}

fn same_expectation(a: &Scenario, b: &Scenario) -> bool {
    let (x, y) = (&a.expect, &b.expect);
    x.outcome == y.outcome && x.status == y.status && x.failure_code == y.failure_code
}

fn check_situation(s: &Scenario) -> Result<(), String> {
    let (kind, detail) = match s.situation.split_once(':') {
        Some((kind, detail)) => (kind, Some(detail)),
        None => (s.situation.as_str(), None),
    };
    if !SITUATION_KINDS.contains(&kind) {
        return Err(format!(
            "`{kind}` is not a situation kind; use one of {}",
            SITUATION_KINDS.join(", ")
        ));
    }
    match (kind, detail) {
        ("status", Some(word)) => {
            let word = word.split('+').next().unwrap_or(word);
            let known = gateway::status_mapping()
                .iter()
                .any(|row| row.gateway == s.gateway && row.word == word);
            if word != "unknown" && !known {
                return Err(format!(
                    "`{word}` is not a documented {gateway} status word (or `unknown`). To record a \
                     word paystat does not map yet, write situation = \"status:unknown\" and expect \
                     status = \"unknown\" with gateway_status = \"{word}\"; an engineer then maps \
                     the word (fixtures/README.md, \"A gateway word paystat does not know\")",
                    gateway = s.gateway
                ));
            }
            if s.expect
                .gateway_status
                .as_deref()
                .is_some_and(|g| word != "unknown" && g != word)
            {
                return Err(format!(
                    "claims status `{word}` but expects the gateway word `{}`",
                    s.expect.gateway_status.as_deref().unwrap_or("")
                ));
            }
        }
        ("http", Some(code)) => {
            let code = code.split('+').next().unwrap_or(code);
            if s.response.status.map(|c| c.to_string()).as_deref() != Some(code) {
                return Err(format!(
                    "claims HTTP {code} but the response status is {:?}",
                    s.response.status
                ));
            }
        }
        ("fault", Some(name)) if s.response.transport.map(fault_word).as_deref() != Some(name) => {
            return Err(format!(
                "claims fault `{name}` but response.transport is {:?}",
                s.response.transport
            ));
        }
        (
            "status" | "http" | "fault" | "malformed_body" | "hostile_id" | "amount" | "change",
            None,
        ) => {
            return Err(format!("`{kind}` needs a detail, like `{kind}:…`"));
        }
        _ => {}
    }
    Ok(())
}

fn fault_word(fault: TransportFault) -> String {
    serde_json::to_value(fault)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// One row of the coverage matrix: a situation each gateway it applies to must have a
/// scenario for.
struct Coverage {
    label: &'static str,
    covers: fn(&Scenario) -> bool,
    /// The gateways the situation exists for; empty for every gateway.
    only: &'static [GatewayKind],
}

impl Coverage {
    fn applies_to(&self, kind: GatewayKind) -> bool {
        self.only.is_empty() || self.only.contains(&kind)
    }
}

fn situation_is(s: &Scenario, prefix: &str) -> bool {
    s.situation == prefix
        || s.situation.starts_with(&format!("{prefix}:"))
        || s.situation.starts_with(&format!("{prefix}+"))
}

fn fault_is(s: &Scenario, fault: &str) -> bool {
    s.situation == format!("fault:{fault}")
}

const COVERAGE: &[Coverage] = &[
    Coverage {
        label: "a change reported by the gateway's change feed (the cache drops the answer)",
        covers: |s| s.change.is_some(),
        only: &[GatewayKind::Stripe, GatewayKind::Plaid],
    },
    Coverage {
        label: "money moved back: a refund (full or partial)",
        covers: |s| s.situation.contains("+refunded") || s.situation.contains("+partial_refund"),
        only: &[GatewayKind::Stripe, GatewayKind::Plaid],
    },
    Coverage {
        label: "money moved back: a dispute (open, lost, won)",
        covers: |s| s.situation.contains("+dispute"),
        only: &[GatewayKind::Stripe],
    },
    Coverage {
        label: "a partial capture (the amount that moved)",
        covers: |s| s.situation == "amount:partial_capture",
        only: &[GatewayKind::Stripe],
    },
    Coverage {
        label: "a connected account (Stripe-Account)",
        covers: |s| s.situation == "connected_account",
        only: &[GatewayKind::Stripe],
    },
    Coverage {
        label: "an unknown status word",
        covers: |s| s.situation == "status:unknown",
        only: &[],
    },
    Coverage {
        label: "HTTP 400",
        covers: |s| situation_is(s, "http:400"),
        only: &[],
    },
    Coverage {
        label: "HTTP 401",
        covers: |s| situation_is(s, "http:401"),
        only: &[],
    },
    Coverage {
        label: "HTTP 403",
        covers: |s| situation_is(s, "http:403"),
        only: &[],
    },
    Coverage {
        label: "HTTP 404 / not found (the gateway's own not-found error)",
        covers: |s| s.situation.starts_with("http:") && s.expect.outcome == Outcome::NotFound,
        only: &[],
    },
    Coverage {
        label: "a 404 that is not the gateway's (route miss: HTML, empty, a proxy's JSON)",
        covers: |s| s.situation.starts_with("http:404+route_miss"),
        only: &[],
    },
    Coverage {
        label: "HTTP 429",
        covers: |s| situation_is(s, "http:429"),
        only: &[],
    },
    Coverage {
        label: "HTTP 5xx",
        covers: |s| s.situation.starts_with("http:5"),
        only: &[],
    },
    Coverage {
        label: "timeout",
        covers: |s| s.situation == "timeout",
        only: &[],
    },
    Coverage {
        label: "connection refused",
        covers: |s| fault_is(s, "connection_refused"),
        only: &[],
    },
    Coverage {
        label: "connection reset",
        covers: |s| fault_is(s, "connection_reset"),
        only: &[],
    },
    Coverage {
        label: "connection closed mid-body",
        covers: |s| fault_is(s, "closed_mid_body"),
        only: &[],
    },
    Coverage {
        label: "malformed chunked encoding",
        covers: |s| fault_is(s, "malformed_chunked"),
        only: &[],
    },
    Coverage {
        label: "headers, then no body",
        covers: |s| fault_is(s, "headers_then_stall"),
        only: &[],
    },
    Coverage {
        label: "garbage bytes",
        covers: |s| fault_is(s, "garbage_then_close"),
        only: &[],
    },
    Coverage {
        label: "body dripped past the timeout",
        covers: |s| fault_is(s, "drip_past_timeout"),
        only: &[],
    },
    Coverage {
        label: "accepted, never answered",
        covers: |s| fault_is(s, "never_answers"),
        only: &[],
    },
    Coverage {
        label: "body not JSON",
        covers: |s| s.situation == "malformed_body:not_json",
        only: &[],
    },
    Coverage {
        label: "body missing a field",
        covers: |s| s.situation == "malformed_body:missing_field",
        only: &[],
    },
    Coverage {
        label: "body with a wrong type",
        covers: |s| s.situation == "malformed_body:wrong_type",
        only: &[],
    },
    Coverage {
        label: "body over 1 MiB",
        covers: |s| s.situation == "oversize_body",
        only: &[],
    },
    Coverage {
        label: "hostile id refused locally",
        covers: |s| {
            s.situation.starts_with("hostile_id:") && s.expect.outcome == Outcome::InvalidId
        },
        only: &[],
    },
    Coverage {
        label: "hostile id kept in its place",
        covers: |s| {
            s.situation.starts_with("hostile_id:") && s.expect.outcome != Outcome::InvalidId
        },
        only: &[],
    },
];

/// The gaps of the coverage matrix, as `(gateway, situation)`: empty when complete.
pub fn gaps(set: &ScenarioSet) -> Vec<(GatewayKind, String)> {
    let mut gaps = Vec::new();
    for kind in GatewayKind::ALL {
        let of = || set.scenarios().iter().filter(move |s| s.gateway == kind);
        for row in gateway::status_mapping()
            .iter()
            .filter(|r| r.gateway == kind)
        {
            if !of().any(|s| maps_row(s, row)) {
                gaps.push((
                    kind,
                    format!(
                        "status `{}`{}",
                        row.word,
                        row.when.map(|w| format!(" {w}")).unwrap_or_default()
                    ),
                ));
            }
        }
        for row in COVERAGE.iter().filter(|r| r.applies_to(kind)) {
            if !of().any(row.covers) {
                gaps.push((kind, row.label.to_owned()));
            }
        }
    }
    gaps
}

fn maps_row(s: &Scenario, row: &gateway::MappingRow) -> bool {
    s.expect.outcome == Outcome::Found
        && s.expect.gateway_status.as_deref() == Some(row.word)
        && s.expect.status == Some(row.status)
}

/// `fixtures/REQUIREMENTS.md`, generated from the scenarios.
pub fn report(set: &ScenarioSet) -> String {
    let mut out = String::new();
    let scenarios = set.scenarios();
    let _ = writeln!(
        out,
        "# paystat requirements\n\nGenerated by `paystat fixtures report` from the {} scenario files in `fixtures/`. Do not edit\nthis file by hand: edit or add a scenario and run the command again (`make report`). A test\nfails when this file is out of date, so what you read here is what the test suite enforces.\n",
        scenarios.len()
    );
    // Coverage matrix.
    let _ = writeln!(
        out,
        "## Coverage\n\nEvery situation each gateway must be covered in. ✅ names the scenario; ❌ is a gap; — marks a\nsituation that does not exist for that gateway.\n"
    );
    let _ = writeln!(
        out,
        "| situation | ledger | stripe | plaid |\n|---|---|---|---|"
    );
    let cell = |found: Vec<&Scenario>| match found.as_slice() {
        [] => "❌ gap".to_owned(),
        found => found
            .iter()
            .map(|s| format!("✅ `{}`", stem(s)))
            .collect::<Vec<_>>()
            .join("<br>"),
    };
    let mut status_row = String::from("| every documented status word |");
    for kind in GatewayKind::ALL {
        let rows: Vec<_> = gateway::status_mapping()
            .into_iter()
            .filter(|r| r.gateway == kind)
            .collect();
        let covered = rows
            .iter()
            .filter(|row| {
                scenarios
                    .iter()
                    .any(|s| s.gateway == kind && maps_row(s, row))
            })
            .count();
        let mark = if covered == rows.len() { "✅" } else { "❌" };
        let _ = write!(status_row, " {mark} {covered} of {} |", rows.len());
    }
    let _ = writeln!(out, "{status_row}");
    for row in COVERAGE {
        let _ = write!(out, "| {} |", row.label);
        for kind in GatewayKind::ALL {
            if !row.applies_to(kind) {
                let _ = write!(out, " — (not this gateway) |");
                continue;
            }
            let found: Vec<&Scenario> = scenarios
                .iter()
                .filter(|s| s.gateway == kind && (row.covers)(s))
                .collect();
            let _ = write!(out, " {} |", cell(found));
        }
        let _ = writeln!(out);
    }
    let gaps = gaps(set);
    let _ = writeln!(
        out,
        "\n{} situations × {} gateways; {}.\n",
        COVERAGE.len() + 1,
        GatewayKind::ALL.len(),
        if gaps.is_empty() {
            "no gaps".to_owned()
        } else {
            format!(
                "{} gaps: {}",
                gaps.len(),
                gaps.iter()
                    .map(|(g, s)| format!("{g} {s}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
    );
    // Status mapping.
    let _ = writeln!(
        out,
        "## Status mapping\n\n| gateway | gateway word | paystat status | finality | what Operations should do | scenario |\n|---|---|---|---|---|---|"
    );
    for row in gateway::status_mapping() {
        let word = match row.when {
            Some(when) => format!("`{}` {when}", row.word),
            None => format!("`{}`", row.word),
        };
        let found: Vec<&Scenario> = scenarios
            .iter()
            .filter(|s| s.gateway == row.gateway && maps_row(s, &row))
            .collect();
        let _ = writeln!(
            out,
            "| {} | {word} | `{}` | {} | {} | {} |",
            row.gateway,
            row.status.as_str(),
            row.finality,
            row.action,
            cell(found)
        );
    }
    // One section per gateway.
    for kind in GatewayKind::ALL {
        let _ = writeln!(
            out,
            "\n## {}\n\n| scenario | situation | requirement | paystat concludes | what Operations should do |\n|---|---|---|---|---|",
            title_of(kind)
        );
        for s in scenarios.iter().filter(|s| s.gateway == kind) {
            let mut concluded = concludes(&s.expect);
            if let Some(change) = &s.change {
                let event = serde_json::from_str::<serde_json::Value>(&change.event)
                    .ok()
                    .and_then(|e| {
                        e.get("type")
                            .or_else(|| e.get("event_type"))
                            .and_then(|t| t.as_str().map(str::to_owned))
                    })
                    .unwrap_or_default();
                concluded.push_str(&format!(
                    "; after the change feed's `{event}`: {}",
                    concludes(&change.expect)
                ));
            }
            let attempts = s
                .expect
                .attempts
                .map(|n| format!(" after {n} attempt{}", if n == 1 { "" } else { "s" }))
                .unwrap_or_default();
            // The mapping row's action (a gateway's own, where the generic one is wrong).
            let todo = match s.expect.status {
                Some(status) => gateway::status_mapping()
                    .into_iter()
                    .find(|row| maps_row(s, row))
                    .map_or(status.action(), |row| row.action),
                None => s.expect.outcome.meaning(),
            };
            let _ = writeln!(
                out,
                "| **{}**<br>`{}` | `{}` | {} | {concluded}{attempts} | {} |",
                cell_text(&s.title),
                stem(s),
                s.situation,
                cell_text(&s.requirement),
                cell_text(todo)
            );
        }
    }
    out.push_str(&super::rules::report(set));
    out
}

/// What paystat concludes, for the report: outcome, status and finality.
fn concludes(e: &super::expectation::Expectation) -> String {
    let finality = e.finality.map(|f| format!(", `{f}`")).unwrap_or_default();
    match e.status {
        Some(status) => format!("`{}`, status `{}`{finality}", e.outcome, status),
        None => format!("`{}`", e.outcome),
    }
}

fn title_of(kind: GatewayKind) -> &'static str {
    match kind {
        GatewayKind::Ledger => "The internal ledger",
        GatewayKind::Stripe => "Stripe PaymentIntents",
        GatewayKind::Plaid => "Plaid Transfer",
    }
}

fn stem(s: &Scenario) -> String {
    s.file.with_extension("").display().to_string()
}

/// Text for one Markdown table cell: one line, `|` escaped.
fn cell_text(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace('|', "\\|")
}
