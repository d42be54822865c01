//! The walk under `audit verify`: the trail's files in chain order, read line by line within a
//! time range, each line judged on its own — JSON or not, legacy or chained, its content
//! matching its hash — with what it says of the chain itself (a prune, a rotation, a copy).

use std::path::PathBuf;

use serde::Deserialize;
use time::OffsetDateTime;

use super::super::chain::{self, Sealer};
use super::super::files::{self, Location, RawLine};
use super::{Place, VerifyError, VerifyOptions};

/// The chain fields of one line.
#[derive(Debug, Deserialize)]
struct Fields {
    v: Option<u32>,
    seq: Option<u64>,
    prev: Option<String>,
    chain: Option<String>,
    timestamp: Option<String>,
    event: Option<String>,
    /// A prune line's last pruned line.
    through_seq: Option<u64>,
    through_hash: Option<String>,
    /// A key rotation line's new key, by fingerprint.
    new_key: Option<String>,
    /// A chain's first line: the lines without chain fields before it.
    legacy_before: Option<u64>,
    /// `os` on a line not synced to disk.
    sync: Option<String>,
    /// A reused answer's original line.
    copy_of: Option<super::super::copies::CopyOf>,
}

/// One line, judged on its own.
#[derive(Debug)]
pub(super) enum Line {
    NotJson,
    Legacy,
    Chained {
        seq: u64,
        prev: String,
        hash: String,
        /// Whether the content matches the hash (and the sealing is the expected one).
        intact: bool,
        marks: Box<Marks>,
    },
}

/// What a chained line says of the chain itself, beyond its place in it.
#[derive(Debug, Default)]
pub(super) struct Marks {
    pub(super) event: Option<String>,
    /// For a prune line, the last line it pruned.
    pub(super) pruned_through: Option<(u64, String)>,
    /// Sealed without the key while the walk has one: taken only before the trail was sealed
    /// with the key (`audit seal`).
    pub(super) unkeyed: bool,
    /// For a key rotation line, the new key's fingerprint.
    pub(super) new_key: Option<String>,
    /// The line's format version.
    pub(super) v: u32,
    /// On a chain's first line: the lines without chain fields it says came before it.
    pub(super) legacy_before: Option<u64>,
    /// A status check synced to disk before its answer was shown (by a paystat that records
    /// how far the trail is on disk).
    pub(super) recorded_on_disk: bool,
    /// A reused answer: the `seq` and hash of the line it copies, and its own answer's digest.
    pub(super) copy_of: Option<(u64, String, Option<[u8; 32]>)>,
}

pub(super) struct Entry {
    pub(super) place: Place,
    pub(super) line: Line,
}

/// The lines of a trail's files, in order, each judged on its own, within a time range.
pub(super) struct Walk<'a> {
    files: std::vec::IntoIter<PathBuf>,
    current: Option<(PathBuf, Box<dyn std::io::BufRead>)>,
    raw: RawLine,
    options: &'a VerifyOptions,
    /// The key lines are judged with now (the previous one until the rotation line).
    pub(super) sealer: Sealer,
    peeked: Option<Entry>,
    pub(super) files_read: u64,
}

impl Walk<'_> {
    /// A walk over `files` within `options`' range, judging lines with `sealer` until a key
    /// rotation's line switches it.
    pub(super) fn new(files: Vec<PathBuf>, options: &VerifyOptions, sealer: Sealer) -> Walk<'_> {
        Walk {
            files: files.into_iter(),
            current: None,
            raw: RawLine {
                bytes: Vec::new(),
                number: 0,
                ended: false,
            },
            options,
            sealer,
            peeked: None,
            files_read: 0,
        }
    }

    pub(super) fn next(&mut self) -> Result<Option<Entry>, VerifyError> {
        if let Some(entry) = self.peeked.take() {
            return Ok(Some(entry));
        }
        self.read()
    }

    pub(super) fn peek(&mut self) -> Result<Option<&Entry>, VerifyError> {
        if self.peeked.is_none() {
            self.peeked = self.read()?;
        }
        Ok(self.peeked.as_ref())
    }

    fn read(&mut self) -> Result<Option<Entry>, VerifyError> {
        loop {
            if self.current.is_none() {
                let Some(path) = self.files.next() else {
                    return Ok(None);
                };
                let reader = files::open_reader(&path).map_err(|source| VerifyError::Read {
                    path: path.clone(),
                    source,
                })?;
                self.files_read += 1;
                self.raw.number = 0;
                self.current = Some((path, reader));
            }
            let (path, reader) = self.current.as_mut().expect("a file is open");
            let more = files::next_line(&mut **reader, &mut self.raw).map_err(|source| {
                VerifyError::Read {
                    path: path.clone(),
                    source,
                }
            })?;
            if !more {
                self.current = None;
                continue;
            }
            let place = Place {
                file: path.clone(),
                line: self.raw.number,
            };
            let (line, timestamp) = judge(&self.raw.bytes, &self.sealer)?;
            if let Some(ts) = timestamp
                && !in_range(&ts, self.options)
            {
                continue;
            }
            return Ok(Some(Entry { place, line }));
        }
    }
}

/// Whether an RFC 3339 timestamp is within the options' range (unreadable ones are kept).
fn in_range(timestamp: &str, options: &VerifyOptions) -> bool {
    let Ok(at) = OffsetDateTime::parse(timestamp, &time::format_description::well_known::Rfc3339)
    else {
        return true;
    };
    options.since.is_none_or(|since| at >= since) && options.until.is_none_or(|until| at < until)
}

/// Judges one line on its own: JSON or not, legacy or chained, content matching its hash.
fn judge(bytes: &[u8], sealer: &Sealer) -> Result<(Line, Option<String>), VerifyError> {
    let Ok(fields) = serde_json::from_slice::<Fields>(bytes) else {
        return Ok((Line::NotJson, None));
    };
    let (Some(seq), Some(prev)) = (fields.seq, fields.prev) else {
        // Written before the chain, when nothing about it says otherwise.
        return Ok(if fields.v.unwrap_or(0) < chain::CHAINED_SINCE {
            (Line::Legacy, fields.timestamp)
        } else {
            (
                Line::Chained {
                    seq: fields.seq.unwrap_or(0),
                    prev: String::new(),
                    hash: String::new(),
                    intact: false,
                    marks: Box::new(Marks {
                        event: fields.event,
                        ..Marks::default()
                    }),
                },
                fields.timestamp,
            )
        });
    };
    let keyed_line = fields.chain.as_deref() == Some(chain::KEYED);
    if keyed_line && !sealer.is_keyed() {
        return Err(VerifyError::KeyNeeded);
    }
    // With a key, a line without it is judged as plain SHA-256; the walk decides whether one
    // may stand there (only before the trail was sealed with the key).
    let unkeyed = sealer.is_keyed() && !keyed_line;
    let (hash, intact) = match chain::unseal(bytes) {
        Some((body, claimed)) => {
            let hash = if unkeyed {
                Sealer::plain().hash(&body)
            } else {
                sealer.hash(&body)
            };
            (claimed.to_owned(), hash == claimed)
        }
        None => (String::new(), false),
    };
    let pruned_through = match (&fields.event, fields.through_seq, fields.through_hash) {
        (Some(event), Some(seq), Some(hash)) if event == super::super::EVENT_PRUNE => {
            Some((seq, hash))
        }
        _ => None,
    };
    let v = fields.v.unwrap_or(0);
    let copy_of = fields.copy_of.map(|c| {
        let answer = super::super::copies::answer_digest(bytes);
        (c.seq, c.hash, answer)
    });
    let recorded_on_disk = v >= chain::FORMAT_VERSION
        && fields.event.as_deref() == Some(super::super::EVENT_STATUS_CHECK)
        && fields.sync.as_deref() != Some("os");
    Ok((
        Line::Chained {
            seq,
            prev,
            hash,
            intact,
            marks: Box::new(Marks {
                event: fields.event,
                pruned_through,
                unkeyed,
                new_key: fields.new_key,
                v,
                legacy_before: fields.legacy_before,
                recorded_on_disk,
                copy_of,
            }),
        },
        fields.timestamp,
    ))
}

/// The files a range can hold lines of: a day file outside the range is not opened.
pub(super) fn select_files(
    location: &Location,
    options: &VerifyOptions,
) -> std::io::Result<Vec<PathBuf>> {
    let files = location.files()?;
    Ok(files
        .into_iter()
        .filter(|path| {
            let Some(day) = files::day_of(path) else {
                return true;
            };
            let after_since = options
                .since
                .is_none_or(|since| day.next_day().is_none_or(|next| next > since.date()));
            let before_until = options.until.is_none_or(|until| day <= until.date());
            after_since && before_until
        })
        .collect())
}
