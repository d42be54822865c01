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

//!
//! Its rooms: [`schema`] (the file, its tables and their version), [`read`] (entries and
//! counts), [`writer`] (the thread that stores answers in batches), [`feed`] (the change feeds'
//! cursors and what they make paystat forget), [`policy`] (when an entry may be reused).

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use crate::ownership::create_private_dir;
use crate::result::{CheckResult, Environment, GatewayKind};
use schema::create_private_file;

mod feed;
mod fill;
mod policy;
mod read;
mod schema;
mod writer;

pub use fill::{FillState, Listed};
pub use policy::{Followed, position_after, reusable};
pub use schema::{FILE_NAME, SCHEMA_VERSION};
use writer::Writer;

/// Why the cache could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CacheError {
    /// The cache or its directory is not its user's alone: another user could forge answers.
    #[error(transparent)]
    NotPrivate(#[from] crate::ownership::NotPrivate),
    /// A row does not match its seal: it was changed after paystat stored it (or sealed with
    /// another key). It is a miss, never an answer.
    #[error(
        "the status cache's entry of payment {payment_id} does not match its seal: it was changed after paystat stored it, or sealed with another audit key"
    )]
    SealBroken {
        /// The payment, as a line may show it.
        payment_id: String,
    },
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
    /// Where the gateway's change feed stood when it was asked, when the feed was followed
    /// then and no sync moved it before the answer was stored.
    pub feed_position: Option<String>,
    /// The audit line that recorded the gateway's answer: its `seq` and hash.
    pub line: Option<(u64, String)>,
}

/// Where a stored answer came from: when it was fetched (unix milliseconds), where the
/// gateway's feed stood when it was asked, and the audit line that recorded it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Provenance<'a> {
    /// When the gateway answered, unix milliseconds.
    pub fetched_ms: i64,
    /// The feed's position before the gateway was asked, when the run followed the feed.
    pub feed_position: Option<&'a str>,
    /// The `seq` and hash of the audit line that recorded the answer.
    pub line: Option<(u64, &'a str)>,
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
    /// The position from which the feed has been read without a gap (set when a sync starts
    /// afresh; kept while syncs continue from the cursor).
    pub since: Option<String>,
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

/// How a row is sealed.
type Seal = std::sync::Arc<dyn Fn(&[u8]) -> String + Send + Sync>;

/// The status cache.
pub struct Cache {
    path: PathBuf,
    /// The rules the answers are read by (see [`Cache::with_rules`]); an entry stored under
    /// other rules is not reused.
    rules: String,
    connection: Mutex<Connection>,
    /// This file's random salt (hex) for credential fingerprints.
    salt: Mutex<String>,
    /// How rows are sealed: plain SHA-256, or the audit trail's keyed hash.
    seal: Seal,
    /// The writer thread of [`Cache::put_later`], started at its first use.
    writer: Mutex<Option<Writer>>,
}

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
            crate::ownership::check("the state directory", dir)?;
        }
        // A cache another user can write would serve that user's forged answers.
        crate::ownership::check_no_link("the status cache", path)?;
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
            salt: Mutex::new(String::new()),
            seal: std::sync::Arc::new(|bytes: &[u8]| crate::result::sha256_hex(bytes)),
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

    /// Seals rows with `seal` (the audit trail's hash: HMAC-SHA-256 with the audit key when
    /// there is one) instead of plain SHA-256. A row written under another seal is a miss.
    pub fn with_seal(mut self, seal: impl Fn(&[u8]) -> String + Send + Sync + 'static) -> Cache {
        self.seal = std::sync::Arc::new(seal);
        self
    }

    /// The fingerprint of a credential in this cache: HMAC-SHA-256 under the file's own random
    /// salt of `digest` (a digest of the credential, made by the gateway's configuration; having
    /// none is a digest of its own), cut to 16 hex digits. Keys carry it, so answers obtained
    /// with one credential are reused only by runs configured with the same one; the file holds
    /// neither the credential nor an unsalted digest of it.
    pub fn credential_fingerprint(&self, digest: &[u8]) -> String {
        use hmac::{Hmac, Mac};
        let salt = self.salt.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(salt.as_bytes())
            .expect("HMAC takes a key of any length");
        mac.update(digest);
        let bytes = mac.finalize().into_bytes();
        crate::result::hex(&bytes[..8])
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
}

/// The seal of a row under `seal`: every column that makes the answer, in one fixed order.
fn seal_row(
    seal: &Seal,
    key: &Key<'_>,
    environment: &str,
    rules: &str,
    text: &str,
    provenance: Provenance<'_>,
) -> String {
    let Provenance {
        fetched_ms,
        feed_position,
        line,
    } = provenance;
    let line = line.map_or("-".to_owned(), |(seq, hash)| format!("{seq} {hash}"));
    let row = format!(
        "paystat cache row\n{}\n{}\n{}\n{}\n{environment}\n{fetched_ms}\n{rules}\n{}\n{line}\n{text}",
        key.gateway.as_str(),
        key.host,
        key.scope,
        key.payment_id,
        feed_position.unwrap_or("-"),
    );
    seal(row.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fetched at `ms`, with no feed position and no audit line.
    fn fetched_at(ms: i64) -> Provenance<'static> {
        Provenance {
            fetched_ms: ms,
            ..Provenance::default()
        }
    }
    use crate::result::{Finality, Money, Outcome, PaymentStatus, currency};

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
            .put(&key("t1"), &result, Environment::Test, fetched_at(100))
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
            .put(&key("t3"), &missing, Environment::Test, fetched_at(1))
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
                .put_later(&key(id), &result, Environment::Live, fetched_at(5))
                .unwrap();
        }
        cache.flush().unwrap();
        assert_eq!(cache.get(&key("a")).unwrap().unwrap().fetched_ms, 5);
        let result = found("c", Finality::Final, None);
        cache
            .put_later(&key("c"), &result, Environment::Live, fetched_at(6))
            .unwrap();
        drop(cache);
        let cache = Cache::open(&path).unwrap();
        assert!(
            cache.get(&key("c")).unwrap().is_some(),
            "the drop waited for it"
        );
        let missing = CheckResult::new("d", Some(GatewayKind::Plaid), Outcome::NotFound);
        cache
            .put_later(&key("d"), &missing, Environment::Live, fetched_at(7))
            .unwrap();
        cache.flush().unwrap();
        assert!(
            cache.get(&key("d")).unwrap().is_none(),
            "only found answers are kept"
        );
        let mut unjudged = found("e", Finality::Final, None);
        unjudged.finality = None;
        cache
            .put_later(&key("e"), &unjudged, Environment::Live, fetched_at(7))
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
            .put_later(&key("f"), &asked, Environment::Live, fetched_at(8))
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
                .put(
                    &key(&result.payment_id),
                    result,
                    Environment::Test,
                    fetched_at(fetched),
                )
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
        cache
            .put(&key("a"), &result, Environment::Live, fetched_at(1))
            .unwrap();
        assert!(cache.get(&key("a")).unwrap().is_some());
        drop(cache);
        let cache = Cache::open(&path).unwrap().with_rules("0.1.0+new");
        assert!(cache.get(&key("a")).unwrap().is_none(), "asked again");
        cache
            .put(&key("a"), &result, Environment::Live, fetched_at(2))
            .unwrap();
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
                .put(
                    &key(&result.payment_id),
                    result,
                    Environment::Test,
                    fetched_at(1),
                )
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
            .put(&key("t2"), &result, Environment::Test, fetched_at(1))
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
        assert!(!reusable(
            &changing,
            today,
            minute,
            Duration::ZERO,
            None,
            None
        ));
        assert!(reusable(&changing, today, minute, 2 * minute, None, None));
        assert!(!reusable(&changing, today, minute, minute, None, None));
        let until_today = found("c", Finality::FinalAfter, Some("2026-02-01"));
        assert!(!reusable(
            &until_today,
            today,
            minute,
            Duration::ZERO,
            None,
            None
        ));
        let past = found("b", Finality::FinalAfter, Some("2026-01-31"));
        assert!(reusable(&past, today, minute, Duration::ZERO, None, None));
        assert!(reusable(
            &found("a", Finality::Final, None),
            today,
            minute,
            Duration::ZERO,
            None,
            None
        ));
    }
}
