//! `paystat explain`: why a payment is where it is. One payment's timeline — the gateway's own
//! events and every line of our trail about it — and a diagnosis from the rules in
//! `fixtures/rules/` (or a folder given at run time), which a TPM reads and edits.
//!
//! The checker makes the check and reads the gateway's history ([`Checker::check_to_explain`]);
//! this module reads our trail through its index, puts everything on one timeline and tries
//! the rules. It reads no wire format and sends nothing itself.

pub mod calendar;
mod render;
pub mod rules;

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::audit::Location;
use crate::audit::index::Index;
use crate::audit::query::{self, Filter, Found};
use crate::check::{Ask, Checker, Explained, UnauditedCheck};
use crate::gateway::{Facts, GatewayEvent};
use crate::result::{CheckResult, GatewayKind, Outcome, Source};

pub use calendar::Calendar;
pub use render::render;
pub use rules::{Rule, Rules, RulesError, Situation};

/// The most of our own lines a timeline shows (the newest); the count says how many there were.
pub const MAX_LINES_SHOWN: usize = 200;

/// A day, in seconds.
const DAY: i64 = 86_400;

/// How an explanation is made.
#[derive(Debug, Clone)]
pub struct ExplainOptions {
    /// The rules, in the order they are tried.
    pub rules: Arc<Rules>,
    /// Which days are business days.
    pub calendar: Calendar,
    /// Whether our earlier checks show who made them (compliance and admin; not ops).
    pub show_actors: bool,
}

impl Default for ExplainOptions {
    /// The built-in rules, every weekday a business day, actors hidden.
    fn default() -> ExplainOptions {
        ExplainOptions {
            rules: Arc::new(Rules::builtin()),
            calendar: Calendar::default(),
            show_actors: false,
        }
    }
}

impl ExplainOptions {
    /// The options `[explain]` gives, with `rules_dir` (`--rules DIR`) winning over its
    /// `rules_dir`; the built-in rules when neither names a folder.
    pub fn from_section(
        section: &crate::config::ExplainSection,
        rules_dir: Option<&std::path::Path>,
        show_actors: bool,
    ) -> Result<ExplainOptions, RulesError> {
        let rules = match rules_dir.or(section.rules_dir.as_deref()) {
            Some(dir) => Rules::load_dir(dir)?,
            None => Rules::builtin(),
        };
        let mut calendar = Calendar::default();
        for day in &section.holidays {
            let parsed = time::Date::parse(
                day,
                time::macros::format_description!("[year]-[month]-[day]"),
            )
            .map_err(|_| RulesError {
                file: "[explain] holidays".into(),
                problem: format!("`{day}` is not a day written YYYY-MM-DD"),
            })?;
            calendar.holidays.insert(parsed);
        }
        Ok(ExplainOptions {
            rules: Arc::new(rules),
            calendar,
            show_actors,
        })
    }
}

/// One moment of the timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Moment {
    /// When, RFC 3339 UTC.
    pub at: String,
    /// `gateway` (its own history) or `paystat` (our trail, and this check).
    pub from: &'static str,
    /// What happened.
    pub what: String,
    /// More, in a few words.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Who made the check (shown to compliance and admin only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
}

/// What our trail says about the payment.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TrailPart {
    /// Lines about the payment, before this check.
    pub lines: u64,
    /// Of those, shown on the timeline (the newest [`MAX_LINES_SHOWN`]).
    pub shown: u64,
    /// Our checks of this payment that timed out in the 24 hours before now, this one included.
    pub timeouts_24h: u32,
    /// Whether our checks of other payments at this gateway were answered in those 24 hours
    /// (unknown without the trail's index).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gateway_answered_24h: Option<bool>,
    /// Always false: an explanation reads lines, it does not verify the chain.
    pub verified: bool,
    /// What to run to verify it.
    pub note: String,
    /// Why the trail could not be read, when it could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The rule that matched, or none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnosis {
    /// The rule's name; `None` when no rule matched.
    pub rule: Option<String>,
    /// What it means.
    pub meaning: String,
    /// What to do.
    pub action: String,
    /// Whom to escalate to.
    pub escalate_to: String,
    /// Where the rules came from (`built in`, or their folder) and the rule's file.
    pub rules: String,
}

impl Diagnosis {
    fn of(rule: Option<&Rule>, rules: &Rules) -> Diagnosis {
        match rule {
            Some(rule) => Diagnosis {
                rule: Some(rule.name.clone()),
                meaning: rule.meaning.trim().to_owned(),
                action: rule.action.trim().to_owned(),
                escalate_to: rule.escalate_to.trim().to_owned(),
                rules: format!("{} ({})", rules.source, rule.file),
            },
            None => Diagnosis {
                rule: None,
                meaning: "No rule matched this payment's situation.".into(),
                action: "Attach this timeline (`paystat explain ID --format json`) to the escalation, and add a rule for this situation to the rules folder.".into(),
                escalate_to: "the gateway's owner (no rule says more)".into(),
                rules: rules.source.clone(),
            },
        }
    }
}

/// One payment, explained.
#[derive(Debug, Clone, Serialize)]
pub struct Explanation {
    /// The payment.
    pub payment_id: String,
    /// When this explanation was made, RFC 3339 UTC.
    pub explained_at: String,
    /// The check made now (audited like any check).
    pub result: CheckResult,
    /// What the gateway says beyond the status: how the customer pays, what it waits for, when
    /// it expects the money to settle, its notes (its dated events are on the timeline).
    #[serde(flatten)]
    pub facts: Facts,
    /// Time since the gateway created the payment, in seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub age_s: Option<u64>,
    /// Business days since the gateway created it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub business_days: Option<u32>,
    /// Requests sent for the gateway's history, beyond the check's own.
    pub history_requests: u32,
    /// Why the gateway's history could not be read to its end.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub history_error: Option<String>,
    /// What our trail says.
    pub trail: TrailPart,
    /// Everything, oldest first.
    pub timeline: Vec<Moment>,
    /// The diagnosis.
    pub diagnosis: Diagnosis,
}

/// Why there is no explanation.
#[derive(Debug, thiserror::Error)]
pub enum ExplainError {
    /// The check could not be audited (its answer is withheld).
    #[error(transparent)]
    Unaudited(#[from] UnauditedCheck),
}

impl Checker {
    /// Explains payment `id`: checks it now (audited, never from the cache), reads the
    /// gateway's history and our trail's lines about it, and tries the rules.
    pub async fn explain(
        &self,
        id: &str,
        ask: &Ask,
        options: &ExplainOptions,
    ) -> Result<Explanation, ExplainError> {
        let explained = self.check_to_explain(id, ask).await?;
        let now = wall_now(self);
        let location = self.audit_trail().location().clone();
        let (payment, gateway, seq, show) = (
            explained.result.payment_id.clone(),
            explained.result.gateway,
            explained.seq,
            options.show_actors,
        );
        let read = tokio::task::spawn_blocking(move || {
            read_trail(&location, &payment, seq, gateway, now, show)
        })
        .await
        .unwrap_or_else(|e| TrailRead::failed(format!("the trail reader stopped: {e}")));
        let mut read = read;
        // This check is one of ours too: a payment whose third check in a day times out now
        // has timed out three times.
        if explained.result.outcome == Outcome::Timeout {
            read.part.timeouts_24h += 1;
        }
        Ok(explain_with(explained, read, now, options))
    }

    /// The diagnosis the rules give a result of a bulk run (`check --explain`): from the result,
    /// the facts its adapter reads in `reply` (the check's reply, when kept) and our trail —
    /// without asking the gateway for its history (a bulk run asks each gateway once per id).
    pub async fn diagnose(
        &self,
        result: &CheckResult,
        reply: Option<&crate::gateway::Reply>,
        options: &ExplainOptions,
    ) -> Diagnosis {
        let now = wall_now(self);
        let facts = match (reply, result.gateway) {
            (Some(reply), Some(kind)) => self
                .endpoints()
                .iter()
                .find(|e| e.gateway.kind() == kind)
                .map(|e| e.gateway.facts(&result.payment_id, reply))
                .unwrap_or_default(),
            _ => Facts::default(),
        };
        let location = self.audit_trail().location().clone();
        let (payment, gateway) = (result.payment_id.clone(), result.gateway);
        let read = tokio::task::spawn_blocking(move || {
            // This check's own line is among ours: it is counted as any earlier one would be
            // were the payment explained a moment later.
            read_trail(&location, &payment, u64::MAX, gateway, now, false)
        })
        .await
        .unwrap_or_else(|e| TrailRead::failed(format!("the trail reader stopped: {e}")));
        let explained = Explained {
            result: result.clone(),
            seq: u64::MAX,
            facts,
            history_requests: 0,
            history_error: None,
        };
        explain_with(explained, read, now, options).diagnosis
    }
}

/// The checker's wall time, to the millisecond (as the trail writes its times).
fn wall_now(checker: &Checker) -> OffsetDateTime {
    let now = OffsetDateTime::from(checker.clock().wall_time());
    now.replace_millisecond(now.millisecond()).unwrap_or(now)
}

/// Our trail's lines about one payment, as the timeline shows them.
#[derive(Debug, Default)]
struct TrailRead {
    part: TrailPart,
    moments: Vec<Moment>,
}

impl TrailRead {
    fn failed(error: String) -> TrailRead {
        TrailRead {
            part: TrailPart {
                error: Some(error),
                note: VERIFY_NOTE.into(),
                ..TrailPart::default()
            },
            moments: Vec::new(),
        }
    }
}

const VERIFY_NOTE: &str =
    "our lines are read, not verified: `paystat audit verify` proves the chain whole";

fn parse_time(text: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(text, &Rfc3339).ok()
}

/// Reads every line about `payment` except this check's (`own_seq`), the newest
/// [`MAX_LINES_SHOWN`] of them as moments.
fn read_trail(
    location: &Location,
    payment: &str,
    own_seq: u64,
    gateway: Option<GatewayKind>,
    now: OffsetDateTime,
    show_actors: bool,
) -> TrailRead {
    let mut read = TrailRead {
        part: TrailPart {
            note: VERIFY_NOTE.into(),
            ..TrailPart::default()
        },
        moments: Vec::new(),
    };
    let index = Index::open(location).ok();
    let now_s = now.unix_timestamp();
    let within_day = |at: Option<OffsetDateTime>| {
        at.is_some_and(|at| (now_s - DAY..=now_s).contains(&at.unix_timestamp()))
    };
    let mut moments: VecDeque<Moment> = VecDeque::new();
    let mut answered_24h = 0u64;
    let filter = Filter {
        payment_id: Some(payment.to_owned()),
        ..Filter::default()
    };
    let scanned = query::scan(location, &filter, |_, _, found| {
        if found.envelope().seq == own_seq {
            return Ok(());
        }
        read.part.lines += 1;
        let envelope = found.envelope();
        let at = parse_time(&envelope.timestamp);
        let moment = match found {
            Found::Check(record) => {
                let check = record.check.as_ref();
                if within_day(at) {
                    if check.outcome == Outcome::Timeout {
                        read.part.timeouts_24h += 1;
                    }
                    if check.source == Source::Gateway
                        && matches!(check.outcome, Outcome::Found | Outcome::NotFound)
                    {
                        answered_24h += 1;
                    }
                }
                let around = index.as_ref().and_then(|index| around(index, check, at));
                Moment {
                    at: envelope.timestamp.to_string(),
                    from: "paystat",
                    what: match check.source {
                        Source::Cache => "answer reused from the status cache".into(),
                        Source::Gateway => "checked".into(),
                    },
                    detail: Some(
                        [Some(check_words(check)), around]
                            .into_iter()
                            .flatten()
                            .collect::<Vec<_>>()
                            .join("; "),
                    ),
                    actor: show_actors.then(|| envelope.actor.to_string()),
                }
            }
            Found::Other { envelope, .. } => Moment {
                at: envelope.timestamp.to_string(),
                from: "paystat",
                what: envelope.event.to_string(),
                detail: None,
                actor: show_actors.then(|| envelope.actor.to_string()),
            },
        };
        if moments.len() == MAX_LINES_SHOWN {
            moments.pop_front();
        }
        moments.push_back(moment);
        Ok(())
    });
    if let Err(e) = scanned {
        read.part.error = Some(e.to_string());
    }
    read.part.shown = moments.len() as u64;
    read.part.gateway_answered_24h = match (&index, gateway) {
        (Some(index), Some(g)) => index
            .hours(g.as_str(), now_s - DAY, now_s)
            .ok()
            .map(|c| c.answered > answered_24h),
        _ => None,
    };
    read.moments = moments.into();
    read
}

/// How `check`'s gateway answered our other checks within an hour of it (the "timeout patterns"
/// of an on-call's question), for a check that asked its gateway.
fn around(index: &Index, check: &CheckResult, at: Option<OffsetDateTime>) -> Option<String> {
    let (gateway, at) = (check.gateway?, at?.unix_timestamp());
    if check.source != Source::Gateway {
        return None;
    }
    let c = index.hours(gateway.as_str(), at - 3600, at + 3600).ok()?;
    Some(format!(
        "{gateway} within an hour of it: {} checks, {} timed out, {} failed",
        c.checks, c.timeouts, c.errors
    ))
}

/// A check's outcome in a few words: `found: pending (processing), 120 ms, 1 attempt`.
fn check_words(check: &CheckResult) -> String {
    let status = match (&check.status, &check.gateway_status) {
        (Some(status), Some(word)) => format!(": {} ({word})", status.as_str()),
        (Some(status), None) => format!(": {}", status.as_str()),
        _ => String::new(),
    };
    let timeouts = check
        .attempt_log
        .iter()
        .filter(|a| a.outcome == Outcome::Timeout)
        .count();
    let timeouts = match timeouts {
        0 => String::new(),
        n => format!(", {n} timed out"),
    };
    let attempts = match check.attempts {
        1 => "1 attempt".to_owned(),
        n => format!("{n} attempts"),
    };
    format!(
        "{}{status}, {} ms, {attempts}{timeouts}",
        check.outcome, check.duration_ms
    )
}

/// The explanation from the check, its gateway's facts and our trail.
fn explain_with(
    explained: Explained,
    trail: TrailRead,
    now: OffsetDateTime,
    options: &ExplainOptions,
) -> Explanation {
    let Explained {
        result,
        mut facts,
        history_requests,
        history_error,
        ..
    } = explained;
    let created = result.created_at.as_deref().and_then(parse_time);
    let age = created.map(|c| (now - c).whole_seconds().max(0) as u64);
    let business_days =
        created.map(|c| options.calendar.business_days_between(c.date(), now.date()));
    let past_expected_settlement = facts.expected_settlement.as_deref().and_then(|day| {
        let day = time::Date::parse(
            day,
            time::macros::format_description!("[year]-[month]-[day]"),
        )
        .ok()?;
        Some(now.date() > day)
    });
    let situation = Situation {
        gateway: result.gateway,
        outcome: Some(result.outcome),
        status: result.status,
        gateway_status: result.gateway_status.clone(),
        method: facts.method.clone(),
        next_action: facts.next_action.clone(),
        age: age.map(Duration::from_secs),
        business_days,
        past_expected_settlement,
        our_timeouts_24h: trail.part.timeouts_24h,
        gateway_answered_24h: trail.part.gateway_answered_24h,
    };
    let diagnosis = Diagnosis::of(options.rules.diagnose(&situation), &options.rules);
    let explained_at = now
        .format(time::macros::format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
        ))
        .unwrap_or_else(|_| now.unix_timestamp().to_string());
    let mut timeline: Vec<Moment> = facts.events.drain(..).map(gateway_moment).collect();
    timeline.extend(trail.moments);
    timeline.push(Moment {
        at: explained_at.clone(),
        from: "paystat",
        what: "this check".into(),
        detail: Some(check_words(&result)),
        actor: None,
    });
    // Oldest first; moments whose time cannot be read go last, in the order they came.
    timeline.sort_by_key(|m| parse_time(&m.at).map_or((1, 0), |t| (0, t.unix_timestamp_nanos())));
    Explanation {
        payment_id: result.payment_id.clone(),
        explained_at,
        facts,
        age_s: age,
        business_days,
        history_requests,
        history_error,
        trail: trail.part,
        timeline,
        diagnosis,
        result,
    }
}

fn gateway_moment(event: GatewayEvent) -> Moment {
    Moment {
        at: event.at,
        from: "gateway",
        what: event.what,
        detail: event.detail,
        actor: None,
    }
}
