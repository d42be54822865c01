//! The status cache: answers the gateways gave earlier, in a SQLite database of paystat's state
//! directory (`cache.sqlite3`), so that a re-run does not ask again what can no longer change.
//!
//! What may be reused is decided elsewhere: each adapter says how final an answer is
//! ([`Finality`]) and the checker reuses an entry only when it is final on the day of the check,
//! or younger than `--max-age`. This module keeps entries whole and answers honestly: a database
//! it cannot read, of a newer schema, or holding an entry that does not read back as the answer
//! it stored, is an error — never a wrong status. Several paystat processes share one database
//! (write-ahead log; every write is one transaction, so a reader sees an entry whole or not at
//! all).

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, OptionalExtension, params};

use crate::result::{CheckResult, Environment, Finality, GatewayKind, Outcome};

/// How many times opening the cache is tried while other processes hold it (about 2 s).
const OPEN_TRIES: u32 = 60;

/// Why one attempt to set the cache up did not finish.
enum Prepare {
    /// Another process holds the database for a moment: try again.
    Busy(String),
    /// It cannot be used.
    Failed(CacheError),
}

/// The schema this paystat writes (SQLite's `user_version`).
pub const SCHEMA_VERSION: i64 = 1;

/// The file name of the cache in the state directory.
pub const FILE_NAME: &str = "cache.sqlite3";

const SCHEMA: &str = "
CREATE TABLE answers (
    gateway     TEXT    NOT NULL,
    host        TEXT    NOT NULL,
    scope       TEXT    NOT NULL,
    payment_id  TEXT    NOT NULL,
    result      TEXT    NOT NULL,
    environment TEXT    NOT NULL,
    fetched_ms  INTEGER NOT NULL,
    finality    TEXT    NOT NULL,
    final_after TEXT,
    rules       TEXT    NOT NULL
);
CREATE UNIQUE INDEX answers_key ON answers (gateway, host, scope, payment_id);
CREATE TABLE cursors (
    gateway   TEXT    NOT NULL,
    host      TEXT    NOT NULL,
    scope     TEXT    NOT NULL,
    position  TEXT    NOT NULL,
    synced_at INTEGER NOT NULL,
    PRIMARY KEY (gateway, host, scope)
) WITHOUT ROWID;
";

/// Why the cache could not be used.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// The file could not be opened or created.
    #[error("cannot open the status cache {}: {detail} (--no-cache runs without it)", path.display())]
    Open {
        /// The database file.
        path: PathBuf,
        /// What went wrong.
        detail: String,
    },
    /// The file is not a paystat cache, or is damaged.
    #[error(
        "the status cache {} is damaged or not a paystat cache ({detail}); move it away or run `paystat cache clear --all`",
        path.display()
    )]
    Corrupt {
        /// The database file.
        path: PathBuf,
        /// What SQLite or paystat found.
        detail: String,
    },
    /// Other processes kept it locked while it was being opened.
    #[error(
        "the status cache {} stayed locked by other paystat processes ({detail}); try again, or run with --no-cache",
        path.display()
    )]
    Busy {
        /// The database file.
        path: PathBuf,
        /// What SQLite said last.
        detail: String,
    },
    /// A newer paystat wrote it.
    #[error(
        "the status cache {} has schema version {found}, newer than this paystat reads ({SCHEMA_VERSION}); upgrade paystat or use --no-cache",
        path.display()
    )]
    Newer {
        /// The database file.
        path: PathBuf,
        /// Its schema version.
        found: i64,
    },
}

/// Which answer an entry holds: the gateway, where it lives, the account or environment asked
/// on behalf of, and the payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key<'a> {
    /// The gateway.
    pub gateway: GatewayKind,
    /// The gateway's base URL as `scheme://host:port`.
    pub host: &'a str,
    /// The environment and account asked on behalf of (`live`, `test:acct_…`).
    pub scope: &'a str,
    /// The payment.
    pub payment_id: &'a str,
}

/// A feed's place: which gateway at which host and scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Feed<'a> {
    /// The gateway.
    pub gateway: GatewayKind,
    /// The gateway's base URL as `scheme://host:port`.
    pub host: &'a str,
    /// The environment and account.
    pub scope: &'a str,
}

/// An answer read back from the cache.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The result as the gateway's answer made it.
    pub result: CheckResult,
    /// The kind of system that gave it.
    pub environment: Environment,
    /// When it was fetched, unix milliseconds.
    pub fetched_ms: i64,
}

impl Entry {
    /// How old the entry is at `now_ms` (unix milliseconds); zero if the clock went back.
    pub fn age(&self, now_ms: i64) -> Duration {
        Duration::from_millis(u64::try_from(now_ms.saturating_sub(self.fetched_ms)).unwrap_or(0))
    }
}

/// A feed's cursor and when it was last synced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    /// The gateway's own position (Plaid's largest `event_id`, Stripe's newest `created`).
    pub position: String,
    /// When the feed was last read to its end, unix seconds.
    pub synced_at: i64,
}

/// Counts of one gateway's entries.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct GatewayStats {
    /// Entries in all.
    pub entries: u64,
    /// `final` entries.
    pub final_: u64,
    /// `final_after` entries.
    pub final_after: u64,
    /// `changing` entries.
    pub changing: u64,
    /// The oldest fetch, unix seconds.
    pub oldest: Option<i64>,
    /// The newest fetch, unix seconds.
    pub newest: Option<i64>,
}

/// The status cache.
pub struct Cache {
    path: PathBuf,
    /// The rules the answers are read by (see [`Cache::with_rules`]); an entry stored under
    /// other rules is not reused.
    rules: String,
    connection: Mutex<Connection>,
    /// The writer thread of [`Cache::put_later`], started at its first use.
    writer: Mutex<Option<Writer>>,
}

/// An answer to store, owned, on its way to the writer thread.
struct Pending {
    rules: String,
    gateway: GatewayKind,
    host: String,
    scope: String,
    payment_id: String,
    result: CheckResult,
    environment: Environment,
    fetched_ms: i64,
}

enum Message {
    Put(Box<Pending>),
    /// Answered once every message before it is committed.
    Flush(std::sync::mpsc::Sender<()>),
}

/// A thread with its own connection that writes queued answers in batches, one transaction
/// each: a bulk run's writes cost its checks a channel send, not a commit.
struct Writer {
    sender: std::sync::mpsc::Sender<Message>,
    thread: Option<std::thread::JoinHandle<()>>,
    /// The first error the thread met (later answers are then dropped).
    failed: std::sync::Arc<Mutex<Option<CacheError>>>,
}

/// The most answers one transaction of the writer thread commits.
const BATCH: usize = 4096;

/// How long the writer thread lets answers gather after the first one of a batch: a bulk run
/// sends thousands a second, and waking the thread for each cost more than writing them.
const GATHER: Duration = Duration::from_millis(20);

impl fmt::Debug for Cache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cache").field("path", &self.path).finish()
    }
}

impl Cache {
    /// Opens the cache at `path`, creating it (mode 0600, its directory 0700) when absent.
    pub fn open(path: &Path) -> Result<Cache, CacheError> {
        let open_error = |detail: String| CacheError::Open {
            path: path.to_owned(),
            detail,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            create_private_dir(dir).map_err(|e| open_error(e.to_string()))?;
        }
        // Created here, owner-only, before SQLite opens it: SQLite gives its journal files the
        // mode of the database.
        create_private_file(path).map_err(|e| open_error(e.to_string()))?;
        // Read-write (the file exists now), each connection used by one thread at a time.
        let connection = Connection::open_with_flags(path, OpenFlags::default())
            .map_err(|e| open_error(e.to_string()))?;
        let cache = Cache {
            path: path.to_owned(),
            rules: env!("CARGO_PKG_VERSION").to_owned(),
            connection: Mutex::new(connection),
            writer: Mutex::new(None),
        };
        cache.prepare()?;
        Ok(cache)
    }

    /// Reuses only entries stored under `rules`: the paystat version and the status mapping
    /// (with its finality rules) that judged them. An answer judged by other rules — before a
    /// mapping was fixed, say — is asked again, never served.
    pub fn with_rules(mut self, rules: impl Into<String>) -> Cache {
        self.rules = rules.into();
        self
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn corrupt(&self, e: impl fmt::Display) -> CacheError {
        CacheError::Corrupt {
            path: self.path.clone(),
            detail: e.to_string(),
        }
    }

    fn connection(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.connection.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sets the connection up and creates or checks the schema.
    fn prepare(&self) -> Result<(), CacheError> {
        let mut connection = self.connection();
        connection
            .busy_timeout(Duration::from_secs(10))
            .map_err(|e| self.corrupt(e))?;
        // Several paystat processes opening a new cache at once contend for it while one of
        // them switches it to write-ahead logging and creates the schema; SQLite then says
        // "locked" to the others at once rather than waiting. They try again.
        let mut tries = 0;
        loop {
            match self.prepare_once(&mut connection) {
                Ok(()) => return Ok(()),
                Err(Prepare::Busy(detail)) if tries < OPEN_TRIES => {
                    tracing::debug!(%detail, "the status cache is busy; trying again");
                    tries += 1;
                    std::thread::sleep(Duration::from_millis(10 + fastrand::u64(0..40)));
                }
                Err(Prepare::Busy(detail)) => {
                    return Err(CacheError::Busy {
                        path: self.path.clone(),
                        detail,
                    });
                }
                Err(Prepare::Failed(e)) => return Err(e),
            }
        }
    }

    fn prepare_once(&self, connection: &mut Connection) -> Result<(), Prepare> {
        let fail = |e: rusqlite::Error| {
            if matches!(
                e.sqlite_error_code(),
                Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
            ) {
                Prepare::Busy(e.to_string())
            } else {
                Prepare::Failed(self.corrupt(e))
            }
        };
        // The first statement reads the header: a file that is not SQLite fails here.
        let version: i64 = connection
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .map_err(fail)?;
        if version > SCHEMA_VERSION {
            return Err(Prepare::Failed(CacheError::Newer {
                path: self.path.clone(),
                found: version,
            }));
        }
        let mode: String = connection
            .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
            .map_err(fail)?;
        if !mode.eq_ignore_ascii_case("wal") {
            // Another process holds it while it changes its mode.
            return Err(Prepare::Busy(format!("journal mode {mode}, not wal yet")));
        }
        // A cache entry lost to a power cut is asked again: no sync per commit.
        connection
            .execute_batch("PRAGMA synchronous = NORMAL")
            .map_err(fail)?;
        if version == 0 {
            let tx = connection
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(fail)?;
            // Another process may have created it meanwhile.
            let version: i64 = tx
                .query_row("PRAGMA user_version", [], |row| row.get(0))
                .map_err(fail)?;
            if version == 0 {
                tx.execute_batch(SCHEMA).map_err(fail)?;
                tx.execute_batch(&format!("PRAGMA user_version = {SCHEMA_VERSION}"))
                    .map_err(fail)?;
            }
            tx.commit().map_err(fail)?;
        }
        let tables: i64 = connection
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN ('answers', 'cursors')",
                [],
                |row| row.get(0),
            )
            .map_err(fail)?;
        if tables != 2 {
            return Err(Prepare::Failed(self.corrupt("its tables are missing")));
        }
        Ok(())
    }

    /// The entry for `key`, if any.
    pub fn get(&self, key: &Key<'_>) -> Result<Option<Entry>, CacheError> {
        let connection = self.connection();
        let mut statement = connection
            .prepare_cached(
                "SELECT result, environment, fetched_ms, finality, final_after, rules FROM answers
                 WHERE gateway = ?1 AND host = ?2 AND scope = ?3 AND payment_id = ?4",
            )
            .map_err(|e| self.corrupt(e))?;
        let row = statement
            .query_row(
                params![key.gateway.as_str(), key.host, key.scope, key.payment_id],
                |row| {
                    Ok((
                        row.get::<_, String>(0)?,
                        row.get::<_, String>(1)?,
                        row.get::<_, i64>(2)?,
                        row.get::<_, String>(3)?,
                        row.get::<_, Option<String>>(4)?,
                        row.get::<_, String>(5)?,
                    ))
                },
            )
            .optional()
            .map_err(|e| self.corrupt(e))?;
        let Some((text, environment, fetched_ms, finality, final_after, rules)) = row else {
            return Ok(None);
        };
        if rules != self.rules {
            return Ok(None);
        }
        // The entry must read back as the answer it was stored as, for the payment asked.
        let result: CheckResult = serde_json::from_str(&text)
            .map_err(|e| self.corrupt(format!("an entry is not a result: {e}")))?;
        let environment = match environment.as_str() {
            "mock" => Environment::Mock,
            "test" => Environment::Test,
            "live" => Environment::Live,
            other => return Err(self.corrupt(format!("an entry's environment is `{other}`"))),
        };
        let consistent = result.payment_id == key.payment_id
            && result.gateway == Some(key.gateway)
            && result.outcome == Outcome::Found
            && result.finality.map(|f| f.as_str()) == Some(finality.as_str())
            && result.final_after == final_after;
        if !consistent {
            return Err(self.corrupt(format!(
                "the entry of payment {:?} does not match its key",
                crate::result::kept_id(key.payment_id)
            )));
        }
        Ok(Some(Entry {
            result,
            environment,
            fetched_ms,
        }))
    }

    /// Stores `result` (a found payment, as the gateway's answer made it) for `key`, replacing
    /// any entry, fetched at `fetched_ms` (unix milliseconds) from a system of `environment`.
    pub fn put(
        &self,
        key: &Key<'_>,
        result: &CheckResult,
        environment: Environment,
        fetched_ms: i64,
    ) -> Result<(), CacheError> {
        let Some(pending) = self.pending(key, result, environment, fetched_ms) else {
            return Ok(());
        };
        write_batch(&self.connection(), &[pending]).map_err(|e| self.corrupt(e))
    }

    /// What storing `result` means, owned; none for an answer that is not kept (no payment, or
    /// no finality judged).
    fn pending(
        &self,
        key: &Key<'_>,
        result: &CheckResult,
        environment: Environment,
        fetched_ms: i64,
    ) -> Option<Box<Pending>> {
        if result.outcome != Outcome::Found || result.finality.is_none() {
            return None;
        }
        Some(Box::new(Pending {
            rules: self.rules.clone(),
            gateway: key.gateway,
            host: key.host.to_owned(),
            scope: key.scope.to_owned(),
            payment_id: key.payment_id.to_owned(),
            result: result.clone(),
            environment,
            fetched_ms,
        }))
    }

    /// Queues `result` to be stored like [`Cache::put`] does, by a writer thread that commits
    /// queued answers in batches. [`Cache::flush`] waits for them (dropping the cache does too);
    /// until then a lookup may not see them yet.
    pub fn put_later(
        &self,
        key: &Key<'_>,
        result: &CheckResult,
        environment: Environment,
        fetched_ms: i64,
    ) -> Result<(), CacheError> {
        let Some(pending) = self.pending(key, result, environment, fetched_ms) else {
            return Ok(());
        };
        let mut writer = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        if writer.is_none() {
            *writer = Some(self.start_writer()?);
        }
        let writer = writer.as_ref().expect("started above");
        if let Some(error) = writer
            .failed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            return Err(error);
        }
        writer
            .sender
            .send(Message::Put(pending))
            .map_err(|_| self.corrupt("the cache's writer thread stopped"))
    }

    /// Waits until every answer queued by [`Cache::put_later`] is committed; the writer
    /// thread's error, if it met one.
    pub fn flush(&self) -> Result<(), CacheError> {
        let writer = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let Some(writer) = writer.as_ref() else {
            return Ok(());
        };
        let (ack, done) = std::sync::mpsc::channel();
        if writer.sender.send(Message::Flush(ack)).is_ok() {
            let _ = done.recv();
        }
        match writer
            .failed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }

    fn start_writer(&self) -> Result<Writer, CacheError> {
        let connection = Connection::open_with_flags(&self.path, OpenFlags::default())
            .map_err(|e| self.corrupt(e))?;
        connection
            .busy_timeout(Duration::from_secs(10))
            .map_err(|e| self.corrupt(e))?;
        connection
            .execute_batch("PRAGMA synchronous = NORMAL")
            .map_err(|e| self.corrupt(e))?;
        let (sender, receiver) = std::sync::mpsc::channel::<Message>();
        let failed = std::sync::Arc::new(Mutex::new(None));
        let failure = std::sync::Arc::clone(&failed);
        let path = self.path.clone();
        let thread = std::thread::Builder::new()
            .name("paystat-cache".into())
            .spawn(move || write_batches(&connection, &receiver, &path, &failure))
            .map_err(|e| self.corrupt(e))?;
        Ok(Writer {
            sender,
            thread: Some(thread),
            failed,
        })
    }

    /// Drops the entries of `payment_ids` under `feed`; returns how many there were.
    pub fn forget(&self, feed: &Feed<'_>, payment_ids: &[String]) -> Result<u64, CacheError> {
        let mut connection = self.connection();
        let tx = connection.transaction().map_err(|e| self.corrupt(e))?;
        let mut dropped = 0;
        {
            let mut statement = tx
                .prepare_cached(
                    "DELETE FROM answers WHERE gateway = ?1 AND host = ?2 AND scope = ?3 AND payment_id = ?4",
                )
                .map_err(|e| self.corrupt(e))?;
            for id in payment_ids {
                dropped += statement
                    .execute(params![feed.gateway.as_str(), feed.host, feed.scope, id])
                    .map_err(|e| self.corrupt(e))? as u64;
            }
        }
        tx.commit().map_err(|e| self.corrupt(e))?;
        Ok(dropped)
    }

    /// Drops every entry under `feed` that can still change on `today` (YYYY-MM-DD): all but
    /// `final` ones and `final_after` ones whose date has passed.
    pub fn forget_unsettled(&self, feed: &Feed<'_>, today: &str) -> Result<u64, CacheError> {
        let connection = self.connection();
        let dropped = connection
            .execute(
                "DELETE FROM answers WHERE gateway = ?1 AND host = ?2 AND scope = ?3
                 AND NOT (finality = 'final' OR (finality = 'final_after' AND final_after < ?4))",
                params![feed.gateway.as_str(), feed.host, feed.scope, today],
            )
            .map_err(|e| self.corrupt(e))?;
        Ok(dropped as u64)
    }

    /// Drops every entry (of `gateway` only, when given) and, with them, the feeds' cursors.
    pub fn clear(&self, gateway: Option<GatewayKind>) -> Result<u64, CacheError> {
        let mut connection = self.connection();
        let tx = connection.transaction().map_err(|e| self.corrupt(e))?;
        let dropped = match gateway {
            Some(g) => {
                tx.execute("DELETE FROM cursors WHERE gateway = ?1", [g.as_str()])
                    .map_err(|e| self.corrupt(e))?;
                tx.execute("DELETE FROM answers WHERE gateway = ?1", [g.as_str()])
                    .map_err(|e| self.corrupt(e))?
            }
            None => {
                tx.execute("DELETE FROM cursors", [])
                    .map_err(|e| self.corrupt(e))?;
                tx.execute("DELETE FROM answers", [])
                    .map_err(|e| self.corrupt(e))?
            }
        };
        tx.commit().map_err(|e| self.corrupt(e))?;
        Ok(dropped as u64)
    }

    /// The cursor of `feed`, if it was ever synced.
    pub fn cursor(&self, feed: &Feed<'_>) -> Result<Option<Cursor>, CacheError> {
        self.connection()
            .query_row(
                "SELECT position, synced_at FROM cursors WHERE gateway = ?1 AND host = ?2 AND scope = ?3",
                params![feed.gateway.as_str(), feed.host, feed.scope],
                |row| {
                    Ok(Cursor {
                        position: row.get(0)?,
                        synced_at: row.get(1)?,
                    })
                },
            )
            .optional()
            .map_err(|e| self.corrupt(e))
    }

    /// Sets the cursor of `feed`.
    pub fn set_cursor(&self, feed: &Feed<'_>, cursor: &Cursor) -> Result<(), CacheError> {
        self.connection()
            .execute(
                "INSERT OR REPLACE INTO cursors (gateway, host, scope, position, synced_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    feed.gateway.as_str(),
                    feed.host,
                    feed.scope,
                    cursor.position,
                    cursor.synced_at
                ],
            )
            .map_err(|e| self.corrupt(e))?;
        Ok(())
    }

    /// Counts by gateway.
    pub fn stats(&self) -> Result<Vec<(GatewayKind, GatewayStats)>, CacheError> {
        let connection = self.connection();
        let mut statement = connection
            .prepare(
                "SELECT gateway, count(*),
                        sum(finality = 'final'), sum(finality = 'final_after'), sum(finality = 'changing'),
                        min(fetched_ms) / 1000, max(fetched_ms) / 1000
                 FROM answers GROUP BY gateway ORDER BY gateway",
            )
            .map_err(|e| self.corrupt(e))?;
        let rows = statement
            .query_map([], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    GatewayStats {
                        entries: row.get::<_, i64>(1)? as u64,
                        final_: row.get::<_, i64>(2)? as u64,
                        final_after: row.get::<_, i64>(3)? as u64,
                        changing: row.get::<_, i64>(4)? as u64,
                        oldest: row.get(5)?,
                        newest: row.get(6)?,
                    },
                ))
            })
            .map_err(|e| self.corrupt(e))?;
        let mut stats = Vec::new();
        for row in rows {
            let (gateway, counts) = row.map_err(|e| self.corrupt(e))?;
            let Some(kind) = GatewayKind::ALL.into_iter().find(|k| k.as_str() == gateway) else {
                return Err(self.corrupt(format!("an entry names the gateway `{gateway}`")));
            };
            stats.push((kind, counts));
        }
        Ok(stats)
    }

    /// The feeds' cursors.
    pub fn cursors(&self) -> Result<Vec<(String, String, String, Cursor)>, CacheError> {
        let connection = self.connection();
        let mut statement = connection
            .prepare(
                "SELECT gateway, host, scope, position, synced_at FROM cursors ORDER BY gateway, host, scope",
            )
            .map_err(|e| self.corrupt(e))?;
        let rows = statement
            .query_map([], |row| {
                Ok((
                    row.get(0)?,
                    row.get(1)?,
                    row.get(2)?,
                    Cursor {
                        position: row.get(3)?,
                        synced_at: row.get(4)?,
                    },
                ))
            })
            .map_err(|e| self.corrupt(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.corrupt(e))
    }
}

impl Drop for Cache {
    fn drop(&mut self) {
        // Every queued answer is committed before the cache goes.
        let writer = self.writer.get_mut().unwrap_or_else(|p| p.into_inner());
        if let Some(mut writer) = writer.take() {
            drop(writer.sender);
            if let Some(thread) = writer.thread.take() {
                let _ = thread.join();
            }
        }
    }
}

/// The writer thread: takes every queued message, commits the answers among them in one
/// transaction, then answers the flushes among them; until the channel closes.
fn write_batches(
    connection: &Connection,
    receiver: &std::sync::mpsc::Receiver<Message>,
    path: &Path,
    failed: &Mutex<Option<CacheError>>,
) {
    let corrupt = |e: &dyn fmt::Display| CacheError::Corrupt {
        path: path.to_owned(),
        detail: e.to_string(),
    };
    let mut broken = false;
    while let Ok(first) = receiver.recv() {
        let mut batch = vec![first];
        // Not blocked on the channel while it sleeps, so the senders wake nothing.
        if !matches!(batch[0], Message::Flush(_)) {
            std::thread::sleep(GATHER);
        }
        while batch.len() < BATCH {
            match receiver.try_recv() {
                Ok(message) => batch.push(message),
                Err(_) => break,
            }
        }
        let mut acks = Vec::new();
        let mut puts = Vec::new();
        for message in batch {
            match message {
                Message::Put(pending) => puts.push(pending),
                Message::Flush(ack) => acks.push(ack),
            }
        }
        if !broken
            && !puts.is_empty()
            && let Err(e) = write_batch(connection, &puts)
        {
            broken = true;
            *failed.lock().unwrap_or_else(|p| p.into_inner()) = Some(corrupt(&e));
        }
        for ack in acks {
            let _ = ack.send(());
        }
    }
}

fn write_batch(connection: &Connection, puts: &[Box<Pending>]) -> rusqlite::Result<()> {
    connection.execute_batch("BEGIN IMMEDIATE")?;
    let written = (|| {
        let mut statement = connection.prepare_cached(INSERT)?;
        for p in puts {
            let finality = p.result.finality.map_or("changing", Finality::as_str);
            // How the gateway was asked is not part of the answer: a reused answer has no
            // attempts of its own.
            let answer = CheckResult {
                attempt_log: Vec::new(),
                ..p.result.clone()
            };
            let text = serde_json::to_string(&answer)
                .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
            statement.execute(params![
                p.gateway.as_str(),
                p.host,
                p.scope,
                p.payment_id,
                text,
                p.environment.as_str(),
                p.fetched_ms,
                finality,
                p.result.final_after,
                p.rules,
            ])?;
        }
        Ok(())
    })();
    match written {
        Ok(()) => connection.execute_batch("COMMIT"),
        Err(e) => {
            let _ = connection.execute_batch("ROLLBACK");
            Err(e)
        }
    }
}

const INSERT: &str = "INSERT OR REPLACE INTO answers
     (gateway, host, scope, payment_id, result, environment, fetched_ms, finality, final_after, rules)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)";

/// Whether `result`, fetched `age` ago, may be shown on `today` instead of asking: final on
/// that day, or younger than `max_age`.
pub fn reusable(result: &CheckResult, today: time::Date, age: Duration, max_age: Duration) -> bool {
    result.is_final_on(today) || age < max_age
}

/// Creates `dir` and its parents, owner-only (an existing directory is left as it is).
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

fn create_private_file(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
        .map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::result::{Money, PaymentStatus, currency};

    fn found(id: &str, finality: Finality, final_after: Option<&str>) -> CheckResult {
        let mut result = CheckResult::new(id, Some(GatewayKind::Plaid), Outcome::Found);
        result.status = Some(PaymentStatus::Completed);
        result.amount = Some(Money::from_minor(1234, currency("USD").unwrap()));
        result.finality = Some(finality);
        result.final_after = final_after.map(str::to_owned);
        result
    }

    fn key(id: &str) -> Key<'_> {
        Key {
            gateway: GatewayKind::Plaid,
            host: "https://sandbox.plaid.com:443",
            scope: "test",
            payment_id: id,
        }
    }

    #[test]
    fn an_entry_reads_back_as_stored_and_is_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state/cache.sqlite3");
        let cache = Cache::open(&path).unwrap();
        let result = found("t1", Finality::Final, None);
        cache
            .put(&key("t1"), &result, Environment::Test, 100)
            .unwrap();
        let entry = cache.get(&key("t1")).unwrap().unwrap();
        assert_eq!(entry.result, result);
        assert_eq!(entry.environment, Environment::Test);
        assert_eq!(entry.age(160), Duration::from_millis(60));
        assert!(cache.get(&key("t2")).unwrap().is_none());
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        // Reopening keeps it; a not-found answer is never stored.
        drop(cache);
        let cache = Cache::open(&path).unwrap();
        assert!(cache.get(&key("t1")).unwrap().is_some());
        let missing = CheckResult::new("t3", Some(GatewayKind::Plaid), Outcome::NotFound);
        cache
            .put(&key("t3"), &missing, Environment::Test, 1)
            .unwrap();
        assert!(cache.get(&key("t3")).unwrap().is_none());
    }

    #[test]
    fn queued_answers_are_committed_by_a_flush_or_a_drop() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.sqlite3");
        let cache = Cache::open(&path).unwrap();
        for id in ["a", "b"] {
            let result = found(id, Finality::Final, None);
            cache
                .put_later(&key(id), &result, Environment::Live, 5)
                .unwrap();
        }
        cache.flush().unwrap();
        assert_eq!(cache.get(&key("a")).unwrap().unwrap().fetched_ms, 5);
        let result = found("c", Finality::Final, None);
        cache
            .put_later(&key("c"), &result, Environment::Live, 6)
            .unwrap();
        drop(cache);
        let cache = Cache::open(&path).unwrap();
        assert!(
            cache.get(&key("c")).unwrap().is_some(),
            "the drop waited for it"
        );
        let missing = CheckResult::new("d", Some(GatewayKind::Plaid), Outcome::NotFound);
        cache
            .put_later(&key("d"), &missing, Environment::Live, 7)
            .unwrap();
        cache.flush().unwrap();
        assert!(
            cache.get(&key("d")).unwrap().is_none(),
            "only found answers are kept"
        );
        let mut unjudged = found("e", Finality::Final, None);
        unjudged.finality = None;
        cache
            .put_later(&key("e"), &unjudged, Environment::Live, 7)
            .unwrap();
        cache.flush().unwrap();
        assert!(
            cache.get(&key("e")).unwrap().is_none(),
            "and only judged ones"
        );
        // How the gateway was asked is not kept: a reused answer has no attempts of its own.
        let mut asked = found("f", Finality::Final, None);
        asked.attempts = 1;
        asked.attempt_log.push(crate::result::AttemptRecord {
            attempt: 1,
            http_status: Some(200),
            outcome: Outcome::Found,
            error: None,
            duration_ms: 3,
            wait_ms: None,
            wait_reason: None,
        });
        cache
            .put_later(&key("f"), &asked, Environment::Live, 8)
            .unwrap();
        cache.flush().unwrap();
        assert_eq!(
            cache.get(&key("f")).unwrap().unwrap().result.attempt_log,
            []
        );
    }

    #[test]
    fn stats_count_each_gateway_and_finality_and_clear_empties_them() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(&dir.path().join("c.sqlite3")).unwrap();
        let entries = [
            found("a", Finality::Final, None),
            found("b", Finality::FinalAfter, Some("2026-01-01")),
            found("c", Finality::Changing, None),
        ];
        for (at, result) in entries.iter().enumerate() {
            let fetched = 1_000 * (at as i64 + 1);
            cache
                .put(&key(&result.payment_id), result, Environment::Test, fetched)
                .unwrap();
        }
        let stats = cache.stats().unwrap();
        let expected = GatewayStats {
            entries: 3,
            final_: 1,
            final_after: 1,
            changing: 1,
            oldest: Some(1),
            newest: Some(3),
        };
        assert_eq!(stats, vec![(GatewayKind::Plaid, expected)]);
        assert_eq!(cache.clear(Some(GatewayKind::Stripe)).unwrap(), 0);
        assert_eq!(cache.clear(Some(GatewayKind::Plaid)).unwrap(), 3);
        assert_eq!(cache.stats().unwrap(), vec![]);
    }

    #[test]
    fn an_answer_judged_by_other_rules_is_not_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.sqlite3");
        let cache = Cache::open(&path).unwrap().with_rules("0.1.0+old");
        let result = found("a", Finality::Final, None);
        cache.put(&key("a"), &result, Environment::Live, 1).unwrap();
        assert!(cache.get(&key("a")).unwrap().is_some());
        drop(cache);
        let cache = Cache::open(&path).unwrap().with_rules("0.1.0+new");
        assert!(cache.get(&key("a")).unwrap().is_none(), "asked again");
        cache.put(&key("a"), &result, Environment::Live, 2).unwrap();
        assert_eq!(cache.get(&key("a")).unwrap().unwrap().fetched_ms, 2);
    }

    #[test]
    fn debug_names_the_file_only() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(&dir.path().join("c.sqlite3")).unwrap();
        let shown = format!("{cache:?}");
        assert!(shown.starts_with("Cache { path: "), "{shown}");
        assert!(shown.contains("c.sqlite3"), "{shown}");
    }

    #[test]
    fn forgetting_unsettled_keeps_only_what_cannot_change() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(&dir.path().join("c.sqlite3")).unwrap();
        let entries = [
            ("final", found("a", Finality::Final, None)),
            ("past", found("b", Finality::FinalAfter, Some("2026-01-01"))),
            (
                "today",
                found("c", Finality::FinalAfter, Some("2026-02-01")),
            ),
            ("changing", found("d", Finality::Changing, None)),
        ];
        for (_, result) in &entries {
            cache
                .put(&key(&result.payment_id), result, Environment::Test, 1)
                .unwrap();
        }
        let feed = Feed {
            gateway: GatewayKind::Plaid,
            host: "https://sandbox.plaid.com:443",
            scope: "test",
        };
        assert_eq!(cache.forget_unsettled(&feed, "2026-02-01").unwrap(), 2);
        let kept: Vec<bool> = ["a", "b", "c", "d"]
            .iter()
            .map(|id| cache.get(&key(id)).unwrap().is_some())
            .collect();
        assert_eq!(kept, [true, true, false, false]);
        assert_eq!(cache.forget(&feed, &["a".into(), "z".into()]).unwrap(), 1);
        assert_eq!(cache.clear(None).unwrap(), 1);
    }

    #[test]
    fn a_file_that_is_not_a_cache_or_is_newer_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let garbage = dir.path().join("garbage.sqlite3");
        std::fs::write(&garbage, vec![b'x'; 8192]).unwrap();
        let error = Cache::open(&garbage).unwrap_err();
        assert!(matches!(error, CacheError::Corrupt { .. }), "{error}");
        let newer = dir.path().join("newer.sqlite3");
        let connection = Connection::open(&newer).unwrap();
        connection.execute_batch("PRAGMA user_version = 7").unwrap();
        drop(connection);
        let error = Cache::open(&newer).unwrap_err();
        assert!(
            matches!(error, CacheError::Newer { found: 7, .. }),
            "{error}"
        );
    }

    #[test]
    fn an_entry_that_does_not_match_its_key_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(&dir.path().join("c.sqlite3")).unwrap();
        let result = found("t1", Finality::Final, None);
        cache
            .put(&key("t2"), &result, Environment::Test, 1)
            .unwrap();
        assert!(matches!(
            cache.get(&key("t2")),
            Err(CacheError::Corrupt { .. })
        ));
    }

    #[test]
    fn reusable_means_final_on_the_day_or_young_enough() {
        let today = time::macros::date!(2026 - 02 - 01);
        let minute = Duration::from_secs(60);
        let changing = found("d", Finality::Changing, None);
        assert!(!reusable(&changing, today, minute, Duration::ZERO));
        assert!(reusable(&changing, today, minute, 2 * minute));
        assert!(!reusable(&changing, today, minute, minute));
        let until_today = found("c", Finality::FinalAfter, Some("2026-02-01"));
        assert!(!reusable(&until_today, today, minute, Duration::ZERO));
        let past = found("b", Finality::FinalAfter, Some("2026-01-31"));
        assert!(reusable(&past, today, minute, Duration::ZERO));
        assert!(reusable(
            &found("a", Finality::Final, None),
            today,
            minute,
            Duration::ZERO
        ));
    }
}
