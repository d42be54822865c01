//! The benches' child processes: ids fed on standard input, and what a child used, read back
//! by `wait4` as the child is reaped.
#![allow(dead_code, reason = "each bench uses the part it needs")]

use std::io::Write;
use std::process::Child;
use std::time::Duration;

/// Writes `ids` to the child's standard input on a thread of its own (so a child that prints
/// as it reads never blocks on a full pipe), then closes it.
pub fn feed(child: &mut Child, ids: &str) -> std::thread::JoinHandle<()> {
    let mut stdin = child.stdin.take().expect("the child's stdin is piped");
    let ids = ids.to_owned();
    std::thread::spawn(move || {
        let _ = stdin.write_all(ids.as_bytes());
    })
}

/// What a reaped child used.
pub struct Used {
    /// Its wait status.
    pub status: i32,
    /// Its own user + system time.
    pub cpu: Duration,
    /// Its peak resident set, in KiB.
    pub peak_rss_kib: i64,
}

/// Reaps `child`, with its resources.
pub fn reap(child: &Child) -> Used {
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value for wait4 to fill in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waiting for our own child, with valid pointers to locals.
    let waited = unsafe { libc::wait4(child.id() as libc::pid_t, &mut status, 0, &mut usage) };
    assert!(waited > 0, "wait4 failed");
    let time = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    Used {
        status,
        cpu: time(usage.ru_utime) + time(usage.ru_stime),
        peak_rss_kib: usage.ru_maxrss,
    }
}
