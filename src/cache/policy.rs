//! When a cached answer may be shown instead of asking.

use std::time::Duration;

use crate::result::CheckResult;

/// How a run stands with a gateway's change feed, once it has tried to sync it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Followed {
    /// Synced to its end just now, having been read without a gap from `since`; `position` is
    /// where it stands.
    Synced {
        /// The position from which the feed has been followed without a gap.
        since: String,
        /// The position the sync reached.
        position: String,
    },
    /// The sync failed: nothing proves that a changing answer is unchanged.
    Failed,
}

/// Whether `result`, fetched `age` ago while the feed stood at `stored_at`, may be shown on
/// `today` instead of asking: final on that day; or, when the run followed the gateway's feed
/// (`feed`), stored within the stretch the feed has been followed without a gap, so any change
/// since would have dropped it; or, for a gateway whose feed the run did not follow (none, or
/// `--no-sync`), younger than `max_age`.
pub fn reusable(
    result: &CheckResult,
    today: time::Date,
    age: Duration,
    max_age: Duration,
    stored_at: Option<&str>,
    feed: Option<&Followed>,
) -> bool {
    if result.is_final_on(today) {
        return true;
    }
    match feed {
        Some(Followed::Synced { since, .. }) => {
            stored_at.is_some_and(|position| !position_after(since, position))
        }
        Some(Followed::Failed) => false,
        None => age < max_age,
    }
}

/// Whether feed position `a` is after `b` (positions are integers: event ids, unix seconds; a
/// number is after what is not one).
pub fn position_after(a: &str, b: &str) -> bool {
    match (a.parse::<i128>(), b.parse::<i128>()) {
        (Ok(a), Ok(b)) => a > b,
        (Ok(_), Err(_)) => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::result::{Finality, GatewayKind, Outcome};

    #[test]
    fn positions_compare_as_numbers() {
        assert!(position_after("10", "9"));
        assert!(!position_after("9", "10"));
        assert!(!position_after("9", "9"));
        assert!(position_after("1", "not a number"));
        assert!(!position_after("junk", "1"));
    }

    #[test]
    fn a_changing_answer_needs_the_feed_or_max_age() {
        let mut result = CheckResult::new("pi_1", Some(GatewayKind::Stripe), Outcome::Found);
        result.finality = Some(Finality::Changing);
        let today = time::macros::date!(2026 - 12 - 02);
        let minute = Duration::from_secs(60);
        let synced = |since: &str| Followed::Synced {
            since: since.into(),
            position: "500".into(),
        };
        let reuse =
            |result: &CheckResult, stored: Option<&str>, feed: Option<&Followed>, max_age| {
                reusable(result, today, minute, max_age, stored, feed)
            };
        assert!(reuse(
            &result,
            Some("100"),
            Some(&synced("100")),
            Duration::ZERO
        ));
        assert!(reuse(
            &result,
            Some("120"),
            Some(&synced("100")),
            Duration::ZERO
        ));
        assert!(!reuse(
            &result,
            Some("99"),
            Some(&synced("100")),
            Duration::ZERO
        ));
        assert!(!reuse(
            &result,
            None,
            Some(&synced("100")),
            Duration::from_secs(3600)
        ));
        assert!(!reuse(
            &result,
            Some("100"),
            Some(&Followed::Failed),
            Duration::from_secs(3600)
        ));
        assert!(reuse(&result, None, None, Duration::from_secs(3600)));
        assert!(!reuse(&result, None, None, minute));
        result.finality = Some(Finality::Final);
        assert!(reuse(
            &result,
            None,
            Some(&Followed::Failed),
            Duration::ZERO
        ));
    }
}
