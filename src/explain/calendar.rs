//! Business days: weekdays that are not holidays (the configuration's `[explain] holidays`).

use std::collections::BTreeSet;

use time::{Date, Weekday};

/// The most days counted (about 27 years): past that, the count stops growing.
const MAX_DAYS: u32 = 10_000;

/// Which days are business days.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Calendar {
    /// Days that are not business days although they are weekdays.
    pub holidays: BTreeSet<Date>,
}

impl Calendar {
    /// Whether `day` is a business day.
    pub fn is_business_day(&self, day: Date) -> bool {
        !matches!(day.weekday(), Weekday::Saturday | Weekday::Sunday)
            && !self.holidays.contains(&day)
    }

    /// Business days after `from` up to and including `to`: a payment created on a Monday is
    /// 2 business days old on Wednesday, and 5 on the next Monday.
    pub fn business_days_between(&self, from: Date, to: Date) -> u32 {
        let mut count = 0;
        let mut day = from;
        for _ in 0..MAX_DAYS {
            if day >= to {
                break;
            }
            let Some(next) = day.next_day() else { break };
            day = next;
            if self.is_business_day(day) {
                count += 1;
            }
        }
        count
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn weekends_and_holidays_do_not_count() {
        let calendar = Calendar::default();
        // 2026-11-30 is a Monday.
        assert_eq!(
            calendar.business_days_between(date!(2026 - 11 - 30), date!(2026 - 11 - 30)),
            0
        );
        assert_eq!(
            calendar.business_days_between(date!(2026 - 11 - 30), date!(2026 - 12 - 02)),
            2
        );
        assert_eq!(
            calendar.business_days_between(date!(2026 - 11 - 30), date!(2026 - 12 - 07)),
            5
        );
        assert_eq!(
            calendar.business_days_between(date!(2026 - 12 - 04), date!(2026 - 12 - 06)),
            0
        );
        assert_eq!(
            calendar.business_days_between(date!(2026 - 12 - 04), date!(2026 - 12 - 07)),
            1
        );
        let holidays = Calendar {
            holidays: BTreeSet::from([date!(2026 - 12 - 01)]),
        };
        assert_eq!(
            holidays.business_days_between(date!(2026 - 11 - 30), date!(2026 - 12 - 02)),
            1
        );
        assert!(!holidays.is_business_day(date!(2026 - 12 - 01)));
        // Backwards is no time at all.
        assert_eq!(
            calendar.business_days_between(date!(2026 - 12 - 07), date!(2026 - 11 - 30)),
            0
        );
    }

    #[test]
    fn a_very_old_payment_is_bounded() {
        let calendar = Calendar::default();
        let days = calendar.business_days_between(date!(1900 - 01 - 01), date!(2026 - 12 - 02));
        assert!(days > 7000 && days <= MAX_DAYS, "{days}");
    }
}
