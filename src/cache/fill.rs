//! A fill's place in the cache: which windows of which gateway's list were read, how far, and
//! which payments they listed. A fill's pages are stored each in one transaction — the answers,
//! the payments listed and where the list stands — so an interrupted fill resumes from the page
//! after the last one stored.

use rusqlite::{OptionalExtension, params};

use super::writer::{INSERT, Pending};
use super::{Cache, CacheError, Feed, Key, Provenance};
use crate::result::{CheckResult, Environment};

/// The tables of fills (schema version 4).
pub(super) const FILLS: &str = "
CREATE TABLE IF NOT EXISTS fills (
    id          INTEGER PRIMARY KEY,
    gateway     TEXT    NOT NULL,
    host        TEXT    NOT NULL,
    scope       TEXT    NOT NULL,
    since       INTEGER NOT NULL,
    until       INTEGER NOT NULL,
    started_at  INTEGER NOT NULL,
    finished_at INTEGER,
    resume      TEXT,
    pages       INTEGER NOT NULL DEFAULT 0,
    listed      INTEGER NOT NULL DEFAULT 0,
    UNIQUE (gateway, host, scope, since, until)
);
CREATE TABLE IF NOT EXISTS fill_members (
    fill       INTEGER NOT NULL,
    payment_id TEXT    NOT NULL,
    PRIMARY KEY (fill, payment_id)
) WITHOUT ROWID;
";

/// A window of a gateway's list, as far as it was read into the cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FillState {
    /// Its row.
    pub id: i64,
    /// When the fill (or the refill) started, unix seconds.
    pub started_at: i64,
    /// When it read the list to its end, unix seconds; `None` while it has not.
    pub finished_at: Option<i64>,
    /// Where the list of payments continues (the lister's resume point).
    pub resume: Option<String>,
    /// Pages stored.
    pub pages: u64,
    /// Payments listed (a payment listed twice counts once).
    pub listed: u64,
}

/// An answer a page listed, to store.
pub struct Listed<'a> {
    /// The payment.
    pub payment_id: &'a str,
    /// Its answer, when the page had one paystat could read whole (found).
    pub result: Option<&'a CheckResult>,
}

impl Cache {
    /// The fill of `[since, until)` (unix seconds) under `feed`, if one was started.
    pub fn fill(
        &self,
        feed: &Feed<'_>,
        (since, until): (i64, i64),
    ) -> Result<Option<FillState>, CacheError> {
        self.connection()
            .query_row(
                "SELECT id, started_at, finished_at, resume, pages, listed FROM fills
                 WHERE gateway = ?1 AND host = ?2 AND scope = ?3 AND since = ?4 AND until = ?5",
                params![feed.gateway.as_str(), feed.host, feed.scope, since, until],
                |row| {
                    Ok(FillState {
                        id: row.get(0)?,
                        started_at: row.get(1)?,
                        finished_at: row.get(2)?,
                        resume: row.get(3)?,
                        pages: row.get::<_, i64>(4)? as u64,
                        listed: row.get::<_, i64>(5)? as u64,
                    })
                },
            )
            .optional()
            .map_err(|e| self.corrupt(e))
    }

    /// Starts the fill of `[since, until)` afresh at `now` (unix seconds): a fill of the same
    /// window before it is forgotten, with the payments it listed.
    pub fn start_fill(
        &self,
        feed: &Feed<'_>,
        (since, until): (i64, i64),
        now: i64,
    ) -> Result<FillState, CacheError> {
        let mut connection = self.connection();
        let tx = connection.transaction().map_err(|e| self.corrupt(e))?;
        tx.execute(
            "DELETE FROM fill_members WHERE fill IN (SELECT id FROM fills
                 WHERE gateway = ?1 AND host = ?2 AND scope = ?3 AND since = ?4 AND until = ?5)",
            params![feed.gateway.as_str(), feed.host, feed.scope, since, until],
        )
        .map_err(|e| self.corrupt(e))?;
        tx.execute(
            "DELETE FROM fills WHERE gateway = ?1 AND host = ?2 AND scope = ?3 AND since = ?4 AND until = ?5",
            params![feed.gateway.as_str(), feed.host, feed.scope, since, until],
        )
        .map_err(|e| self.corrupt(e))?;
        tx.execute(
            "INSERT INTO fills (gateway, host, scope, since, until, started_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![feed.gateway.as_str(), feed.host, feed.scope, since, until, now],
        )
        .map_err(|e| self.corrupt(e))?;
        let id = tx.last_insert_rowid();
        tx.commit().map_err(|e| self.corrupt(e))?;
        Ok(FillState {
            id,
            started_at: now,
            finished_at: None,
            resume: None,
            pages: 0,
            listed: 0,
        })
    }

    /// Stores one page of fill `fill` in one transaction: the found answers `listed` (under
    /// `feed`, from a system of `environment`, recorded by the audit line in `provenance`), the
    /// payments listed, and where the list continues (`resume`); `done` when the list is read
    /// to its end, which finishes the fill at `provenance.fetched_ms`. Returns the fill as it
    /// stands.
    pub fn store_page(
        &self,
        fill: &FillState,
        feed: &Feed<'_>,
        environment: Environment,
        provenance: Provenance<'_>,
        listed: &[Listed<'_>],
        (resume, done): (Option<&str>, bool),
    ) -> Result<FillState, CacheError> {
        let pending: Vec<Box<Pending>> = listed
            .iter()
            .filter_map(|l| {
                let key = Key {
                    gateway: feed.gateway,
                    host: feed.host,
                    scope: feed.scope,
                    payment_id: l.payment_id,
                };
                self.pending(&key, l.result?, environment, provenance)
            })
            .collect();
        let finished = done.then_some(provenance.fetched_ms.div_euclid(1000));
        let mut connection = self.connection();
        let tx = connection
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|e| self.corrupt(e))?;
        let mut added = 0_u64;
        {
            let mut insert = tx.prepare_cached(INSERT).map_err(|e| self.corrupt(e))?;
            for p in &pending {
                p.insert(&mut insert).map_err(|e| self.corrupt(e))?;
            }
            let mut member = tx
                .prepare_cached(
                    "INSERT OR IGNORE INTO fill_members (fill, payment_id) VALUES (?1, ?2)",
                )
                .map_err(|e| self.corrupt(e))?;
            for l in listed {
                added += member
                    .execute(params![fill.id, l.payment_id])
                    .map_err(|e| self.corrupt(e))? as u64;
            }
        }
        tx.execute(
            "UPDATE fills SET resume = ?2, pages = pages + 1, listed = listed + ?3, finished_at = ?4 WHERE id = ?1",
            params![fill.id, resume, added as i64, finished],
        )
        .map_err(|e| self.corrupt(e))?;
        tx.commit().map_err(|e| self.corrupt(e))?;
        Ok(FillState {
            resume: resume.map(str::to_owned),
            pages: fill.pages + 1,
            listed: fill.listed + added,
            finished_at: finished,
            ..fill.clone()
        })
    }

    /// The payments fill `fill` listed, in id order.
    pub fn fill_members(&self, fill: &FillState) -> Result<Vec<String>, CacheError> {
        let connection = self.connection();
        let mut statement = connection
            .prepare_cached(
                "SELECT payment_id FROM fill_members WHERE fill = ?1 ORDER BY payment_id",
            )
            .map_err(|e| self.corrupt(e))?;
        let rows = statement
            .query_map([fill.id], |row| row.get::<_, String>(0))
            .map_err(|e| self.corrupt(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.corrupt(e))
    }
}
