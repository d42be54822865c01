//! What a retry spends and waits for: the gateway's retry budget (a token bucket), its pacing
//! (request slots shared by all checks), and the backoff's jitter.

use std::sync::Mutex;
use std::time::Duration;

use super::retry_cost;
use crate::result::Outcome;

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
        let cost = retry_cost(outcome);
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
        self.reserve_after(now, Duration::ZERO)
    }

    /// Reserves the first free slot at least `earliest` after `now`, and says how long after
    /// `now` it is: `earliest`, or longer when that slot is taken.
    pub fn reserve_after(&self, now: Duration, earliest: Duration) -> Duration {
        let mut next_free = self.next_free.lock().unwrap_or_else(|p| p.into_inner());
        let slot = (*next_free).max(now + earliest);
        *next_free = slot + self.interval;
        slot - now
    }

    /// How long after `now` the next slot is free, without reserving it.
    pub fn free_in(&self, now: Duration) -> Duration {
        let next_free = self.next_free.lock().unwrap_or_else(|p| p.into_inner());
        next_free.saturating_sub(now)
    }
}

/// The jitter source: seeded (or fixed) in tests so a schedule can be asserted exactly.
#[derive(Debug)]
pub struct Jitter(JitterSource);

#[derive(Debug)]
enum JitterSource {
    Random(Mutex<fastrand::Rng>),
    Fixed(f64),
}

impl Jitter {
    /// Jitter from the operating system's entropy.
    pub fn random() -> Jitter {
        Jitter(JitterSource::Random(Mutex::new(fastrand::Rng::new())))
    }

    /// Repeatable jitter.
    pub fn seeded(seed: u64) -> Jitter {
        Jitter(JitterSource::Random(Mutex::new(fastrand::Rng::with_seed(
            seed,
        ))))
    }

    /// The same number every time (clamped to [0, 1]): the full backoff at 1.0, none at 0.0.
    pub fn fixed(unit: f64) -> Jitter {
        Jitter(JitterSource::Fixed(unit.clamp(0.0, 1.0)))
    }

    /// A number in [0, 1).
    pub fn unit(&self) -> f64 {
        match &self.0 {
            JitterSource::Random(rng) => rng.lock().unwrap_or_else(|p| p.into_inner()).f64(),
            JitterSource::Fixed(unit) => *unit,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn a_slot_reserved_after_a_wait_is_the_first_free_one_from_then() {
        let pacer = Pacer::new(10.0);
        let ms = Duration::from_millis;
        assert_eq!(
            pacer.reserve_after(ms(1000), ms(500)),
            ms(500),
            "free: the wait asked"
        );
        assert_eq!(
            pacer.reserve_after(ms(1000), ms(500)),
            ms(600),
            "taken: the next one"
        );
        assert_eq!(
            pacer.reserve_after(ms(1000), ms(900)),
            ms(900),
            "free again by then"
        );
    }

    #[test]
    fn the_pacer_can_be_asked_without_reserving() {
        let pacer = Pacer::new(10.0);
        let now = Duration::from_secs(1);
        assert_eq!(pacer.free_in(now), Duration::ZERO);
        assert_eq!(pacer.reserve(now), Duration::ZERO);
        assert_eq!(pacer.free_in(now), Duration::from_millis(100));
        assert_eq!(
            pacer.free_in(now),
            Duration::from_millis(100),
            "asking reserves nothing"
        );
        assert_eq!(pacer.free_in(now + Duration::from_secs(1)), Duration::ZERO);
    }
}
