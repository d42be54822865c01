//! Why the audit trail could not take a line.

use std::path::PathBuf;

/// Why the audit trail could not take a line.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuditError {
    /// The trail's directory, a day file or the checkpoint is not its user's alone: another
    /// user could plant or change lines.
    #[error(transparent)]
    NotPrivate(#[from] crate::ownership::NotPrivate),
    /// The audit file could not be opened for appending.
    #[error("cannot open the audit log {}", .path.display())]
    Open {
        /// The audit file.
        path: PathBuf,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// The audit path exists but is not a regular file (a FIFO would hang the run, a device
    /// or directory cannot hold the trail).
    #[error("cannot open the audit log {}: it is {kind}, not a regular file", .path.display())]
    NotAFile {
        /// The audit path.
        path: PathBuf,
        /// What it is (`a FIFO`, `a directory`, `a character device`, …).
        kind: &'static str,
    },
    /// No actor: every line must say who asked.
    #[error("the actor is empty; say who is checking with --actor NAME")]
    NoActor,
    /// The trail is sealed with the audit key and this run has none.
    #[error(
        "the audit trail {} is sealed with the audit key (HMAC-SHA-256) and this run has none; set PAYSTAT_AUDIT_KEY (or [audit] key_file) to append to it (a line without the key would read as tampering)",
        .path.display()
    )]
    KeyNeeded {
        /// The trail.
        path: PathBuf,
    },
    /// The trail was written without the audit key and this run has one: sealing it from now
    /// on is `paystat audit seal`, which records the change in the chain.
    #[error(
        "the audit trail {} was written without the audit key; run `paystat audit seal` once (with PAYSTAT_AUDIT_KEY set) to seal it with the key from a recorded line on, or unset PAYSTAT_AUDIT_KEY",
        .path.display()
    )]
    NotKeyedYet {
        /// The trail.
        path: PathBuf,
    },
    /// `audit seal` on a trail already sealed with the key, or without a key to seal with.
    #[error("{0}")]
    Seal(&'static str),
    /// An actor longer than [`crate::audit::MAX_ACTOR`] characters: a name, not a document.
    #[error("the actor is {0} characters long; say who is checking in at most 256")]
    ActorTooLong(usize),
    /// The file paystat opened is no longer the one at the audit path: deleted, renamed or
    /// replaced during the run, so later lines would be lost to the unlinked file.
    #[error("the audit log {} was deleted or replaced during the run; its lines would be lost", .path.display())]
    Replaced {
        /// The audit path.
        path: PathBuf,
    },
    /// Lines that were on disk when their answers were shown are gone from the end of the
    /// trail (cut short or removed): not a crash, so paystat does not write over them.
    #[error(
        "line seq {seq} of the audit log {} was cut after it was on disk (the trail's durable record names it): the trail was tampered with; paystat writes nothing more to it — run `paystat audit verify` and keep the trail as it is",
        .path.display()
    )]
    CutAfterDurable {
        /// The trail file.
        path: PathBuf,
        /// The last line the durable record names.
        seq: u64,
    },
    /// An earlier line could not be written, so this check was not sent at all: after the
    /// first audit failure no further request leaves paystat.
    #[error("not sent: an earlier audit line could not be written")]
    Halted,
    /// Lines could not be synced to disk.
    #[error("cannot sync the audit log {} to disk: {reason}", .path.display())]
    Sync {
        /// The audit file.
        path: PathBuf,
        /// The operating system's reason.
        reason: String,
    },
    /// A line could not be written (full disk, revoked permission, I/O error).
    #[error("cannot write to the audit log {}", .path.display())]
    Write {
        /// The audit file.
        path: PathBuf,
        /// The operating system's reason.
        source: std::io::Error,
    },
}

impl AuditError {
    /// The same error again, for each of the lines one failed append held (an operating
    /// system error keeps its kind and its message).
    pub(super) fn again(&self) -> AuditError {
        let io = |e: &std::io::Error| std::io::Error::new(e.kind(), e.to_string());
        match self {
            AuditError::NotPrivate(e) => AuditError::NotPrivate(e.clone()),
            AuditError::Open { path, source } => AuditError::Open {
                path: path.clone(),
                source: io(source),
            },
            AuditError::NotAFile { path, kind } => AuditError::NotAFile {
                path: path.clone(),
                kind,
            },
            AuditError::NoActor => AuditError::NoActor,
            AuditError::ActorTooLong(n) => AuditError::ActorTooLong(*n),
            AuditError::KeyNeeded { path } => AuditError::KeyNeeded { path: path.clone() },
            AuditError::NotKeyedYet { path } => AuditError::NotKeyedYet { path: path.clone() },
            AuditError::Seal(why) => AuditError::Seal(why),
            AuditError::Replaced { path } => AuditError::Replaced { path: path.clone() },
            AuditError::CutAfterDurable { path, seq } => AuditError::CutAfterDurable {
                path: path.clone(),
                seq: *seq,
            },
            AuditError::Halted => AuditError::Halted,
            AuditError::Sync { path, reason } => AuditError::Sync {
                path: path.clone(),
                reason: reason.clone(),
            },
            AuditError::Write { path, source } => AuditError::Write {
                path: path.clone(),
                source: io(source),
            },
        }
    }
}
