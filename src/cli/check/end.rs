//! The end of a `check` run: the summary, and the exit code or the one error sentence.

use std::time::Instant;

use paystat::{Outcome, UnauditedCheck};

use super::super::exit::{Checked, Exit};
use super::super::summary::Summary;
use super::super::{CliError, sentence};
use super::Run;

/// The signal that stopped a run, and the exit code it ends with (128 + its number).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stopped {
    Interrupt,
    Terminate,
}

impl Stopped {
    pub(super) fn name(self) -> &'static str {
        match self {
            Stopped::Interrupt => "Ctrl-C (SIGINT)",
            Stopped::Terminate => "SIGTERM",
        }
    }
}

/// How a run's checking ended: what was counted, withheld and stopped, for [`finish`].
pub(super) struct Ended {
    pub started: Instant,
    pub summary: Summary,
    pub withheld: Vec<UnauditedCheck>,
    pub output_error: Option<std::io::Error>,
    pub worst: Checked,
    pub stopped: Option<Stopped>,
    /// How many ids were taken from the input.
    pub read: usize,
    /// Why the input stopped being read early, when it did.
    pub stopped_input: Option<String>,
}

/// The run's end: the summary written, and the one error sentence or exit code that says how
/// it went — an audit failure first (Compliance must hear of it), then a failed output, the
/// input's own problem, no ids at all, a signal, and last how the checks came out.
pub(super) fn finish(ended: Ended, run: &Run) -> Result<Exit, CliError> {
    let Ended {
        started,
        mut summary,
        withheld,
        output_error,
        worst,
        stopped,
        read,
        stopped_input,
    } = ended;
    let checks = summary.checks as usize + withheld.len();
    let never_sent = run.known.map(|known| known.saturating_sub(checks) as u64);
    summary.withheld = withheld.len() as u64;
    summary.finish(started.elapsed(), never_sent);
    // An audit failure outranks everything: Compliance must hear of it first.
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
            checks
        )));
    }
    if let Some(error) = output_error {
        return Err(CliError::output(&error));
    }
    if !run.quiet && read > 1 {
        eprint!("{}", summary.text());
    }
    if let Some(path) = &run.summary_json {
        let json = serde_json::to_vec_pretty(&summary).expect("a summary always serializes");
        std::fs::write(path, json).map_err(|e| {
            CliError::usage(format!(
                "cannot write the summary to {}: {e}",
                path.display()
            ))
        })?;
    }
    if let Some(why) = stopped_input {
        // What became of the ids before the break: checked and shown, or rejected before any
        // request (an id no gateway may be asked about).
        let rejected = summary.by_outcome.get("invalid_id").copied().unwrap_or(0);
        return Err(CliError::usage(format!(
            "{why}; {read} id{} read before it: {} checked, {rejected} rejected; the rest of the input was not read",
            if read == 1 { "" } else { "s" },
            summary.checks.saturating_sub(rejected),
        )));
    }
    if read == 0 {
        return Err(CliError::usage(
            "no payment ids in the input (blank lines and a CSV header are not ids, nor `#` lines with --skip-comments)",
        ));
    }
    if let Some(signal) = stopped {
        let unsent = match (never_sent, run.known) {
            (Some(n), Some(known)) => format!("{n} of {known} ids were never sent"),
            _ => "the rest of the input was not read".to_owned(),
        };
        eprintln!(
            "paystat: stopped by {}: {unsent}; every check that was sent is shown and audited",
            signal.name(),
        );
        return Ok(Exit::Stopped {
            code: match signal {
                Stopped::Interrupt => 130,
                Stopped::Terminate => 143,
            },
        });
    }
    Ok(Exit::Checked(worst))
}

pub(crate) fn checked(outcome: Outcome) -> Checked {
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
        // An outcome added later is a failure until this binary learns it.
        _ => Checked::SomeFailed,
    }
}
