//! Time, injected: the checker reads the clock and sleeps only through [`Clock`], so the test
//! suite can prove a retry schedule (waits of seconds, deadlines of 15 s) without waiting.
//!
//! [`SystemClock`] is the real thing. [`ManualClock`] lets real time pass for the requests
//! themselves (a 100 ms attempt timeout still takes 100 ms) but makes every *sleep* instant:
//! it advances its own offset and records the wait, so a test asserts the exact schedule.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

/// A boxed sleep.
pub type Sleep<'a> = Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

/// The checker's source of time.
pub trait Clock: Send + Sync + fmt::Debug {
    /// Monotonic time since an arbitrary origin.
    fn now(&self) -> Duration;
    /// Wall-clock time, for HTTP-dates such as `Retry-After: Fri, 31 Dec 1999 23:59:59 GMT`.
    fn wall_time(&self) -> SystemTime;
    /// Waits `duration`.
    fn sleep(&self, duration: Duration) -> Sleep<'_>;
}

/// The real clock: `Instant`, `SystemTime` and `tokio::time::sleep`.
#[derive(Debug)]
pub struct SystemClock {
    origin: Instant,
}

impl Default for SystemClock {
    fn default() -> Self {
        SystemClock {
            origin: Instant::now(),
        }
    }
}

impl Clock for SystemClock {
    fn now(&self) -> Duration {
        self.origin.elapsed()
    }

    fn wall_time(&self) -> SystemTime {
        SystemTime::now()
    }

    fn sleep(&self, duration: Duration) -> Sleep<'_> {
        Box::pin(tokio::time::sleep(duration))
    }
}

/// A clock whose sleeps are instant and recorded (for tests and benchmarks).
pub struct ManualClock {
    origin: Instant,
    wall_origin: SystemTime,
    slept: Mutex<Vec<Duration>>,
    /// For [`ManualClock::simulated`]: the simulated time, moved only by sleeps that end.
    simulated: Option<Mutex<Duration>>,
}

impl fmt::Debug for ManualClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ManualClock")
            .field("slept", &self.slept())
            .finish()
    }
}

impl ManualClock {
    /// A manual clock whose wall time starts at `wall_origin`.
    pub fn new(wall_origin: SystemTime) -> ManualClock {
        ManualClock {
            origin: Instant::now(),
            wall_origin,
            slept: Mutex::new(Vec::new()),
            simulated: None,
        }
    }

    /// A clock whose time is simulated: real time does not move it; a sleep yields once, so
    /// that every other ready check runs first, and then moves time to where that sleep ends
    /// (if it is not there already). Concurrent sleeps therefore overlap as they would in
    /// real time, and every wait computed against the clock is exact whatever the machine's
    /// load: pacing schedules, queueing before a deadline.
    pub fn simulated(wall_origin: SystemTime) -> ManualClock {
        ManualClock {
            simulated: Some(Mutex::new(Duration::ZERO)),
            ..ManualClock::new(wall_origin)
        }
    }

    /// Every sleep asked for so far, in order.
    pub fn slept(&self) -> Vec<Duration> {
        self.slept.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn offset(&self) -> Duration {
        self.slept().iter().sum()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Duration {
        match &self.simulated {
            Some(time) => *time.lock().unwrap_or_else(|p| p.into_inner()),
            None => self.origin.elapsed() + self.offset(),
        }
    }

    fn wall_time(&self) -> SystemTime {
        self.wall_origin + self.now()
    }

    fn sleep(&self, duration: Duration) -> Sleep<'_> {
        self.slept
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(duration);
        let Some(time) = &self.simulated else {
            return Box::pin(std::future::ready(()));
        };
        let ends = self.now() + duration;
        Box::pin(async move {
            tokio::task::yield_now().await;
            let mut time = time.lock().unwrap_or_else(|p| p.into_inner());
            *time = (*time).max(ends);
        })
    }
}

/// Reads a duration written for people (`5s`, `250ms`, `1m 30s`), refusing zero.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let duration = humantime::parse_duration(text)
        .map_err(|e| format!("`{text}` is not a duration like `5s` or `250ms` ({e})"))?;
    if duration.is_zero() {
        return Err(format!(
            "`{text}` is zero; a duration must be longer than zero"
        ));
    }
    Ok(duration)
}

/// Deserializes an optional duration field of a TOML file (scenarios, the config file).
pub(crate) fn optional_duration<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Duration>, D::Error> {
    let text = <String as serde::Deserialize>::deserialize(d)?;
    parse_duration(&text)
        .map(Some)
        .map_err(serde::de::Error::custom)
}

/// A duration as a person reads it: `250 ms`, `4.1 s`, `30 s`, `12 min`, `26 h`, `3 d`.
pub fn human(duration: Duration) -> String {
    let ms = duration.as_millis();
    match ms {
        0..1_000 => format!("{ms} ms"),
        1_000..10_000 if !ms.is_multiple_of(1_000) => format!("{:.1} s", ms as f64 / 1_000.0),
        1_000..60_000 => format!("{} s", ms / 1_000),
        60_000..3_600_000 => format!("{} min", ms / 60_000),
        3_600_000..172_800_000 => format!("{} h", ms / 3_600_000),
        _ => format!("{} d", ms / 86_400_000),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_people_write_them() {
        let ms = Duration::from_millis;
        assert_eq!(human(ms(0)), "0 ms");
        assert_eq!(human(ms(250)), "250 ms");
        assert_eq!(human(ms(4_114)), "4.1 s");
        assert_eq!(human(ms(5_000)), "5 s");
        assert_eq!(human(ms(30_500)), "30 s");
        assert_eq!(human(ms(12 * 60_000 + 5)), "12 min");
        assert_eq!(human(ms(26 * 3_600_000)), "26 h");
        assert_eq!(human(ms(3 * 86_400_000 + 1)), "3 d");
    }
}
