//! The documented range of every number a person can give paystat, checked the same way
//! whether it comes from a flag or the config file. A number out of range is one sentence
//! naming the flag or key and the range, never a panic, an overflow or a silent default.
//!
//! | setting | range |
//! |---|---|
//! | requests per second (`--rate`, `requests_per_second`) | 0 (no pacing) or 0.1 to 10,000 |
//! | attempts (`--max-attempts`, `max_attempts`) | 1 to 10 |
//! | durations (`--timeout`, `--deadline`, backoff, `Retry-After` cap; `timeout`, `deadline`, …) | 1 ms to 10 min |
//! | retry budget (`budget`) | 0 to 100,000 tokens |
//! | checks at once (`--concurrency`) | 1 to 1,024, and what the open-files limit allows |

use std::fmt::Display;
use std::time::Duration;

/// The slowest pacing paystat accepts: one request every ten seconds.
pub const MIN_RATE: f64 = 0.1;
/// The fastest pacing paystat accepts.
pub const MAX_RATE: f64 = 10_000.0;
/// The most attempts a check may make.
pub const MAX_ATTEMPTS: u32 = 10;
/// The shortest duration paystat accepts.
pub const MIN_DURATION: Duration = Duration::from_millis(1);
/// The longest duration paystat accepts.
pub const MAX_DURATION: Duration = Duration::from_secs(600);
/// The largest retry budget.
pub const MAX_BUDGET: u32 = 100_000;
/// The most checks at once.
pub const MAX_CONCURRENCY: usize = 1024;

/// A number outside its documented range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{setting} is {value}; {allowed}")]
pub struct OutOfRange {
    /// The flag or key, as the person wrote it (`--rate`, `[stripe] requests_per_second`).
    pub setting: String,
    /// The value given.
    pub value: String,
    /// The rule, as a clause.
    pub allowed: &'static str,
}

fn out_of_range(setting: &str, value: impl Display, allowed: &'static str) -> OutOfRange {
    OutOfRange {
        setting: setting.to_owned(),
        value: value.to_string(),
        allowed,
    }
}

/// A number as an error sentence shows it: as written when short, else in scientific notation
/// (`1e308`, not a 309-digit number).
fn short(value: f64) -> String {
    let plain = value.to_string();
    if plain.len() <= 12 {
        plain
    } else {
        format!("{value:e}")
    }
}

/// Requests per second: `None` for 0 (no pacing), else 0.1 to 10,000.
pub fn rate(setting: &str, per_second: f64) -> Result<Option<f64>, OutOfRange> {
    if per_second == 0.0 {
        return Ok(None);
    }
    if (MIN_RATE..=MAX_RATE).contains(&per_second) {
        Ok(Some(per_second))
    } else {
        Err(out_of_range(
            setting,
            short(per_second),
            "it must be 0 (no pacing) or between 0.1 and 10000 requests per second",
        ))
    }
}

/// Attempts per check, the first included: 1 to 10.
pub fn attempts(setting: &str, attempts: u32) -> Result<u32, OutOfRange> {
    if (1..=MAX_ATTEMPTS).contains(&attempts) {
        Ok(attempts)
    } else {
        Err(out_of_range(
            setting,
            attempts,
            "it must be between 1 and 10 attempts",
        ))
    }
}

/// A timeout, deadline or wait: 1 ms to 10 min.
pub fn duration(setting: &str, duration: Duration) -> Result<Duration, OutOfRange> {
    if (MIN_DURATION..=MAX_DURATION).contains(&duration) {
        Ok(duration)
    } else {
        Err(out_of_range(
            setting,
            humantime::format_duration(duration),
            "it must be between 1ms and 10m",
        ))
    }
}

/// A retry budget: 0 to 100,000 tokens.
pub fn budget(setting: &str, tokens: u32) -> Result<u32, OutOfRange> {
    if tokens <= MAX_BUDGET {
        Ok(tokens)
    } else {
        Err(out_of_range(
            setting,
            tokens,
            "it must be between 0 and 100000 tokens",
        ))
    }
}

/// Checks at once: 1 to 1,024.
pub fn concurrency(setting: &str, checks: usize) -> Result<usize, OutOfRange> {
    if (1..=MAX_CONCURRENCY).contains(&checks) {
        Ok(checks)
    } else {
        Err(out_of_range(
            setting,
            checks,
            "it must be between 1 and 1024 checks at once",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates() {
        for (absurd, shown) in [(1e308, "--rate is 1e308;"), (1e-30, "--rate is 1e-30;")] {
            let err = rate("--rate", absurd).unwrap_err().to_string();
            assert!(err.starts_with(shown), "{err}");
        }
        assert!(
            rate("--rate", -5.0)
                .unwrap_err()
                .to_string()
                .starts_with("--rate is -5;")
        );
        assert_eq!(rate("--rate", 0.0), Ok(None));
        assert_eq!(rate("--rate", 0.1), Ok(Some(0.1)));
        assert_eq!(rate("--rate", 10_000.0), Ok(Some(10_000.0)));
        for bad in [1e-30, 0.099, 10_000.5, -5.0, f64::NAN, f64::INFINITY, -0.1] {
            let err = rate("--rate", bad).unwrap_err();
            assert!(err.to_string().starts_with("--rate is "), "{err}");
        }
    }

    #[test]
    fn attempts_durations_budgets_and_concurrency() {
        assert!(attempts("--max-attempts", 0).is_err());
        assert_eq!(attempts("--max-attempts", 1), Ok(1));
        assert_eq!(attempts("--max-attempts", 10), Ok(10));
        assert!(attempts("--max-attempts", 11).is_err());
        assert!(duration("--timeout", Duration::ZERO).is_err());
        assert!(duration("--timeout", Duration::from_micros(999)).is_err());
        assert!(duration("--timeout", MIN_DURATION).is_ok());
        assert!(duration("--timeout", MAX_DURATION).is_ok());
        let err = duration("--timeout", MAX_DURATION + Duration::from_millis(1)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "--timeout is 10m 1ms; it must be between 1ms and 10m"
        );
        assert_eq!(budget("budget", 0), Ok(0));
        assert!(budget("budget", MAX_BUDGET).is_ok());
        assert!(budget("budget", MAX_BUDGET + 1).is_err());
        assert!(concurrency("--concurrency", 0).is_err());
        assert_eq!(concurrency("--concurrency", 1024), Ok(1024));
        assert!(concurrency("--concurrency", 1025).is_err());
    }
}
