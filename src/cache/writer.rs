//! Storing answers: at once ([`Cache::put`]) or through a thread of its own that commits them
//! in batches ([`Cache::put_later`]), one transaction each.

use std::fmt;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, params};

use super::{Cache, CacheError, Key, Provenance};
use crate::result::{CheckResult, Environment, Finality, GatewayKind, Outcome};

/// An answer to store, owned, on its way to the writer thread.
pub(super) struct Pending {
    rules: String,
    gateway: GatewayKind,
    host: String,
    scope: String,
    payment_id: String,
    /// The answer as stored (without how the gateway was asked).
    text: String,
    finality: &'static str,
    final_after: Option<String>,
    environment: Environment,
    fetched_ms: i64,
    /// Where the feed stood when the gateway was asked, and the seal of the row that says so:
    /// kept only if no sync has moved the feed's cursor since (else an event read by that sync
    /// could be one this answer predates).
    feed_position: Option<String>,
    seal_with_position: String,
    /// The audit line that recorded the answer.
    line_seq: Option<i64>,
    line_hash: Option<String>,
    /// The seal of the row without a feed position.
    seal: String,
}

/// An answer on its way to the writer thread, its row not built yet: the writer serializes and
/// seals it, off the threads that check.
struct Unbuilt {
    gateway: GatewayKind,
    host: String,
    scope: String,
    payment_id: String,
    result: CheckResult,
    environment: Environment,
    fetched_ms: i64,
    feed_position: Option<String>,
    line: Option<(u64, String)>,
}

impl Unbuilt {
    fn build(&self, seal: &super::Seal, rules: &str) -> Option<Box<Pending>> {
        let key = Key {
            gateway: self.gateway,
            host: &self.host,
            scope: &self.scope,
            payment_id: &self.payment_id,
        };
        let provenance = Provenance {
            fetched_ms: self.fetched_ms,
            feed_position: self.feed_position.as_deref(),
            line: self.line.as_ref().map(|(seq, hash)| (*seq, hash.as_str())),
        };
        pending(
            seal,
            rules,
            &key,
            &self.result,
            self.environment,
            provenance,
        )
    }
}

enum Message {
    Put(Box<Unbuilt>),
    /// Answered once every message before it is committed.
    Flush(std::sync::mpsc::Sender<()>),
}

/// A thread with its own connection that writes queued answers in batches, one transaction
/// each: a bulk run's writes cost its checks a channel send, not a commit.
pub(super) struct Writer {
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

impl Cache {
    /// Stores `result` (a found payment, as the gateway's answer made it) for `key`, replacing
    /// any entry, fetched at `fetched_ms` (unix milliseconds) from a system of `environment`.
    pub fn put(
        &self,
        key: &Key<'_>,
        result: &CheckResult,
        environment: Environment,
        provenance: Provenance<'_>,
    ) -> Result<(), CacheError> {
        let Some(pending) = self.pending(key, result, environment, provenance) else {
            return Ok(());
        };
        write_batch(&self.connection(), &[pending]).map_err(|e| self.corrupt(e))
    }

    /// What storing `result` means, owned; none for an answer that is not kept (no payment, or
    /// no finality judged).
    pub(super) fn pending(
        &self,
        key: &Key<'_>,
        result: &CheckResult,
        environment: Environment,
        provenance: Provenance<'_>,
    ) -> Option<Box<Pending>> {
        pending(
            &self.seal,
            &self.rules,
            key,
            result,
            environment,
            provenance,
        )
    }

    /// Queues `result` to be stored like [`Cache::put`] does, by a writer thread that commits
    /// queued answers in batches. [`Cache::flush`] waits for them (dropping the cache does too);
    /// until then a lookup may not see them yet.
    pub fn put_later(
        &self,
        key: &Key<'_>,
        result: &CheckResult,
        environment: Environment,
        provenance: Provenance<'_>,
    ) -> Result<(), CacheError> {
        if result.outcome != Outcome::Found || result.finality.is_none() {
            return Ok(());
        }
        let unbuilt = Box::new(Unbuilt {
            gateway: key.gateway,
            host: key.host.to_owned(),
            scope: key.scope.to_owned(),
            payment_id: key.payment_id.to_owned(),
            result: result.clone(),
            environment,
            fetched_ms: provenance.fetched_ms,
            feed_position: provenance.feed_position.map(str::to_owned),
            line: provenance.line.map(|(seq, hash)| (seq, hash.to_owned())),
        });
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
            .send(Message::Put(unbuilt))
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
        let (seal, rules) = (std::sync::Arc::clone(&self.seal), self.rules.clone());
        let thread = std::thread::Builder::new()
            .name("paystat-cache".into())
            .spawn(move || {
                write_batches(&connection, &receiver, &path, &failure, (&seal, &rules));
            })
            .map_err(|e| self.corrupt(e))?;
        Ok(Writer {
            sender,
            thread: Some(thread),
            failed,
        })
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
    (seal, rules): (&super::Seal, &str),
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
                Message::Put(unbuilt) => puts.extend(unbuilt.build(seal, rules)),
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

impl Pending {
    /// Runs [`INSERT`] (prepared as `statement`) for this answer.
    pub(super) fn insert(
        &self,
        statement: &mut rusqlite::CachedStatement<'_>,
    ) -> rusqlite::Result<usize> {
        statement.execute(params![
            self.gateway.as_str(),
            self.host,
            self.scope,
            self.payment_id,
            self.text,
            self.environment.as_str(),
            self.fetched_ms,
            self.finality,
            self.final_after,
            self.rules,
            self.seal,
            self.feed_position,
            self.seal_with_position,
            self.line_seq,
            self.line_hash,
        ])
    }
}

fn write_batch(connection: &Connection, puts: &[Box<Pending>]) -> rusqlite::Result<()> {
    connection.execute_batch("BEGIN IMMEDIATE")?;
    let written = (|| {
        let mut statement = connection.prepare_cached(INSERT)?;
        for p in puts {
            p.insert(&mut statement)?;
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

/// The feed position is kept, with its seal, only while the feed's cursor is still there: a
/// sync since the gateway was asked may have read (and dropped nothing for) an event this
/// answer predates.
pub(super) const INSERT: &str = "INSERT OR REPLACE INTO answers
     (gateway, host, scope, payment_id, result, environment, fetched_ms, finality, final_after, rules, seal, feed_position, line_seq, line_hash)
     SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10,
            CASE WHEN kept THEN ?13 ELSE ?11 END, CASE WHEN kept THEN ?12 END, ?14, ?15
     FROM (SELECT ?12 IS NOT NULL AND EXISTS (
              SELECT 1 FROM cursors WHERE gateway = ?1 AND host = ?2 AND scope = ?3 AND position = ?12
           ) AS kept)";

/// What storing `result` means, owned, its row sealed with `seal` under `rules`; none for an
/// answer that is not kept (no payment, or no finality judged).
fn pending(
    seal: &super::Seal,
    rules: &str,
    key: &Key<'_>,
    result: &CheckResult,
    environment: Environment,
    provenance: Provenance<'_>,
) -> Option<Box<Pending>> {
    let Provenance {
        fetched_ms,
        feed_position,
        line,
    } = provenance;
    if result.outcome != Outcome::Found || result.finality.is_none() {
        return None;
    }
    // How the gateway was asked is not part of the answer: a reused answer has no attempts
    // of its own.
    let answer = CheckResult {
        attempt_log: Vec::new(),
        ..result.clone()
    };
    let text = serde_json::to_string(&answer).ok()?;
    let seal_for = |feed_position| {
        super::seal_row(
            seal,
            key,
            environment.as_str(),
            rules,
            &text,
            Provenance {
                fetched_ms,
                feed_position,
                line,
            },
        )
    };
    let seal = seal_for(None);
    let seal_with_position = feed_position.map(|p| seal_for(Some(p))).unwrap_or_default();
    Some(Box::new(Pending {
        rules: rules.to_owned(),
        gateway: key.gateway,
        host: key.host.to_owned(),
        scope: key.scope.to_owned(),
        payment_id: key.payment_id.to_owned(),
        text,
        finality: result.finality.map_or("changing", Finality::as_str),
        final_after: result.final_after.clone(),
        environment,
        fetched_ms,
        feed_position: feed_position.map(str::to_owned),
        seal_with_position,
        line_seq: line.and_then(|(seq, _)| i64::try_from(seq).ok()),
        line_hash: line.map(|(_, hash)| hash.to_owned()),
        seal,
    }))
}
