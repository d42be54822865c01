//! The audit trail Compliance requires: one JSON line per status check.
//!
//! Each line covers PCI DSS 10.2.2 — who (actor), what event, when (UTC, milliseconds),
//! success or failure (outcome), where from (host, process id) and which resource (gateway,
//! payment id, method and URL path). Lines are serialized by serde_json, which escapes every
//! control character, so no payment id can break the one-line-per-check rule; each line is
//! written with a single `write_all` under a lock, so concurrent checks never interleave.
//! The checker writes the line before it returns a result: an answer that could not be
//! audited is never shown.
//!
//! A line is the [`CheckResult`] itself, flattened, behind who asked, when, from where and
//! which request was sent: the record is derived from the result, never re-listed by hand,
//! so whatever Operations are shown is also what Compliance can read back.

use std::borrow::Cow;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::macros::format_description;

use crate::result::CheckResult;

mod sync;

pub use sync::Durability;
use sync::Syncer;

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
pub struct AuditRecord<'a> {
    /// When the check ended, RFC 3339 UTC with milliseconds.
    pub timestamp: String,
    /// Always [`EVENT_STATUS_CHECK`].
    pub event: String,
    /// Who asked.
    pub actor: String,
    /// Where from.
    pub origin: Origin,
    /// The request sent; absent when the id was rejected locally.
    pub request: Option<RequestLine>,
    /// `os` when the line was only handed to the operating system (`--audit-sync os`); absent
    /// for the default, a line synced to disk before its answer was shown.
    #[serde(default, skip_serializing_if = "Durability::is_disk")]
    pub sync: Durability,
    /// What the check concluded: the whole normalized result, its fields at the top level.
    #[serde(flatten)]
    pub check: Cow<'a, CheckResult>,
}

/// Why the audit trail could not take a line.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
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
    /// The file paystat opened is no longer the one at the audit path: deleted, renamed or
    /// replaced during the run, so later lines would be lost to the unlinked file.
    #[error("the audit log {} was deleted or replaced during the run; its lines would be lost", .path.display())]
    Replaced {
        /// The audit path.
        path: PathBuf,
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

/// An append-only audit file shared by all checks of one run.
#[derive(Debug)]
pub struct AuditTrail {
    /// The file written: the audit path with any symbolic link resolved.
    path: PathBuf,
    /// The path given, when it was a symbolic link to `path`.
    link: Option<PathBuf>,
    file: Mutex<File>,
    /// The open file's identity (device, inode), compared with the path's before each line.
    identity: (u64, u64),
    actor: String,
    origin: Origin,
    durability: Durability,
    /// The group-commit syncer, for [`Durability::Disk`].
    syncer: Option<Syncer>,
}

impl AuditTrail {
    /// Opens (creating if needed) `path` for appending; `actor` is who runs the checks.
    ///
    /// The path must be a regular file or absent: a FIFO, a device or a directory is refused
    /// (a FIFO would block the run until someone reads it). A symbolic link is resolved, and
    /// the file it points to is the one written and watched.
    pub fn open(path: &Path, actor: String) -> Result<AuditTrail, AuditError> {
        AuditTrail::open_with(path, actor, Durability::Disk)
    }

    /// [`AuditTrail::open`] with lines made `durability` before their answers are shown.
    pub fn open_with(
        path: &Path,
        actor: String,
        durability: Durability,
    ) -> Result<AuditTrail, AuditError> {
        let open_error = |source| AuditError::Open {
            path: path.to_owned(),
            source,
        };
        let (target, link) = match std::fs::symlink_metadata(path) {
            Ok(meta) if meta.file_type().is_symlink() => match std::fs::canonicalize(path) {
                Ok(target) => (target, Some(path.to_owned())),
                // A dangling link: create its target, as writing through it would.
                Err(_) => (path.to_owned(), None),
            },
            _ => (path.to_owned(), None),
        };
        if let Ok(meta) = std::fs::metadata(&target) {
            not_a_file(meta.file_type()).map_or(Ok(()), |kind| {
                Err(AuditError::NotAFile {
                    path: target.clone(),
                    kind,
                })
            })?;
        }
        // Non-blocking, so that a FIFO put there after the check above fails instead of
        // hanging; it changes nothing for a regular file.
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            // Read too: a fragment at the end is found by reading the last byte.
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&target)
            .map_err(open_error)?;
        let meta = file.metadata().map_err(open_error)?;
        if let Some(kind) = not_a_file(meta.file_type()) {
            return Err(AuditError::NotAFile { path: target, kind });
        }
        let origin = Origin::current();
        repair_fragment(&file, &actor, &origin).map_err(|source| AuditError::Write {
            path: target.clone(),
            source,
        })?;
        let syncer = match durability {
            Durability::Disk => Some(
                file.try_clone()
                    .and_then(Syncer::start)
                    .map_err(open_error)?,
            ),
            Durability::Os => None,
        };
        Ok(AuditTrail {
            path: target,
            link,
            file: Mutex::new(file),
            identity: (meta.dev(), meta.ino()),
            actor,
            origin,
            durability,
            syncer,
        })
    }

    /// The audit file's path (a symbolic link given to [`AuditTrail::open`] resolved).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The symbolic link given to [`AuditTrail::open`], when the path was one.
    pub fn link(&self) -> Option<&Path> {
        self.link.as_deref()
    }

    /// How many disk syncs the trail has made (concurrent lines share them).
    pub fn syncs(&self) -> u64 {
        self.syncer.as_ref().map_or(0, Syncer::syncs)
    }

    /// Appends one line for the check `result`, which sent `request` (none when the id was
    /// rejected locally), and returns once the line is as durable as the trail promises: on
    /// disk by default, sharing one sync with the lines of concurrent checks.
    pub async fn record(
        &self,
        result: &CheckResult,
        request: Option<&RequestLine>,
    ) -> Result<(), AuditError> {
        let seq = self.append(result, request)?;
        match (&self.syncer, seq) {
            (Some(syncer), Some(seq)) => {
                syncer
                    .durable(seq)
                    .await
                    .map_err(|reason| AuditError::Sync {
                        path: self.path.clone(),
                        reason,
                    })
            }
            _ => Ok(()),
        }
    }

    /// Writes the line; returns its sequence number for the syncer, if there is one.
    fn append(
        &self,
        result: &CheckResult,
        request: Option<&RequestLine>,
    ) -> Result<Option<u64>, AuditError> {
        let record = AuditRecord {
            timestamp: now_millis(),
            event: EVENT_STATUS_CHECK.to_owned(),
            actor: self.actor.clone(),
            origin: self.origin.clone(),
            request: request.cloned(),
            sync: self.durability,
            check: Cow::Borrowed(result),
        };
        let mut line = serde_json::to_vec(&record).expect("an audit record always serializes");
        line.push(b'\n');
        let write_error = |source| AuditError::Write {
            path: self.path.clone(),
            source,
        };
        // A poisoned lock only means another check panicked mid-write; the file is still usable.
        let mut file = self.file.lock().unwrap_or_else(|p| p.into_inner());
        // Still the file at the audit path? (Deleted or replaced, its lines would be lost.)
        match std::fs::metadata(&self.path) {
            Ok(meta) if (meta.dev(), meta.ino()) == self.identity => {}
            _ => {
                return Err(AuditError::Replaced {
                    path: self.path.clone(),
                });
            }
        }
        // One writer at a time, across paystat processes sharing the trail (an advisory lock
        // for the append, released when `_lock` drops), so the length read here is where this
        // line starts.
        let _lock = AppendLock::take(&file).map_err(write_error)?;
        let before = file.metadata().map_err(write_error)?.len();
        if let Err(source) = file.write_all(&line).and_then(|()| file.flush()) {
            // Never a torn line: a write that failed half way (a full disk) is cut back off,
            // so the next line does not glue onto the fragment.
            let _ = file.set_len(before);
            return Err(write_error(source));
        }
        // Numbered while the file is still locked, so the numbers follow the file's order.
        Ok(self.syncer.as_ref().map(Syncer::written))
    }
}

/// The event of the line that records a repaired fragment.
pub const EVENT_REPAIR: &str = "audit.repair";

/// When the trail does not end with a newline (a crash, or an older paystat on a full disk,
/// left half a line), keeps the fragment as evidence, ends its line, and records the repair in a
/// line of its own, so the next line is whole and the trail says what happened.
fn repair_fragment(file: &File, actor: &str, origin: &Origin) -> std::io::Result<()> {
    use std::io::{Read, Seek, SeekFrom};
    let _lock = AppendLock::take(file)?;
    let length = file.metadata()?.len();
    if length == 0 {
        return Ok(());
    }
    let mut reader = file;
    reader.seek(SeekFrom::Start(length - 1))?;
    let mut last = [0u8; 1];
    reader.read_exact(&mut last)?;
    if last[0] == b'\n' {
        return Ok(());
    }
    let repair = serde_json::json!({
        "timestamp": now_millis(),
        "event": EVENT_REPAIR,
        "actor": actor,
        "origin": origin,
        "fragment_bytes": fragment_bytes_of(file, length)?,
        "detail": "the trail ended in the middle of a line; the fragment above is kept as it was",
    });
    let mut writer = file;
    writer.write_all(format!("\n{repair}\n").as_bytes())?;
    file.sync_data()
}

/// How many bytes the unfinished last line has: from the last newline (or the start) to the end.
fn fragment_bytes_of(file: &File, length: u64) -> std::io::Result<u64> {
    use std::io::{Read, Seek, SeekFrom};
    let mut reader = file;
    let window = length.min(1024 * 1024);
    reader.seek(SeekFrom::Start(length - window))?;
    let mut tail = Vec::with_capacity(usize::try_from(window).unwrap_or(0));
    reader.take(window).read_to_end(&mut tail)?;
    let fragment = tail.iter().rev().take_while(|b| **b != b'\n').count();
    Ok(u64::try_from(fragment).unwrap_or(u64::MAX))
}

/// An exclusive `flock` on the audit file for one append.
struct AppendLock(std::os::fd::RawFd);

impl AppendLock {
    fn take(file: &File) -> std::io::Result<AppendLock> {
        use std::os::fd::AsRawFd;
        let fd = file.as_raw_fd();
        // SAFETY: `fd` is the open audit file's descriptor, valid while `file` is borrowed,
        // which outlives the lock (it is released in `drop`, before the mutex guard).
        if unsafe { libc::flock(fd, libc::LOCK_EX) } == 0 {
            Ok(AppendLock(fd))
        } else {
            Err(std::io::Error::last_os_error())
        }
    }
}

impl Drop for AppendLock {
    fn drop(&mut self) {
        // SAFETY: the descriptor is still open (see `take`); unlocking cannot fail in a way
        // that matters, since closing the file would release it anyway.
        unsafe {
            libc::flock(self.0, libc::LOCK_UN);
        }
    }
}

/// What a file type is, when it is not a regular file.
fn not_a_file(file_type: std::fs::FileType) -> Option<&'static str> {
    if file_type.is_file() {
        None
    } else if file_type.is_dir() {
        Some("a directory")
    } else if file_type.is_fifo() {
        Some("a FIFO")
    } else if file_type.is_char_device() {
        Some("a character device")
    } else if file_type.is_block_device() {
        Some("a block device")
    } else if file_type.is_socket() {
        Some("a socket")
    } else {
        Some("something else")
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
