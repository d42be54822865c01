//! `audit verify`'s check that every answer reused from the status cache is a copy: its line
//! names the line that recorded the gateway's answer (`copy_of`: that line's `seq` and hash),
//! and the two answers must be the same.
//!
//! The walk collects the copies it meets; they are then looked up in one more pass over the
//! trail's files, a bounded batch at a time, so memory stays flat however long the trail is.

use std::collections::HashMap;
use std::path::PathBuf;

use serde::Deserialize;

use super::files::{self, RawLine};
use super::line::AuditRecord;
use super::verify::{Break, BreakKind, Place};
use crate::result::{CheckResult, Source};

/// How many copies are looked up in one pass over the trail.
pub(super) const BATCH: usize = 100_000;

/// A reused answer whose original has not been looked up yet.
#[derive(Debug)]
pub(super) struct Copy {
    /// The copy's own line.
    pub(super) place: Place,
    /// The copy's `seq`.
    pub(super) seq: u64,
    /// The hash the copy names for its original.
    pub(super) hash: String,
    /// The digest of the copy's answer.
    pub(super) answer: String,
}

/// What a copy names.
#[derive(Debug, Deserialize)]
pub(super) struct CopyOf {
    pub(super) seq: u64,
    pub(super) hash: String,
}

/// The digest of a status-check line's answer: the result without how it was obtained (its
/// source, age, attempts, timing), so that a copy and its original compare equal.
pub(super) fn answer_digest(bytes: &[u8]) -> Option<String> {
    let record: AuditRecord<'static> = serde_json::from_slice(bytes).ok()?;
    let answer = CheckResult {
        source: Source::Gateway,
        cache_age_s: None,
        attempts: 0,
        attempt_log: Vec::new(),
        retry_stop: None,
        duration_ms: 0,
        ..record.check.into_owned()
    };
    let text = serde_json::to_vec(&answer).ok()?;
    Some(crate::result::sha256_hex(&text))
}

/// Looks up the originals of `copies` (by the `seq` they name) in `files`; the first copy
/// whose original differs, or is missing though not pruned (`pruned_through`), as a break.
pub(super) fn check(
    files: &[PathBuf],
    copies: &mut HashMap<u64, Vec<Copy>>,
    pruned_through: u64,
) -> std::io::Result<Option<Break>> {
    #[derive(Deserialize)]
    struct Seq {
        seq: Option<u64>,
    }
    let mut raw = RawLine {
        bytes: Vec::new(),
        number: 0,
        ended: false,
    };
    for path in files {
        let mut reader = files::open_reader(path)?;
        raw.number = 0;
        while files::next_line(&mut *reader, &mut raw)? {
            let Some(seq) = serde_json::from_slice::<Seq>(&raw.bytes)
                .ok()
                .and_then(|s| s.seq)
            else {
                continue;
            };
            let Some(waiting) = copies.remove(&seq) else {
                continue;
            };
            let hash = super::chain::unseal(&raw.bytes).map(|(_, h)| h.to_owned());
            let answer = answer_digest(&raw.bytes);
            for copy in waiting {
                if hash.as_deref() != Some(copy.hash.as_str()) {
                    return Ok(Some(edited(
                        &copy,
                        format!(
                            "line seq {} reuses the answer of line seq {seq}, but names another line than the one there",
                            copy.seq
                        ),
                    )));
                }
                if answer.as_deref() != Some(copy.answer.as_str()) {
                    return Ok(Some(edited(
                        &copy,
                        format!(
                            "line seq {} reuses the answer of line seq {seq}, but its answer is not that line's",
                            copy.seq
                        ),
                    )));
                }
            }
        }
    }
    // What is left names lines the trail does not hold: gone with pruning, or never there.
    let mut missing: Vec<Copy> = copies
        .drain()
        .filter(|(seq, _)| *seq > pruned_through)
        .flat_map(|(_, c)| c)
        .collect();
    missing.sort_by_key(|c| c.seq);
    Ok(missing.into_iter().next().map(|copy| {
        edited(
            &copy,
            format!(
                "line seq {} reuses the answer of a line the trail does not hold",
                copy.seq
            ),
        )
    }))
}

fn edited(copy: &Copy, detail: String) -> Break {
    Break {
        kind: BreakKind::Edited,
        place: Some(copy.place.clone()),
        detail,
    }
}
