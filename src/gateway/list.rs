//! A gateway's lists of payments by creation time, for `paystat cache fill` and `paystat
//! reconcile`: a month of payments in a hundredth of the requests a check per id costs.
//!
//! An adapter hands the checker a [`Lister`]: the requests for the list's pages, one after
//! another, and the reading of each reply. Every payment on a page is read by the same code that
//! reads a single check's reply ([`super::Gateway::read`]), so a listed payment and a checked one
//! are judged by one mapping. A lister may read another list first (Stripe's disputes since the
//! window opened, which it attaches to the intents they name).

use time::OffsetDateTime;

use super::{Reading, Reply};

/// The creation times a list covers: from `since` (included) to `until` (excluded), UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// The first instant.
    pub since: OffsetDateTime,
    /// The first instant after the window.
    pub until: OffsetDateTime,
}

impl Window {
    /// Whether `at` (RFC 3339) falls within the window; `false` when it does not read.
    pub fn holds(&self, at: &str) -> bool {
        OffsetDateTime::parse(at, &time::format_description::well_known::Rfc3339)
            .is_ok_and(|t| self.since <= t && t < self.until)
    }
}

/// One page of a list, read.
#[derive(Debug, Clone, Default)]
pub struct ListedPage {
    /// Which list the page is of (`payment_intents`, `disputes`, `transfers`).
    pub list: &'static str,
    /// Where this page started (`None` for a list's first page).
    pub cursor: Option<String>,
    /// Where the next page of the same list starts, when there is more.
    pub next: Option<String>,
    /// The payments on the page, each with what a check's reading of it would be (none on a
    /// page of another list).
    pub payments: Vec<(String, Reading)>,
    /// The gateway's own id for the request.
    pub request_id: Option<String>,
}

/// The pages of one list of payments, read one after another.
pub trait Lister: Send {
    /// The request for the next page; `None` once the lists are read to their end.
    fn request(&self, client: &reqwest::Client) -> Option<reqwest::Result<reqwest::Request>>;

    /// Reads the reply to the last [`Lister::request`] and moves past it; one sentence when
    /// the reply is not a page of the list.
    fn read(&mut self, reply: &Reply) -> Result<ListedPage, String>;

    /// Where the list of payments stands: the next page's start, from which a fill that stops
    /// here resumes (`None` before its first page, and at its end).
    fn resume_point(&self) -> Option<String>;

    /// Whether every list was read to its end.
    fn done(&self) -> bool;
}

/// The window's bounds as Plaid and the audit lines write them: RFC 3339, UTC.
pub fn rfc3339(at: OffsetDateTime) -> String {
    at.to_offset(time::UtcOffset::UTC)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_holds_its_start_and_not_its_end() {
        let window = Window {
            since: time::macros::datetime!(2026-11-01 0:00 UTC),
            until: time::macros::datetime!(2026-12-01 0:00 UTC),
        };
        assert!(window.holds("2026-11-01T00:00:00Z"));
        assert!(window.holds("2026-11-30T23:59:59Z"));
        assert!(!window.holds("2026-12-01T00:00:00Z"));
        assert!(!window.holds("2026-10-31T23:59:59Z"));
        assert!(!window.holds("yesterday"));
        assert_eq!(rfc3339(window.since), "2026-11-01T00:00:00Z");
    }
}
