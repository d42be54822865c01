//! Appending lines: a check hands its line in and lets the other checks ready at that moment
//! hand in theirs; the first of them to resume appends them all under one lock, in one
//! `write`, each line chained after the one before and written whole by one serializer.

use std::borrow::Cow;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use time::OffsetDateTime;

use super::durable::Mark;
use super::files::Location;
use super::line::{
    Asked, AuditRecord, Caller, EVENT_CACHE_REJECTED, EVENT_HALTED, EVENT_STATUS_CHECK, Envelope,
    LineRef, Note, timestamp_of,
};
use super::open::{AppendLock, BUFFER_KEPT, Writer, open_file};
use super::sync::Syncer;
use super::{AuditError, AuditTrail, Head, chain};
use crate::result::CheckResult;

/// A line written but perhaps not yet on disk: await [`Written::durable`] before showing its answer.
#[derive(Debug)]
#[must_use = "a line is durable only once `durable` has returned"]
pub struct Written {
    wait: Option<(Arc<Syncer>, u64)>,
    path: Arc<Path>,
    line: LineRef,
}

impl Written {
    /// The line written: its place in the chain and its hash.
    pub fn line(&self) -> &LineRef {
        &self.line
    }

    /// Returns once the line is as durable as the trail promises (at once for `sync = "os"`).
    pub async fn durable(self) -> Result<(), AuditError> {
        match self.wait {
            Some((syncer, seq)) => syncer
                .durable(seq)
                .await
                .map_err(|reason| AuditError::Sync {
                    path: self.path.to_path_buf(),
                    reason,
                }),
            None => Ok(()),
        }
    }
}

/// Lines handed to [`AuditTrail::write`] and not yet appended, and how the appended ones
/// ended until each check takes its own outcome.
#[derive(Debug, Default)]
pub(super) struct Queue {
    /// The last ticket given to a line.
    issued: u64,
    /// The ticket of `waiting[0]`.
    first_waiting: u64,
    /// The checks whose lines wait to be appended.
    waiting: Vec<Pending>,
    /// Appended lines by ticket: their append, and their place in it.
    done: std::collections::HashMap<u64, (Arc<Batch>, u64)>,
}

/// How one append of one or more lines ended.
#[derive(Debug)]
struct Batch {
    /// The file's syncer, when lines are synced to disk.
    syncer: Option<Arc<Syncer>>,
    /// The syncer's number for the first line kept.
    first_seq: Option<u64>,
    /// How many of the lines, from the first, are whole in the file.
    kept: u64,
    /// The chain's `seq` of the first line.
    first_chained: u64,
    /// The hashes of the lines kept, in order.
    hashes: Vec<String>,
    /// Why the others are not.
    error: Option<AuditError>,
}

impl Batch {
    /// An append that kept no line.
    fn failed(error: AuditError) -> Batch {
        Batch {
            syncer: None,
            first_seq: None,
            kept: 0,
            first_chained: 0,
            hashes: Vec::new(),
            error: Some(error),
        }
    }
}

/// A check whose line waits to be appended: what it asked and concluded. Its envelope (place
/// in the chain, time) is known only under the append's lock.
#[derive(Debug)]
struct Pending {
    result: CheckResult,
    asked: Asked,
}

impl AuditTrail {
    /// Appends one line for the check `result`, which asked as `asked` says, and returns once
    /// the line is as durable as the trail promises: on disk by default, sharing one sync with
    /// the lines of concurrent checks.
    pub async fn record(&self, result: &CheckResult, asked: &Asked) -> Result<(), AuditError> {
        self.write(result, asked).await?.durable().await
    }

    /// Appends one line for the check `result`; the answer may be shown only after
    /// [`Written::durable`]. A bulk run writes the next checks' lines meanwhile, so one sync
    /// covers many lines without holding up the requests.
    ///
    /// The line is handed in, then this check lets the other checks that are ready at this
    /// moment (on this thread's runtime) hand in theirs: the first of them to resume appends
    /// every line handed in, under one lock, in one `write`. Returns once this check's line is
    /// in the file, or with the reason it is not (then none of the lines after it are either).
    pub async fn write(&self, result: &CheckResult, asked: &Asked) -> Result<Written, AuditError> {
        let pending = Pending {
            result: result.clone(),
            asked: asked.clone(),
        };
        let ticket = {
            let mut queue = self.queue.lock().unwrap_or_else(|p| p.into_inner());
            if queue.waiting.is_empty() {
                queue.first_waiting = queue.issued + 1;
            }
            queue.issued += 1;
            queue.waiting.push(pending);
            queue.issued
        };
        tokio::task::yield_now().await;
        self.appended(ticket)
    }

    /// The outcome of the line with `ticket`: taken from the append that wrote it, or, when it
    /// still waits, by appending it with every other line waiting.
    fn appended(&self, ticket: u64) -> Result<Written, AuditError> {
        let queue = || self.queue.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((batch, index)) = queue().done.remove(&ticket) {
            return self.written(&batch, index);
        }
        // A poisoned lock only means another check panicked mid-write; the file is still usable.
        let mut writer = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        // Another thread may have appended it while this one waited for the writer.
        let (first, lines) = {
            let mut queue = queue();
            if let Some((batch, index)) = queue.done.remove(&ticket) {
                drop(queue);
                drop(writer);
                return self.written(&batch, index);
            }
            (queue.first_waiting, std::mem::take(&mut queue.waiting))
        };
        // Every ticket is either waiting or done, so this line is among those taken; were it
        // not, the others would still be written, and this check would not be shown.
        let own = ticket
            .checked_sub(first)
            .filter(|&i| i < lines.len() as u64);
        if lines.is_empty() {
            return Err(AuditError::Halted);
        }
        let batch =
            Arc::new(
                self.append(&mut writer, lines.len(), |i, seq, prev, timestamp, out| {
                    self.check_line(&lines[i], seq, prev, timestamp, out);
                }),
            );
        // The other checks find their outcome before the writer is free again.
        {
            let mut queue = queue();
            for i in (0..lines.len() as u64).filter(|&i| Some(i) != own) {
                queue.done.insert(first + i, (Arc::clone(&batch), i));
            }
        }
        drop(writer);
        match own {
            Some(index) => self.written(&batch, index),
            None => Err(AuditError::Halted),
        }
    }

    /// The line `index` of `batch` as written, or why it is not.
    fn written(&self, batch: &Batch, index: u64) -> Result<Written, AuditError> {
        if index < batch.kept {
            return Ok(Written {
                wait: batch
                    .syncer
                    .clone()
                    .zip(batch.first_seq.map(|first| first + index)),
                path: Arc::clone(&self.shown_path),
                line: LineRef {
                    seq: batch.first_chained + index,
                    hash: batch.hashes[index as usize].clone(),
                },
            });
        }
        Err(batch
            .error
            .as_ref()
            .map_or(AuditError::Halted, AuditError::again))
    }

    /// Appends a line of another event (a repair, an interruption), chained like the others:
    /// `fields` are written after the envelope.
    pub fn note(
        &self,
        event: &str,
        fields: serde_json::Map<String, serde_json::Value>,
    ) -> Result<(), AuditError> {
        self.note_as(event, fields, None)
    }

    /// Appends a line of another event like [`AuditTrail::note`], written for `caller` (a
    /// request through the service) when given: the line's actor is then the caller's.
    pub fn note_as(
        &self,
        event: &str,
        fields: serde_json::Map<String, serde_json::Value>,
        caller: Option<&Caller>,
    ) -> Result<(), AuditError> {
        self.note_written(event, fields, caller).map(drop)
    }

    /// Appends a line of another event like [`AuditTrail::note_as`], and returns it (its place
    /// in the chain and its hash) once it is on disk.
    pub fn note_written(
        &self,
        event: &str,
        fields: serde_json::Map<String, serde_json::Value>,
        caller: Option<&Caller>,
    ) -> Result<LineRef, AuditError> {
        let mut writer = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let batch = self.append(&mut writer, 1, |_, seq, prev, timestamp, out| {
            let envelope = self.envelope((seq, prev), timestamp, event, caller);
            out.extend_from_slice(&self.note_line(envelope, &fields));
        });
        if let Some(error) = batch.error {
            return Err(error);
        }
        if batch.syncer.is_some() {
            let write_error = |source| AuditError::Write {
                path: writer.open.path.clone(),
                source,
            };
            writer.open.file.sync_data().map_err(write_error)?;
            if let Some(head) = &writer.head {
                writer
                    .open
                    .recorder
                    .record(&head.mark())
                    .map_err(write_error)?;
            }
        }
        Ok(LineRef {
            seq: batch.first_chained,
            hash: batch.hashes.first().cloned().unwrap_or_default(),
        })
    }

    /// Records, where the trail still takes a line, that a check could not be audited and that
    /// paystat stopped sending requests there (event `audit.halted`). On a full disk or a
    /// replaced file this line cannot be written either; the CLI's error sentence then carries it.
    pub fn record_failure(&self, payment_id: &str, error: &AuditError) {
        let mut fields = serde_json::Map::new();
        fields.insert(
            "payment_id".into(),
            crate::result::kept_id(payment_id).into_owned().into(),
        );
        fields.insert("error".into(), error.to_string().into());
        fields.insert(
            "detail".into(),
            "this check's line could not be made durable; paystat withheld its answer and sent no further request"
                .into(),
        );
        let _ = self.note(EVENT_HALTED, fields);
    }

    /// Records that the status cache's row for `payment_id` was not served (`detail` says why):
    /// the gateway is asked instead, and Compliance can see that a row was changed.
    pub fn record_cache_rejected(&self, payment_id: &str, detail: &str) -> Result<(), AuditError> {
        let mut fields = serde_json::Map::new();
        fields.insert(
            "payment_id".into(),
            crate::result::kept_id(payment_id).into_owned().into(),
        );
        fields.insert("detail".into(), detail.into());
        self.note(EVENT_CACHE_REJECTED, fields)
    }

    /// The envelope of the line at place `seq` after `prev`, written at `timestamp`, for
    /// `caller` when a request through the service wrote it (its actor is then the caller's).
    pub(super) fn envelope<'l>(
        &'l self,
        (seq, prev): (u64, &'l str),
        timestamp: &'l str,
        event: &'l str,
        caller: Option<&'l Caller>,
    ) -> Envelope<'l> {
        let first = seq == 1 && prev == chain::GENESIS;
        Envelope {
            v: chain::FORMAT_VERSION,
            seq,
            prev: Cow::Borrowed(prev),
            legacy_before: first
                .then(|| self.legacy_before.load(std::sync::atomic::Ordering::SeqCst)),
            chain: Cow::Borrowed(self.sealer.name()),
            timestamp: Cow::Borrowed(timestamp),
            event: Cow::Borrowed(event),
            actor: Cow::Borrowed(caller.map_or(self.actor.as_str(), |c| c.actor.as_str())),
            os_user: Cow::Borrowed(&self.os_user),
            origin: Cow::Borrowed(&self.origin),
            caller: caller.map(Cow::Borrowed),
        }
    }

    /// Writes the line of the check `pending` at place `seq` after `prev` to the end of `out`,
    /// not yet sealed: one [`AuditRecord`], serialized whole.
    fn check_line(
        &self,
        pending: &Pending,
        seq: u64,
        prev: &str,
        timestamp: &str,
        out: &mut Vec<u8>,
    ) {
        let caller = pending.asked.caller.as_deref();
        let envelope = self.envelope((seq, prev), timestamp, EVENT_STATUS_CHECK, caller);
        let record = AuditRecord {
            envelope,
            target: pending.asked.target.as_ref().map(Cow::Borrowed),
            environment: pending.asked.environment,
            request: pending.asked.request.as_ref().map(Cow::Borrowed),
            sync: self.durability,
            copy_of: pending.asked.copy_of.as_ref().map(Cow::Borrowed),
            check: Cow::Borrowed(&pending.result),
            hash: String::new(),
        };
        serde_json::to_writer(&mut *out, &record).expect("an audit line always serializes");
    }

    /// A line of another event: `envelope`, then `fields`, not yet sealed.
    pub(super) fn note_line(
        &self,
        envelope: Envelope<'_>,
        fields: &serde_json::Map<String, serde_json::Value>,
    ) -> Vec<u8> {
        serde_json::to_vec(&Note { envelope, fields }).expect("a note always serializes")
    }

    /// Appends `count` lines with `writer` held, the `i`th made by `make(i, seq, prev,
    /// timestamp, out)` at the end of `out` and chained after the one before, in one `write`. A write that fails part
    /// way keeps the lines that are whole in the file and cuts the rest off — never a torn
    /// line; the batch says how many were kept and why the others were not.
    fn append(
        &self,
        writer: &mut Writer,
        count: usize,
        mut make: impl FnMut(usize, u64, &str, &str, &mut Vec<u8>),
    ) -> Batch {
        // One writer at a time, across paystat processes sharing the trail (an advisory lock
        // for the append, released when `_lock` drops), so the head read here is the last line.
        let _lock = match AppendLock::take(&self.lock) {
            Ok(lock) => lock,
            Err(e) => return Batch::failed(self.write_error(e)),
        };
        // The time is taken under the lock, so lines are in time order across processes too.
        let now = OffsetDateTime::now_utc();
        if let Location::Days(_) = self.location
            && writer.open.day.is_some_and(|day| day < now.date())
        {
            // A later day file than today's (another process's clock) is where the chain goes on.
            let day = match self.location.writing_day(now.date()) {
                Ok(day) => day,
                Err(e) => return Batch::failed(self.write_error(e)),
            };
            let next = match open_file(&self.location, day, self.durability, &self.sealer) {
                Ok(next) => next,
                Err(e) => return Batch::failed(e),
            };
            if let Some(old) = &writer.open.syncer {
                self.syncs
                    .fetch_add(old.syncs(), std::sync::atomic::Ordering::SeqCst);
            }
            writer.open = next;
        }
        let head = match self.head(writer) {
            Ok(head) => head,
            Err(e) => return Batch::failed(e),
        };
        let timestamp = timestamp_of(now);
        let mut bytes = std::mem::take(&mut writer.buffer);
        bytes.clear();
        // Where each line ends in `bytes`, and its hash.
        let mut ends: Vec<(usize, String)> = Vec::with_capacity(count);
        for i in 0..count {
            let prev = ends.last().map_or(head.hash.as_str(), |(_, hash)| hash);
            let start = bytes.len();
            make(i, head.seq + 1 + i as u64, prev, &timestamp, &mut bytes);
            let hash = self.sealer.seal_at(&mut bytes, start);
            bytes.push(b'\n');
            ends.push((bytes.len(), hash));
        }
        let open = &mut writer.open;
        let mut file = &open.file;
        let mut done = 0;
        let failure = loop {
            if done == bytes.len() {
                break None;
            }
            match file.write(&bytes[done..]) {
                Ok(0) => break Some(std::io::Error::from(std::io::ErrorKind::WriteZero)),
                Ok(n) => done += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => break Some(e),
            }
        };
        let kept = ends.iter().take_while(|(end, _)| *end <= done).count();
        let kept_bytes = kept.checked_sub(1).map_or(0, |last| ends[last].0);
        if done != kept_bytes {
            // A line written half way (a full disk) is cut back off, so the next line does
            // not glue onto the fragment.
            let _ = open.file.set_len(head.length + kept_bytes as u64);
        }
        let syncer = open.syncer.clone();
        let last = kept.checked_sub(1).map(|last| Mark {
            seq: head.seq + kept as u64,
            hash: ends[last].1.clone(),
            length: head.length + kept_bytes as u64,
        });
        // Numbered while the file is still locked, so the numbers follow the file's order.
        let first_seq = syncer.as_ref().map(|s| s.written(kept as u64, last));
        let error = failure.map(|source| AuditError::Write {
            path: open.path.clone(),
            source,
        });
        ends.truncate(kept);
        let hashes: Vec<String> = ends.into_iter().map(|(_, hash)| hash).collect();
        if let Some(hash) = hashes.last() {
            writer.head = Some(Head {
                file: writer.open.path.clone(),
                length: head.length + kept_bytes as u64,
                seq: head.seq + kept as u64,
                hash: hash.clone(),
                keyed: Some(self.sealer.is_keyed()),
            });
        }
        if bytes.capacity() <= BUFFER_KEPT {
            writer.buffer = bytes;
        }
        Batch {
            syncer,
            first_seq,
            kept: kept as u64,
            first_chained: head.seq + 1,
            hashes,
            error,
        }
    }
}

impl Drop for AuditTrail {
    fn drop(&mut self) {
        // A line handed in by a check that stopped waiting for it (its future dropped) is
        // still written: the request it records was sent.
        let waiting = std::mem::take(
            &mut self
                .queue
                .get_mut()
                .unwrap_or_else(|p| p.into_inner())
                .waiting,
        );
        if !waiting.is_empty() {
            let mut writer = self.writer.lock().unwrap_or_else(|p| p.into_inner());
            let _ = self.append(
                &mut writer,
                waiting.len(),
                |i, seq, prev, timestamp, out| {
                    self.check_line(&waiting[i], seq, prev, timestamp, out);
                },
            );
        }
    }
}
