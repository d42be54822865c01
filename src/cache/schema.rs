//! The cache's file and schema: created owner-only, set to write-ahead logging, its tables
//! created or checked, its version compared with the one this paystat writes.

use std::path::Path;
use std::time::Duration;

use rusqlite::Connection;

use super::{Cache, CacheError};

/// How many times opening the cache is tried while other processes hold it (about 2 s).
const OPEN_TRIES: u32 = 60;

/// Why one attempt to set the cache up did not finish.
enum Prepare {
    /// Another process holds the database for a moment: try again.
    Busy(String),
    /// It cannot be used.
    Failed(CacheError),
}

/// The schema this paystat writes (SQLite's `user_version`). Version 2 added the salt that
/// fingerprints credentials and each row's seal; version 3 the feed position each answer was
/// stored at, the audit line that recorded it, and the position each feed has been followed
/// from without a gap; version 4 the fills (which windows of a gateway's list were read, how far,
/// and the payments they listed). A cache older than version 3 is emptied on opening (its
/// entries carry neither, so no run could prove it may reuse them); one of version 3 keeps its
/// entries and gains the fills' tables.
pub const SCHEMA_VERSION: i64 = 4;

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
    rules       TEXT    NOT NULL,
    seal        TEXT,
    feed_position TEXT,
    line_seq    INTEGER,
    line_hash   TEXT
);
CREATE UNIQUE INDEX answers_key ON answers (gateway, host, scope, payment_id);
CREATE TABLE cursors (
    gateway   TEXT    NOT NULL,
    host      TEXT    NOT NULL,
    scope     TEXT    NOT NULL,
    position  TEXT    NOT NULL,
    synced_at INTEGER NOT NULL,
    since     TEXT,
    PRIMARY KEY (gateway, host, scope)
) WITHOUT ROWID;
";

/// What version 2 adds: the salt of the credential fingerprints, random per cache file.
const META: &str = "
CREATE TABLE meta (
    key   TEXT NOT NULL PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;
INSERT INTO meta (key, value) VALUES ('salt', lower(hex(randomblob(32))));
";

impl Cache {
    /// Sets the connection up and creates or checks the schema.
    pub(super) fn prepare(&self) -> Result<(), CacheError> {
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
        if version < SCHEMA_VERSION {
            let tx = connection
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(fail)?;
            // Another process may have created it meanwhile.
            let version: i64 = tx
                .query_row("PRAGMA user_version", [], |row| row.get(0))
                .map_err(fail)?;
            if version == 0 {
                tx.execute_batch(SCHEMA).map_err(fail)?;
            }
            if version == 1 {
                // Its rows carry neither a credential's fingerprint nor a seal.
                tx.execute_batch(
                    "DELETE FROM answers; DELETE FROM cursors; ALTER TABLE answers ADD COLUMN seal TEXT;",
                )
                .map_err(fail)?;
            }
            if version < 2 {
                tx.execute_batch(META).map_err(fail)?;
            }
            if version == 1 || version == 2 {
                // Its rows do not say where the feed stood when they were stored.
                tx.execute_batch(
                    "DELETE FROM answers; DELETE FROM cursors;
                     ALTER TABLE answers ADD COLUMN feed_position TEXT;
                     ALTER TABLE answers ADD COLUMN line_seq INTEGER;
                     ALTER TABLE answers ADD COLUMN line_hash TEXT;
                     ALTER TABLE cursors ADD COLUMN since TEXT;",
                )
                .map_err(fail)?;
            }
            if version < 4 {
                tx.execute_batch(super::fill::FILLS).map_err(fail)?;
            }
            if version < SCHEMA_VERSION {
                tx.execute_batch(&format!("PRAGMA user_version = {SCHEMA_VERSION}"))
                    .map_err(fail)?;
            }
            tx.commit().map_err(fail)?;
        }
        let tables: i64 = connection
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN ('answers', 'cursors', 'meta', 'fills', 'fill_members')",
                [],
                |row| row.get(0),
            )
            .map_err(fail)?;
        if tables != 5 {
            return Err(Prepare::Failed(self.corrupt("its tables are missing")));
        }
        let salt: String = connection
            .query_row("SELECT value FROM meta WHERE key = 'salt'", [], |row| {
                row.get(0)
            })
            .map_err(fail)?;
        if salt.len() != 64 {
            return Err(Prepare::Failed(self.corrupt("its salt is not 32 bytes")));
        }
        *self.salt.lock().unwrap_or_else(|p| p.into_inner()) = salt;
        Ok(())
    }
}

pub(super) fn create_private_file(path: &Path) -> std::io::Result<()> {
    crate::ownership::create_private(path, false).map(drop)
}
