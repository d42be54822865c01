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
}
