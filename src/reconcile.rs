//! `paystat reconcile`: the company's own export of a period against the gateway's view of it.
//!
//! The window is filled from the gateway's list (or a fill of it is used), the feed followed,
//! then every payment shown is checked — the export's ids, and the payments the gateway listed
//! in the window that the export lacks — each check audited like any other, answered from the
//! filled cache wherever its rules allow. Each row says how the two views differ: `none`,
//! `missing_at_gateway` (the gateway says it has no such payment), `missing_in_export` (the
//! gateway has it in the window), `amount_differs` (the export's amount or currency is not the
//! amount that moved), or `unresolved` (the gateway gave no answer, so nothing can be said).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Read;

use futures_util::StreamExt;
use serde::Serialize;

use crate::check::{Ask, Checker, Routing, UnauditedCheck};
use crate::fill::{FillError, FillOptions, FillReport};
use crate::result::{CheckResult, Money, Outcome, currency};

/// The longest export record paystat reads.
const MAX_RECORD: usize = 64 * 1024;

/// One row of the company's export: a payment and, when the export has it, its amount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportRow {
    /// The payment.
    pub payment_id: String,
    /// Its amount, exact, when the export has an amount and a currency column.
    pub amount: Option<Money>,
}

/// How the export and the gateway differ on one payment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Difference {
    /// They agree.
    None,
    /// In the export; the gateway says it has no such payment.
    MissingAtGateway,
    /// The gateway has it in the window; the export does not.
    MissingInExport,
    /// Both have it; the export's amount (or currency) is not the amount that moved.
    AmountDiffers,
    /// The gateway gave no answer (a timeout, an outage): nothing can be said yet.
    Unresolved,
}

impl Difference {
    /// Its word, as rows and totals write it.
    pub fn as_str(self) -> &'static str {
        match self {
            Difference::None => "none",
            Difference::MissingAtGateway => "missing_at_gateway",
            Difference::MissingInExport => "missing_in_export",
            Difference::AmountDiffers => "amount_differs",
            Difference::Unresolved => "unresolved",
        }
    }
}

/// One payment reconciled: the difference, what the export says, and the audited check.
#[derive(Debug, Clone, Serialize)]
pub struct Reconciled {
    /// How the two views differ.
    pub difference: Difference,
    /// Whether the export lists it.
    pub in_export: bool,
    /// The export's amount, minor units, when it has one.
    pub export_amount_minor: Option<i64>,
    /// The export's currency, when it has one.
    pub export_currency: Option<&'static str>,
    /// Whether the gateway created it within the window (unknown without an answer).
    pub in_window: Option<bool>,
    /// The check, as audited.
    #[serde(flatten)]
    pub result: CheckResult,
}

/// Counts and sums (minor units per currency) of a group of rows.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Total {
    /// Rows.
    pub payments: u64,
    /// The amount that moved, per currency, minor units.
    pub amount_minor: BTreeMap<String, i64>,
}

impl Total {
    fn add(&mut self, result: &CheckResult) {
        self.payments += 1;
        if let Some(amount) = result.amount {
            let sum = self
                .amount_minor
                .entry(amount.currency_code().to_owned())
                .or_default();
            *sum = sum.saturating_add(amount.amount_minor);
        }
    }
}

/// What a reconciliation found in all.
#[derive(Debug, Clone, Serialize)]
pub struct ReconcileReport {
    /// The fill of the window (or the earlier one used).
    pub fill: FillReport,
    /// Rows in the export.
    pub export_rows: u64,
    /// Payments shown (every one audited).
    pub shown: u64,
    /// Per paystat status (`not_found` and the like for a check without a payment).
    pub by_status: BTreeMap<String, Total>,
    /// Per difference.
    pub by_difference: BTreeMap<String, Total>,
    /// Checks whose line could not be written (their answers withheld), and why.
    pub withheld: Vec<String>,
}

/// Why a reconciliation could not be done.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReconcileError {
    /// The export cannot be read.
    #[error("the export cannot be read: {0}")]
    Export(String),
    /// The fill could not run.
    #[error(transparent)]
    Fill(#[from] FillError),
}

/// Reads the company's export: CSV with a header naming the ids' column (`payment_id` or
/// `id`) and, optionally, `amount` (major units, like `20.00`) or `amount_minor`, with
/// `currency` (ISO 4217). Every row must be whole: a row whose amount cannot be read exactly is
/// an error naming its line, never a guess.
pub fn read_export(reader: impl Read) -> Result<Vec<ExportRow>, ReconcileError> {
    let bad = |e: String| ReconcileError::Export(e);
    let mut csv = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .flexible(false)
        .from_reader(reader);
    let headers = csv
        .headers()
        .map_err(|e| bad(format!("its header: {e}")))?
        .clone();
    let column = |names: &[&str]| {
        headers
            .iter()
            .position(|h| names.iter().any(|n| h.eq_ignore_ascii_case(n)))
    };
    let id = column(&["payment_id", "id"])
        .ok_or_else(|| bad("its header names no `payment_id` or `id` column".into()))?;
    let major = column(&["amount"]);
    let minor = column(&["amount_minor"]);
    let code = column(&["currency"]);
    if (major.is_some() || minor.is_some()) != code.is_some() {
        return Err(bad(
            "an amount column needs a `currency` column beside it (and a currency an amount)"
                .into(),
        ));
    }
    let mut rows = Vec::new();
    let mut seen = HashSet::new();
    for (index, record) in csv.records().enumerate() {
        let line = index + 2;
        let record = record.map_err(|e| bad(format!("line {line}: {e}")))?;
        if record.as_slice().len() > MAX_RECORD {
            return Err(bad(format!("line {line} is longer than 64 KiB")));
        }
        let payment_id = record.get(id).unwrap_or_default().to_owned();
        if payment_id.is_empty() {
            return Err(bad(format!("line {line} has no payment id")));
        }
        let amount = match (major, minor, code) {
            (_, _, None) => None,
            (major, minor, Some(code)) => {
                let code = record.get(code).unwrap_or_default();
                let currency = currency(code).map_err(|e| bad(format!("line {line}: {e}")))?;
                let money = match (
                    major.and_then(|m| record.get(m)),
                    minor.and_then(|m| record.get(m)),
                ) {
                    (Some(text), _) if !text.is_empty() => Money::from_major_text(text, currency),
                    (_, Some(text)) if !text.is_empty() => match text.parse::<i64>() {
                        Ok(minor) => Ok(Money::from_minor(minor, currency)),
                        Err(_) => {
                            return Err(bad(format!(
                                "line {line}: amount_minor `{text}` is not a whole number"
                            )));
                        }
                    },
                    _ => return Err(bad(format!("line {line} has a currency and no amount"))),
                };
                Some(money.map_err(|e| bad(format!("line {line}: {e}")))?)
            }
        };
        if !seen.insert(payment_id.clone()) {
            return Err(bad(format!(
                "line {line} repeats payment {}",
                crate::payment_id::display_safe(&payment_id)
            )));
        }
        rows.push(ExportRow { payment_id, amount });
    }
    Ok(rows)
}

/// The difference the export's `row` (none: the export lacks the payment) and the gateway's
/// answer make.
pub fn difference(row: Option<&ExportRow>, result: &CheckResult) -> Difference {
    match (row, result.outcome) {
        (_, Outcome::Found) => match row.and_then(|r| r.amount) {
            None if row.is_none() => Difference::MissingInExport,
            Some(expected) if Some(expected) != result.amount => Difference::AmountDiffers,
            _ => Difference::None,
        },
        (Some(_), Outcome::NotFound) => Difference::MissingAtGateway,
        _ => Difference::Unresolved,
    }
}

impl Checker {
    /// Reconciles `export` against the gateway's view of `options.window`: fills the window,
    /// follows the feed, checks every payment shown (audited) and hands each row to `each` as
    /// it is decided, in the export's order, then the payments the export lacks in id order.
    pub async fn reconcile(
        &self,
        export: Vec<ExportRow>,
        options: &FillOptions,
        progress: &(dyn Fn(&FillReport) + Sync),
        mut each: impl FnMut(&Reconciled) + Send,
    ) -> Result<ReconcileReport, ReconcileError> {
        let fill = self.fill(options, progress).await?;
        let members = match (&fill.state, self.cache()) {
            (Some(state), Some(cache)) => cache
                .fill_members(state)
                .map_err(|e| ReconcileError::Fill(FillError::Cache(e)))?,
            _ => Vec::new(),
        };
        // What changed since the fill is dropped before anything is served from it.
        for (gateway, why) in self.follow_feeds().await {
            tracing::warn!(%gateway, %why, "the change feed could not be synced; its changing answers are asked again");
        }
        let in_export: HashMap<String, usize> = export
            .iter()
            .enumerate()
            .map(|(i, row)| (row.payment_id.clone(), i))
            .collect();
        let extra: Vec<String> = members
            .into_iter()
            .filter(|id| !in_export.contains_key(id))
            .collect();
        let mut report = ReconcileReport {
            fill,
            export_rows: export.len() as u64,
            shown: 0,
            by_status: BTreeMap::new(),
            by_difference: BTreeMap::new(),
            withheld: Vec::new(),
        };
        let window = options.window;
        let ids = export
            .iter()
            .map(|row| row.payment_id.clone())
            .chain(extra)
            .collect::<Vec<_>>();
        // Each check audited as the caller's (the service's actor), asked of the window's gateway.
        let ask = Ask {
            routing: Some(Routing::Fixed(options.gateway)),
            caller: options.caller.clone(),
            max_age: None,
            refresh: false,
        };
        let mut checked = self.check_stream_send(futures_util::stream::iter(ids), true, &ask);
        while let Some(result) = checked.next().await {
            let result = match result {
                Ok(result) => result,
                Err(UnauditedCheck { payment_id, source }) => {
                    report.withheld.push(format!(
                        "{}: {source}",
                        crate::payment_id::display_safe(&payment_id)
                    ));
                    continue;
                }
            };
            let row = in_export.get(&result.payment_id).map(|&i| &export[i]);
            let difference = difference(row, &result);
            let status = result.status.map_or_else(
                || result.outcome.as_str().to_owned(),
                |s| s.as_str().to_owned(),
            );
            report.by_status.entry(status).or_default().add(&result);
            report
                .by_difference
                .entry(difference.as_str().to_owned())
                .or_default()
                .add(&result);
            report.shown += 1;
            let reconciled = Reconciled {
                difference,
                in_export: row.is_some(),
                export_amount_minor: row.and_then(|r| r.amount).map(|m| m.amount_minor),
                export_currency: row.and_then(|r| r.amount).map(|m| m.currency_code()),
                in_window: result.created_at.as_deref().map(|at| window.holds(at)),
                result,
            };
            each(&reconciled);
        }
        // The sync above vouched for this reconciliation's answers, not for later checks of a
        // checker that lives on (the service's).
        self.unfollow_feeds();
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::result::GatewayKind;

    fn found(amount: i64) -> CheckResult {
        let mut result = CheckResult::new("pi_1", Some(GatewayKind::Stripe), Outcome::Found);
        result.amount = Some(Money::from_minor(amount, currency("USD").unwrap()));
        result
    }

    #[test]
    fn the_four_differences_and_an_unanswered_check() {
        let usd = currency("USD").unwrap();
        let row = |amount| ExportRow {
            payment_id: "pi_1".into(),
            amount,
        };
        assert_eq!(difference(Some(&row(None)), &found(2000)), Difference::None);
        assert_eq!(
            difference(Some(&row(Some(Money::from_minor(2000, usd)))), &found(2000)),
            Difference::None
        );
        assert_eq!(
            difference(Some(&row(Some(Money::from_minor(2001, usd)))), &found(2000)),
            Difference::AmountDiffers
        );
        let eur = Money::from_minor(2000, currency("EUR").unwrap());
        assert_eq!(
            difference(Some(&row(Some(eur))), &found(2000)),
            Difference::AmountDiffers
        );
        assert_eq!(difference(None, &found(2000)), Difference::MissingInExport);
        let missing = CheckResult::new("pi_1", Some(GatewayKind::Stripe), Outcome::NotFound);
        assert_eq!(
            difference(Some(&row(None)), &missing),
            Difference::MissingAtGateway
        );
        let timeout = CheckResult::new("pi_1", Some(GatewayKind::Stripe), Outcome::Timeout);
        assert_eq!(
            difference(Some(&row(None)), &timeout),
            Difference::Unresolved
        );
    }

    #[test]
    fn an_export_with_both_amount_columns_reads_whichever_a_row_fills() {
        let text = "payment_id,amount,amount_minor,currency\npi_1,,2000,USD\npi_2,30.00,,USD\n";
        let rows = read_export(text.as_bytes()).unwrap();
        assert_eq!(rows[0].amount.unwrap().amount_minor, 2000);
        assert_eq!(rows[1].amount.unwrap().amount_minor, 3000);
        let neither = "payment_id,amount,amount_minor,currency\npi_1,,,USD\n";
        let error = read_export(neither.as_bytes()).unwrap_err().to_string();
        assert!(
            error.contains("line 2 has a currency and no amount"),
            "{error}"
        );
    }

    #[test]
    fn a_long_record_is_read_and_one_over_64_kib_is_refused() {
        let long = format!("payment_id,note\npi_1,{}\n", "x".repeat(60_000));
        assert_eq!(read_export(long.as_bytes()).unwrap().len(), 1);
        let too_long = format!("payment_id,note\npi_1,{}\n", "x".repeat(70_000));
        let error = read_export(too_long.as_bytes()).unwrap_err().to_string();
        assert!(error.contains("line 2 is longer than 64 KiB"), "{error}");
    }

    #[test]
    fn an_export_is_read_exactly_or_refused_with_its_line() {
        let rows =
            read_export("payment_id,amount,currency\npi_1,20.00,USD\npi_2,1500,JPY\n".as_bytes())
                .unwrap();
        assert_eq!(rows[0].amount.unwrap().amount_minor, 2000);
        assert_eq!(rows[1].amount.unwrap().amount_minor, 1500);
        let minor = read_export("id,amount_minor,currency\npi_1,2000,usd\n".as_bytes()).unwrap();
        assert_eq!(minor[0].amount.unwrap().amount_minor, 2000);
        let ids = read_export("payment_id\npi_1\npi_2\n".as_bytes()).unwrap();
        assert_eq!(ids.len(), 2);
        assert!(ids[0].amount.is_none());
        for (text, says) in [
            ("payment_id,amount,currency\npi_1,20.001,USD\n", "line 2"),
            ("payment_id,amount\npi_1,20.00\n", "currency"),
            ("payment_id,amount,currency\npi_1,20.00,XYZ\n", "line 2"),
            ("payment_id\npi_1\npi_1\n", "line 3 repeats"),
            ("amount\n20\n", "no `payment_id`"),
            ("payment_id,amount,currency\n,20.00,USD\n", "no payment id"),
        ] {
            let error = read_export(text.as_bytes()).unwrap_err().to_string();
            assert!(error.contains(says), "{text:?}: {error}");
        }
    }
}
