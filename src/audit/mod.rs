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

//!
//! Its rooms: [`line`] (the line's shape, written by one serializer), [`append`] (the batch
//! append), [`sync`] (group commit), [`durable`] (the sealed record of how far the trail is on
//! disk), [`head`] (the chain's head and repair), [`open`] (files and locks), [`files`] (where
//! the trail lives and how its files are read), and the readers: [`chain`], [`verify`] (with
//! [`copies`], the check of reused answers), [`prune`] and [`query`].

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

mod append;
pub mod chain;
mod copies;
pub mod durable;
mod error;
mod files;
mod head;
pub mod index;
mod line;
mod open;
pub mod prune;
pub mod query;
mod sync;
pub mod verify;

/// The longest actor a line records, in characters.
pub const MAX_ACTOR: usize = 256;

pub use append::Written;
pub use chain::{GENESIS, Sealer};
pub use copies::answer_digest_hex;
pub use error::AuditError;
pub use files::{Checkpoint, Location, day_of};
pub use line::{
    Asked, AuditRecord, Caller, EVENT_AUDIT_READ, EVENT_CACHE_REJECTED, EVENT_FILL_PAGE,
    EVENT_KEY_ROTATED, EVENT_KEYED, EVENT_PRUNE, EVENT_REPAIR, EVENT_STATUS_CHECK,
    EVENT_TOKEN_CREATED, EVENT_TOKEN_REVOKED, EVENTS, Envelope, LineRef, Origin, RequestLine,
    Target, default_actor,
};
pub(crate) use open::AppendLock;
pub use open::TrailOptions;
pub use sync::{Durability, sync_totals};

use append::Queue;
use head::Head;
use open::Writer;

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
    /// Opened by `audit seal`: the one opening that may put a keyed line after unkeyed ones.
    starting_key: bool,
    /// The lines without chain fields the trail holds when its chain begins, found with the
    /// head (and read only for a chain's first line).
    legacy_before: std::sync::atomic::AtomicU64,
    syncs: Arc<std::sync::atomic::AtomicU64>,
}

impl AuditTrail {
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

    /// The day of the file lines go to, when it is later than today (UTC): the clock is behind
    /// the trail, and lines go on in that file with their true time rather than fork the chain.
    pub fn ahead_of_clock(&self) -> Option<time::Date> {
        let writer = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        writer
            .open
            .day
            .filter(|day| *day > time::OffsetDateTime::now_utc().date())
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

    fn write_error(&self, source: std::io::Error) -> AuditError {
        AuditError::Write {
            path: self.location.path().to_owned(),
            source,
        }
    }
}
