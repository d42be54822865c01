//! `audit verify`'s check that every answer reused from the status cache is a copy: its line
//! names the line that recorded the gateway's answer (`copy_of`: that line's `seq` and hash),
//! and the two answers must be the same.
//!
//! The walk collects the copies it meets in a batch of fixed size (about 90 bytes each); a full
//! batch, and the last one, are looked up in one more pass over the trail's files, sorted by the
//! line they name, so memory stays bounded however long the trail is.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::files::{self, RawLine};
use super::line::AuditRecord;
use super::verify::{Break, BreakKind, Place};
use crate::result::CheckResult;

/// How many copies are looked up in one pass over the trail (about 4 MiB of them).
pub(super) const BATCH: usize = 50_000;

/// A 32-byte digest, as a line's hash or an answer's.
type Digest = [u8; 32];

/// A reused answer whose original has not been looked up yet.
#[derive(Debug)]
pub(super) struct Copy {
    /// The `seq` of the line it names.
    original: u64,
    /// The hash it names for that line.
    hash: Digest,
    /// The digest of its own answer.
    answer: Digest,
    /// Its own `seq`, file (an index into the walk's files) and line number.
    seq: u64,
    file: u32,
    line: u64,
}

/// The copies collected so far.
#[derive(Debug, Default)]
pub(super) struct Copies {
    waiting: Vec<Copy>,
}

/// What a copy names.
#[derive(Debug, Deserialize)]
pub(super) struct CopyOf {
    pub(super) seq: u64,
    pub(super) hash: String,
}

/// A hex digest as bytes; one that is not 64 hex digits as a value no real digest has.
fn digest_of(hex: &str) -> Digest {
    let mut out = [0xff; 32];
    if hex.len() != 64 {
        return out;
    }
    for (i, pair) in hex.as_bytes().chunks(2).enumerate() {
        match std::str::from_utf8(pair)
            .ok()
            .and_then(|p| u8::from_str_radix(p, 16).ok())
        {
            Some(byte) => out[i] = byte,
            None => return [0xff; 32],
        }
    }
    out
}

/// The digest of a status-check line's answer: the result without how it was obtained (its
/// source, age, attempts, timing), so that a copy and its original compare equal; `None` for a
/// line that is not a status check.
pub(super) fn answer_digest(bytes: &[u8]) -> Option<Digest> {
    use sha2::Digest as _;
    let record: AuditRecord<'static> = serde_json::from_slice(bytes).ok()?;
    let text = serde_json::to_vec(&record.check.answer()).ok()?;
    Some(sha2::Sha256::digest(&text).into())
}

/// The hex digest of `result`'s answer as [`answer_digest`] computes it from a line holding
/// it: the result written flattened into a line and read back, so a fill page line can name the
/// answer a later copy of it will hold.
pub fn answer_digest_hex(result: &CheckResult) -> String {
    #[derive(Serialize, Deserialize)]
    struct Flat<'a> {
        #[serde(flatten)]
        check: std::borrow::Cow<'a, CheckResult>,
    }
    let answer = serde_json::to_vec(&Flat {
        check: std::borrow::Cow::Borrowed(result),
    })
    .ok()
    .and_then(|bytes| serde_json::from_slice::<Flat<'static>>(&bytes).ok())
    .map_or_else(|| result.answer(), |flat| flat.check.answer());
    crate::result::sha256_hex(&serde_json::to_vec(&answer).unwrap_or_default())
}

/// The digests of the answers a fill page line lists (`objects[].answer`); none for any other
/// line.
fn listed_digests(bytes: &[u8]) -> Vec<Digest> {
    #[derive(Deserialize)]
    struct Listed {
        answer: String,
    }
    #[derive(Deserialize)]
    struct Page {
        event: String,
        #[serde(default)]
        objects: Vec<Listed>,
    }
    match serde_json::from_slice::<Page>(bytes) {
        Ok(page) if page.event == super::EVENT_FILL_PAGE => {
            page.objects.iter().map(|o| digest_of(&o.answer)).collect()
        }
        _ => Vec::new(),
    }
}

impl Copies {
    /// Notes the copy at `place` (line `seq`) of the line `original` with hash `hash`, whose own
    /// answer digests to `answer` (`None`: not a status check, so no answer equals it).
    pub(super) fn push(
        &mut self,
        (seq, file, line): (u64, u32, u64),
        original: u64,
        hash: &str,
        answer: Option<Digest>,
    ) {
        self.waiting.push(Copy {
            original,
            hash: digest_of(hash),
            // No answer's digest is all ones.
            answer: answer.unwrap_or([0xff; 32]),
            seq,
            file,
            line,
        });
    }

    /// Whether a batch is full.
    pub(super) fn full(&self) -> bool {
        self.waiting.len() >= BATCH
    }

    /// Whether copies wait.
    pub(super) fn is_empty(&self) -> bool {
        self.waiting.is_empty()
    }

    /// Looks up the originals of the waiting copies in `files` (in chain order), then forgets
    /// them; the first copy whose original differs, or is missing though not pruned
    /// (`pruned_through`), as a break.
    pub(super) fn check(
        &mut self,
        files: &[PathBuf],
        pruned_through: u64,
    ) -> std::io::Result<Option<Break>> {
        #[derive(Deserialize)]
        struct Seq {
            seq: Option<u64>,
        }
        let mut waiting = std::mem::take(&mut self.waiting);
        waiting.sort_by_key(|c| (c.original, c.seq));
        let mut next = waiting.iter().peekable();
        let edited = |copy: &Copy, detail: String| Break {
            kind: BreakKind::Edited,
            place: Some(Place {
                file: files.get(copy.file as usize).cloned().unwrap_or_default(),
                line: copy.line,
            }),
            detail,
        };
        let mut raw = RawLine {
            bytes: Vec::new(),
            number: 0,
            ended: false,
        };
        'files: for path in files {
            let mut reader = files::open_reader(path)?;
            raw.number = 0;
            while files::next_line(&mut *reader, &mut raw)? {
                let Some(first) = next.peek() else {
                    break 'files;
                };
                let Some(seq) = serde_json::from_slice::<Seq>(&raw.bytes)
                    .ok()
                    .and_then(|s| s.seq)
                else {
                    continue;
                };
                if seq < first.original {
                    continue;
                }
                let hash = super::chain::unseal(&raw.bytes).map(|(_, h)| digest_of(h));
                let answer = answer_digest(&raw.bytes);
                let listed = listed_digests(&raw.bytes);
                while let Some(copy) = next.next_if(|c| c.original <= seq) {
                    // Named a line the trail does not hold: gone with pruning, or never there.
                    if copy.original < seq {
                        if copy.original > pruned_through {
                            return Ok(Some(missing(copy, &edited)));
                        }
                        continue;
                    }
                    if hash != Some(copy.hash) {
                        return Ok(Some(edited(
                            copy,
                            format!(
                                "line seq {} reuses the answer of line seq {seq}, but names another line than the one there",
                                copy.seq
                            ),
                        )));
                    }
                    // A status check's answer, or one a fill page listed.
                    if answer != Some(copy.answer) && !listed.contains(&copy.answer) {
                        return Ok(Some(edited(
                            copy,
                            format!(
                                "line seq {} reuses the answer of line seq {seq}, but its answer is not that line's",
                                copy.seq
                            ),
                        )));
                    }
                }
            }
        }
        Ok(next
            .find(|copy| copy.original > pruned_through)
            .map(|copy| missing(copy, &edited)))
    }
}

fn missing(copy: &Copy, edited: &impl Fn(&Copy, String) -> Break) -> Break {
    edited(
        copy,
        format!(
            "line seq {} reuses the answer of a line the trail does not hold",
            copy.seq
        ),
    )
}
