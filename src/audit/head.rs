//! The chain's head: the last line written, found from the file's end (or the day before, or
//! the checkpoint), and the repair of a fragment a crash left at the end.

use std::fs::File;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::durable::{self, Mark};
use super::files::{self, Location};
use super::line::{EVENT_REPAIR, now_millis};
use super::open::Writer;
use super::{AuditError, AuditTrail, GENESIS, chain};

/// The head of the chain: the last line written, and where the file ended after it.
#[derive(Debug, Clone)]
pub(super) struct Head {
    pub(super) file: PathBuf,
    pub(super) length: u64,
    pub(super) seq: u64,
    pub(super) hash: String,
    /// Whether the last line was sealed with the audit key (`None`: not known, as after a
    /// checkpoint or a compressed day file): a keyed trail takes no line without the key, and an
    /// unkeyed one takes keyed lines only after `audit seal` says so.
    pub(super) keyed: Option<bool>,
}

impl Head {
    /// The head as the durable record names it.
    pub(super) fn mark(&self) -> Mark {
        Mark {
            seq: self.seq,
            hash: self.hash.clone(),
            length: self.length,
        }
    }
}

impl AuditTrail {
    /// The chain's head for the next line, with the lock held: the cached one while the file
    /// has not grown behind paystat's back, else read from the file's end (or the day before,
    /// the checkpoint, or [`GENESIS`]). A fragment at the end is kept and its repair recorded.
    pub(super) fn head(&self, writer: &mut Writer) -> Result<Head, AuditError> {
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
        // Lines that were on disk are never written over: the durable record says how far
        // this file was synced, and a crash can only tear what lies after that.
        if let Some(durable) = durable::read(&self.location).map_err(write_error)?
            && open.path.file_name() == Some(std::ffi::OsStr::new(&durable.file))
            && durable.length > length - tail.fragment
        {
            return Err(AuditError::CutAfterDurable {
                path: open.path.clone(),
                seq: durable.seq,
            });
        }
        let mut head = match tail.last.as_deref().and_then(chained) {
            Some((seq, hash)) => Head {
                file: open.path.clone(),
                length,
                seq,
                hash,
                keyed: tail.last.as_deref().map(is_keyed),
            },
            // An empty file continues the day before (or the checkpoint); a file of legacy
            // lines starts a new chain after them.
            None if tail.last.is_none() && tail.fragment == 0 => {
                let (seq, hash, keyed) = self.head_before(&open.path).map_err(write_error)?;
                Head {
                    file: open.path.clone(),
                    length,
                    seq,
                    hash,
                    keyed,
                }
            }
            None => Head {
                file: open.path.clone(),
                length,
                seq: 0,
                hash: GENESIS.to_owned(),
                keyed: None,
            },
        };
        // The chain begins here: its first line says how many lines came before it.
        if head.seq == 0 {
            let legacy = self.lines_before_the_chain().map_err(write_error)?;
            self.legacy_before
                .store(legacy, std::sync::atomic::Ordering::SeqCst);
        }
        // A keyed trail takes no line without the key (not even a repair): one would read as
        // tampering to every later verify.
        if head.keyed == Some(true) && !self.sealer.is_keyed() {
            return Err(AuditError::KeyNeeded {
                path: self.location.path().to_owned(),
            });
        }
        // Sealing a trail that was written without the key is a decision, recorded by its own
        // line (`audit seal`), not a run that happens to have a key.
        if head.keyed == Some(false) && self.sealer.is_keyed() && !self.starting_key {
            return Err(AuditError::NotKeyedYet {
                path: self.location.path().to_owned(),
            });
        }
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
            let timestamp = now_millis();
            let envelope =
                self.envelope((head.seq + 1, &head.hash), &timestamp, EVENT_REPAIR, None);
            let body = self.note_line(envelope, &fields);
            let (mut line, hash) = self.sealer.seal(body);
            line.push(b'\n');
            file.write_all(&line).map_err(write_error)?;
            open.file.sync_data().map_err(write_error)?;
            head = Head {
                file: open.path.clone(),
                length: head.length + line.len() as u64,
                seq: head.seq + 1,
                hash,
                keyed: Some(self.sealer.is_keyed()),
            };
            if self.durability.is_disk() {
                open.recorder.record(&head.mark()).map_err(write_error)?;
            }
        }
        writer.head = Some(head.clone());
        Ok(head)
    }

    /// The lines (JSON objects) of a trail that has no chained line yet: written before the
    /// chain, by an earlier paystat.
    fn lines_before_the_chain(&self) -> std::io::Result<u64> {
        let mut raw = files::RawLine {
            bytes: Vec::new(),
            number: 0,
            ended: false,
        };
        let mut count = 0;
        for path in self.location.files()? {
            let mut reader = files::open_reader(&path)?;
            while files::next_line(&mut *reader, &mut raw)? {
                // A last line without its newline counts too: the repair ends it, and verify
                // reads it as a line.
                if serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(&raw.bytes)
                    .is_ok()
                {
                    count += 1;
                }
            }
        }
        Ok(count)
    }

    /// The head a new day file continues from: the last line of the newest earlier day file,
    /// else the checkpoint pruning left, else the start of a chain.
    fn head_before(&self, path: &Path) -> std::io::Result<(u64, String, Option<bool>)> {
        let Location::Days(_) = self.location else {
            return Ok((0, GENESIS.to_owned(), None));
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
                let last = files::tail(&file, length)?.last;
                if let Some((seq, hash)) = last.as_deref().and_then(chained) {
                    return Ok((seq, hash, last.as_deref().map(is_keyed)));
                }
            }
            // A compressed day file: read whole, its last chained line says whether the trail
            // was keyed.
            if let Some((seq, hash, _, keyed)) = last_chained(earlier)? {
                return Ok((seq, hash, Some(keyed)));
            }
        }
        Ok(match self.location.checkpoint()? {
            Some(checkpoint) => (checkpoint.seq, checkpoint.hash, None),
            None => (0, GENESIS.to_owned(), None),
        })
    }
}

/// The last chained line of the trail file `path` (compressed or not): its sequence number,
/// hash, line number and whether it was sealed with the audit key; `None` when the file holds no
/// chained line.
pub(super) fn last_chained(path: &Path) -> std::io::Result<Option<(u64, String, u64, bool)>> {
    let mut reader = files::open_reader(path)?;
    let mut raw = files::RawLine {
        bytes: Vec::new(),
        number: 0,
        ended: false,
    };
    let mut last = None;
    while files::next_line(&mut *reader, &mut raw)? {
        if let Some((seq, hash)) = chained(&raw.bytes) {
            last = Some((seq, hash, raw.number, is_keyed(&raw.bytes)));
        }
    }
    Ok(last)
}

/// Whether a line was sealed with the audit key (its `chain` is HMAC-SHA-256).
fn is_keyed(line: &[u8]) -> bool {
    #[derive(Deserialize)]
    struct Chain<'a> {
        #[serde(borrow)]
        chain: Option<&'a str>,
    }
    serde_json::from_slice::<Chain<'_>>(line).is_ok_and(|c| c.chain == Some(chain::KEYED))
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
