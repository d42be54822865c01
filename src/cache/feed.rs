//! What the change feeds do to the cache: their cursors, and the entries they make paystat
//! forget.

use rusqlite::{OptionalExtension, params};

use super::{Cache, CacheError, Cursor, Feed};
use crate::result::GatewayKind;

impl Cache {
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

    /// Drops every entry (of `gateway` only, when given) and, with them, the feeds' cursors and
    /// the fills.
    pub fn clear(&self, gateway: Option<GatewayKind>) -> Result<u64, CacheError> {
        let mut connection = self.connection();
        let tx = connection.transaction().map_err(|e| self.corrupt(e))?;
        let dropped = match gateway {
            Some(g) => {
                tx.execute("DELETE FROM cursors WHERE gateway = ?1", [g.as_str()])
                    .map_err(|e| self.corrupt(e))?;
                tx.execute(
                    "DELETE FROM fill_members WHERE fill IN (SELECT id FROM fills WHERE gateway = ?1)",
                    [g.as_str()],
                )
                .map_err(|e| self.corrupt(e))?;
                tx.execute("DELETE FROM fills WHERE gateway = ?1", [g.as_str()])
                    .map_err(|e| self.corrupt(e))?;
                tx.execute("DELETE FROM answers WHERE gateway = ?1", [g.as_str()])
                    .map_err(|e| self.corrupt(e))?
            }
            None => {
                tx.execute("DELETE FROM cursors", [])
                    .map_err(|e| self.corrupt(e))?;
                tx.execute_batch("DELETE FROM fill_members; DELETE FROM fills;")
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
                "SELECT position, synced_at, since FROM cursors WHERE gateway = ?1 AND host = ?2 AND scope = ?3",
                params![feed.gateway.as_str(), feed.host, feed.scope],
                |row| {
                    Ok(Cursor {
                        position: row.get(0)?,
                        synced_at: row.get(1)?,
                        since: row.get(2)?,
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
                "INSERT OR REPLACE INTO cursors (gateway, host, scope, position, synced_at, since)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    feed.gateway.as_str(),
                    feed.host,
                    feed.scope,
                    cursor.position,
                    cursor.synced_at,
                    cursor.since
                ],
            )
            .map_err(|e| self.corrupt(e))?;
        Ok(())
    }

    /// The feeds' cursors.
    pub fn cursors(&self) -> Result<Vec<(String, String, String, Cursor)>, CacheError> {
        let connection = self.connection();
        let mut statement = connection
            .prepare(
                "SELECT gateway, host, scope, position, synced_at, since FROM cursors ORDER BY gateway, host, scope",
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
                        since: row.get(5)?,
                    },
                ))
            })
            .map_err(|e| self.corrupt(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.corrupt(e))
    }
}
