//! How far the trail is on disk, sealed: after each disk sync paystat records the last line
//! synced (its file, where it ends, its `seq` and hash), sealed like the lines. A tail a crash
//! tore lies after that point — never synced, so no answer was shown for it — and paystat
//! repairs it; a line cut or removed *before* that point was on disk when its answer was
//! shown, so paystat refuses to write over it and `audit verify` reports a break.
//!
//! What it cannot tell: lines written with `--audit-sync os` are never recorded (they are not
//! synced), and someone who can write the directory can put back an older record of the same
//! trail — compare `audit head` with a head kept elsewhere (`audit verify --expect-head`) for
//! that. Without an audit key, anyone who can write the directory can forge the record too.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::chain::Sealer;
use super::files::Location;
use super::verify::{Break, BreakKind};

/// The record's name in a day-file trail (a single-file trail's is `<file>.durable.json`).
pub const DURABLE: &str = "durable.json";

/// The last line synced to disk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Durable {
    /// The trail file it is in (its name).
    pub file: String,
    /// Where that line ends in the file, in bytes.
    pub length: u64,
    /// Its sequence number.
    pub seq: u64,
    /// Its hash.
    pub hash: String,
    /// The record's seal (the trail's hash of the fields above).
    pub seal: String,
}

impl Durable {
    fn sealed_bytes(file: &str, length: u64, seq: u64, hash: &str) -> Vec<u8> {
        format!("paystat durable\n{file}\n{length}\n{seq}\n{hash}").into_bytes()
    }

    /// Whether the seal is `sealer`'s.
    pub fn sealed_by(&self, sealer: &Sealer) -> bool {
        sealer.hash(&Durable::sealed_bytes(
            &self.file,
            self.length,
            self.seq,
            &self.hash,
        )) == self.seal
    }
}

/// Where `location`'s record is.
pub fn path_of(location: &Location) -> PathBuf {
    match location {
        Location::Days(dir) => dir.join(DURABLE),
        Location::File(path) => {
            let mut name = path.file_name().unwrap_or_default().to_os_string();
            name.push(".durable.json");
            path.with_file_name(name)
        }
    }
}

/// The record of `location`, if there is one.
pub fn read(location: &Location) -> std::io::Result<Option<Durable>> {
    // A record another user could write would let that user cut lines off the trail.
    super::files::read_record("the audit trail's durable record", &path_of(location))
}

/// Records, for one trail file, the last line synced.
#[derive(Debug)]
pub(super) struct Recorder {
    path: PathBuf,
    file: String,
    sealer: Sealer,
}

/// A line as the record names it: its seq, its hash, where it ends in its file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Mark {
    pub(super) seq: u64,
    pub(super) hash: String,
    pub(super) length: u64,
}

impl Recorder {
    /// The recorder of the trail file `file` of `location`.
    pub(super) fn new(location: &Location, file: &Path, sealer: Sealer) -> Recorder {
        Recorder {
            path: path_of(location),
            file: file
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            sealer,
        }
    }

    /// Records `mark` as on disk: written beside and renamed over the record, so it is always
    /// whole. Called after the sync that made `mark` durable; the first record's directory is
    /// synced too, so a power cut cannot leave synced lines with no record at all.
    pub(super) fn record(&self, mark: &Mark) -> std::io::Result<()> {
        let seal = self.sealer.hash(&Durable::sealed_bytes(
            &self.file,
            mark.length,
            mark.seq,
            &mark.hash,
        ));
        let record = Durable {
            file: self.file.clone(),
            length: mark.length,
            seq: mark.seq,
            hash: mark.hash.clone(),
            seal,
        };
        // Never backwards: another process may have recorded a later line meanwhile (two
        // processes syncing at the same instant can still both pass this; the earlier record
        // then stands, weaker evidence but never a wrong one).
        let existing = std::fs::read(&self.path)
            .ok()
            .and_then(|bytes| serde_json::from_slice::<Durable>(&bytes).ok());
        if existing.as_ref().is_some_and(|d| d.seq >= mark.seq) {
            return Ok(());
        }
        let first = !self.path.exists();
        // A name of its own: other paystat processes, and this one's syncer and notes, record
        // at the same time, and each rename must put a whole record in place.
        static WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut temporary = self.path.clone().into_os_string();
        temporary.push(format!(".{}.{n}.new", std::process::id()));
        let temporary = PathBuf::from(temporary);
        {
            let mut file = super::open::create_0600(&temporary, false)?;
            file.set_len(0)?;
            let mut bytes = serde_json::to_vec(&record).map_err(std::io::Error::other)?;
            bytes.push(b'\n');
            file.write_all(&bytes)?;
        }
        std::fs::rename(&temporary, &self.path)?;
        if first && let Some(dir) = self.path.parent() {
            std::fs::File::open(dir)?.sync_all()?;
        }
        Ok(())
    }
}

/// What the durable record says of a verify walk that found no other break: the line it names must
/// be in the chain (unless pruned), and a trail whose lines were synced must have one.
pub(super) fn break_of(
    durable: Option<&Durable>,
    found: Option<bool>,
    needed: bool,
    pruned_through: u64,
    path: &Path,
    head: Option<u64>,
) -> Option<Break> {
    let cut = |detail: String| {
        Some(Break {
            kind: BreakKind::Truncated,
            place: None,
            detail,
        })
    };
    match (durable, found) {
        (Some(_), Some(true)) => None,
        (Some(d), Some(false)) => cut(format!(
            "line seq {} is not the line that was on disk ({} names another): the trail was cut and written again after it",
            d.seq,
            path.display()
        )),
        (Some(d), None) if d.seq > pruned_through => cut(format!(
            "line seq {} was on disk ({} names it), and the trail ends at {}: lines were cut off its end",
            d.seq,
            path.display(),
            head.map_or("no chained line".to_owned(), |s| format!("seq {s}"))
        )),
        (Some(_), None) => None,
        (None, _) if needed => cut(format!(
            "{} is missing, and the trail's lines say they were synced to disk: the record of how far it was on disk was removed",
            path.display()
        )),
        (None, _) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_record_never_goes_back_and_is_sealed() {
        let dir = tempfile::tempdir().unwrap();
        let location = Location::Days(dir.path().to_owned());
        let recorder = Recorder::new(
            &location,
            &dir.path().join("2026-12-02.jsonl"),
            Sealer::plain(),
        );
        let mark = |seq: u64| Mark {
            seq,
            hash: format!("{seq:064}"),
            length: seq * 100,
        };
        recorder.record(&mark(5)).unwrap();
        recorder.record(&mark(3)).unwrap();
        let record = read(&location).unwrap().unwrap();
        assert_eq!((record.seq, record.length), (5, 500), "a later line stands");
        assert_eq!(record.file, "2026-12-02.jsonl");
        assert!(record.sealed_by(&Sealer::plain()));
        recorder.record(&mark(6)).unwrap();
        assert_eq!(read(&location).unwrap().unwrap().seq, 6);
        let single = Location::File(dir.path().join("trail.jsonl"));
        assert_eq!(
            path_of(&single),
            dir.path().join("trail.jsonl.durable.json")
        );
        let leftovers = std::fs::read_dir(dir.path())
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .ends_with(".new")
            })
            .count();
        assert_eq!(leftovers, 0, "every record was renamed into place");
        // A record that cannot be read is an error, never "no record".
        let broken = Location::Days(dir.path().join("broken"));
        std::fs::create_dir_all(path_of(&broken)).unwrap();
        assert!(read(&broken).is_err());
        let absent = Location::Days(dir.path().join("absent"));
        assert!(read(&absent).unwrap().is_none());
    }
}
