//! Group commit: audit lines are durable on disk (`fdatasync`) before their answers are shown,
//! and the lines of concurrent checks share one sync, the way a database's write-ahead log
//! does, so a bulk run does not pay one disk sync per line.
//!
//! A syncer thread waits for lines written since its last sync, syncs them all at once and
//! publishes how far the file is durable; each check awaits the sequence number of its own line.

use std::fs::File;
use std::sync::{Arc, Condvar, Mutex};

use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use super::durable::{Mark, Recorder};

/// How far an audit line must get before its answer is shown.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Durability {
    /// On the disk (`fdatasync`, shared by concurrent lines): survives a crash or power cut.
    #[default]
    Disk,
    /// Handed to the operating system only: for throw-away runs; every such line says so.
    Os,
}

impl Durability {
    /// Whether lines are synced to disk (the default, not written into the lines).
    pub fn is_disk(&self) -> bool {
        *self == Durability::Disk
    }
}

/// How long the syncer waits for another line before it syncs what it has.
const QUIET: std::time::Duration = std::time::Duration::from_millis(1);
/// The longest it gathers lines before syncing, however fast they come.
const GATHER_AT_MOST: std::time::Duration = std::time::Duration::from_millis(10);

/// Disk syncs made by this process, and the time they took in all (nanoseconds), for the
/// service's metrics.
static SYNCS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
static SYNC_NANOS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// The disk syncs of audit files this process made, and the time they took in all.
pub fn sync_totals() -> (u64, std::time::Duration) {
    use std::sync::atomic::Ordering::Relaxed;
    (
        SYNCS.load(Relaxed),
        std::time::Duration::from_nanos(SYNC_NANOS.load(Relaxed)),
    )
}

/// How far the file is durable: the last line synced, or why syncing failed.
type Synced = Result<u64, String>;

/// The lines written and whether the trail is closing, shared with the syncer thread.
#[derive(Debug, Default)]
struct Written {
    lines: u64,
    /// The last line written, as the durable record will name it once it is synced.
    last: Option<Mark>,
    closing: bool,
    /// Whether the syncer sleeps until a line comes (only then does a writer wake it: while it
    /// gathers lines it looks for itself, so a busy run pays no wake-up per line).
    idle: bool,
}

/// The syncer of one audit file.
#[derive(Debug)]
pub(super) struct Syncer {
    written: Arc<(Mutex<Written>, Condvar)>,
    synced: watch::Receiver<Synced>,
    syncs: Arc<std::sync::atomic::AtomicU64>,
}

impl Syncer {
    /// Starts the syncer thread for `file` (a handle on the same open file as the writer's),
    /// which records each sync's last line with `recorder`.
    pub fn start(file: File, recorder: Arc<Recorder>) -> std::io::Result<Syncer> {
        let written = Arc::new((Mutex::new(Written::default()), Condvar::new()));
        let (tx, synced) = watch::channel(Ok(0));
        let syncs = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let (shared, counter) = (Arc::clone(&written), Arc::clone(&syncs));
        std::thread::Builder::new()
            .name("paystat-audit-sync".into())
            .spawn(move || run(&file, &recorder, &shared, &tx, &counter))?;
        Ok(Syncer {
            written,
            synced,
            syncs,
        })
    }

    /// Notes `lines` more lines written, the last of them `last`; returns the sequence number
    /// of the first. Call in write order.
    pub fn written(&self, lines: u64, last: Option<Mark>) -> u64 {
        let (lock, wake) = &*self.written;
        let mut written = lock.lock().unwrap_or_else(|p| p.into_inner());
        let first = written.lines + 1;
        written.lines += lines;
        if last.is_some() {
            written.last = last;
        }
        if lines > 0 && written.idle {
            written.idle = false;
            wake.notify_one();
        }
        first
    }

    /// Waits until line `seq` is on disk.
    pub async fn durable(&self, seq: u64) -> Result<(), String> {
        let mut synced = self.synced.clone();
        let state = synced
            .wait_for(|s| s.as_ref().map_or(true, |done| *done >= seq))
            .await
            .map_err(|_| "the audit syncer stopped".to_owned())?;
        state.as_ref().map(|_| ()).map_err(Clone::clone)
    }

    /// How many syncs were made (lines share them under load).
    pub fn syncs(&self) -> u64 {
        self.syncs.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl Drop for Syncer {
    fn drop(&mut self) {
        let (lock, wake) = &*self.written;
        lock.lock().unwrap_or_else(|p| p.into_inner()).closing = true;
        wake.notify_one();
    }
}

fn run(
    file: &File,
    recorder: &Recorder,
    written: &(Mutex<Written>, Condvar),
    tx: &watch::Sender<Synced>,
    syncs: &std::sync::atomic::AtomicU64,
) {
    let (lock, wake) = written;
    let mut synced = 0;
    loop {
        let target = {
            let mut state = lock.lock().unwrap_or_else(|p| p.into_inner());
            let mut waited = false;
            while state.lines == synced && !state.closing {
                state.idle = true;
                waited = true;
                state = wake.wait(state).unwrap_or_else(|p| p.into_inner());
            }
            state.idle = false;
            if state.lines == synced {
                return;
            }
            // A line that woke the syncer from sleep is synced at once: a lone check (a request
            // to the service) does not wait for company. Lines that came while the last sync ran
            // mean a busy run: then the commit delay, as databases do — wait a quiet interval,
            // and if still more come, gather them up to GATHER_AT_MOST, so that one sync covers
            // all the lines of that while.
            if !waited {
                let seen = state.lines;
                drop(state);
                std::thread::sleep(QUIET);
                state = lock.lock().unwrap_or_else(|p| p.into_inner());
                if state.lines != seen && !state.closing {
                    drop(state);
                    std::thread::sleep(GATHER_AT_MOST.saturating_sub(QUIET));
                    state = lock.lock().unwrap_or_else(|p| p.into_inner());
                }
            }
            (state.lines, state.last.clone())
        };
        let (target, last) = target;
        // Every line written so far, in one sync.
        let started = std::time::Instant::now();
        let done = file.sync_data();
        SYNC_NANOS.fetch_add(
            u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX),
            std::sync::atomic::Ordering::Relaxed,
        );
        SYNCS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        match done {
            Ok(()) => {
                // Then the record of how far the trail is on disk: a record behind the file is
                // only weaker evidence, never a wrong one.
                if let Some(last) = &last
                    && let Err(e) = recorder.record(last)
                {
                    tracing::warn!("cannot record how far the audit trail is on disk: {e}");
                }
                synced = target;
                syncs.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let _ = tx.send(Ok(synced));
            }
            Err(e) => {
                let _ = tx.send(Err(e.to_string()));
                return;
            }
        }
    }
}
