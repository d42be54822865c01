//! Where the trail lives and how its files are read: one file (`--audit-log FILE`), or a
//! directory of UTC day files (`YYYY-MM-DD.jsonl`, older ones possibly `.jsonl.gz`) with the chain
//! running across them, and a `checkpoint.json` left by `audit prune`.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use time::Date;
use time::macros::format_description;

/// Where a trail is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// One file, no rollover (`--audit-log FILE`).
    File(PathBuf),
    /// A directory of day files (`--audit-dir DIR`, or the state directory).
    Days(PathBuf),
}

/// The name of the checkpoint `audit prune` leaves in a day-file trail.
pub const CHECKPOINT: &str = "checkpoint.json";
/// The lock file every appending process takes in a day-file trail.
pub const LOCK: &str = ".lock";

/// Where the chain continues after pruned day files: the last pruned line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The last pruned line's sequence number.
    pub seq: u64,
    /// The last pruned line's hash.
    pub hash: String,
    /// The last day pruned.
    pub through: String,
    /// How many day files have been pruned, in all.
    pub files_pruned: u64,
    /// The checkpoint's own seal (the trail's hash of the fields above); absent in one written
    /// before pruning was recorded in the chain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seal: Option<String>,
}

impl Checkpoint {
    /// The bytes its seal is made of.
    pub fn sealed_bytes(&self) -> Vec<u8> {
        format!(
            "paystat checkpoint\n{}\n{}\n{}\n{}",
            self.seq, self.hash, self.through, self.files_pruned
        )
        .into_bytes()
    }
}

impl Location {
    /// The trail's files in chain order (a day-file trail: by day, compressed or not).
    pub fn files(&self) -> std::io::Result<Vec<PathBuf>> {
        match self {
            Location::File(path) => Ok(if path.exists() {
                vec![path.clone()]
            } else {
                Vec::new()
            }),
            Location::Days(dir) => {
                let mut days: Vec<(Date, PathBuf)> = Vec::new();
                let entries = match std::fs::read_dir(dir) {
                    Ok(entries) => entries,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
                    Err(e) => return Err(e),
                };
                for entry in entries {
                    let path = entry?.path();
                    if let Some(day) = day_of(&path) {
                        days.push((day, path));
                    }
                }
                days.sort();
                Ok(days.into_iter().map(|(_, p)| p).collect())
            }
        }
    }

    /// The day lines go to at `today`: today, unless a day file of a later day exists (a clock
    /// set back, or a file planted): then that newest day, so the chain never forks into two
    /// files. A single-file trail has no days.
    pub fn writing_day(&self, today: Date) -> std::io::Result<Date> {
        let newest = self.files()?.iter().filter_map(|p| day_of(p)).max();
        Ok(newest.map_or(today, |newest| newest.max(today)))
    }

    /// The checkpoint left by pruning, if any.
    pub fn checkpoint(&self) -> std::io::Result<Option<Checkpoint>> {
        let Location::Days(dir) = self else {
            return Ok(None);
        };
        // A checkpoint another user could write would let that user cut the chain anywhere.
        read_record("the audit checkpoint", &dir.join(CHECKPOINT))
    }

    /// A human name: the file, or the directory.
    pub fn path(&self) -> &Path {
        match self {
            Location::File(p) | Location::Days(p) => p,
        }
    }
}

/// A small JSON file of the trail's own (a checkpoint, the durable record), `what` in errors:
/// `None` when there is none; a link there, or a file that does not read as `T`, is an error.
pub(super) fn read_record<T: serde::de::DeserializeOwned>(
    what: &'static str,
    path: &Path,
) -> std::io::Result<Option<T>> {
    crate::ownership::check_no_link(what, path).map_err(std::io::Error::other)?;
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{} is unreadable: {e}", path.display()),
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// The day a trail file holds (`2026-11-27.jsonl` or `2026-11-27.jsonl.gz`).
pub fn day_of(path: &Path) -> Option<Date> {
    let name = path.file_name()?.to_str()?;
    let stem = name
        .strip_suffix(".jsonl")
        .or_else(|| name.strip_suffix(".jsonl.gz"))?;
    Date::parse(stem, format_description!("[year]-[month]-[day]")).ok()
}

/// The file name of `day`'s lines.
pub fn day_file_name(day: Date) -> String {
    let name = day
        .format(format_description!("[year]-[month]-[day]"))
        .expect("a date always formats");
    format!("{name}.jsonl")
}

/// Opens a trail file for reading, decompressing a `.gz` one.
pub fn open_reader(path: &Path) -> std::io::Result<Box<dyn BufRead>> {
    let file = File::open(path)?;
    if path.extension().is_some_and(|e| e == "gz") {
        Ok(Box::new(BufReader::with_capacity(
            64 * 1024,
            flate2::read::GzDecoder::new(file),
        )))
    } else {
        Ok(Box::new(BufReader::with_capacity(64 * 1024, file)))
    }
}

/// One line of a trail file, as read.
#[derive(Debug)]
pub struct RawLine {
    /// The line's bytes, without its newline.
    pub bytes: Vec<u8>,
    /// Its 1-based number in its file.
    pub number: u64,
    /// Whether it ended with a newline (the last line of a torn file does not).
    pub ended: bool,
}

/// Reads `reader` line by line into `line`, reusing its buffer; false at the end.
pub fn next_line(reader: &mut dyn BufRead, line: &mut RawLine) -> std::io::Result<bool> {
    line.bytes.clear();
    let n = reader.read_until(b'\n', &mut line.bytes)?;
    if n == 0 {
        return Ok(false);
    }
    line.number += 1;
    line.ended = line.bytes.last() == Some(&b'\n');
    if line.ended {
        line.bytes.pop();
    }
    Ok(true)
}

/// The end of a trail file: its last complete line, and the length of an unfinished one after it.
#[derive(Debug, Default)]
pub struct Tail {
    /// The last line that ends with a newline (without it).
    pub last: Option<Vec<u8>>,
    /// Bytes after the last newline: a fragment left by a crash mid-write.
    pub fragment: u64,
}

/// Reads the end of `file` (of length `length`) without reading all of it.
pub fn tail(file: &File, length: u64) -> std::io::Result<Tail> {
    if length == 0 {
        return Ok(Tail::default());
    }
    let mut window = 16 * 1024u64;
    loop {
        let window_now = window.min(length);
        let mut reader = file;
        reader.seek(SeekFrom::Start(length - window_now))?;
        let mut bytes = Vec::with_capacity(usize::try_from(window_now).unwrap_or(0));
        reader.take(window_now).read_to_end(&mut bytes)?;
        let fragment = bytes.iter().rev().take_while(|b| **b != b'\n').count();
        let complete = &bytes[..bytes.len() - fragment];
        if complete.is_empty() {
            if window_now == length {
                return Ok(Tail {
                    last: None,
                    fragment: u64::try_from(fragment).unwrap_or(u64::MAX),
                });
            }
            window = window.saturating_mul(4);
            continue;
        }
        // `complete` ends with the newline of the last complete line; find the one before it.
        let body = &complete[..complete.len() - 1];
        match body.iter().rposition(|b| *b == b'\n') {
            Some(start) => {
                return Ok(Tail {
                    last: Some(body[start + 1..].to_vec()),
                    fragment: u64::try_from(fragment).unwrap_or(u64::MAX),
                });
            }
            None if window_now == length => {
                return Ok(Tail {
                    last: Some(body.to_vec()),
                    fragment: u64::try_from(fragment).unwrap_or(u64::MAX),
                });
            }
            None => window = window.saturating_mul(4),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn file_with(bytes: &[u8]) -> File {
        let mut file = tempfile_in_memory();
        file.write_all(bytes).unwrap();
        file
    }

    fn tempfile_in_memory() -> File {
        let dir = std::env::temp_dir().join(format!("paystat-tail-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{}", fastrand::u64(..)));
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(true)
            .read(true)
            .write(true)
            .open(&path)
            .unwrap();
        std::fs::remove_file(&path).unwrap();
        file
    }

    #[test]
    fn the_tail_is_the_last_complete_line_and_any_fragment() {
        let t = tail(&file_with(b"a\nbb\n"), 5).unwrap();
        assert_eq!(t.last.as_deref(), Some(&b"bb"[..]));
        assert_eq!(t.fragment, 0);
        let t = tail(&file_with(b"a\nbb\ncc"), 7).unwrap();
        assert_eq!(t.last.as_deref(), Some(&b"bb"[..]));
        assert_eq!(t.fragment, 2);
        let t = tail(&file_with(b"only\n"), 5).unwrap();
        assert_eq!(t.last.as_deref(), Some(&b"only"[..]));
        let t = tail(&file_with(b"frag"), 4).unwrap();
        assert_eq!((t.last, t.fragment), (None, 4));
        let long = [
            vec![b'x'; 100_000],
            b"\n".to_vec(),
            vec![b'y'; 70_000],
            b"\n".to_vec(),
        ]
        .concat();
        let t = tail(&file_with(&long), long.len() as u64).unwrap();
        assert_eq!(t.last.map(|l| l.len()), Some(70_000));
    }

    #[test]
    fn day_files_are_named_by_their_utc_day() {
        assert_eq!(
            day_of(Path::new("/x/2026-11-27.jsonl")),
            Some(time::macros::date!(2026 - 11 - 27))
        );
        assert!(day_of(Path::new("2026-11-27.jsonl.gz")).is_some());
        assert!(day_of(Path::new("notes.jsonl")).is_none());
        assert_eq!(
            day_file_name(time::macros::date!(2026 - 01 - 02)),
            "2026-01-02.jsonl"
        );
    }
}
