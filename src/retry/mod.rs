//! When to try again, how long to wait, and when to stop.
//!
//! The policy follows the clients that do this best (GATEWAYS.md): retry only what can succeed
//! on a second try (transport failures, timeouts, 409, 429, 500, 502, 503, 504 — never 400, 401,
//! 403, 404 or a body that parsed but made no sense); obey the server's explicit advice
//! (read by the adapter, e.g. a should-retry header) and `Retry-After` in both its forms, capped; back off exponentially
//! with full jitter (AWS: `rand(0, min(cap, base · 2^(n-1)))`); bound every check by one
//! deadline covering all attempts and waits (gRPC), never starting a wait that cannot end before
//! it; and stop retrying altogether when too much is failing, with a token bucket per gateway
//! (AWS SDK standard mode: 500 tokens, a retry costs 5, a timeout retry 10, a success returns 1).
//! Client-side pacing keeps a bulk run under a gateway's rate limit (each adapter's profile
//! gives its default).

//!
//! The decision lives here ([`RetryPolicy::next`]); what it spends and waits for — the retry
//! budget, the pacing and the jitter — in [`limits`].

use std::time::{Duration, SystemTime};

use reqwest::header::HeaderMap;
use serde::Deserialize;

use crate::result::{Outcome, RetryStop, WaitReason};

/// `[<gateway>.retry]` in the config file: how the gateway's checks are retried and bounded.
/// Every key is optional; [`RetryPolicy::default`] and a budget of 500 fill the gaps.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetrySettings {
    /// Attempts in all, the first included (default 3; 1 never retries).
    pub max_attempts: Option<u32>,
    /// First backoff ceiling (default `500ms`), doubling per retry.
    #[serde(default, deserialize_with = "crate::clock::optional_duration")]
    pub backoff_base: Option<Duration>,
    /// Largest backoff ceiling (default `5s`).
    #[serde(default, deserialize_with = "crate::clock::optional_duration")]
    pub backoff_cap: Option<Duration>,
    /// Longest `Retry-After` honoured (default `60s`).
    #[serde(default, deserialize_with = "crate::clock::optional_duration")]
    pub retry_after_cap: Option<Duration>,
    /// The whole check's deadline, all attempts and waits (default `15s`).
    #[serde(default, deserialize_with = "crate::clock::optional_duration")]
    pub deadline: Option<Duration>,
    /// Retry budget: token-bucket capacity (default 500; a retry costs 5, a timeout 10).
    pub budget: Option<u32>,
}

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

/// What the checker knows after a failed attempt: everything [`RetryPolicy::next`] decides on.
#[derive(Debug, Clone, Copy)]
pub struct Facts<'a> {
    /// The attempt that just failed (1 for the first request).
    pub attempt: u32,
    /// What that attempt concluded.
    pub outcome: Outcome,
    /// Its HTTP status, if a reply came.
    pub http_status: Option<u16>,
    /// The gateway's explicit advice (`Some(false)`: never retry; `Some(true)`: do retry).
    pub advice: Option<bool>,
    /// How long the gateway asked paystat to wait (`Retry-After`), if it did.
    pub retry_after: Option<Duration>,
    /// Where the backoff's jitter comes from; drawn only when the decision is a backoff, so a
    /// seeded source gives the same schedule whatever else happened.
    pub jitter: &'a Jitter,
    /// The time left before the check's deadline.
    pub time_left: Duration,
    /// Now, on the checker's clock (the pacer's time).
    pub now: Duration,
    /// The gateway's pacing, when paced: a retry waits for a request slot and takes it.
    pub pacer: Option<&'a Pacer>,
    /// The gateway's retry budget: a retry takes its cost from it.
    pub budget: &'a RetryBudget,
}

/// What to do after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Give up: the check ends with this attempt's outcome.
    Stop(RetryStop),
    /// Wait this long, then send the next attempt.
    Wait(Duration, WaitReason),
}

impl RetryPolicy {
    /// Decides whether a failed attempt is tried again and how long to wait first. The one
    /// place that answers it: the checker only carries the decision out.
    ///
    /// In order: the gateway's explicit "no" stops; a failure that cannot succeed again stops
    /// (unless the gateway explicitly asked for a retry); the last allowed attempt stops; the
    /// wait is `Retry-After` (capped) or the jittered backoff, and at least until the next
    /// pacing slot; a wait that would reach the deadline stops; an empty retry budget stops.
    pub fn next(&self, facts: &Facts<'_>) -> Decision {
        let retryable = is_retryable(facts.http_status, facts.outcome);
        let forced = match facts.advice {
            Some(false) => return Decision::Stop(RetryStop::GatewayForbade),
            Some(true) => !retryable,
            None if !retryable => return Decision::Stop(RetryStop::NotRetryable),
            None => false,
        };
        if facts.attempt >= self.max_attempts {
            return Decision::Stop(RetryStop::MaxAttempts);
        }
        let (wait, reason) = match facts.retry_after {
            Some(advised) => (advised.min(self.retry_after_cap), WaitReason::RetryAfter),
            None if forced => (
                self.backoff(facts.attempt, facts.jitter.unit()),
                WaitReason::ServerAdvice,
            ),
            None => (
                self.backoff(facts.attempt, facts.jitter.unit()),
                WaitReason::Backoff,
            ),
        };
        // A retry also needs a request slot; its wait is the later of the two.
        let next_slot = facts.pacer.map_or(Duration::ZERO, |p| p.free_in(facts.now));
        let wait = wait.max(next_slot);
        if wait >= facts.time_left {
            return Decision::Stop(RetryStop::Deadline);
        }
        if !facts.budget.try_spend(facts.outcome) {
            return Decision::Stop(RetryStop::RetryBudget);
        }
        let wait = facts
            .pacer
            .map_or(wait, |pacer| pacer.reserve_after(facts.now, wait));
        Decision::Wait(wait, reason)
    }
}

/// What a retry after `outcome` costs from the retry budget.
pub fn retry_cost(outcome: Outcome) -> u32 {
    if outcome == Outcome::Timeout {
        TIMEOUT_RETRY_COST
    } else {
        RETRY_COST
    }
}

/// Whether a failed attempt may be tried again: a transport failure or timeout (even after the
/// status line arrived, e.g. a body cut off mid-way), or a transient HTTP status.
pub fn is_retryable(http_status: Option<u16>, outcome: Outcome) -> bool {
    // Every outcome named, no catch-all: a new outcome must be classified here.
    match outcome {
        Outcome::Timeout | Outcome::ConnectionError => true,
        Outcome::Found | Outcome::NotFound | Outcome::InvalidId | Outcome::Interrupted => false,
        Outcome::Unauthorized
        | Outcome::BadRequest
        | Outcome::RateLimited
        | Outcome::GatewayError
        | Outcome::BadResponse => {
            http_status.is_some_and(|status| matches!(status, 409 | 429 | 500 | 502 | 503 | 504))
        }
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

mod limits;

pub use limits::{
    DEFAULT_BUDGET, Jitter, Pacer, RETRY_COST, RetryBudget, SUCCESS_REFILL, TIMEOUT_RETRY_COST,
};

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

    static FULL: std::sync::LazyLock<Jitter> = std::sync::LazyLock::new(|| Jitter::fixed(1.0));
    static HALF: std::sync::LazyLock<Jitter> = std::sync::LazyLock::new(|| Jitter::fixed(0.5));

    /// Facts of a first attempt that failed with a 503, with all the time and budget in the world.
    fn failed_503() -> Facts<'static> {
        Facts {
            attempt: 1,
            outcome: Outcome::GatewayError,
            http_status: Some(503),
            advice: None,
            retry_after: None,
            jitter: &FULL,
            time_left: Duration::from_secs(15),
            now: Duration::ZERO,
            pacer: None,
            budget: budget(DEFAULT_BUDGET),
        }
    }

    /// A retry budget of `tokens` for one case of a table (each case spends its own).
    fn budget(tokens: u32) -> &'static RetryBudget {
        Box::leak(Box::new(RetryBudget::new(tokens)))
    }

    /// A pacer whose next request slot is free `after` from time zero.
    fn slot_in(after: Duration) -> Option<&'static Pacer> {
        let pacer = Box::leak(Box::new(Pacer::new(1.0 / after.as_secs_f64())));
        pacer.reserve(Duration::ZERO);
        Some(pacer)
    }

    #[test]
    fn the_retry_decision_as_a_table() {
        use Decision::{Stop, Wait};
        let p = RetryPolicy::default();
        let ms = Duration::from_millis;
        let f = failed_503;
        let table: Vec<(&str, Facts<'_>, Decision)> = vec![
            ("a 503 backs off", f(), Wait(ms(500), WaitReason::Backoff)),
            (
                "the second retry waits longer",
                Facts { attempt: 2, ..f() },
                Wait(ms(1000), WaitReason::Backoff),
            ),
            (
                "jitter scales the wait",
                Facts {
                    jitter: &HALF,
                    ..f()
                },
                Wait(ms(250), WaitReason::Backoff),
            ),
            (
                "the last attempt stops",
                Facts { attempt: 3, ..f() },
                Stop(RetryStop::MaxAttempts),
            ),
            (
                "a 400 is not retried",
                Facts {
                    outcome: Outcome::BadRequest,
                    http_status: Some(400),
                    ..f()
                },
                Stop(RetryStop::NotRetryable),
            ),
            (
                "a 404 is an answer, not a failure to retry",
                Facts {
                    outcome: Outcome::NotFound,
                    http_status: Some(404),
                    ..f()
                },
                Stop(RetryStop::NotRetryable),
            ),
            (
                "a timeout is retried",
                Facts {
                    outcome: Outcome::Timeout,
                    http_status: None,
                    ..f()
                },
                Wait(ms(500), WaitReason::Backoff),
            ),
            (
                "a broken connection is retried",
                Facts {
                    outcome: Outcome::ConnectionError,
                    http_status: None,
                    ..f()
                },
                Wait(ms(500), WaitReason::Backoff),
            ),
            (
                "the gateway's no wins over a 503",
                Facts {
                    advice: Some(false),
                    ..f()
                },
                Stop(RetryStop::GatewayForbade),
            ),
            (
                "the gateway's yes retries a 400",
                Facts {
                    advice: Some(true),
                    outcome: Outcome::BadRequest,
                    http_status: Some(400),
                    ..f()
                },
                Wait(ms(500), WaitReason::ServerAdvice),
            ),
            (
                "the gateway's yes on a 503 is a plain backoff",
                Facts {
                    advice: Some(true),
                    ..f()
                },
                Wait(ms(500), WaitReason::Backoff),
            ),
            (
                "the gateway's yes still respects max attempts",
                Facts {
                    advice: Some(true),
                    attempt: 3,
                    ..f()
                },
                Stop(RetryStop::MaxAttempts),
            ),
            (
                "Retry-After is obeyed",
                Facts {
                    retry_after: Some(ms(2000)),
                    ..f()
                },
                Wait(ms(2000), WaitReason::RetryAfter),
            ),
            (
                "Retry-After is capped",
                Facts {
                    retry_after: Some(Duration::from_secs(3600)),
                    time_left: Duration::from_secs(7200),
                    ..f()
                },
                Wait(Duration::from_secs(60), WaitReason::RetryAfter),
            ),
            (
                "Retry-After past the deadline stops",
                Facts {
                    retry_after: Some(Duration::from_secs(20)),
                    ..f()
                },
                Stop(RetryStop::Deadline),
            ),
            (
                "a wait that ends exactly at the deadline stops",
                Facts {
                    time_left: ms(500),
                    ..f()
                },
                Stop(RetryStop::Deadline),
            ),
            (
                "a wait that ends just before the deadline goes",
                Facts {
                    time_left: ms(501),
                    ..f()
                },
                Wait(ms(500), WaitReason::Backoff),
            ),
            (
                "a later pacing slot lengthens the wait",
                Facts {
                    pacer: slot_in(ms(800)),
                    ..f()
                },
                Wait(ms(800), WaitReason::Backoff),
            ),
            (
                "an earlier pacing slot does not",
                Facts {
                    pacer: slot_in(ms(100)),
                    ..f()
                },
                Wait(ms(500), WaitReason::Backoff),
            ),
            (
                "a pacing slot past the deadline stops",
                Facts {
                    pacer: slot_in(Duration::from_secs(16)),
                    ..f()
                },
                Stop(RetryStop::Deadline),
            ),
            (
                "an empty budget stops",
                Facts {
                    budget: budget(4),
                    ..f()
                },
                Stop(RetryStop::RetryBudget),
            ),
            (
                "exactly a retry's cost is enough",
                Facts {
                    budget: budget(5),
                    ..f()
                },
                Wait(ms(500), WaitReason::Backoff),
            ),
            (
                "a timeout retry costs more",
                Facts {
                    budget: budget(9),
                    outcome: Outcome::Timeout,
                    http_status: None,
                    ..f()
                },
                Stop(RetryStop::RetryBudget),
            ),
            (
                "the deadline is checked before the budget",
                Facts {
                    budget: budget(0),
                    time_left: ms(10),
                    ..f()
                },
                Stop(RetryStop::Deadline),
            ),
        ];
        for (case, facts, expected) in table {
            assert_eq!(p.next(&facts), expected, "{case}");
        }
    }

    #[test]
    fn a_retry_decided_takes_its_cost_and_its_request_slot() {
        let p = RetryPolicy::default();
        let ms = Duration::from_millis;
        let budget = RetryBudget::new(DEFAULT_BUDGET);
        let pacer = Pacer::new(1.0);
        let facts = Facts {
            budget: &budget,
            pacer: Some(&pacer),
            ..failed_503()
        };
        assert_eq!(p.next(&facts), Decision::Wait(ms(500), WaitReason::Backoff));
        assert_eq!(budget.remaining(), DEFAULT_BUDGET - RETRY_COST);
        assert_eq!(
            pacer.free_in(ms(500)),
            ms(1000),
            "the slot at 500 ms is taken"
        );
        // Another check decides from the same moment: the slot it would wait for is taken,
        // so its wait grows to the next free one, and the decision says so.
        assert_eq!(
            p.next(&facts),
            Decision::Wait(ms(1500), WaitReason::Backoff)
        );
        // A stop takes nothing.
        let stopped = Facts {
            advice: Some(false),
            ..facts
        };
        let before = budget.remaining();
        assert_eq!(p.next(&stopped), Decision::Stop(RetryStop::GatewayForbade));
        assert_eq!(budget.remaining(), before);
    }
}
