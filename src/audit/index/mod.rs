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
const FORMAT: i64 = 2;

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
    /// Bytes of the trail the last refresh read.
    read: u64,
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
            read: 0,
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
             CREATE TABLE IF NOT EXISTS files (name TEXT PRIMARY KEY, covered INTEGER NOT NULL, tail BLOB NOT NULL,
                 ids BLOB NOT NULL);
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
        // What each file needs: nothing, its new lines, or a reading from the start.
        let mut present = Vec::new();
        let mut plan: Vec<(&PathBuf, String, u64)> = Vec::new();
        for path in &files {
            let name = name_of(path);
            present.push(name.clone());
            let length = std::fs::metadata(path).map_err(|e| e.to_string())?.len();
            let same_end = |covered: u64, tail: &Vec<u8>| {
                is_compressed(path) || tail_of(path, covered).ok().as_ref() == Some(tail)
            };
            let start = match known.get(&name) {
                Some((covered, tail)) if *covered == length && same_end(*covered, tail) => continue,
                Some((covered, tail))
                    if *covered < length && !is_compressed(path) && same_end(*covered, tail) =>
                {
                    *covered
                }
                Some(_) => {
                    forget(&transaction, &name).map_err(|e| e.to_string())?;
                    0
                }
                None => 0,
            };
            plan.push((path, name, start));
        }
        // The files are read on every core (a first index reads the whole trail), a few at a
        // time so that memory does not grow with the trail; the index is written on this
        // thread, in the transaction.
        let batch = std::thread::available_parallelism().map_or(1, |n| n.get()) * 2;
        for chunk in plan.chunks(batch) {
            self.read += store_all(&transaction, chunk, read_all(chunk))?;
        }
        for name in known.keys().filter(|n| !present.contains(n)) {
            forget(&transaction, name).map_err(|e| e.to_string())?;
        }
        transaction.commit().map_err(|e| e.to_string())
    }

    /// How many bytes of the trail bringing the index up to date read (what a reader costs
    /// beyond its own lines: nothing once the index is current).
    pub fn bytes_read(&self) -> u64 {
        self.read
    }

    /// The trail's files that may hold lines about `payment_id`, in chain order.
    pub fn files_naming(&self, payment_id: &str) -> Result<Vec<PathBuf>, IndexError> {
        let fail = |e: rusqlite::Error| IndexError {
            path: path_of(&self.location).display().to_string(),
            why: e.to_string(),
        };
        let wanted = key(payment_id);
        let mut statement = self
            .connection
            .prepare_cached("SELECT name, ids FROM files")
            .map_err(fail)?;
        let mut names: Vec<String> = Vec::new();
        let mut rows = statement.query([]).map_err(fail)?;
        while let Some(row) = rows.next().map_err(fail)? {
            let ids = row.get_ref(1).map_err(fail)?.as_blob().unwrap_or_default();
            if holds(ids, wanted) {
                names.push(row.get(0).map_err(fail)?);
            }
        }
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
        read.ids.extend(seen.listed.iter().map(|id| key(id)));
        if let (Some(gateway), Some(hour), true) = (seen.gateway, seen.hour, seen.asked) {
            let counts = read.hours.entry((gateway, hour)).or_default();
            counts.add(seen.counts);
        }
    }
    read.ids.sort_unstable();
    read.ids.dedup();
    Ok(read)
}

/// Writes what was read of `plan`'s files into the index; the bytes read.
fn store_all(
    transaction: &Connection,
    plan: &[(&PathBuf, String, u64)],
    reads: Vec<std::io::Result<Learned>>,
) -> Result<u64, String> {
    let mut bytes = 0;
    for ((path, name, start), read) in plan.iter().zip(reads) {
        let read = read.map_err(|e| e.to_string())?;
        let covered = if is_compressed(path) {
            std::fs::metadata(path).map_err(|e| e.to_string())?.len()
        } else {
            read.end
        };
        let tail = if is_compressed(path) {
            Vec::new()
        } else {
            tail_of(path, covered).map_err(|e| e.to_string())?
        };
        store(transaction, name, *start, covered, &tail, &read).map_err(|e| e.to_string())?;
        bytes += read.end - start;
    }
    Ok(bytes)
}

/// A file's ids as stored: sorted, each 8 bytes little-endian.
fn encode(ids: &[i64]) -> Vec<u8> {
    ids.iter().flat_map(|id| id.to_le_bytes()).collect()
}

fn decode(blob: &[u8]) -> Vec<i64> {
    blob.chunks_exact(8)
        .map(|c| i64::from_le_bytes(c.try_into().unwrap_or_default()))
        .collect()
}

/// Whether the stored ids `blob` hold `id` (a binary search over the sorted 8-byte ids).
fn holds(blob: &[u8], id: i64) -> bool {
    let count = blob.len() / 8;
    let at = |i: usize| i64::from_le_bytes(blob[i * 8..i * 8 + 8].try_into().unwrap_or_default());
    let (mut low, mut high) = (0, count);
    while low < high {
        let mid = low + (high - low) / 2;
        match at(mid).cmp(&id) {
            std::cmp::Ordering::Equal => return true,
            std::cmp::Ordering::Less => low = mid + 1,
            std::cmp::Ordering::Greater => high = mid,
        }
    }
    false
}

/// Reads every planned file (from its start offset), on as many threads as there are cores.
fn read_all(plan: &[(&PathBuf, String, u64)]) -> Vec<std::io::Result<Learned>> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(plan.len())
        .max(1);
    let next = std::sync::atomic::AtomicUsize::new(0);
    let done: Vec<std::sync::Mutex<Option<std::io::Result<Learned>>>> =
        plan.iter().map(|_| std::sync::Mutex::new(None)).collect();
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some((path, _, start)) = plan.get(i) else {
                        break;
                    };
                    let read = read_file(path, *start);
                    *done[i].lock().unwrap_or_else(|p| p.into_inner()) = Some(read);
                }
            });
        }
    });
    done.into_iter()
        .map(|slot| {
            slot.into_inner()
                .unwrap_or_else(|p| p.into_inner())
                .unwrap_or_else(|| Err(std::io::Error::other("a file was not read")))
        })
        .collect()
}

/// Writes what `read` learned of file `name` (read from `start`; a file read from its start
/// replaces what was known of it, one that grew adds to it).
fn store(
    connection: &Connection,
    name: &str,
    start: u64,
    covered: u64,
    tail: &[u8],
    read: &Learned,
) -> rusqlite::Result<()> {
    let mut ids = if start == 0 {
        Vec::new()
    } else {
        connection
            .query_row("SELECT ids FROM files WHERE name = ?1", [name], |r| {
                r.get::<_, Vec<u8>>(0)
            })
            .optional()?
            .map(|blob| decode(&blob))
            .unwrap_or_default()
    };
    ids.extend_from_slice(&read.ids);
    ids.sort_unstable();
    ids.dedup();
    connection.execute(
        "INSERT OR REPLACE INTO files (name, covered, tail, ids) VALUES (?1, ?2, ?3, ?4)",
        params![name, covered as i64, tail, encode(&ids)],
    )?;
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
    /// The payments a fill page lists.
    listed: Vec<String>,
    gateway: Option<String>,
    hour: Option<i64>,
    /// Whether the line is a status check that asked its gateway (not a reused answer).
    asked: bool,
    counts: HourCounts,
}

/// The keys the index reads, as paystat's one serializer writes them (compact JSON).
struct Keys {
    event: memchr::memmem::Finder<'static>,
    timestamp: memchr::memmem::Finder<'static>,
    payment_id: memchr::memmem::Finder<'static>,
    gateway: memchr::memmem::Finder<'static>,
    outcome: memchr::memmem::Finder<'static>,
    source: memchr::memmem::Finder<'static>,
}

static KEYS: std::sync::LazyLock<Keys> = std::sync::LazyLock::new(|| Keys {
    event: memchr::memmem::Finder::new(b"\"event\":\""),
    timestamp: memchr::memmem::Finder::new(b"\"timestamp\":\""),
    payment_id: memchr::memmem::Finder::new(b"\"payment_id\":\""),
    gateway: memchr::memmem::Finder::new(b"\"gateway\":\""),
    outcome: memchr::memmem::Finder::new(b"\"outcome\":\""),
    source: memchr::memmem::Finder::new(b"\"source\":\""),
});

/// The text of the first `"key":"…"` in `line`: `Some(None)` when the key is not there,
/// `None` when its value holds an escape (then the line is parsed whole).
fn first<'l>(line: &'l [u8], key: &memchr::memmem::Finder<'_>) -> Option<Option<&'l str>> {
    let Some(at) = key.find(line) else {
        return Some(None);
    };
    let start = at + key.needle().len();
    let end = start + memchr::memchr(b'"', &line[start..])?;
    let value = &line[start..end];
    if value.contains(&b'\\') {
        return None;
    }
    std::str::from_utf8(value).ok().map(Some)
}

impl Seen {
    /// Reads the few fields the index needs; `None` for a line that is not JSON.
    ///
    /// A line paystat wrote (`{"v":…`, compact, its envelope first and the check's fields at
    /// the top level before any list) is read by finding each key's first occurrence, without
    /// parsing the line; any other line, or a value with an escape, is parsed whole. A key
    /// found inside a nested object instead only makes the index name a file that does not
    /// hold the payment: that file is then read for nothing, and nothing is missed.
    fn of(line: &[u8]) -> Option<Seen> {
        if line.starts_with(b"{\"v\":")
            && let Some(seen) = Seen::quick(line)
        {
            return Some(seen);
        }
        Seen::parsed(line)
    }

    fn quick(line: &[u8]) -> Option<Seen> {
        let keys = &*KEYS;
        let event = first(line, &keys.event)?;
        // A fill page names many payments: it is read whole.
        if event == Some(super::EVENT_FILL_PAGE) {
            return None;
        }
        let timestamp = first(line, &keys.timestamp)?;
        let payment_id = first(line, &keys.payment_id)?;
        let gateway = first(line, &keys.gateway)?;
        let outcome = first(line, &keys.outcome)?;
        let source = first(line, &keys.source)?;
        Some(Seen::from_fields(
            event, timestamp, payment_id, gateway, outcome, source,
        ))
    }

    fn from_fields(
        event: Option<&str>,
        timestamp: Option<&str>,
        payment_id: Option<&str>,
        gateway: Option<&str>,
        outcome: Option<&str>,
        source: Option<&str>,
    ) -> Seen {
        let status_check = event == Some(super::EVENT_STATUS_CHECK);
        let hour = timestamp
            .and_then(|t| {
                time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok()
            })
            .map(|t| t.unix_timestamp().div_euclid(3600));
        let outcome = outcome.unwrap_or_default();
        let counts = HourCounts {
            checks: 1,
            answered: u64::from(matches!(outcome, "found" | "not_found")),
            timeouts: u64::from(outcome == "timeout"),
            errors: u64::from(matches!(
                outcome,
                "gateway_error" | "rate_limited" | "connection_error" | "bad_response"
            )),
        };
        Seen {
            payment_id: payment_id.map(str::to_owned),
            listed: Vec::new(),
            gateway: gateway.map(str::to_owned),
            hour,
            asked: status_check && source != Some("cache") && outcome != "invalid_id",
            counts,
        }
    }

    fn parsed(line: &[u8]) -> Option<Seen> {
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
            #[serde(borrow, default)]
            objects: Vec<Listed<'a>>,
        }
        #[derive(serde::Deserialize)]
        struct Listed<'a> {
            #[serde(borrow)]
            payment_id: std::borrow::Cow<'a, str>,
        }
        let fields: Fields<'_> = serde_json::from_slice(line).ok()?;
        let listed = fields
            .objects
            .iter()
            .map(|o| o.payment_id.clone().into_owned())
            .collect();
        Some(
            Seen::from_fields(
                fields.event.as_deref(),
                fields.timestamp.as_deref(),
                fields.payment_id.as_deref(),
                fields.gateway.as_deref(),
                fields.outcome.as_deref(),
                fields.source.as_deref(),
            )
            .listing(listed),
        )
    }

    fn listing(mut self, listed: Vec<String>) -> Seen {
        self.listed = listed;
        self
    }
}

#[cfg(test)]
mod tests;
