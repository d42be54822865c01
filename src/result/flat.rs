//! One flat row per result, for CSV (`paystat audit export --format csv`, and the check
//! output): every field of [`CheckResult`](super::CheckResult) a column of its own, nested
//! objects joined with `_` (`gateway_error_code`); the attempt log stays out of a row.

use serde_json::Value;

/// The columns of a result, in order: each a path into its JSON form.
pub const RESULT_COLUMNS: &[&[&str]] = &[
    &["payment_id"],
    &["payment_id_bytes"],
    &["payment_id_sha256"],
    &["gateway"],
    &["outcome"],
    &["status"],
    &["gateway_status"],
    &["amount_minor"],
    &["currency"],
    &["amount_requested_minor"],
    &["amount_refunded_minor"],
    &["refund_pending"],
    &["dispute_status"],
    &["final_after"],
    &["finality"],
    &["created_at"],
    &["failure_code"],
    &["status_reason"],
    &["http_status"],
    &["api_version"],
    &["account"],
    &["gateway_request_id"],
    &["attempts"],
    &["retry_stop"],
    &["duration_ms"],
    &["detail"],
    &["gateway_error", "type"],
    &["gateway_error", "code"],
    &["gateway_error", "message"],
    &["source"],
    &["cache_age_s"],
];

/// The column names of `columns`: each path joined with `_`.
pub fn header(columns: &[&[&str]]) -> Vec<String> {
    columns.iter().map(|path| path.join("_")).collect()
}

/// The cells of `value` (a JSON object) under `columns`: strings as they are, numbers and
/// booleans as JSON writes them, absent and null as empty cells.
pub fn cells(value: &Value, columns: &[&[&str]]) -> Vec<String> {
    columns
        .iter()
        .map(|path| {
            let mut at = value;
            for key in *path {
                match at.get(key) {
                    Some(next) => at = next,
                    None => return String::new(),
                }
            }
            match at {
                Value::Null => String::new(),
                Value::String(text) => text.clone(),
                other => other.to_string(),
            }
        })
        .collect()
}

/// A CSV cell that is safe to open in a spreadsheet (OWASP's CSV-injection guidance): one that
/// begins with `=`, `+`, `-`, `@`, TAB or CR is prefixed with `'` so that no formula runs, and
/// control characters (C0 but TAB, DEL, C1, and so every escape sequence) are written visibly,
/// as `\u{1b}`. Ordinary text, `'` and `"` included, is left exactly as it is (JSON lines keep
/// the exact bytes of everything).
pub fn spreadsheet_safe(text: &str) -> std::borrow::Cow<'_, str> {
    let risky_start = text.starts_with(['=', '+', '-', '@', '\t', '\r']);
    let control = |c: char| (c.is_control() && c != '\t') || c == '\u{7f}';
    if !risky_start && !text.contains(control) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    if risky_start {
        out.push('\'');
    }
    for c in text.chars() {
        if control(c) {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::result::{CheckResult, GatewayError, GatewayKind, Money, Outcome, PaymentStatus};

    /// Every leaf of a result with every field set has a column (the attempt log aside), so a
    /// new field cannot go missing from CSV.
    #[test]
    fn every_field_has_a_column() {
        let mut result =
            CheckResult::new("x".repeat(300), Some(GatewayKind::Stripe), Outcome::Found);
        result.status = Some(PaymentStatus::Completed);
        result.gateway_status = Some("succeeded".into());
        result.amount = Some(Money::from_minor(
            100,
            crate::result::currency("USD").unwrap(),
        ));
        result.amount_requested_minor = Some(1);
        result.amount_refunded_minor = Some(1);
        result.refund_pending = Some(true);
        result.dispute_status = Some("won".into());
        result.final_after = Some("2026-01-01".into());
        result.finality = Some(crate::result::Finality::FinalAfter);
        result.source = crate::result::Source::Cache;
        result.cache_age_s = Some(60);
        result.created_at = Some("2026-01-01T00:00:00Z".into());
        result.failure_code = Some("R01".into());
        result.status_reason = Some("why".into());
        result.http_status = Some(200);
        result.api_version = Some("v".into());
        result.account = Some("acct_1".into());
        result.gateway_request_id = Some("req".into());
        result.retry_stop = Some(crate::result::RetryStop::Deadline);
        result.detail = Some("d".into());
        result.gateway_error = Some(GatewayError {
            kind: Some("t".into()),
            code: Some("c".into()),
            message: Some("m".into()),
        });
        result.bound();
        let value = serde_json::to_value(&result).unwrap();
        let mut leaves = Vec::new();
        for (key, field) in value.as_object().unwrap() {
            match field {
                Value::Object(inner) => {
                    leaves.extend(inner.keys().map(|k| format!("{key}_{k}")));
                }
                _ if key == "attempt_log" => {}
                _ => leaves.push(key.clone()),
            }
        }
        let columns = header(RESULT_COLUMNS);
        for leaf in &leaves {
            assert!(columns.contains(leaf), "no CSV column for {leaf}");
        }
        assert_eq!(columns.len(), leaves.len(), "{columns:?} / {leaves:?}");
        let row = cells(&value, RESULT_COLUMNS);
        assert_eq!(row[4], "found");
        assert_eq!(row[7], "100");
        assert_eq!(row[14], "final_after");
        assert_eq!(row[28], "m");
        assert_eq!(row[29], "cache");
        assert_eq!(row[30], "60");
        assert_eq!(row[1], "300");
    }

    #[test]
    fn cells_that_would_run_in_a_spreadsheet_are_defused() {
        for (text, safe) in [
            ("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"),
            ("+1", "'+1"),
            ("-2+3", "'-2+3"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\tx", "'\tx"),
            ("\rx", "'\\u{d}x"),
            ("a\u{1b}]8;;http://x\u{7}b", "a\\u{1b}]8;;http://x\\u{7}b"),
            ("a\u{9b}b\u{7f}", "a\\u{9b}b\\u{7f}"),
            ("txn_001", "txn_001"),
            (
                "the gateway's \"word\"\tand tab",
                "the gateway's \"word\"\tand tab",
            ),
            ("", ""),
        ] {
            assert_eq!(spreadsheet_safe(text), safe, "{text:?}");
        }
    }
}
