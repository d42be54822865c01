//! When a cached answer may be shown instead of asking.

use std::time::Duration;

use crate::result::CheckResult;

/// Whether `result`, fetched `age` ago, may be shown on `today` instead of asking: final on
/// that day, or younger than `max_age`.
pub fn reusable(result: &CheckResult, today: time::Date, age: Duration, max_age: Duration) -> bool {
    result.is_final_on(today) || age < max_age
}
