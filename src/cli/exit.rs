//! Exit codes: what each command's ending means, and the failures every command shares.

use std::process::ExitCode;

/// The exit codes, as `--help` shows them.
pub const EXIT_CODES_HELP: &str = "Exit codes:
  0  every payment was found
  1  some payment was not found or its id is invalid (and every check got an answer)
  2  usage or configuration error
  3  some check got no answer from the gateway (unauthorized, bad request, rate limited,
     gateway error, timeout, connection error, bad response)
  4  the audit trail could not be written; those results are withheld
  5  the results could not be written to standard output (a closed pipe is not an error)
  130, 143  stopped by Ctrl-C (SIGINT) or SIGTERM: the checks sent are shown and audited
`paystat audit verify` and `audit export`: 0 the chain is intact, 1 it is broken, 2 usage.
`paystat explain`: as `check` for the payment's one check; 2 also for rules it cannot use.
`paystat cache sync`: 0 every change feed was read, 1 one could not be read, 2 usage (also a
damaged or newer status cache, for every command).
`paystat cache fill`: 0 the list was read to its end, 1 it stopped before (it resumes), 4 a
page could not be audited.
`paystat reconcile`: 0 no difference, 1 some difference, 3 some payment unresolved, 4 some
check could not be audited.";

/// How `check` and `demo` end, worst last (so the worst of several checks is their `max`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Checked {
    /// 0: every payment was found.
    AllFound,
    /// 1: some payment was not found or its id is invalid.
    SomeNotFound,
    /// 3: some check got no answer from the gateway.
    SomeFailed,
}

/// How a command that ran to its end ends; each command has its own meanings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// `check` and `demo`.
    Checked(Checked),
    /// `fixtures check`: 0 when every scenario is valid, 1 when some file has problems.
    Fixtures {
        /// Whether some file has problems.
        problems: bool,
    },
    /// `verify`: 0 when the provider keeps every promise, 1 when it broke one.
    Verified {
        /// Whether the provider broke the contract.
        broken: bool,
    },
    /// `audit verify` and `audit export`: 0 when the chain is intact, 1 when it is broken.
    Audited {
        /// Whether the chain is broken.
        broken: bool,
    },
    /// `check` and `demo` stopped by a signal: 130 (SIGINT) or 143 (SIGTERM).
    Stopped {
        /// 128 + the signal's number.
        code: u8,
    },
    /// `cache sync`: 0 when every feed was read to its end, 1 when one could not be.
    Synced {
        /// Whether some feed could not be read.
        failed: bool,
    },
    /// `reconcile`: 0 no difference, 1 some difference, 3 some payment unresolved (the worst
    /// wins; an unaudited check is a [`Failure::Audit`]).
    Reconciled {
        /// Whether some payment differs.
        differs: bool,
        /// Whether some payment is unresolved.
        unresolved: bool,
    },
    /// `mock serve`, `fixtures report`, `record`, `audit head|history|stats|prune`: 0, the job is done.
    Done,
}

/// Why a command stopped early, shared by every command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// 2: usage or configuration error.
    Usage,
    /// 3: `record` got no HTTP answer to record.
    NoAnswer,
    /// 4: the audit trail could not be written; results are withheld.
    Audit,
    /// 5: standard output could not be written.
    Output,
    /// 0, silently: standard output was closed by its reader (`| head`).
    ClosedPipe,
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> ExitCode {
        let code = match exit {
            Exit::Checked(Checked::AllFound) | Exit::Done => 0,
            Exit::Checked(Checked::SomeNotFound) => 1,
            Exit::Checked(Checked::SomeFailed) => 3,
            Exit::Fixtures { problems } => u8::from(problems),
            Exit::Verified { broken } | Exit::Audited { broken } => u8::from(broken),
            Exit::Synced { failed } => u8::from(failed),
            Exit::Reconciled { unresolved, .. } if unresolved => 3,
            Exit::Reconciled { differs, .. } => u8::from(differs),
            Exit::Stopped { code } => code,
        };
        ExitCode::from(code)
    }
}

impl From<Failure> for ExitCode {
    fn from(failure: Failure) -> ExitCode {
        ExitCode::from(match failure {
            Failure::Usage => 2,
            Failure::NoAnswer => 3,
            Failure::Audit => 4,
            Failure::Output => 5,
            Failure::ClosedPipe => 0,
        })
    }
}
