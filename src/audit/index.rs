//! The trail's index: which files hold lines about a payment, and how each gateway's checks
//! went hour by hour — so that `paystat explain` and `audit history` read only the files that
//! name the payment instead of every day file.
//!
//! It is a SQLite file beside the trail (`index.sqlite` in a day-file trail, `FILE.index.sqlite`
//! beside a single file), owner-only, built on first use and brought up to date by every reader:
//! each file's indexed length is kept with its last bytes, so a file that grew is read from
//! where the index stopped, and a file that changed otherwise is read again. It holds no payment
//! id (a 64-bit prefix of each id's SHA-256) and is never evidence: a line is shown only as read
//! from the trail, and `audit verify` is what proves the trail whole. An index that cannot be
//! opened or written is bypassed (every file is read).

use std::collections::BTreeMap;
use std::io::{BufRead, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, params};
use sha2::{Digest, Sha256};

use super::files::{self, Location};

/// How many bytes before a file's indexed end are kept, to tell a file that grew from one that
/// was replaced.
const TAIL: u64 = 64;

/// The index's own format; an index of another format is rebuilt.
const FORMAT: i64 = 1;

/// Where the index of the trail at `location` lives.
pub fn path_of(location: &Location) -> PathBuf {
    match location {
        Location::Days(dir) => dir.join("index.sqlite"),
        Location::File(file) => {
            let mut name = file.as_os_str().to_owned();
            name.push(".index.sqlite");
            PathBuf::from(name)
        }
    }
}

/// The key an id is indexed under.
fn key(payment_id: &str) -> i64 {
    let digest = Sha256::digest(payment_id.as_bytes());
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&digest[..8]);
    i64::from_le_bytes(bytes)
}

/// How one gateway's checks went in one hour.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct HourCounts {
    /// Checks that asked the gateway (answers reused from the cache are not counted).
    pub checks: u64,
    /// Of those, how many the gateway answered (found or not found).
    pub answered: u64,
    /// Timed out.
    pub timeouts: u64,
    /// Other failures: gateway errors, rate limits, connection errors, unreadable replies.
    pub errors: u64,
}

impl HourCounts {
    fn add(&mut self, other: HourCounts) {
        self.checks += other.checks;
        self.answered += other.answered;
        self.timeouts += other.timeouts;
        self.errors += other.errors;
    }
}

/// An open, up-to-date index.
#[derive(Debug)]
pub struct Index {
    connection: Connection,
    location: Location,
}

/// Why the index could not be used (the caller then reads every file).
#[derive(Debug, thiserror::Error)]
#[error("the trail's index at {path} cannot be used: {why}")]
pub struct IndexError {
    path: String,
    why: String,
}

impl Index {
    /// Opens the index of the trail at `location` (creating it owner-only) and brings it up to
    /// date with the trail's files.
    pub fn open(location: &Location) -> Result<Index, IndexError> {
        let path = path_of(location);
        let fail = |why: String| IndexError {
            path: path.display().to_string(),
            why,
        };
        if !path.exists() {
            crate::ownership::create_private(&path, false).map_err(|e| fail(e.to_string()))?;
        }
        let connection = Connection::open(&path).map_err(|e| fail(e.to_string()))?;
        connection
            .busy_timeout(Duration::from_secs(10))
            .map_err(|e| fail(e.to_string()))?;
        let mut index = Index {
            connection,
            location: location.clone(),
        };
        index.prepare().map_err(|e| fail(e.to_string()))?;
        index.refresh().map_err(fail)?;
        Ok(index)
    }

    fn prepare(&self) -> rusqlite::Result<()> {
        let format: i64 = self
            .connection
            .query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if format != FORMAT {
            self.connection.execute_batch(
                "DROP TABLE IF EXISTS files; DROP TABLE IF EXISTS ids; DROP TABLE IF EXISTS hours;",
            )?;
        }
        self.connection.execute_batch(&format!(
            "PRAGMA journal_mode = WAL;
             CREATE TABLE IF NOT EXISTS files (name TEXT PRIMARY KEY, covered INTEGER NOT NULL, tail BLOB NOT NULL);
             CREATE TABLE IF NOT EXISTS ids (id INTEGER NOT NULL, file TEXT NOT NULL, PRIMARY KEY (id, file)) WITHOUT ROWID;
             CREATE TABLE IF NOT EXISTS hours (file TEXT NOT NULL, gateway TEXT NOT NULL, hour INTEGER NOT NULL,
                 checks INTEGER NOT NULL, answered INTEGER NOT NULL, timeouts INTEGER NOT NULL, errors INTEGER NOT NULL,
                 PRIMARY KEY (file, gateway, hour)) WITHOUT ROWID;
             PRAGMA user_version = {FORMAT};"
        ))
    }

    /// Reads what the index has not seen of every file, and forgets files that are gone.
    fn refresh(&mut self) -> Result<(), String> {
        let files = self.location.files().map_err(|e| e.to_string())?;
        let transaction = self
            .connection
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|e| e.to_string())?;
        let known: BTreeMap<String, (u64, Vec<u8>)> = {
            let mut statement = transaction
                .prepare("SELECT name, covered, tail FROM files")
                .map_err(|e| e.to_string())?;
            let rows = statement
                .query_map([], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        (r.get::<_, i64>(1)? as u64, r.get(2)?),
                    ))
                })
                .map_err(|e| e.to_string())?;
            rows.collect::<Result<_, _>>().map_err(|e| e.to_string())?
        };
        let mut present = Vec::new();
        for path in &files {
            let name = name_of(path);
            present.push(name.clone());
            let length = std::fs::metadata(path).map_err(|e| e.to_string())?.len();
            let start = match known.get(&name) {
                Some((covered, _)) if *covered == length => continue,
                Some((covered, tail))
                    if *covered < length
                        && !is_compressed(path)
                        && tail_of(path, *covered).ok().as_ref() == Some(tail) =>
                {
                    *covered
                }
                Some(_) => {
                    forget(&transaction, &name).map_err(|e| e.to_string())?;
                    0
                }
                None => 0,
            };
            let read = read_file(path, start).map_err(|e| e.to_string())?;
            let covered = if is_compressed(path) {
                length
            } else {
                read.end
            };
            store(&transaction, &name, &read).map_err(|e| e.to_string())?;
            let tail = if is_compressed(path) {
                Vec::new()
            } else {
                tail_of(path, covered).map_err(|e| e.to_string())?
            };
            transaction
                .execute(
                    "INSERT OR REPLACE INTO files (name, covered, tail) VALUES (?1, ?2, ?3)",
                    params![name, covered as i64, tail],
                )
                .map_err(|e| e.to_string())?;
        }
        for name in known.keys().filter(|n| !present.contains(n)) {
            forget(&transaction, name).map_err(|e| e.to_string())?;
        }
        transaction.commit().map_err(|e| e.to_string())
    }

    /// The trail's files that may hold lines about `payment_id`, in chain order.
    pub fn files_naming(&self, payment_id: &str) -> Result<Vec<PathBuf>, IndexError> {
        let fail = |e: rusqlite::Error| IndexError {
            path: path_of(&self.location).display().to_string(),
            why: e.to_string(),
        };
        let mut statement = self
            .connection
            .prepare_cached("SELECT file FROM ids WHERE id = ?1")
            .map_err(fail)?;
        let names: Vec<String> = statement
            .query_map([key(payment_id)], |r| r.get(0))
            .map_err(fail)?
            .collect::<Result<_, _>>()
            .map_err(fail)?;
        let files = self.location.files().map_err(|e| IndexError {
            path: self.location.path().display().to_string(),
            why: e.to_string(),
        })?;
        Ok(files
            .into_iter()
            .filter(|f| names.contains(&name_of(f)))
            .collect())
    }

    /// How `gateway`'s checks went in the hours from `from` to `until` (unix seconds; each
    /// hour that overlaps counts whole).
    pub fn hours(&self, gateway: &str, from: i64, until: i64) -> Result<HourCounts, IndexError> {
        let fail = |e: rusqlite::Error| IndexError {
            path: path_of(&self.location).display().to_string(),
            why: e.to_string(),
        };
        let counts = self
            .connection
            .query_row(
                "SELECT COALESCE(SUM(checks), 0), COALESCE(SUM(answered), 0), COALESCE(SUM(timeouts), 0), COALESCE(SUM(errors), 0)
                 FROM hours WHERE gateway = ?1 AND hour >= ?2 AND hour <= ?3",
                params![gateway, from.div_euclid(3600), until.div_euclid(3600)],
                |r| {
                    Ok(HourCounts {
                        checks: r.get::<_, i64>(0)? as u64,
                        answered: r.get::<_, i64>(1)? as u64,
                        timeouts: r.get::<_, i64>(2)? as u64,
                        errors: r.get::<_, i64>(3)? as u64,
                    })
                },
            )
            .optional()
            .map_err(fail)?;
        Ok(counts.unwrap_or_default())
    }
}

fn name_of(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn is_compressed(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "gz")
}

/// The [`TAIL`] bytes before `end` of `path`.
fn tail_of(path: &Path, end: u64) -> std::io::Result<Vec<u8>> {
    let mut file = std::fs::File::open(path)?;
    let start = end.saturating_sub(TAIL);
    file.seek(SeekFrom::Start(start))?;
    let mut tail = vec![0; (end - start) as usize];
    file.read_exact(&mut tail)?;
    Ok(tail)
}

fn forget(connection: &Connection, name: &str) -> rusqlite::Result<()> {
    connection.execute("DELETE FROM files WHERE name = ?1", [name])?;
    connection.execute("DELETE FROM ids WHERE file = ?1", [name])?;
    connection.execute("DELETE FROM hours WHERE file = ?1", [name])?;
    Ok(())
}

/// What the index learns from a stretch of a file.
#[derive(Debug, Default)]
struct Learned {
    /// Where the last complete line ends.
    end: u64,
    ids: Vec<i64>,
    hours: BTreeMap<(String, i64), HourCounts>,
}

/// Reads `path` from byte `start` (of its plain text) to its last complete line.
fn read_file(path: &Path, start: u64) -> std::io::Result<Learned> {
    let mut reader: Box<dyn BufRead> = if start == 0 || is_compressed(path) {
        files::open_reader(path)?
    } else {
        let mut file = std::fs::File::open(path)?;
        file.seek(SeekFrom::Start(start))?;
        Box::new(std::io::BufReader::with_capacity(64 * 1024, file))
    };
    let mut read = Learned {
        end: start,
        ..Learned::default()
    };
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = reader.read_until(b'\n', &mut line)?;
        if n == 0 || line.last() != Some(&b'\n') {
            break;
        }
        read.end += n as u64;
        let Some(seen) = Seen::of(&line) else {
            continue;
        };
        if let Some(id) = &seen.payment_id {
            read.ids.push(key(id));
        }
        if let (Some(gateway), Some(hour), true) = (seen.gateway, seen.hour, seen.asked) {
            let counts = read.hours.entry((gateway, hour)).or_default();
            counts.add(seen.counts);
        }
    }
    read.ids.sort_unstable();
    read.ids.dedup();
    Ok(read)
}

fn store(connection: &Connection, name: &str, read: &Learned) -> rusqlite::Result<()> {
    let mut ids =
        connection.prepare_cached("INSERT OR IGNORE INTO ids (id, file) VALUES (?1, ?2)")?;
    for id in &read.ids {
        ids.execute(params![id, name])?;
    }
    let mut hours = connection.prepare_cached(
        "INSERT INTO hours (file, gateway, hour, checks, answered, timeouts, errors) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT (file, gateway, hour) DO UPDATE SET checks = checks + excluded.checks,
             answered = answered + excluded.answered, timeouts = timeouts + excluded.timeouts, errors = errors + excluded.errors",
    )?;
    for ((gateway, hour), c) in &read.hours {
        hours.execute(params![
            name,
            gateway,
            hour,
            c.checks as i64,
            c.answered as i64,
            c.timeouts as i64,
            c.errors as i64
        ])?;
    }
    Ok(())
}

/// What the index reads of one line.
struct Seen {
    payment_id: Option<String>,
    gateway: Option<String>,
    hour: Option<i64>,
    /// Whether the line is a status check that asked its gateway (not a reused answer).
    asked: bool,
    counts: HourCounts,
}

impl Seen {
    /// Reads the few fields the index needs; `None` for a line that is not JSON.
    fn of(line: &[u8]) -> Option<Seen> {
        #[derive(serde::Deserialize)]
        struct Fields<'a> {
            #[serde(borrow, default)]
            event: Option<std::borrow::Cow<'a, str>>,
            #[serde(borrow, default)]
            timestamp: Option<std::borrow::Cow<'a, str>>,
            #[serde(borrow, default)]
            payment_id: Option<std::borrow::Cow<'a, str>>,
            #[serde(borrow, default)]
            gateway: Option<std::borrow::Cow<'a, str>>,
            #[serde(borrow, default)]
            outcome: Option<std::borrow::Cow<'a, str>>,
            #[serde(borrow, default)]
            source: Option<std::borrow::Cow<'a, str>>,
        }
        let fields: Fields<'_> = serde_json::from_slice(line).ok()?;
        let status_check = fields.event.as_deref() == Some(super::EVENT_STATUS_CHECK);
        let hour = fields
            .timestamp
            .as_deref()
            .and_then(|t| {
                time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok()
            })
            .map(|t| t.unix_timestamp().div_euclid(3600));
        let outcome = fields.outcome.as_deref().unwrap_or_default();
        let counts = HourCounts {
            checks: 1,
            answered: u64::from(matches!(outcome, "found" | "not_found")),
            timeouts: u64::from(outcome == "timeout"),
            errors: u64::from(matches!(
                outcome,
                "gateway_error" | "rate_limited" | "connection_error" | "bad_response"
            )),
        };
        Some(Seen {
            payment_id: fields.payment_id.map(|id| id.into_owned()),
            gateway: fields.gateway.map(|g| g.into_owned()),
            hour,
            asked: status_check
                && fields.source.as_deref() != Some("cache")
                && outcome != "invalid_id",
            counts,
        })
    }
}
