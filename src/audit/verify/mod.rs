//! `paystat audit verify`: walks the chain across the trail's files and names the first line
//! that breaks it, and what is wrong with it.
//!
//! Every line's hash is recomputed from its bytes; every line must follow the one before it
//! (`seq` one more, `prev` its hash). When a line does not, one line of look-ahead tells the
//! kinds apart: a line whose content no longer matches its hash was *edited*; a line whose
//! hash is right but whose successor's `prev` is not was edited and re-hashed; a line that the
//! chain continues without was *inserted*; two neighbours in each other's place are
//! *reordered*; a jump in `seq` means lines were *deleted*; a head anchored elsewhere that is
//! no longer in the trail means it was *truncated* at the tail. Legacy lines (written before
//! the chain) are counted, not judged; a fragment a crash left, followed by paystat's repair
//! line, is a warning.
//!
//! This file holds the chain's rules; [`walk`] reads the files and judges each line on its own,
//! [`super::copies`] compares reused answers with their originals, and
//! [`super::durable::break_of`] says what the durable record means for the walk.

use std::path::{Path, PathBuf};

use time::OffsetDateTime;

use super::EVENT_REPAIR;
use super::chain::{self, GENESIS, Sealer};
use super::files::Location;

mod walk;

use walk::{Entry, Line, Marks, Walk, select_files};

/// What `verify` is asked.
#[derive(Debug, Clone, Default)]
pub struct VerifyOptions {
    /// Only lines at or after this time (the first one is trusted as the anchor).
    pub since: Option<OffsetDateTime>,
    /// Only lines before this time.
    pub until: Option<OffsetDateTime>,
    /// A head (hash) recorded earlier, which must still be in the trail.
    pub expect_head: Option<String>,
    /// The sealer of keyed trails; plain SHA-256 otherwise.
    pub sealer: Sealer,
    /// The audit key before the last rotation: lines are judged with it until the line that
    /// rotates to `sealer`'s key.
    pub previous: Option<Sealer>,
}

/// What is wrong with a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BreakKind {
    /// The line's content does not match its hash, or it was re-hashed after an edit.
    Edited,
    /// A line the chain does not hold was put in.
    Inserted,
    /// Lines are missing before this one.
    Deleted,
    /// This line and the next are in each other's place.
    Reordered,
    /// The trail ends before the head recorded earlier.
    Truncated,
    /// The line is not a JSON object.
    NotJson,
}

impl BreakKind {
    /// The word used in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            BreakKind::Edited => "edited",
            BreakKind::Inserted => "inserted",
            BreakKind::Deleted => "deleted",
            BreakKind::Reordered => "reordered",
            BreakKind::Truncated => "truncated",
            BreakKind::NotJson => "not JSON",
        }
    }
}

/// A line of a trail file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    /// The file.
    pub file: PathBuf,
    /// The 1-based line number in it.
    pub line: u64,
}

impl std::fmt::Display for Place {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} line {}", self.file.display(), self.line)
    }
}

/// The first break found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Break {
    /// What is wrong.
    pub kind: BreakKind,
    /// Where (for a truncated trail: its last line).
    pub place: Option<Place>,
    /// One sentence saying what was found.
    pub detail: String,
}

/// What a walk over the trail found.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Lines read in the range.
    pub lines: u64,
    /// Of those, lines written before the chain (format version 1): counted, not judged.
    pub legacy: u64,
    /// Files read.
    pub files: u64,
    /// Fragments a crash left and paystat repaired.
    pub repairs: Vec<Place>,
    /// The first break, if any.
    pub broken: Option<Break>,
    /// The last chained line: its sequence number and hash.
    pub head: Option<(u64, String)>,
    /// Whether the lines were sealed with a key.
    pub keyed: bool,
    /// Lines without chain fields before a chain begun by a paystat that did not count them:
    /// shown, but nothing proves they were not put there.
    pub legacy_unverified: bool,
    /// A checkpoint the chain starts from that no prune line records, written before pruning
    /// was recorded (unsealed): the walk after it holds, but what it stands for is unproven.
    pub unrecorded_checkpoint: Option<PathBuf>,
}

/// Why the trail could not be walked at all.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// A file could not be read.
    #[error("cannot read the audit trail at {}", .path.display())]
    Read {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The lines are sealed with a key and none was given.
    #[error(
        "the trail's lines are sealed with an audit key; set PAYSTAT_AUDIT_KEY (or audit.key_file) to verify them"
    )]
    KeyNeeded,
}

/// Walks the trail at `location` and reports the first break.
pub fn verify(location: &Location, options: &VerifyOptions) -> Result<Report, VerifyError> {
    let read_error = |source| VerifyError::Read {
        path: location.path().to_owned(),
        source,
    };
    let files = select_files(location, options).map_err(read_error)?;
    let checkpoint = location.checkpoint().map_err(read_error)?;
    // Lines are judged with the key before the last rotation until the rotation's line.
    let first_sealer = options
        .previous
        .clone()
        .unwrap_or_else(|| options.sealer.clone());
    let mut walk = Walk::new(files, options, first_sealer);
    let ranged = options.since.is_some() || options.until.is_some();
    // The line the next one must follow; `None` in a range until its first line anchors it.
    let checkpoint_seen = checkpoint.is_some();
    let checkpoint_seq = checkpoint.as_ref().map_or(0, |c| c.seq);
    // The checkpoint the walk starts from, until a prune line of the chain records it.
    let mut unrecorded = if ranged { None } else { checkpoint.clone() };
    // With a key: whether a line sealed with it was seen, and unkeyed lines before it.
    let mut keyed_seen = false;
    let mut unkeyed_before = false;
    let mut last: Option<(u64, String, Option<Place>)> = if ranged {
        None
    } else {
        Some(match checkpoint {
            Some(c) => (c.seq, c.hash, None),
            None => (0, GENESIS.to_owned(), None),
        })
    };
    let mut report = Report {
        keyed: options.sealer.is_keyed(),
        ..Report::default()
    };
    let mut head_seen = false;
    // How far the trail was on disk, as recorded: that line must still be in the chain.
    let durable_path = super::durable::path_of(location);
    let durable = if ranged {
        None
    } else {
        super::durable::read(location).map_err(|source| VerifyError::Read {
            path: durable_path.clone(),
            source,
        })?
    };
    // Whether the recorded line was found (and was the same line), and whether any line says
    // a record should exist.
    let mut durable_found: Option<bool> = None;
    let mut needs_record = false;
    // Reused answers whose originals are still to be looked up, and the file the walk is in
    // (by its place among the trail's files).
    let mut copies = super::copies::Copies::default();
    let mut in_file: Option<(PathBuf, u32)> = None;
    let all_files = if ranged {
        Vec::new()
    } else {
        location.files().map_err(read_error)?
    };
    // Lines in the format before the chain come before every chained line: after a checkpoint
    // (the chain began before what was pruned) there can be none.
    let mut chain_began = !ranged && checkpoint_seen;
    while let Some(entry) = walk.next()? {
        report.lines += 1;
        let broken = |kind, place: &Place, detail: String| Break {
            kind,
            place: Some(place.clone()),
            detail,
        };
        let (seq, prev, hash, intact, marks) = match entry.line {
            Line::Legacy if !chain_began => {
                report.legacy += 1;
                continue;
            }
            Line::Legacy => {
                report.broken = Some(broken(
                    BreakKind::Inserted,
                    &entry.place,
                    "a line without chain fields inside the chain".into(),
                ));
                break;
            }
            Line::NotJson => {
                // A fragment a crash left, followed by paystat's repair line: a warning.
                let repaired = matches!(walk.peek()?, Some(Entry { line: Line::Chained { marks, prev, seq, .. }, .. })
                    if marks.event.as_deref() == Some(EVENT_REPAIR) && last.as_ref().is_none_or(|(s, h, _)| *prev == *h && *seq == s + 1));
                if repaired {
                    report.repairs.push(entry.place);
                    continue;
                }
                report.broken = Some(broken(
                    BreakKind::NotJson,
                    &entry.place,
                    "the line is not a JSON object".into(),
                ));
                break;
            }
            Line::Chained {
                seq,
                prev,
                hash,
                intact,
                marks,
            } => (seq, prev, hash, intact, marks),
        };
        let Marks {
            event,
            pruned_through,
            unkeyed,
            new_key,
            v,
            legacy_before,
            recorded_on_disk,
            copy_of,
        } = *marks;
        // The chain's first line says how many lines without chain fields came before it
        // (a chain begun before paystat said so leaves them unverified).
        if intact && !ranged && seq == 1 {
            if v >= chain::FORMAT_VERSION && legacy_before != Some(report.legacy) {
                report.broken = Some(broken(
                    BreakKind::Inserted,
                    &entry.place,
                    format!(
                        "{} line{} without chain fields come before the chain's first line, which records {}",
                        report.legacy,
                        if report.legacy == 1 { "" } else { "s" },
                        legacy_before.map_or("none".to_owned(), |n| n.to_string())
                    ),
                ));
                break;
            }
            report.legacy_unverified = v < chain::FORMAT_VERSION && report.legacy > 0;
        }
        needs_record |= intact && recorded_on_disk;
        if intact
            && let Some(d) = &durable
            && d.seq == seq
        {
            durable_found = Some(d.hash == hash);
        }
        if options.sealer.is_keyed() && intact {
            if unkeyed && keyed_seen {
                report.broken = Some(broken(
                    BreakKind::Edited,
                    &entry.place,
                    format!(
                        "line seq {seq} is not sealed with the audit key, after lines that are"
                    ),
                ));
                break;
            }
            if !unkeyed && !keyed_seen {
                keyed_seen = true;
                // Unkeyed lines before keyed ones: the change is recorded, or it is a forgery.
                if unkeyed_before && event.as_deref() != Some(super::EVENT_KEYED) {
                    report.broken = Some(broken(
                        BreakKind::Edited,
                        &entry.place,
                        format!(
                            "line seq {seq} is the first sealed with the audit key, after lines that are not, and it is not the line of `audit seal`"
                        ),
                    ));
                    break;
                }
            }
            unkeyed_before |= unkeyed;
        }
        if intact
            && let (Some(through), Some(c)) = (&pruned_through, &unrecorded)
            && *through == (c.seq, c.hash.clone())
        {
            unrecorded = None;
        }
        // The line that rotates the key to the walk's own: the lines after it are sealed with it.
        if intact
            && options.previous.is_some()
            && event.as_deref() == Some(super::EVENT_KEY_ROTATED)
            && new_key.is_some()
            && new_key == options.sealer.fingerprint()
        {
            walk.sealer = options.sealer.clone();
        }
        chain_began = true;
        if !intact {
            report.broken = Some(broken(
                BreakKind::Edited,
                &entry.place,
                format!("line seq {seq}: its content does not match its hash"),
            ));
            break;
        }
        if options.expect_head.as_deref() == Some(hash.as_str()) {
            head_seen = true;
        }
        // A reused answer names an earlier line; whether that line holds the same answer is
        // looked up in batches (bounded memory).
        if let Some((original, original_hash, answer)) = copy_of {
            if original >= seq {
                report.broken = Some(broken(
                    BreakKind::Inserted,
                    &entry.place,
                    format!("line seq {seq} reuses the answer of a line after it (seq {original})"),
                ));
                break;
            }
            if !ranged {
                if in_file.as_ref().is_none_or(|(f, _)| *f != entry.place.file) {
                    let index = all_files
                        .iter()
                        .position(|f| *f == entry.place.file)
                        .unwrap_or(0);
                    in_file = Some((
                        entry.place.file.clone(),
                        u32::try_from(index).unwrap_or(u32::MAX),
                    ));
                }
                let file = in_file.as_ref().map_or(0, |(_, i)| *i);
                copies.push(
                    (seq, file, entry.place.line),
                    original,
                    &original_hash,
                    answer,
                );
                if copies.full() {
                    report.broken = copies
                        .check(&all_files, checkpoint_seq)
                        .map_err(read_error)?;
                    if report.broken.is_some() {
                        break;
                    }
                }
            }
        }
        let Some((last_seq, last_hash, last_place)) = last.clone() else {
            // The first line of a range anchors it.
            last = Some((seq, hash, Some(entry.place)));
            report.head = last.as_ref().map(|(s, h, _)| (*s, h.clone()));
            continue;
        };
        if seq == last_seq + 1 && prev == last_hash {
            last = Some((seq, hash, Some(entry.place)));
            report.head = last.as_ref().map(|(s, h, _)| (*s, h.clone()));
            continue;
        }
        // Out of line: one line of look-ahead tells what happened.
        let next = match walk.peek()? {
            Some(Entry {
                line:
                    Line::Chained {
                        seq: next_seq,
                        prev: next_prev,
                        hash: next_hash,
                        intact: true,
                        ..
                    },
                ..
            }) => Some((*next_seq, next_prev.clone(), next_hash.clone())),
            _ => None,
        };
        let next_follows_last = next
            .as_ref()
            .is_some_and(|(s, p, _)| *s == last_seq + 1 && *p == last_hash);
        let (kind, detail) = if next_follows_last
            && next
                .as_ref()
                .is_some_and(|(s, _, h)| seq == s + 1 && prev == *h)
        {
            (
                BreakKind::Reordered,
                format!("line seq {seq} comes before line seq {}", seq - 1),
            )
        } else if next_follows_last {
            (
                BreakKind::Inserted,
                format!("a line (claiming seq {seq}) that the chain does not hold"),
            )
        } else if seq == last_seq + 1 {
            // Its predecessor is not the line it was chained to: that line was edited and its
            // hash recomputed.
            let place = last_place.unwrap_or_else(|| entry.place.clone());
            report.broken = Some(Break {
                kind: BreakKind::Edited,
                place: Some(place),
                detail: format!(
                    "line seq {last_seq} was changed and re-hashed: the next line was chained to other content"
                ),
            });
            break;
        } else if seq > last_seq + 1 {
            let missing = seq - last_seq - 1;
            (
                BreakKind::Deleted,
                format!(
                    "{missing} line{} missing before this one (seq {} to {})",
                    if missing == 1 { " is" } else { "s are" },
                    last_seq + 1,
                    seq - 1
                ),
            )
        } else {
            (
                BreakKind::Inserted,
                format!("a line claiming seq {seq} after seq {last_seq}"),
            )
        };
        report.broken = Some(broken(kind, &entry.place, detail));
        break;
    }
    report.files = walk.files_read;
    if report.broken.is_none()
        && !ranged
        && options.sealer.is_keyed()
        && !keyed_seen
        && report.head.is_some()
    {
        report.broken = Some(Break {
            kind: BreakKind::Edited,
            place: None,
            detail: "no line is sealed with the audit key: the trail was written, or rewritten, without it".into(),
        });
    }
    if report.broken.is_none() && !copies.is_empty() {
        report.broken = copies
            .check(&all_files, checkpoint_seq)
            .map_err(read_error)?;
    }
    if report.broken.is_none()
        && let Some(d) = &durable
        && !d.sealed_by(&options.sealer)
        && !options.previous.as_ref().is_some_and(|p| d.sealed_by(p))
    {
        report.broken = Some(Break {
            kind: BreakKind::Edited,
            place: None,
            detail: format!("{} does not match its seal", durable_path.display()),
        });
    }
    if report.broken.is_none() && !ranged {
        report.broken = super::durable::break_of(
            durable.as_ref(),
            durable_found,
            needs_record,
            checkpoint_seq,
            &durable_path,
            report.head.as_ref().map(|(s, _)| *s),
        );
    }
    if report.broken.is_none()
        && let Some(checkpoint) = unrecorded
    {
        let path = location.path().join(super::files::CHECKPOINT);
        match &checkpoint.seal {
            // Sealed, so written by a paystat that records pruning: no line records it, so the
            // files before it went without pruning.
            Some(seal) => {
                let detail = if *seal != options.sealer.hash(&checkpoint.sealed_bytes()) {
                    format!("{} was changed: it does not match its seal", path.display())
                } else {
                    format!(
                        "no line of the chain records {}: the day files through seq {} were removed without pruning",
                        path.display(),
                        checkpoint.seq
                    )
                };
                report.broken = Some(Break {
                    kind: BreakKind::Deleted,
                    place: None,
                    detail,
                });
            }
            None => report.unrecorded_checkpoint = Some(path),
        }
    }
    if report.broken.is_none()
        && let Some(expected) = &options.expect_head
        && !head_seen
    {
        let ends = report
            .head
            .as_ref()
            .map_or("no chained line".to_owned(), |(s, _)| format!("seq {s}"));
        report.broken = Some(Break {
            kind: BreakKind::Truncated,
            place: None,
            detail: format!(
                "the head {expected} is not in the trail, which ends at {ends}: lines were cut off its end"
            ),
        });
    }
    Ok(report)
}

/// The trail's head: the last chained line's sequence number and hash, and where it is.
pub fn head(location: &Location) -> Result<Option<(u64, String, Place)>, VerifyError> {
    let read_error = |path: &Path, source| VerifyError::Read {
        path: path.to_owned(),
        source,
    };
    let files = location
        .files()
        .map_err(|e| read_error(location.path(), e))?;
    for path in files.iter().rev() {
        if let Some((seq, hash, line, _)) =
            super::head::last_chained(path).map_err(|e| read_error(path, e))?
        {
            let place = Place {
                file: path.clone(),
                line,
            };
            return Ok(Some((seq, hash, place)));
        }
    }
    Ok(None)
}
