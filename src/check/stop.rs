//! Stopping a run early: take no new ids (a first Ctrl-C or SIGTERM), or cut the checks in
//! flight short (a second one).

use std::sync::atomic::{AtomicBool, Ordering};

/// Whether a run still takes ids, and whether the checks in flight are being cut short.
#[derive(Debug)]
pub(crate) struct Stop {
    stopping: AtomicBool,
    /// Set with `stopping`, for a run waiting on its input to hear it.
    stopped: tokio::sync::watch::Sender<bool>,
    interrupted: tokio::sync::watch::Sender<bool>,
}

impl Stop {
    pub fn new() -> Stop {
        Stop {
            stopping: AtomicBool::new(false),
            stopped: tokio::sync::watch::Sender::new(false),
            interrupted: tokio::sync::watch::Sender::new(false),
        }
    }

    /// Whether new checks may start.
    pub fn taking(&self) -> bool {
        !self.stopping.load(Ordering::SeqCst)
    }

    /// Starts no new check.
    pub fn stop_taking(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        self.stopped.send_replace(true);
    }

    /// Returns once [`Stop::stop_taking`] was called: a run whose input is still open (a
    /// producer that has not finished writing ids) stops waiting for the next id then.
    pub async fn stopped(&self) {
        let mut stopped = self.stopped.subscribe();
        let _ = stopped.wait_for(|stop| *stop).await;
    }

    /// Starts no new check, and ends the ones in flight at their next wait.
    pub fn interrupt(&self) {
        self.stop_taking();
        self.interrupted.send_replace(true);
    }

    /// Runs `work` unless [`Stop::interrupt`] comes first.
    pub async fn unless_interrupted<T>(&self, work: impl Future<Output = T>) -> Option<T> {
        let mut interrupted = self.interrupted.subscribe();
        tokio::select! {
            done = work => Some(done),
            _ = interrupted.wait_for(|cut| *cut) => None,
        }
    }
}
