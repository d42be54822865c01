//! What a `check` run prints, and which results: the format, the order, `--stale-after` and
//! `--only`.

use std::time::Duration;

use paystat::{CheckResult, Outcome, PaymentStatus};

use super::super::CliError;
use super::super::args::Format;
use super::super::render::Age;

/// What a run prints, and which results.
pub struct Presentation {
    pub(super) format: Format,
    pub(super) ordered: bool,
    pub(super) stale_after: Option<Duration>,
    only: Vec<Only>,
}

/// One `--only` condition.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Only {
    Stale,
    Status(Vec<PaymentStatus>),
    Outcome(Vec<Outcome>),
}

impl Presentation {
    pub(super) fn new(
        only: &[String],
        stale_after: Option<Duration>,
        format: Format,
        ordered: bool,
    ) -> Result<Presentation, CliError> {
        let only = only
            .iter()
            .map(|text| parse_only(text, stale_after.is_some()))
            .collect::<Result<_, _>>()?;
        Ok(Presentation {
            format,
            // A table and a JSON array are read top to bottom: always in input order.
            ordered: ordered || matches!(format, Format::Table | Format::Json),
            stale_after,
            only,
        })
    }

    /// The defaults of `paystat demo`: everything, in input order.
    #[cfg(feature = "contract")]
    pub fn all(format: Format) -> Presentation {
        Presentation {
            format,
            ordered: true,
            stale_after: None,
            only: Vec::new(),
        }
    }

    /// The result's age, when `--stale-after` asks and the gateway said when it was created.
    pub(super) fn age(&self, result: &CheckResult, now: time::OffsetDateTime) -> Option<Age> {
        let stale_after = self.stale_after?;
        let created = time::OffsetDateTime::parse(
            result.created_at.as_deref()?,
            &time::format_description::well_known::Rfc3339,
        )
        .ok()?;
        let age = u64::try_from((now - created).whole_seconds()).unwrap_or(0);
        let waiting = matches!(
            result.status,
            Some(
                PaymentStatus::Pending | PaymentStatus::Authorized | PaymentStatus::RequiresAction
            )
        );
        Some(Age {
            age_s: age,
            stale: waiting && age > stale_after.as_secs(),
        })
    }

    /// Whether `--only` lets the result through.
    pub(super) fn shows(&self, result: &CheckResult, age: Option<Age>) -> bool {
        self.only.iter().all(|only| match only {
            Only::Stale => age.is_some_and(|a| a.stale),
            Only::Status(statuses) => result.status.is_some_and(|s| statuses.contains(&s)),
            Only::Outcome(outcomes) => outcomes.contains(&result.outcome),
        })
    }
}

fn parse_only(text: &str, stale_after: bool) -> Result<Only, CliError> {
    let bad = |why: String| {
        CliError::usage(format!(
            "--only `{}` {why}",
            paystat::payment_id::display_safe(text)
        ))
    };
    if text == "stale" {
        if !stale_after {
            return Err(bad("needs --stale-after to say how old is stale".into()));
        }
        return Ok(Only::Stale);
    }
    let Some((key, values)) = text.split_once('=') else {
        return Err(bad("is not `stale`, `status=…` or `outcome=…`".into()));
    };
    let values: Vec<&str> = values.split(',').map(str::trim).collect();
    match key.trim() {
        "status" => values
            .iter()
            .map(|v| {
                PaymentStatus::from_word(v).ok_or_else(|| bad(format!("names no status `{v}`")))
            })
            .collect::<Result<_, _>>()
            .map(Only::Status),
        "outcome" => values
            .iter()
            .map(|v| Outcome::from_word(v).ok_or_else(|| bad(format!("names no outcome `{v}`"))))
            .collect::<Result<_, _>>()
            .map(Only::Outcome),
        _ => Err(bad("is not `stale`, `status=…` or `outcome=…`".into())),
    }
}
