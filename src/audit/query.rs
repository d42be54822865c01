//! Answers from the trail, streamed line by line in bounded memory: export a range
//! (JSON lines as written, or CSV), the history of one payment, and statistics per gateway,
//! actor, outcome or day with latency percentiles (an HDR histogram per group).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

use hdrhistogram::Histogram;
use serde::Serialize;
use serde_json::Value;
use time::OffsetDateTime;

use super::files::{self, Location, RawLine};
use super::verify::Place;
use super::{AuditRecord, EVENT_STATUS_CHECK, Envelope};
use crate::result::flat::{self, RESULT_COLUMNS};
use crate::result::{GatewayKind, Outcome, Source};

/// Which lines a query reads.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// At or after.
    pub since: Option<OffsetDateTime>,
    /// Before.
    pub until: Option<OffsetDateTime>,
    /// By this actor.
    pub actor: Option<String>,
    /// Of this payment.
    pub payment_id: Option<String>,
    /// Asked of this gateway.
    pub gateway: Option<GatewayKind>,
    /// With this outcome.
    pub outcome: Option<Outcome>,
    /// Of these events only (`payment.status_check`, `audit.prune`, …); every event when empty.
    pub events: Vec<String>,
    /// Read every file, even for one payment: do not narrow the files by the trail's index.
    pub every_file: bool,
}

/// One line a query passes on: a status check, read whole, or a line of another event (a
/// prune, a key rotation, a repair, a rejected cache row), by its envelope.
#[derive(Debug)]
pub enum Found<'r> {
    /// A status check.
    Check(&'r AuditRecord<'static>),
    /// Another event: its envelope, and the payment it names, if any.
    Other {
        /// Its place in the chain, when, who, which event.
        envelope: &'r Envelope<'static>,
        /// The payment it is about (a rejected cache row names one; a fill page, each it lists).
        payment_id: Option<&'r str>,
        /// The payment's status, when the line says it (a fill page does).
        status: Option<&'r str>,
    },
}

impl Found<'_> {
    /// The envelope.
    pub fn envelope(&self) -> &Envelope<'static> {
        match self {
            Found::Check(record) => &record.envelope,
            Found::Other { envelope, .. } => envelope,
        }
    }

    /// Whether the line was written before the chain (format 1): shown, never verified.
    pub fn unchained(&self) -> bool {
        self.envelope().v < super::chain::CHAINED_SINCE
    }
}

/// A line of another event, as a query reads it.
#[derive(serde::Deserialize)]
struct OtherLine {
    #[serde(flatten)]
    envelope: Envelope<'static>,
    #[serde(default)]
    payment_id: Option<String>,
    /// A fill page's payments.
    #[serde(default)]
    objects: Vec<ListedObject>,
}

/// A payment a fill page lists.
#[derive(serde::Deserialize)]
struct ListedObject {
    payment_id: String,
    #[serde(default)]
    status: Option<String>,
}

/// A line of the trail paystat could not read as a status check.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum QueryError {
    /// A file could not be read.
    #[error("cannot read the audit trail at {}", .path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The output could not be written.
    #[error("cannot write the output")]
    Write(#[source] std::io::Error),
}

/// What a query went through.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scanned {
    /// Lines read in the files of the range.
    pub read: u64,
    /// Lines that matched.
    pub matched: u64,
    /// Of those, lines of other events than status checks, per event.
    pub other_events: BTreeMap<String, u64>,
    /// Of those, legacy (unchained) lines.
    pub legacy: u64,
    /// Lines paystat cannot read as audit lines (fragments a crash left).
    pub skipped: u64,
    /// Whether the trail's index narrowed the files read to those that may name the payment.
    pub narrowed: bool,
}

/// Calls `each` with every line of `location` that passes `filter`, in trail order: its
/// place, its bytes as written and what they say.
pub fn scan(
    location: &Location,
    filter: &Filter,
    mut each: impl FnMut(&Place, &[u8], &Found<'_>) -> Result<(), QueryError>,
) -> Result<Scanned, QueryError> {
    let read_error = |path: &std::path::Path, source| QueryError::Read {
        path: path.to_owned(),
        source,
    };
    let mut scanned = Scanned::default();
    // One payment's lines: only the files the index says name it (every file when the index
    // cannot be used), and only lines holding the id's bytes are parsed.
    let narrowed = filter
        .payment_id
        .as_deref()
        .filter(|_| !filter.every_file)
        .and_then(|id| {
            super::index::Index::open(location)
                .and_then(|index| index.files_naming(id))
                .map_err(|e| tracing::debug!(error = %e, "reading every file of the trail"))
                .ok()
        });
    let needle = filter.payment_id.as_deref().and_then(plain_json_string);
    let finder = needle.as_deref().map(memchr::memmem::Finder::new);
    scanned.narrowed = narrowed.is_some();
    let all = match narrowed {
        Some(files) => files,
        None => location
            .files()
            .map_err(|e| read_error(location.path(), e))?,
    };
    let mut raw = RawLine {
        bytes: Vec::new(),
        number: 0,
        ended: false,
    };
    for path in all {
        if let Some(day) = files::day_of(&path) {
            let too_early = filter
                .since
                .is_some_and(|since| day.next_day().is_some_and(|next| next <= since.date()));
            let too_late = filter.until.is_some_and(|until| day > until.date());
            if too_early || too_late {
                continue;
            }
        }
        let mut reader = files::open_reader(&path).map_err(|e| read_error(&path, e))?;
        raw.number = 0;
        while files::next_line(&mut *reader, &mut raw).map_err(|e| read_error(&path, e))? {
            scanned.read += 1;
            if finder
                .as_ref()
                .is_some_and(|f| f.find(&raw.bytes).is_none())
            {
                continue;
            }
            let Ok(other) = serde_json::from_slice::<OtherLine>(&raw.bytes) else {
                scanned.skipped += 1;
                continue;
            };
            let event = &other.envelope.event;
            if !filter.events.is_empty() && !filter.events.iter().any(|e| e == event) {
                continue;
            }
            let record;
            let found = if event == EVENT_STATUS_CHECK {
                record = match serde_json::from_slice::<AuditRecord<'static>>(&raw.bytes) {
                    Ok(record) => record,
                    Err(_) => {
                        scanned.skipped += 1;
                        continue;
                    }
                };
                Found::Check(&record)
            } else {
                // A fill page is about each payment it lists: the one asked for, if listed.
                let listed = filter
                    .payment_id
                    .as_deref()
                    .and_then(|id| other.objects.iter().find(|o| o.payment_id == id));
                Found::Other {
                    envelope: &other.envelope,
                    payment_id: listed
                        .map(|o| o.payment_id.as_str())
                        .or(other.payment_id.as_deref()),
                    status: listed.and_then(|o| o.status.as_deref()),
                }
            };
            if !passes(&found, filter) {
                continue;
            }
            scanned.matched += 1;
            if found.unchained() {
                scanned.legacy += 1;
            }
            if let Found::Other { envelope, .. } = &found {
                *scanned
                    .other_events
                    .entry(envelope.event.to_string())
                    .or_default() += 1;
            }
            let place = Place {
                file: path.clone(),
                line: raw.number,
            };
            each(&place, &raw.bytes, &found)?;
        }
    }
    Ok(scanned)
}

/// `id` as a JSON string is written (with its quotes), when no character of it could be
/// escaped (then a line about it holds exactly these bytes).
fn plain_json_string(id: &str) -> Option<Vec<u8>> {
    let plain = !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:~+=@".contains(&b));
    plain.then(|| format!("\"{id}\"").into_bytes())
}

fn passes(found: &Found<'_>, filter: &Filter) -> bool {
    let envelope = found.envelope();
    if filter.since.is_some() || filter.until.is_some() {
        let Ok(at) = OffsetDateTime::parse(
            &envelope.timestamp,
            &time::format_description::well_known::Rfc3339,
        ) else {
            return false;
        };
        if filter.since.is_some_and(|s| at < s) || filter.until.is_some_and(|u| at >= u) {
            return false;
        }
    }
    if filter.actor.as_ref().is_some_and(|a| *a != envelope.actor) {
        return false;
    }
    match found {
        Found::Check(record) => {
            filter
                .payment_id
                .as_ref()
                .is_none_or(|id| *id == record.check.payment_id)
                && filter
                    .gateway
                    .is_none_or(|g| record.check.gateway == Some(g))
                && filter.outcome.is_none_or(|o| record.check.outcome == o)
        }
        // Another event has no gateway or outcome: a filter on them leaves it out.
        Found::Other { payment_id, .. } => {
            filter.gateway.is_none()
                && filter.outcome.is_none()
                && filter
                    .payment_id
                    .as_ref()
                    .is_none_or(|id| Some(id.as_str()) == *payment_id)
        }
    }
}

/// The envelope's columns in CSV, before the result's.
pub const ENVELOPE_COLUMNS: &[&[&str]] = &[
    &["v"],
    &["seq"],
    &["timestamp"],
    &["event"],
    &["actor"],
    &["os_user"],
    &["via"],
    &["token_id"],
    &["client"],
    &["request_id"],
    &["origin", "host"],
    &["origin", "pid"],
    &["target", "scheme"],
    &["target", "host"],
    &["target", "port"],
    &["environment"],
    &["request", "method"],
    &["request", "path"],
    &["sync"],
];

/// The export formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// The lines exactly as written (they still verify).
    Jsonl,
    /// One flat row per line, with a header.
    Csv,
}

/// Writes the lines `filter` selects to `out`.
pub fn export(
    location: &Location,
    filter: &Filter,
    format: ExportFormat,
    out: &mut dyn Write,
) -> Result<Scanned, QueryError> {
    match format {
        ExportFormat::Jsonl => scan(location, filter, |_, bytes, _| {
            out.write_all(bytes)
                .and_then(|()| out.write_all(b"\n"))
                .map_err(QueryError::Write)
        }),
        ExportFormat::Csv => {
            let mut writer = csv::Writer::from_writer(out);
            let mut header = flat::header(ENVELOPE_COLUMNS);
            header.extend(flat::header(RESULT_COLUMNS));
            header.extend([
                "prev".to_owned(),
                "hash".to_owned(),
                "chain_status".to_owned(),
            ]);
            writer.write_record(&header).map_err(csv_error)?;
            let scanned = scan(location, filter, |_, bytes, found| {
                let value: Value = serde_json::from_slice(bytes)
                    .unwrap_or_else(|_| Value::Object(Default::default()));
                let mut row = flat::cells(&value, ENVELOPE_COLUMNS);
                row.extend(flat::cells(&value, RESULT_COLUMNS));
                let hash = value
                    .get("hash")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                row.extend([
                    found.envelope().prev.to_string(),
                    hash.to_owned(),
                    if found.unchained() {
                        "unverified"
                    } else {
                        "chained"
                    }
                    .to_owned(),
                ]);
                // Safe to open in a spreadsheet; the JSON-lines export keeps the exact bytes.
                let row = row.iter().map(|c| flat::spreadsheet_safe(c).into_owned());
                writer.write_record(row).map_err(csv_error)
            })?;
            writer.flush().map_err(QueryError::Write)?;
            Ok(scanned)
        }
    }
}

fn csv_error(e: csv::Error) -> QueryError {
    QueryError::Write(std::io::Error::other(e))
}

/// One line in a payment's history: a check, or another event about it.
#[cfg_attr(feature = "serve", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HistoryRow {
    /// When.
    pub timestamp: String,
    /// Which event (`payment.status_check`, `cache.row_rejected`).
    pub event: String,
    /// Written before the chain: shown, not verified.
    pub unchained: bool,
    /// Who.
    pub actor: String,
    /// The OS user.
    pub os_user: String,
    /// Which gateway.
    pub gateway: Option<GatewayKind>,
    /// Mock, test or live.
    pub environment: Option<String>,
    /// What came back (a check only).
    pub outcome: Option<Outcome>,
    /// The payment's status, when found.
    pub status: Option<String>,
    /// The gateway's word.
    pub gateway_status: Option<String>,
    /// How long the check took.
    pub duration_ms: u64,
}

/// Every line about `payment_id`, oldest first (`each` called per line, in trail order).
pub fn history(
    location: &Location,
    payment_id: &str,
    each: impl FnMut(HistoryRow) -> Result<(), QueryError>,
) -> Result<Scanned, QueryError> {
    history_reading(location, payment_id, false, each)
}

/// [`history`], reading every file of the trail when `every_file` (not trusting the index to
/// say which files name the payment).
pub fn history_reading(
    location: &Location,
    payment_id: &str,
    every_file: bool,
    mut each: impl FnMut(HistoryRow) -> Result<(), QueryError>,
) -> Result<Scanned, QueryError> {
    let filter = Filter {
        payment_id: Some(payment_id.to_owned()),
        every_file,
        ..Filter::default()
    };
    scan(location, &filter, |_, _, found| {
        let envelope = found.envelope();
        let mut row = HistoryRow {
            timestamp: envelope.timestamp.to_string(),
            event: envelope.event.to_string(),
            unchained: found.unchained(),
            actor: envelope.actor.to_string(),
            os_user: envelope.os_user.to_string(),
            gateway: None,
            environment: None,
            outcome: None,
            status: None,
            gateway_status: None,
            duration_ms: 0,
        };
        if let Found::Check(record) = found {
            row.gateway = record.check.gateway;
            row.environment = record.environment.map(|e| e.as_str().to_owned());
            row.outcome = Some(record.check.outcome);
            row.status = record.check.status.map(|s| s.as_str().to_owned());
            row.gateway_status = record.check.gateway_status.clone();
            row.duration_ms = record.check.duration_ms;
        }
        if let Found::Other { status, .. } = found {
            row.status = status.map(str::to_owned);
        }
        each(row)
    })
}

/// How `audit stats` groups lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupBy {
    /// Per gateway (the default).
    Gateway,
    /// Per actor.
    Actor,
    /// Per outcome.
    Outcome,
    /// Per UTC day.
    Day,
}

/// The figures of one group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GroupStats {
    /// The group's name.
    pub group: String,
    /// Checks.
    pub checks: u64,
    /// Checks per outcome.
    pub outcomes: BTreeMap<String, u64>,
    /// Checks that ended in a timeout.
    pub timeouts: u64,
    /// Retries (requests after a check's first).
    pub retries: u64,
    /// Replies that asked paystat to slow down (HTTP 429), over all attempts.
    pub rate_limited: u64,
    /// Checks answered from the status cache (no request sent); the percentiles below are of
    /// the others, the gateway's latency.
    pub from_cache: u64,
    /// Check duration percentiles, milliseconds.
    pub p50_ms: u64,
    /// 95th percentile.
    pub p95_ms: u64,
    /// 99th percentile.
    pub p99_ms: u64,
    /// The slowest check.
    pub max_ms: u64,
}

/// Counts and latency percentiles of the lines `filter` selects, grouped `by`.
pub fn stats(
    location: &Location,
    filter: &Filter,
    by: GroupBy,
) -> Result<(Vec<GroupStats>, Scanned), QueryError> {
    struct Acc {
        stats: GroupStats,
        latency: Histogram<u64>,
    }
    let mut groups: BTreeMap<String, Acc> = BTreeMap::new();
    let scanned = scan(location, filter, |_, _, found| {
        // Lines of other events are counted in `Scanned::other_events`.
        let Found::Check(record) = found else {
            return Ok(());
        };
        let check = &record.check;
        let key = match by {
            GroupBy::Gateway => check
                .gateway
                .map_or("(none)".to_owned(), |g| g.as_str().to_owned()),
            GroupBy::Actor => record.envelope.actor.to_string(),
            GroupBy::Outcome => check.outcome.as_str().to_owned(),
            GroupBy::Day => record
                .envelope
                .timestamp
                .get(..10)
                .unwrap_or("?")
                .to_owned(),
        };
        let acc = groups.entry(key.clone()).or_insert_with(|| Acc {
            stats: GroupStats {
                group: key,
                checks: 0,
                outcomes: BTreeMap::new(),
                timeouts: 0,
                retries: 0,
                rate_limited: 0,
                from_cache: 0,
                p50_ms: 0,
                p95_ms: 0,
                p99_ms: 0,
                max_ms: 0,
            },
            // Three significant figures, from 1 ms to a day (longer checks count as a day).
            latency: Histogram::new_with_bounds(1, 86_400_000, 3)
                .expect("fixed bounds and precision are valid"),
        });
        acc.stats.checks += 1;
        *acc.stats
            .outcomes
            .entry(check.outcome.as_str().to_owned())
            .or_default() += 1;
        if check.outcome == Outcome::Timeout {
            acc.stats.timeouts += 1;
        }
        acc.stats.retries += u64::from(check.attempts.saturating_sub(1));
        acc.stats.rate_limited += check
            .attempt_log
            .iter()
            .filter(|a| a.http_status == Some(429))
            .count() as u64;
        if check.source == Source::Cache {
            acc.stats.from_cache += 1;
            return Ok(());
        }
        acc.latency.saturating_record(check.duration_ms);
        acc.stats.max_ms = acc.stats.max_ms.max(check.duration_ms);
        Ok(())
    })?;
    let rows = groups
        .into_values()
        .map(|mut acc| {
            // A percentile is the bottom of its bucket (exact to three significant figures);
            // the maximum is exact.
            let at = |q| {
                acc.latency
                    .lowest_equivalent(acc.latency.value_at_quantile(q))
            };
            acc.stats.p50_ms = at(0.50);
            acc.stats.p95_ms = at(0.95);
            acc.stats.p99_ms = at(0.99);
            acc.stats
        })
        .collect();
    Ok((rows, scanned))
}
