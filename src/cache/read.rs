//! Reading the cache: one entry whole, or counts by gateway.

use rusqlite::{OptionalExtension, params};

use super::{Cache, CacheError, Entry, Feed, GatewayStats, Key, Provenance};
use crate::result::{CheckResult, Environment, GatewayKind, Outcome};

impl Cache {
    /// The entry for `key`, if any.
    pub fn get(&self, key: &Key<'_>) -> Result<Option<Entry>, CacheError> {
        let connection = self.connection();
        let mut statement = connection
            .prepare_cached(
                "SELECT result, environment, fetched_ms, finality, final_after, rules, seal, feed_position, line_seq, line_hash FROM answers
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
                        row.get::<_, Option<String>>(6)?,
                        row.get::<_, Option<String>>(7)?,
                        row.get::<_, Option<i64>>(8)?,
                        row.get::<_, Option<String>>(9)?,
                    ))
                },
            )
            .optional()
            .map_err(|e| self.corrupt(e))?;
        let Some((
            text,
            environment,
            fetched_ms,
            finality,
            final_after,
            rules,
            seal,
            feed_position,
            line_seq,
            line_hash,
        )) = row
        else {
            return Ok(None);
        };
        if rules != self.rules {
            return Ok(None);
        }
        let line = match (line_seq.and_then(|s| u64::try_from(s).ok()), line_hash) {
            (Some(seq), Some(hash)) => Some((seq, hash)),
            _ => None,
        };
        // A row is what paystat stored, or nothing: an edit, a row sealed with another key.
        let expected = super::seal_row(
            &self.seal,
            key,
            &environment,
            &rules,
            &text,
            Provenance {
                fetched_ms,
                feed_position: feed_position.as_deref(),
                line: line.as_ref().map(|(seq, hash)| (*seq, hash.as_str())),
            },
        );
        if seal.as_deref() != Some(expected.as_str()) {
            return Err(CacheError::SealBroken {
                payment_id: crate::result::kept_id(key.payment_id).into_owned(),
            });
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
            feed_position,
            line,
        }))
    }

    /// Whether any answer is stored under `feed`'s gateway, host and scope.
    pub fn holds_any(&self, feed: &Feed<'_>) -> Result<bool, CacheError> {
        self.connection()
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM answers WHERE gateway = ?1 AND host = ?2 AND scope = ?3)",
                params![feed.gateway.as_str(), feed.host, feed.scope],
                |row| row.get(0),
            )
            .map_err(|e| self.corrupt(e))
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
}
