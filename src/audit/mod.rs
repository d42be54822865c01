//! The audit trail Compliance requires: one JSON line per status check, durable before the
//! answer is shown, chained so that an edit, a deletion or a reordering is found, and kept in
//! UTC day files for as long as the retention rule says.
//!
//! Each line covers PCI DSS 10.2.2 — who (`actor`, and always `os_user`), what event, when (UTC,
//! milliseconds), success or failure (outcome), where from (host, process id), which system was
//! asked (`target`: scheme, host, port; `environment`: mock, test or live) and which resource
//! (gateway, payment id, method and URL path). Lines are serialized by serde_json, which escapes
//! every control character, so no payment id can break the one-line-per-check rule.
//!
//! A line is the [`CheckResult`] itself, flattened, behind who asked, when, from where and
//! which request was sent: the record is derived from the result, never re-listed by hand,
//! so whatever Operations are shown is also what Compliance can read back. Its first fields
//! are the format version `v`, its sequence number `seq` and the previous line's hash `prev`;
//! its last is its own `hash` ([`chain`]).
//!
//! Appending: a check hands its line in and lets the other checks ready at that moment hand in
//! theirs; the first of them to resume appends them all. Under an exclusive advisory lock
//! shared by every paystat process (the file itself, or the directory's `.lock`), it finds the
//! chain's head (cached while nobody else wrote), seals the lines in order, writes them with
//! one `write`, and if the write fails part way cuts the file back to the last whole line —
//! never a torn line; the lines cut off are reported unwritten to their checks. A file that does not end in a newline when
//! paystat first writes to it (a crash mid-write) keeps its fragment, and a chained
//! `audit.repair` line records it.

use std::borrow::Cow;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::macros::format_description;

use crate::result::{CheckResult, Environment};

pub mod chain;
mod files;
pub mod prune;
pub mod query;
mod sync;
pub mod verify;

pub use chain::{GENESIS, Sealer};
pub use files::{Checkpoint, Location};
pub use sync::Durability;
use sync::Syncer;

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

/// Which host a check asked: scheme, host and port, never a path, user or query.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    /// `https` or `http`.
    pub scheme: String,
    /// The host name or address.
    pub host: String,
    /// The port, the scheme's default filled in.
    pub port: Option<u16>,
}

impl Target {
    /// The target of a gateway at `url`.
    pub fn of(url: &url::Url) -> Target {
        Target {
            scheme: url.scheme().to_owned(),
            host: url.host_str().unwrap_or_default().to_owned(),
            port: url.port_or_known_default(),
        }
    }
}

/// What a check asked, for its audit line: the request, the host and the kind of system.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Asked {
    /// The request sent; none when the id was rejected locally.
    pub request: Option<RequestLine>,
    /// The gateway's host; none when no gateway was chosen.
    pub target: Option<Target>,
    /// Mock, test or live; none when no gateway was chosen.
    pub environment: Option<Environment>,
}

/// One audit line, as written and as read back. Lines written before the chain (format
/// version 1, `payment_audit.jsonl` of earlier paystat) read with `v` 0 and no chain fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord<'a> {
    /// The line format's version ([`chain::FORMAT_VERSION`]); 0 for a legacy line.
    #[serde(default)]
    pub v: u32,
    /// The line's place in the chain, from 1.
    #[serde(default)]
    pub seq: u64,
    /// The hash of the line before it ([`GENESIS`] for the first).
    #[serde(default)]
    pub prev: String,
    /// How hashes are made: `sha256`, or `hmac-sha256` with the audit key.
    #[serde(default)]
    pub chain: String,
    /// When the line was written, RFC 3339 UTC with milliseconds.
    pub timestamp: String,
    /// Always [`EVENT_STATUS_CHECK`].
    pub event: String,
    /// Who the operator says they are (`--actor`; the OS user when not given).
    pub actor: String,
    /// The operating-system user that ran paystat, always.
    #[serde(default)]
    pub os_user: String,
    /// Where from.
    pub origin: Origin,
    /// The host asked; absent when no gateway was chosen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<Target>,
    /// `mock`, `test` or `live`; absent when no gateway was chosen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<Environment>,
    /// The request sent; absent when the id was rejected locally.
    pub request: Option<RequestLine>,
    /// `os` when the line was only handed to the operating system (`--audit-sync os`); absent
    /// for the default, a line synced to disk before its answer was shown.
    #[serde(default, skip_serializing_if = "Durability::is_disk")]
    pub sync: Durability,
    /// What the check concluded: the whole normalized result, its fields at the top level.
    #[serde(flatten)]
    pub check: Cow<'a, CheckResult>,
    /// The line's own hash (written last, over everything before it; see [`chain`]).
    #[serde(default, skip_serializing)]
    pub hash: String,
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
    /// No actor: every line must say who asked.
    #[error("the actor is empty; say who is checking with --actor NAME")]
    NoActor,
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

impl AuditError {
    /// The same error again, for each of the lines one failed append held (an operating
    /// system error keeps its kind and its message).
    fn again(&self) -> AuditError {
        let io = |e: &std::io::Error| std::io::Error::new(e.kind(), e.to_string());
        match self {
            AuditError::Open { path, source } => AuditError::Open {
                path: path.clone(),
                source: io(source),
            },
            AuditError::NotAFile { path, kind } => AuditError::NotAFile {
                path: path.clone(),
                kind,
            },
            AuditError::NoActor => AuditError::NoActor,
            AuditError::Replaced { path } => AuditError::Replaced { path: path.clone() },
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

/// A line written but perhaps not yet on disk: await [`Written::durable`] before showing its answer.
#[derive(Debug)]
#[must_use = "a line is durable only once `durable` has returned"]
pub struct Written {
    wait: Option<(Arc<Syncer>, u64)>,
    path: Arc<Path>,
    result: Arc<Vec<u8>>,
}

impl Written {
    /// The result as the line holds it: its JSON object, as `serde_json` writes a
    /// [`CheckResult`] (a JSON-lines output can show these very bytes).
    pub fn result_json(&self) -> &Arc<Vec<u8>> {
        &self.result
    }

    /// Returns once the line is as durable as the trail promises (at once for `sync = "os"`).
    pub async fn durable(self) -> Result<(), AuditError> {
        match self.wait {
            Some((syncer, seq)) => syncer
                .durable(seq)
                .await
                .map_err(|reason| AuditError::Sync {
                    path: self.path.to_path_buf(),
                    reason,
                }),
            None => Ok(()),
        }
    }
}

/// How a trail is opened: who writes, how durably, how lines are sealed.
#[derive(Debug, Clone)]
pub struct TrailOptions {
    /// Who the operator says they are; `None` records the OS user as the actor too.
    pub actor: Option<String>,
    /// How far a line gets before its answer is shown.
    pub durability: Durability,
    /// How line hashes are made (plain SHA-256, or HMAC with the audit key).
    pub sealer: Sealer,
}

impl TrailOptions {
    /// Lines by `actor`, synced to disk, sealed with plain SHA-256.
    pub fn new(actor: impl Into<String>) -> TrailOptions {
        TrailOptions {
            actor: Some(actor.into()),
            durability: Durability::Disk,
            sealer: Sealer::plain(),
        }
    }
}

/// The head of the chain: the last line written, and where the file ended after it.
#[derive(Debug, Clone)]
struct Head {
    file: PathBuf,
    length: u64,
    seq: u64,
    hash: String,
}

/// The file lines currently go to.
#[derive(Debug)]
struct OpenFile {
    path: PathBuf,
    day: Option<time::Date>,
    file: File,
    /// The open file's identity (device, inode), compared with the path's before each line.
    identity: (u64, u64),
    syncer: Option<Arc<Syncer>>,
}

#[derive(Debug)]
struct Writer {
    open: OpenFile,
    head: Option<Head>,
    /// The lines of an append, reused from one append to the next (a bulk run appends
    /// thousands of times a second).
    buffer: Vec<u8>,
}

/// The most a writer's buffer keeps between appends.
const BUFFER_KEPT: usize = 1 << 20;

/// Lines handed to [`AuditTrail::write`] and not yet appended, and how the appended ones
/// ended until each check takes its own outcome.
#[derive(Debug, Default)]
struct Queue {
    /// The last ticket given to a line.
    issued: u64,
    /// The ticket of `waiting[0]`.
    first_waiting: u64,
    /// What each waiting line adds after its envelope ([`AuditTrail::rest`]).
    waiting: Vec<Rest>,
    /// Appended lines by ticket: their append, and their place in it.
    done: std::collections::HashMap<u64, (Arc<Batch>, u64)>,
}

/// How one append of one or more lines ended.
#[derive(Debug)]
struct Batch {
    /// The file's syncer, when lines are synced to disk.
    syncer: Option<Arc<Syncer>>,
    /// The syncer's number for the first line kept.
    first_seq: Option<u64>,
    /// How many of the lines, from the first, are whole in the file.
    kept: u64,
    /// Why the others are not.
    error: Option<AuditError>,
}

impl Batch {
    /// An append that kept no line.
    fn failed(error: AuditError) -> Batch {
        Batch {
            syncer: None,
            first_seq: None,
            kept: 0,
            error: Some(error),
        }
    }
}

/// What a check's line holds after its envelope: who asked, from where, which request (a JSON
/// object), then the result (a JSON object), serialized before any lock is taken.
#[derive(Debug)]
struct Rest {
    asked: Vec<u8>,
    result: Arc<Vec<u8>>,
}

impl Rest {
    /// Writes the check's line to `out`: the envelope for place `seq` after `prev` at
    /// `timestamp`, then the fields of `asked` and of `result`, as one object, not yet sealed.
    fn line(&self, seq: u64, prev: &str, chain: &str, timestamp: &str, out: &mut Vec<u8>) {
        #[derive(Serialize)]
        struct Envelope<'l> {
            v: u32,
            seq: u64,
            prev: &'l str,
            chain: &'l str,
            timestamp: &'l str,
        }
        serde_json::to_writer(
            &mut *out,
            &Envelope {
                v: chain::FORMAT_VERSION,
                seq,
                prev,
                chain,
                timestamp,
            },
        )
        .expect("an envelope always serializes");
        // `{envelope}`, `{asked}` and `{result}` joined into `{envelope,asked,result}`, the
        // order of [`AuditRecord`]'s fields (the result's at the top level, as its
        // `#[serde(flatten)]` reads them).
        out.pop();
        out.push(b',');
        out.extend_from_slice(&self.asked[1..self.asked.len() - 1]);
        out.push(b',');
        out.extend_from_slice(&self.result[1..]);
    }
}

/// An append-only, chained audit trail shared by all checks of one run (and by other paystat
/// processes writing to the same place).
#[derive(Debug)]
pub struct AuditTrail {
    location: Location,
    /// The trail's path, as errors name it.
    shown_path: Arc<Path>,
    /// The path given, when it was a symbolic link to the file written.
    link: Option<PathBuf>,
    writer: Mutex<Writer>,
    /// Lines handed in by checks, appended together by whichever of them comes first.
    queue: Mutex<Queue>,
    /// The file whose `flock` serializes appends across processes.
    lock: File,
    actor: String,
    os_user: String,
    origin: Origin,
    durability: Durability,
    sealer: Sealer,
    syncs: Arc<std::sync::atomic::AtomicU64>,
}

impl AuditTrail {
    /// Opens (creating if needed) the single-file trail `path` for lines by `actor`, synced to
    /// disk and sealed with plain SHA-256.
    pub fn open(path: &Path, actor: String) -> Result<AuditTrail, AuditError> {
        AuditTrail::open_with(path, actor, Durability::Disk)
    }

    /// [`AuditTrail::open`] with lines made `durability` before their answers are shown.
    pub fn open_with(
        path: &Path,
        actor: String,
        durability: Durability,
    ) -> Result<AuditTrail, AuditError> {
        AuditTrail::open_at(
            Location::File(path.to_owned()),
            TrailOptions {
                durability,
                ..TrailOptions::new(actor)
            },
        )
    }

    /// Opens the trail at `location`: one file, or a directory of day files (created 0700,
    /// files 0600).
    ///
    /// A single-file path must be a regular file or absent: a FIFO, a device or a directory is
    /// refused (a FIFO would block the run until someone reads it). A symbolic link is resolved,
    /// and the file it points to is the one written and watched.
    pub fn open_at(location: Location, options: TrailOptions) -> Result<AuditTrail, AuditError> {
        let os_user = default_actor();
        let actor = match options.actor {
            Some(actor) if actor.trim().is_empty() => return Err(AuditError::NoActor),
            Some(actor) => actor,
            None => os_user.clone(),
        };
        let (location, link) = match location {
            Location::File(path) => {
                let (target, link) = resolve_link(&path);
                (Location::File(target), link)
            }
            Location::Days(dir) => {
                std::fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(&dir)
                    .map_err(|source| AuditError::Open {
                        path: dir.clone(),
                        source,
                    })?;
                (Location::Days(dir), None)
            }
        };
        let now = OffsetDateTime::now_utc();
        let open = open_file(&location, now.date(), options.durability)?;
        let lock = match &location {
            Location::File(_) => open.file.try_clone(),
            Location::Days(dir) => create_0600(&dir.join(files::LOCK), false),
        }
        .map_err(|source| AuditError::Open {
            path: location.path().to_owned(),
            source,
        })?;
        let trail = AuditTrail {
            shown_path: Arc::from(location.path()),
            location,
            link,
            writer: Mutex::new(Writer {
                open,
                head: None,
                buffer: Vec::new(),
            }),
            queue: Mutex::default(),
            lock,
            actor,
            os_user,
            origin: Origin::current(),
            durability: options.durability,
            sealer: options.sealer,
            syncs: Arc::default(),
        };
        // Finds the head now, repairing a fragment a crash left, so a broken trail is said at
        // once rather than at the first check.
        {
            let mut writer = trail.writer.lock().unwrap_or_else(|p| p.into_inner());
            let _lock = AppendLock::take(&trail.lock).map_err(|e| trail.write_error(e))?;
            trail.head(&mut writer)?;
        }
        Ok(trail)
    }

    /// Where the trail is (a symbolic link given resolved).
    pub fn location(&self) -> &Location {
        &self.location
    }

    /// The file lines go to now (a symbolic link given to [`AuditTrail::open`] resolved).
    pub fn path(&self) -> PathBuf {
        self.writer
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .open
            .path
            .clone()
    }

    /// The symbolic link given to [`AuditTrail::open`], when the path was one.
    pub fn link(&self) -> Option<&Path> {
        self.link.as_deref()
    }

    /// How many disk syncs the trail has made (concurrent lines share them).
    pub fn syncs(&self) -> u64 {
        let current = self
            .writer
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .open
            .syncer
            .as_ref()
            .map_or(0, |s| s.syncs());
        current + self.syncs.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Appends one line for the check `result`, which asked as `asked` says, and returns once
    /// the line is as durable as the trail promises: on disk by default, sharing one sync with
    /// the lines of concurrent checks.
    pub async fn record(&self, result: &CheckResult, asked: &Asked) -> Result<(), AuditError> {
        self.write(result, asked).await?.durable().await
    }

    /// Appends one line for the check `result`; the answer may be shown only after
    /// [`Written::durable`]. A bulk run writes the next checks' lines meanwhile, so one sync
    /// covers many lines without holding up the requests.
    ///
    /// The line is handed in, then this check lets the other checks that are ready at this
    /// moment (on this thread's runtime) hand in theirs: the first of them to resume appends
    /// every line handed in, under one lock, in one `write`. Returns once this check's line is
    /// in the file, or with the reason it is not (then none of the lines after it are either).
    pub async fn write(&self, result: &CheckResult, asked: &Asked) -> Result<Written, AuditError> {
        let rest = self.rest(result, asked);
        let json = Arc::clone(&rest.result);
        let ticket = {
            let mut queue = self.queue.lock().unwrap_or_else(|p| p.into_inner());
            if queue.waiting.is_empty() {
                queue.first_waiting = queue.issued + 1;
            }
            queue.issued += 1;
            queue.waiting.push(rest);
            queue.issued
        };
        tokio::task::yield_now().await;
        self.appended(ticket, json)
    }

    /// What `result` adds to a line after the envelope (`v`, `seq`, `prev`, `chain`,
    /// `timestamp`): the same fields as [`AuditRecord`], in the same order, borrowed (a bulk run
    /// writes thousands of lines a second), as a JSON object. It does not depend on the chain's
    /// head, so it is made before any lock is taken.
    fn rest(&self, result: &CheckResult, asked: &Asked) -> Rest {
        #[derive(Serialize)]
        struct Asking<'l> {
            event: &'l str,
            actor: &'l str,
            os_user: &'l str,
            origin: &'l Origin,
            #[serde(skip_serializing_if = "Option::is_none")]
            target: Option<&'l Target>,
            #[serde(skip_serializing_if = "Option::is_none")]
            environment: Option<Environment>,
            request: Option<&'l RequestLine>,
            #[serde(skip_serializing_if = "Durability::is_disk")]
            sync: Durability,
        }
        let asking = serde_json::to_vec(&Asking {
            event: EVENT_STATUS_CHECK,
            actor: &self.actor,
            os_user: &self.os_user,
            origin: &self.origin,
            target: asked.target.as_ref(),
            environment: asked.environment,
            request: asked.request.as_ref(),
            sync: self.durability,
        });
        let mut json = Vec::with_capacity(1024);
        let result = serde_json::to_writer(&mut json, result).map(|()| json);
        Rest {
            asked: asking.expect("an audit line always serializes"),
            result: Arc::new(result.expect("a result always serializes")),
        }
    }

    /// The outcome of the line with `ticket`: taken from the append that wrote it, or, when it
    /// still waits, by appending it with every other line waiting. `json` is its result.
    fn appended(&self, ticket: u64, json: Arc<Vec<u8>>) -> Result<Written, AuditError> {
        let queue = || self.queue.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((batch, index)) = queue().done.remove(&ticket) {
            return self.written(&batch, index, json);
        }
        // A poisoned lock only means another check panicked mid-write; the file is still usable.
        let mut writer = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        // Another thread may have appended it while this one waited for the writer.
        let (first, lines) = {
            let mut queue = queue();
            if let Some((batch, index)) = queue.done.remove(&ticket) {
                drop(queue);
                drop(writer);
                return self.written(&batch, index, json);
            }
            (queue.first_waiting, std::mem::take(&mut queue.waiting))
        };
        // Every ticket is either waiting or done, so this line is among those taken; were it
        // not, the others would still be written, and this check would not be shown.
        let own = ticket
            .checked_sub(first)
            .filter(|&i| i < lines.len() as u64);
        if lines.is_empty() {
            return Err(AuditError::Halted);
        }
        let batch =
            Arc::new(
                self.append(&mut writer, lines.len(), |i, seq, prev, timestamp, out| {
                    lines[i].line(seq, prev, self.sealer.name(), timestamp, out);
                }),
            );
        // The other checks find their outcome before the writer is free again.
        {
            let mut queue = queue();
            for i in (0..lines.len() as u64).filter(|&i| Some(i) != own) {
                queue.done.insert(first + i, (Arc::clone(&batch), i));
            }
        }
        drop(writer);
        match own {
            Some(index) => self.written(&batch, index, json),
            None => Err(AuditError::Halted),
        }
    }

    /// The line `index` of `batch` as written (its result being `json`), or why it is not.
    fn written(
        &self,
        batch: &Batch,
        index: u64,
        json: Arc<Vec<u8>>,
    ) -> Result<Written, AuditError> {
        if index < batch.kept {
            return Ok(Written {
                wait: batch
                    .syncer
                    .clone()
                    .zip(batch.first_seq.map(|first| first + index)),
                path: Arc::clone(&self.shown_path),
                result: json,
            });
        }
        Err(batch
            .error
            .as_ref()
            .map_or(AuditError::Halted, AuditError::again))
    }

    /// Appends a line of another event (a repair, an interruption), chained like the others:
    /// `fields` are written after the envelope.
    pub fn note(
        &self,
        event: &str,
        fields: serde_json::Map<String, serde_json::Value>,
    ) -> Result<(), AuditError> {
        let mut writer = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let batch = self.append(&mut writer, 1, |_, seq, prev, timestamp, out| {
            out.extend_from_slice(&self.note_line(seq, prev, timestamp, event, &fields));
        });
        if let Some(error) = batch.error {
            return Err(error);
        }
        if batch.syncer.is_some() {
            writer
                .open
                .file
                .sync_data()
                .map_err(|source| AuditError::Write {
                    path: writer.open.path.clone(),
                    source,
                })?;
        }
        Ok(())
    }

    /// Records, where the trail still takes a line, that a check could not be audited and that
    /// paystat stopped sending requests there (event `audit.halted`). On a full disk or a
    /// replaced file this line cannot be written either; the CLI's error sentence then carries it.
    pub fn record_failure(&self, payment_id: &str, error: &AuditError) {
        let mut fields = serde_json::Map::new();
        fields.insert(
            "payment_id".into(),
            crate::result::kept_id(payment_id).into_owned().into(),
        );
        fields.insert("error".into(), error.to_string().into());
        fields.insert(
            "detail".into(),
            "this check's line could not be made durable; paystat withheld its answer and sent no further request"
                .into(),
        );
        let _ = self.note(EVENT_HALTED, fields);
    }

    fn note_line(
        &self,
        seq: u64,
        prev: &str,
        timestamp: &str,
        event: &str,
        fields: &serde_json::Map<String, serde_json::Value>,
    ) -> Vec<u8> {
        #[derive(Serialize)]
        struct Note<'n> {
            v: u32,
            seq: u64,
            prev: &'n str,
            chain: &'n str,
            timestamp: &'n str,
            event: &'n str,
            actor: &'n str,
            os_user: &'n str,
            origin: &'n Origin,
            #[serde(flatten)]
            fields: &'n serde_json::Map<String, serde_json::Value>,
        }
        serde_json::to_vec(&Note {
            v: chain::FORMAT_VERSION,
            seq,
            prev,
            chain: self.sealer.name(),
            timestamp,
            event,
            actor: &self.actor,
            os_user: &self.os_user,
            origin: &self.origin,
            fields,
        })
        .expect("a note always serializes")
    }

    fn write_error(&self, source: std::io::Error) -> AuditError {
        AuditError::Write {
            path: self.location.path().to_owned(),
            source,
        }
    }

    /// Appends `count` lines with `writer` held, the `i`th made by `make(i, seq, prev,
    /// timestamp, out)` at the end of `out` and chained after the one before, in one `write`. A write that fails part
    /// way keeps the lines that are whole in the file and cuts the rest off — never a torn
    /// line; the batch says how many were kept and why the others were not.
    fn append(
        &self,
        writer: &mut Writer,
        count: usize,
        mut make: impl FnMut(usize, u64, &str, &str, &mut Vec<u8>),
    ) -> Batch {
        // One writer at a time, across paystat processes sharing the trail (an advisory lock
        // for the append, released when `_lock` drops), so the head read here is the last line.
        let _lock = match AppendLock::take(&self.lock) {
            Ok(lock) => lock,
            Err(e) => return Batch::failed(self.write_error(e)),
        };
        // The time is taken under the lock, so lines are in time order across processes too.
        let now = OffsetDateTime::now_utc();
        if let Location::Days(_) = self.location
            && writer.open.day.is_some_and(|day| day < now.date())
        {
            let next = match open_file(&self.location, now.date(), self.durability) {
                Ok(next) => next,
                Err(e) => return Batch::failed(e),
            };
            if let Some(old) = &writer.open.syncer {
                self.syncs
                    .fetch_add(old.syncs(), std::sync::atomic::Ordering::SeqCst);
            }
            writer.open = next;
        }
        let head = match self.head(writer) {
            Ok(head) => head,
            Err(e) => return Batch::failed(e),
        };
        let timestamp = timestamp_of(now);
        let mut bytes = std::mem::take(&mut writer.buffer);
        bytes.clear();
        // Where each line ends in `bytes`, and its hash.
        let mut ends: Vec<(usize, String)> = Vec::with_capacity(count);
        for i in 0..count {
            let prev = ends.last().map_or(head.hash.as_str(), |(_, hash)| hash);
            let start = bytes.len();
            make(i, head.seq + 1 + i as u64, prev, &timestamp, &mut bytes);
            let hash = self.sealer.seal_at(&mut bytes, start);
            bytes.push(b'\n');
            ends.push((bytes.len(), hash));
        }
        let open = &mut writer.open;
        let mut file = &open.file;
        let mut done = 0;
        let failure = loop {
            if done == bytes.len() {
                break None;
            }
            match file.write(&bytes[done..]) {
                Ok(0) => break Some(std::io::Error::from(std::io::ErrorKind::WriteZero)),
                Ok(n) => done += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => break Some(e),
            }
        };
        let kept = ends.iter().take_while(|(end, _)| *end <= done).count();
        let kept_bytes = kept.checked_sub(1).map_or(0, |last| ends[last].0);
        if done != kept_bytes {
            // A line written half way (a full disk) is cut back off, so the next line does
            // not glue onto the fragment.
            let _ = open.file.set_len(head.length + kept_bytes as u64);
        }
        let syncer = open.syncer.clone();
        // Numbered while the file is still locked, so the numbers follow the file's order.
        let first_seq = syncer.as_ref().map(|s| s.written(kept as u64));
        let error = failure.map(|source| AuditError::Write {
            path: open.path.clone(),
            source,
        });
        if let Some((_, hash)) = kept.checked_sub(1).map(|last| ends.swap_remove(last)) {
            writer.head = Some(Head {
                file: writer.open.path.clone(),
                length: head.length + kept_bytes as u64,
                seq: head.seq + kept as u64,
                hash,
            });
        }
        if bytes.capacity() <= BUFFER_KEPT {
            writer.buffer = bytes;
        }
        Batch {
            syncer,
            first_seq,
            kept: kept as u64,
            error,
        }
    }

    /// The chain's head for the next line, with the lock held: the cached one while the file
    /// has not grown behind paystat's back, else read from the file's end (or the day before,
    /// the checkpoint, or [`GENESIS`]). A fragment at the end is kept and its repair recorded.
    fn head(&self, writer: &mut Writer) -> Result<Head, AuditError> {
        let open = &writer.open;
        // Still the file at the audit path? (Deleted or replaced, its lines would be lost.)
        match std::fs::metadata(&open.path) {
            Ok(meta) if (meta.dev(), meta.ino()) == open.identity => {}
            _ => {
                return Err(AuditError::Replaced {
                    path: open.path.clone(),
                });
            }
        }
        let write_error = |source| AuditError::Write {
            path: open.path.clone(),
            source,
        };
        let length = open.file.metadata().map_err(write_error)?.len();
        if let Some(head) = &writer.head
            && head.file == open.path
            && head.length == length
        {
            return Ok(head.clone());
        }
        let tail = files::tail(&open.file, length).map_err(write_error)?;
        let mut head = match tail.last.as_deref().and_then(chained) {
            Some((seq, hash)) => Head {
                file: open.path.clone(),
                length,
                seq,
                hash,
            },
            // An empty file continues the day before (or the checkpoint); a file of legacy
            // lines starts a new chain after them.
            None if tail.last.is_none() && tail.fragment == 0 => {
                let (seq, hash) = self.head_before(&open.path).map_err(write_error)?;
                Head {
                    file: open.path.clone(),
                    length,
                    seq,
                    hash,
                }
            }
            None => Head {
                file: open.path.clone(),
                length,
                seq: 0,
                hash: GENESIS.to_owned(),
            },
        };
        if tail.fragment > 0 {
            // End the fragment's line, then record the repair, chained after the last whole line.
            let mut file = &open.file;
            file.write_all(b"\n").map_err(write_error)?;
            head.length += 1;
            let mut fields = serde_json::Map::new();
            fields.insert("fragment_bytes".into(), tail.fragment.into());
            fields.insert(
                "detail".into(),
                "the trail ended in the middle of a line; the fragment above is kept as it was"
                    .into(),
            );
            let body = self.note_line(
                head.seq + 1,
                &head.hash,
                &now_millis(),
                EVENT_REPAIR,
                &fields,
            );
            let (mut line, hash) = self.sealer.seal(body);
            line.push(b'\n');
            file.write_all(&line).map_err(write_error)?;
            open.file.sync_data().map_err(write_error)?;
            head = Head {
                file: open.path.clone(),
                length: head.length + line.len() as u64,
                seq: head.seq + 1,
                hash,
            };
        }
        writer.head = Some(head.clone());
        Ok(head)
    }

    /// The head a new day file continues from: the last line of the newest earlier day file,
    /// else the checkpoint pruning left, else the start of a chain.
    fn head_before(&self, path: &Path) -> std::io::Result<(u64, String)> {
        let Location::Days(_) = self.location else {
            return Ok((0, GENESIS.to_owned()));
        };
        let before: Vec<PathBuf> = self
            .location
            .files()?
            .into_iter()
            .filter(|p| p.as_path() != path && files::day_of(p) < files::day_of(path))
            .collect();
        for earlier in before.iter().rev() {
            // An uncompressed day file: its last line is at its end.
            if earlier.extension().is_some_and(|e| e == "jsonl") {
                let file = File::open(earlier)?;
                let length = file.metadata()?.len();
                if let Some(head) = files::tail(&file, length)?
                    .last
                    .as_deref()
                    .and_then(chained)
                {
                    return Ok(head);
                }
            }
            if let Some((seq, hash, _)) = last_chained(earlier)? {
                return Ok((seq, hash));
            }
        }
        Ok(match self.location.checkpoint()? {
            Some(checkpoint) => (checkpoint.seq, checkpoint.hash),
            None => (0, GENESIS.to_owned()),
        })
    }
}

impl Drop for AuditTrail {
    fn drop(&mut self) {
        // A line handed in by a check that stopped waiting for it (its future dropped) is
        // still written: the request it records was sent.
        let waiting = std::mem::take(
            &mut self
                .queue
                .get_mut()
                .unwrap_or_else(|p| p.into_inner())
                .waiting,
        );
        if !waiting.is_empty() {
            let mut writer = self.writer.lock().unwrap_or_else(|p| p.into_inner());
            let _ = self.append(
                &mut writer,
                waiting.len(),
                |i, seq, prev, timestamp, out| {
                    waiting[i].line(seq, prev, self.sealer.name(), timestamp, out);
                },
            );
        }
    }
}

/// The last chained line of the trail file `path` (compressed or not): its sequence number,
/// hash and line number; `None` when the file holds no chained line.
fn last_chained(path: &Path) -> std::io::Result<Option<(u64, String, u64)>> {
    let mut reader = files::open_reader(path)?;
    let mut raw = files::RawLine {
        bytes: Vec::new(),
        number: 0,
        ended: false,
    };
    let mut last = None;
    while files::next_line(&mut *reader, &mut raw)? {
        if let Some((seq, hash)) = chained(&raw.bytes) {
            last = Some((seq, hash, raw.number));
        }
    }
    Ok(last)
}

/// The sequence number and hash of a sealed, chained line.
fn chained(line: &[u8]) -> Option<(u64, String)> {
    #[derive(Deserialize)]
    struct Seq {
        seq: Option<u64>,
    }
    let (_, hash) = chain::unseal(line)?;
    let seq = serde_json::from_slice::<Seq>(line).ok()?.seq?;
    Some((seq, hash.to_owned()))
}

/// A symbolic link resolved to its target (a dangling one is written through, as a write would).
fn resolve_link(path: &Path) -> (PathBuf, Option<PathBuf>) {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => match std::fs::canonicalize(path) {
            Ok(target) => (target, Some(path.to_owned())),
            Err(_) => (path.to_owned(), None),
        },
        _ => (path.to_owned(), None),
    }
}

/// Creates or opens `path` for appending (mode 0600 when created), without blocking on a FIFO.
fn create_0600(path: &Path, append: bool) -> std::io::Result<File> {
    OpenOptions::new()
        .create(true)
        .append(append)
        .write(!append)
        // Read too: the chain's head is found by reading the end.
        .read(true)
        .mode(0o600)
        // Non-blocking, so that a FIFO put there after the type check fails instead of
        // hanging; it changes nothing for a regular file.
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
}

/// Opens the file lines go to on `day`: the single file, or that day's file in the directory.
fn open_file(
    location: &Location,
    day: time::Date,
    durability: Durability,
) -> Result<OpenFile, AuditError> {
    let (path, day) = match location {
        Location::File(path) => (path.clone(), None),
        Location::Days(dir) => (dir.join(files::day_file_name(day)), Some(day)),
    };
    let open_error = |source| AuditError::Open {
        path: path.clone(),
        source,
    };
    if let Ok(meta) = std::fs::metadata(&path)
        && let Some(kind) = not_a_file(meta.file_type())
    {
        return Err(AuditError::NotAFile { path, kind });
    }
    let file = create_0600(&path, true).map_err(open_error)?;
    let meta = file.metadata().map_err(open_error)?;
    if let Some(kind) = not_a_file(meta.file_type()) {
        return Err(AuditError::NotAFile { path, kind });
    }
    let syncer = match durability {
        Durability::Disk => Some(Arc::new(
            file.try_clone()
                .and_then(Syncer::start)
                .map_err(open_error)?,
        )),
        Durability::Os => None,
    };
    Ok(OpenFile {
        path,
        day,
        identity: (meta.dev(), meta.ino()),
        file,
        syncer,
    })
}

/// The event of the line that records an audit failure that stopped a run.
pub const EVENT_HALTED: &str = "audit.halted";

/// The event of the line that records a repaired fragment.
pub const EVENT_REPAIR: &str = "audit.repair";

/// An exclusive `flock` on the audit file for one append.
pub(crate) struct AppendLock(std::os::fd::RawFd);

impl AppendLock {
    pub(crate) fn take(file: &File) -> std::io::Result<AppendLock> {
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
    timestamp_of(OffsetDateTime::now_utc())
}

/// `time` as an audit timestamp: RFC 3339, UTC, milliseconds.
fn timestamp_of(time: OffsetDateTime) -> String {
    let format =
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    time.format(&format).expect("UTC time always formats")
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
