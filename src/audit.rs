//! The audit trail Compliance requires: one JSON line per status check.
//!
//! Each line covers PCI DSS 10.2.2 — who (actor), what event, when (UTC, milliseconds),
//! success or failure (outcome), where from (host, process id) and which resource (gateway,
//! payment id, method and URL path). Lines are serialized by serde_json, which escapes every
//! control character, so no payment id can break the one-line-per-check rule; each line is
//! written with a single `write_all` under a lock, so concurrent checks never interleave.
//! The checker writes the line before it returns a result: an answer that could not be
//! audited is never shown.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::macros::format_description;

use crate::checker::AttemptRecord;
use crate::gateway::GatewayKind;
use crate::retry::RetryStop;
use crate::status::{Outcome, PaymentStatus};

/// The default audit file, relative to the working directory.
pub const DEFAULT_PATH: &str = "payment_audit.jsonl";

/// The event name of a status check.
pub const EVENT_STATUS_CHECK: &str = "payment.status_check";

/// Where a check came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Origin {
    /// The host name of the machine that ran the check.
    pub host: String,
    /// The process id of the paystat process.
    pub pid: u32,
}

impl Origin {
    /// This process on this machine.
    pub fn current() -> Origin {
        Origin {
            host: gethostname::gethostname().to_string_lossy().into_owned(),
            pid: std::process::id(),
        }
    }
}

/// The request a check sent: never a credential, never a query string.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestLine {
    /// The HTTP method.
    pub method: String,
    /// The URL path, percent-encoded as sent.
    pub path: String,
}

/// One audit line, as written and as read back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// When the check ended, RFC 3339 UTC with milliseconds.
    pub timestamp: String,
    /// Always [`EVENT_STATUS_CHECK`].
    pub event: String,
    /// Who asked.
    pub actor: String,
    /// Where from.
    pub origin: Origin,
    /// The payment asked about, exactly as given.
    pub payment_id: String,
    /// The gateway asked; null when `--gateway auto` found none for the id.
    pub gateway: Option<GatewayKind>,
    /// The request sent; absent when the id was rejected locally.
    pub request: Option<RequestLine>,
    /// The HTTP status of the last reply, if one came.
    pub http_status: Option<u16>,
    /// What the check concluded.
    pub outcome: Outcome,
    /// The normalized status, when found.
    pub status: Option<PaymentStatus>,
    /// The gateway's own status word, when found.
    pub gateway_status: Option<String>,
    /// How many requests were sent.
    pub attempts: u32,
    /// Every request: its HTTP status or transport error, its duration, and the wait after it.
    pub attempt_log: Vec<AttemptRecord>,
    /// Why a failed check was not tried again.
    pub retry_stop: Option<RetryStop>,
    /// How long the check took.
    pub duration_ms: u64,
    /// The gateway's id for the request, when it sent one.
    pub gateway_request_id: Option<String>,
}

/// The parts of an audit line that the check supplies; the trail adds who, when and where.
#[derive(Debug, Clone)]
pub struct CheckEvent<'a> {
    /// The payment asked about.
    pub payment_id: &'a str,
    /// The gateway asked, if one was chosen.
    pub gateway: Option<GatewayKind>,
    /// The request sent, if any.
    pub request: Option<RequestLine>,
    /// The HTTP status of the last reply.
    pub http_status: Option<u16>,
    /// What the check concluded.
    pub outcome: Outcome,
    /// The normalized status.
    pub status: Option<PaymentStatus>,
    /// The gateway's word.
    pub gateway_status: Option<&'a str>,
    /// Requests sent.
    pub attempts: u32,
    /// Every request.
    pub attempt_log: &'a [AttemptRecord],
    /// Why a failed check was not tried again.
    pub retry_stop: Option<RetryStop>,
    /// Duration of the check.
    pub duration_ms: u64,
    /// The gateway's request id.
    pub gateway_request_id: Option<&'a str>,
}

/// Why the audit trail could not take a line.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The audit file could not be opened for appending.
    #[error("cannot open the audit log {path}: {source}")]
    Open {
        /// The audit file.
        path: PathBuf,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// A line could not be written (full disk, revoked permission, I/O error).
    #[error("cannot write to the audit log {path}: {source}")]
    Write {
        /// The audit file.
        path: PathBuf,
        /// The operating system's reason.
        source: std::io::Error,
    },
}

/// An append-only audit file shared by all checks of one run.
#[derive(Debug)]
pub struct AuditTrail {
    path: PathBuf,
    file: Mutex<File>,
    actor: String,
    origin: Origin,
}

impl AuditTrail {
    /// Opens (creating if needed) `path` for appending; `actor` is who runs the checks.
    pub fn open(path: &Path, actor: String) -> Result<AuditTrail, AuditError> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|source| AuditError::Open {
                path: path.to_owned(),
                source,
            })?;
        Ok(AuditTrail {
            path: path.to_owned(),
            file: Mutex::new(file),
            actor,
            origin: Origin::current(),
        })
    }

    /// The audit file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one line for `event` and flushes it; returns the record written.
    pub fn record(&self, event: &CheckEvent<'_>) -> Result<AuditRecord, AuditError> {
        let record = AuditRecord {
            timestamp: now_millis(),
            event: EVENT_STATUS_CHECK.to_owned(),
            actor: self.actor.clone(),
            origin: self.origin.clone(),
            payment_id: event.payment_id.to_owned(),
            gateway: event.gateway,
            request: event.request.clone(),
            http_status: event.http_status,
            outcome: event.outcome,
            status: event.status,
            gateway_status: event.gateway_status.map(str::to_owned),
            attempts: event.attempts,
            attempt_log: event.attempt_log.to_vec(),
            retry_stop: event.retry_stop,
            duration_ms: event.duration_ms,
            gateway_request_id: event.gateway_request_id.map(str::to_owned),
        };
        let mut line = serde_json::to_vec(&record).expect("an audit record always serializes");
        line.push(b'\n');
        let write_error = |source| AuditError::Write {
            path: self.path.clone(),
            source,
        };
        // A poisoned lock only means another check panicked mid-write; the file is still usable.
        let mut file = self.file.lock().unwrap_or_else(|p| p.into_inner());
        file.write_all(&line).map_err(write_error)?;
        file.flush().map_err(write_error)?;
        Ok(record)
    }
}

/// The actor to record when none is given: the operating-system user.
pub fn default_actor() -> String {
    whoami::username()
        .ok()
        .or_else(|| std::env::var("USER").ok())
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

fn now_millis() -> String {
    let format =
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    OffsetDateTime::now_utc()
        .format(&format)
        .expect("UTC time always formats")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_have_milliseconds_in_utc() {
        let ts = now_millis();
        assert_eq!(ts.len(), "2026-01-01T00:00:00.000Z".len(), "{ts}");
        assert!(ts.ends_with('Z'));
    }
}
