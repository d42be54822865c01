//! When to try again, how long to wait, and when to stop.
//!
//! The policy follows the clients that do this best (GATEWAYS.md): retry only what can succeed
//! on a second try (transport failures, timeouts, 409, 429, 500, 502, 503, 504 — never 400, 401,
//! 403, 404 or a body that parsed but made no sense); obey the server's explicit advice
//! (`Stripe-Should-Retry`) and `Retry-After` in both its forms, capped; back off exponentially
//! with full jitter (AWS: `rand(0, min(cap, base · 2^(n-1)))`); bound every check by one
//! deadline covering all attempts and waits (gRPC), never starting a wait that cannot end before
//! it; and stop retrying altogether when too much is failing, with a token bucket per gateway
//! (AWS SDK standard mode: 500 tokens, a retry costs 5, a timeout retry 10, a success returns 1).
//! Client-side pacing keeps a bulk run under a gateway's rate limit (Stripe: 25/s per endpoint).

use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use reqwest::header::HeaderMap;
use serde::{Deserialize, Serialize};

use crate::status::Outcome;

/// How a gateway's checks are retried and bounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (1 = never retry).
    pub max_attempts: u32,
    /// The first backoff ceiling; it doubles per retry.
    pub backoff_base: Duration,
    /// The largest backoff ceiling.
    pub backoff_cap: Duration,
    /// The longest `Retry-After` paystat honours.
    pub retry_after_cap: Duration,
    /// Each attempt's timeout, covering the whole body.
    pub attempt_timeout: Duration,
    /// The whole check's deadline: all attempts and waits.
    pub deadline: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 3,
            backoff_base: Duration::from_millis(500),
            backoff_cap: Duration::from_secs(5),
            retry_after_cap: Duration::from_secs(60),
            // The original script's timeout.
            attempt_timeout: Duration::from_secs(5),
            deadline: Duration::from_secs(15),
        }
    }
}

impl RetryPolicy {
    /// The full-jitter backoff before retry number `retry` (1 for the first retry), drawing
    /// the jitter from `unit`, a number in [0, 1).
    pub fn backoff(&self, retry: u32, unit: f64) -> Duration {
        let exponent = retry.saturating_sub(1).min(31);
        let ceiling = self
            .backoff_base
            .saturating_mul(1 << exponent)
            .min(self.backoff_cap);
        ceiling.mul_f64(unit.clamp(0.0, 1.0))
    }
}

/// Why paystat waited before an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WaitReason {
    /// Exponential backoff with jitter.
    Backoff,
    /// The gateway's `Retry-After` header.
    RetryAfter,
    /// Stripe's `Stripe-Should-Retry: true` asked for a retry the status alone would not get.
    StripeShouldRetry,
}

/// Why a failed check was not tried again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RetryStop {
    /// The failure cannot succeed on a second try (400, 401, 403, a nonsensical body, …).
    NotRetryable,
    /// The gateway said not to (`Stripe-Should-Retry: false`).
    GatewayForbade,
    /// Every allowed attempt was used.
    MaxAttempts,
    /// The next wait or attempt could not finish before the check's deadline.
    Deadline,
    /// The gateway's retry budget is spent: too much is failing, retries are suppressed.
    RetryBudget,
}

/// Whether a failed attempt may be tried again: a transport failure or timeout (even after the
/// status line arrived, e.g. a body cut off mid-way), or a transient HTTP status.
pub fn is_retryable(http_status: Option<u16>, outcome: Outcome) -> bool {
    match outcome {
        Outcome::Timeout | Outcome::ConnectionError => true,
        Outcome::Found | Outcome::NotFound | Outcome::InvalidId => false,
        _ => http_status.is_some_and(|status| matches!(status, 409 | 429 | 500 | 502 | 503 | 504)),
    }
}

/// Reads `Retry-After` (RFC 9110 §10.2.3): delay-seconds or an HTTP-date, relative to `now`.
/// A date in the past means "now"; anything unreadable is ignored.
pub fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let value = headers.get("retry-after")?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let date = httpdate::parse_http_date(value).ok()?;
    Some(date.duration_since(now).unwrap_or(Duration::ZERO))
}

/// The AWS-style retry quota of one gateway.
#[derive(Debug)]
pub struct RetryBudget {
    capacity: u32,
    tokens: Mutex<u32>,
}

/// What a retry costs from the budget, and what a success gives back.
pub const RETRY_COST: u32 = 5;
/// What a retry after a timeout costs.
pub const TIMEOUT_RETRY_COST: u32 = 10;
/// What a successful answer returns.
pub const SUCCESS_REFILL: u32 = 1;
/// The default budget.
pub const DEFAULT_BUDGET: u32 = 500;

impl RetryBudget {
    /// A full budget of `capacity` tokens.
    pub fn new(capacity: u32) -> RetryBudget {
        RetryBudget {
            capacity,
            tokens: Mutex::new(capacity),
        }
    }

    /// Takes the cost of a retry after `outcome`, if the budget has it.
    pub fn try_spend(&self, outcome: Outcome) -> bool {
        let cost = if outcome == Outcome::Timeout {
            TIMEOUT_RETRY_COST
        } else {
            RETRY_COST
        };
        let mut tokens = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        if *tokens >= cost {
            *tokens -= cost;
            true
        } else {
            false
        }
    }

    /// Returns a token for a successful answer.
    pub fn refill(&self) {
        let mut tokens = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        *tokens = (*tokens + SUCCESS_REFILL).min(self.capacity);
    }

    /// Tokens left.
    pub fn remaining(&self) -> u32 {
        *self.tokens.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Spaces one gateway's requests at most `per_second` apart, across all concurrent checks.
#[derive(Debug)]
pub struct Pacer {
    interval: Duration,
    next_free: Mutex<Duration>,
}

impl Pacer {
    /// A pacer for `per_second` requests per second (must be above zero).
    pub fn new(per_second: f64) -> Pacer {
        Pacer {
            interval: Duration::from_secs_f64(1.0 / per_second),
            next_free: Mutex::new(Duration::ZERO),
        }
    }

    /// Reserves the next slot at or after `now` and says how long to wait for it.
    pub fn reserve(&self, now: Duration) -> Duration {
        let mut next_free = self.next_free.lock().unwrap_or_else(|p| p.into_inner());
        let slot = (*next_free).max(now);
        *next_free = slot + self.interval;
        slot - now
    }
}

/// The jitter source: seeded in tests so a schedule can be asserted exactly.
#[derive(Debug)]
pub struct Jitter(Mutex<fastrand::Rng>);

impl Jitter {
    /// Jitter from the operating system's entropy.
    pub fn random() -> Jitter {
        Jitter(Mutex::new(fastrand::Rng::new()))
    }

    /// Repeatable jitter.
    pub fn seeded(seed: u64) -> Jitter {
        Jitter(Mutex::new(fastrand::Rng::with_seed(seed)))
    }

    /// A number in [0, 1).
    pub fn unit(&self) -> f64 {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).f64()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap_scaled_by_jitter() {
        let p = RetryPolicy::default();
        assert_eq!(p.backoff(1, 1.0), Duration::from_millis(500));
        assert_eq!(p.backoff(2, 1.0), Duration::from_secs(1));
        assert_eq!(p.backoff(3, 1.0), Duration::from_secs(2));
        assert_eq!(p.backoff(5, 1.0), Duration::from_secs(5));
        assert_eq!(p.backoff(40, 1.0), Duration::from_secs(5));
        assert_eq!(p.backoff(2, 0.5), Duration::from_millis(500));
        assert_eq!(p.backoff(2, 0.0), Duration::ZERO);
    }

    #[test]
    fn only_what_can_succeed_again_is_retried() {
        for status in [409, 429, 500, 502, 503, 504] {
            assert!(
                is_retryable(Some(status), Outcome::GatewayError),
                "{status}"
            );
        }
        for status in [200, 400, 401, 403, 404, 422, 501] {
            assert!(!is_retryable(Some(status), Outcome::BadRequest), "{status}");
        }
        assert!(is_retryable(None, Outcome::Timeout));
        assert!(is_retryable(None, Outcome::ConnectionError));
        assert!(!is_retryable(None, Outcome::BadResponse));
        assert!(!is_retryable(None, Outcome::InvalidId));
        assert!(
            is_retryable(Some(200), Outcome::ConnectionError),
            "a body cut off mid-way"
        );
        assert!(
            !is_retryable(Some(200), Outcome::BadResponse),
            "a body that made no sense"
        );
        assert!(
            is_retryable(Some(200), Outcome::ConnectionError),
            "a body cut off mid-way"
        );
        assert!(
            !is_retryable(Some(200), Outcome::BadResponse),
            "a body that made no sense"
        );
    }

    #[test]
    fn retry_after_in_both_forms() {
        let now = httpdate::parse_http_date("Fri, 31 Dec 1999 23:59:00 GMT").unwrap();
        let mut headers = HeaderMap::new();
        headers.insert("retry-after", "120".parse().unwrap());
        assert_eq!(retry_after(&headers, now), Some(Duration::from_secs(120)));
        headers.insert(
            "retry-after",
            "Fri, 31 Dec 1999 23:59:59 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&headers, now), Some(Duration::from_secs(59)));
        headers.insert(
            "retry-after",
            "Fri, 31 Dec 1999 23:00:00 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&headers, now), Some(Duration::ZERO));
        headers.insert("retry-after", "soon".parse().unwrap());
        assert_eq!(retry_after(&headers, now), None);
        assert_eq!(retry_after(&HeaderMap::new(), now), None);
    }

    #[test]
    fn the_budget_empties_and_refills() {
        let budget = RetryBudget::new(12);
        assert!(budget.try_spend(Outcome::GatewayError));
        assert!(
            !budget.try_spend(Outcome::Timeout),
            "7 tokens left, a timeout retry costs 10"
        );
        assert!(budget.try_spend(Outcome::ConnectionError));
        assert!(!budget.try_spend(Outcome::GatewayError));
        for _ in 0..3 {
            budget.refill();
        }
        assert!(budget.try_spend(Outcome::GatewayError));
        for _ in 0..100 {
            budget.refill();
        }
        assert_eq!(budget.remaining(), 12, "never above capacity");
    }

    #[test]
    fn the_pacer_spaces_requests() {
        let pacer = Pacer::new(25.0);
        let now = Duration::from_secs(10);
        assert_eq!(pacer.reserve(now), Duration::ZERO);
        assert_eq!(pacer.reserve(now), Duration::from_millis(40));
        assert_eq!(pacer.reserve(now), Duration::from_millis(80));
        // After a quiet second, no wait.
        assert_eq!(pacer.reserve(now + Duration::from_secs(1)), Duration::ZERO);
    }
}
