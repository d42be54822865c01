//! How results are shown: a table for people, JSON for programs.

use comfy_table::{ContentArrangement, Table, presets};

use paystat::CheckResult;
use paystat::payment_id::display_safe;

use serde::Serialize;

/// How old a found payment is, when `--stale-after` asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Age {
    /// Seconds since the gateway created the payment.
    pub age_s: u64,
    /// Still pending, authorized or requiring action after `--stale-after`.
    pub stale: bool,
}

/// A cell's text: control characters escaped, and `|` escaped so that text from an id, a
/// gateway or a trail line cannot add columns to a Markdown table. Every table uses it.
pub(crate) fn cell(text: &str) -> String {
    display_safe(text).replace('|', "\\|")
}

/// A table with one row per result; amounts in major units with their currency.
#[cfg(test)]
pub fn table(results: &[CheckResult]) -> String {
    let rows: Vec<(&CheckResult, Option<Age>)> = results.iter().map(|r| (r, None)).collect();
    table_of(&rows, false, None)
}

/// A table of `rows`; with `aged`, an `age` column (`3 d`, marked `stale`); no wider than
/// `width` when given (the wide text columns wrap).
pub fn table_of(rows: &[(&CheckResult, Option<Age>)], aged: bool, width: Option<u16>) -> String {
    let mut table = Table::new();
    table.load_preset(presets::ASCII_MARKDOWN);
    if let Some(width) = width {
        table
            .set_width(width)
            .set_content_arrangement(ContentArrangement::Dynamic);
    }
    let mut header = vec![
        "payment",
        "gateway",
        "outcome",
        "source",
        "status",
        "amount",
        "gateway status",
        "detail",
    ];
    if aged {
        header.insert(5, "age");
    }
    table.set_header(header);
    for (r, age) in rows {
        let status = r.status.map(|s| s.as_str().to_owned()).unwrap_or_default();
        // The amount that moved, and what was asked for when that differs (a partial capture).
        let amount = match (r.amount, r.amount_requested_minor) {
            (Some(m), Some(requested)) if requested != m.amount_minor => {
                let asked = paystat::Money::from_minor(requested, m.currency);
                let asked = asked.to_string();
                let asked = asked.trim_end_matches(m.currency_code()).trim_end();
                format!("{m} (of {asked})")
            }
            (Some(m), _) => m.to_string(),
            (None, _) => String::new(),
        };
        let detail = r
            .failure_code
            .clone()
            .or_else(|| r.status_reason.clone())
            .or_else(|| r.detail.clone())
            .unwrap_or_default();
        // Where the answer came from: asked now, or the cache and how old its answer is.
        let source = match r.cache_age_s {
            Some(age) if r.source == paystat::Source::Cache => format!(
                "cache, {} old",
                paystat::clock::human(std::time::Duration::from_secs(age))
            ),
            _ => r.source.as_str().to_owned(),
        };
        let mut row = vec![
            cell(&r.payment_id),
            r.gateway.map(|g| g.to_string()).unwrap_or_default(),
            r.outcome.to_string(),
            source,
            status,
            amount,
            r.gateway_status.as_deref().map(cell).unwrap_or_default(),
            cell(&detail),
        ];
        if aged {
            let age = age.map_or(String::new(), |a| {
                let text = paystat::clock::human(std::time::Duration::from_secs(a.age_s));
                if a.stale {
                    format!("{text} (stale)")
                } else {
                    text
                }
            });
            row.insert(5, age);
        }
        table.add_row(row);
    }
    table.to_string()
}

#[cfg(test)]
mod tests {
    use paystat::{CheckResult, GatewayKind, Outcome};

    /// Column separators in a Markdown row: `|` not escaped by a backslash.
    fn separators(row: &str) -> usize {
        let bytes = row.as_bytes();
        (0..bytes.len())
            .filter(|&i| bytes[i] == b'|' && (i == 0 || bytes[i - 1] != b'\\'))
            .count()
    }

    #[test]
    fn a_partial_capture_shows_what_moved_and_what_was_asked() {
        let usd = paystat::currency("USD").unwrap();
        let mut result = found();
        result.amount = Some(paystat::Money::from_minor(3000, usd));
        result.amount_requested_minor = Some(5000);
        assert!(super::table(&[result.clone()]).contains("| 30.00 USD (of 50.00) |"));
        result.amount_requested_minor = Some(3000);
        assert!(super::table(&[result]).contains("| 30.00 USD |"));
    }

    fn found() -> CheckResult {
        CheckResult {
            status: Some(paystat::PaymentStatus::Completed),
            gateway_status: Some("succeeded".into()),
            http_status: Some(200),
            attempts: 1,
            duration_ms: 1,
            ..CheckResult::new("pi_1", Some(GatewayKind::Stripe), Outcome::Found)
        }
    }

    #[test]
    fn no_cell_can_add_a_column() {
        let result = CheckResult {
            gateway_status: Some("weird|word".into()),
            http_status: Some(404),
            attempts: 1,
            duration_ms: 1,
            detail: Some("the ledger answered HTTP 404: no payment txn_a|b\nsecond line".into()),
            ..CheckResult::new("txn_a|b", Some(GatewayKind::Ledger), Outcome::NotFound)
        };
        let text = super::table(&[result]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "one header, one rule, one row:\n{text}");
        assert_eq!(separators(lines[2]), separators(lines[0]), "{text}");
        assert!(
            lines[2].contains("txn_a\\|b") && lines[2].contains("weird\\|word"),
            "{text}"
        );
    }
}
