//! The end of a run, for people and for programs: counts by outcome, status and gateway; per
//! gateway the latency percentiles (an HDR histogram), retries and time spent waiting to retry;
//! the slowest checks; stale payments. On stderr, and with `--summary-json FILE` as one object.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

use paystat::CheckResult;
use paystat::clock::human as human_duration;

/// How many of the slowest checks are named.
const SLOWEST: usize = 5;

/// The figures of one gateway.
#[derive(Debug, Serialize)]
pub struct GatewaySummary {
    pub checks: u64,
    /// Checks answered from the status cache (each saved at least one request); the
    /// latency figures are those of the others.
    pub from_cache: u64,
    pub p50_ms: u64,
    pub p95_ms: u64,
    pub p99_ms: u64,
    pub max_ms: u64,
    pub retries: u64,
    pub retry_wait_ms: u64,
    #[serde(skip)]
    latency: Option<Histogram<u64>>,
}

/// One of the slowest checks.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Slow {
    pub duration_ms: u64,
    pub payment_id: String,
}

/// A run's summary, built as results come.
#[derive(Debug, Default, Serialize)]
pub struct Summary {
    pub checks: u64,
    pub shown: u64,
    pub withheld: u64,
    pub never_sent: Option<u64>,
    pub stale: u64,
    /// Answers from the status cache: requests not sent.
    pub from_cache: u64,
    pub elapsed_ms: u64,
    pub by_outcome: BTreeMap<String, u64>,
    pub by_status: BTreeMap<String, u64>,
    pub by_gateway: BTreeMap<String, GatewaySummary>,
    pub slowest: Vec<Slow>,
}

impl Summary {
    /// Counts one audited result.
    pub fn add(&mut self, result: &CheckResult, stale: bool) {
        self.checks += 1;
        if stale {
            self.stale += 1;
        }
        *self
            .by_outcome
            .entry(result.outcome.as_str().to_owned())
            .or_default() += 1;
        if let Some(status) = result.status {
            *self
                .by_status
                .entry(status.as_str().to_owned())
                .or_default() += 1;
        }
        let gateway = result.gateway.map_or("(none)", |g| g.as_str());
        let figures = self
            .by_gateway
            .entry(gateway.to_owned())
            .or_insert_with(|| GatewaySummary {
                checks: 0,
                from_cache: 0,
                p50_ms: 0,
                p95_ms: 0,
                p99_ms: 0,
                max_ms: 0,
                retries: 0,
                retry_wait_ms: 0,
                latency: Histogram::new_with_bounds(1, 86_400_000, 3).ok(),
            });
        figures.checks += 1;
        if result.source == paystat::Source::Cache {
            // Not a gateway's latency: counted apart, and out of the percentiles.
            figures.from_cache += 1;
            self.from_cache += 1;
            return;
        }
        figures.retries += u64::from(result.attempts.saturating_sub(1));
        figures.retry_wait_ms += result
            .attempt_log
            .iter()
            .filter_map(|a| a.wait_ms)
            .sum::<u64>();
        figures.max_ms = figures.max_ms.max(result.duration_ms);
        if let Some(latency) = &mut figures.latency {
            latency.saturating_record(result.duration_ms);
        }
        let slow = Slow {
            duration_ms: result.duration_ms,
            payment_id: result.payment_id.clone(),
        };
        if self.slowest.len() < SLOWEST
            || self
                .slowest
                .last()
                .is_some_and(|s| slow.duration_ms > s.duration_ms)
        {
            let at = self
                .slowest
                .partition_point(|s| s.duration_ms >= slow.duration_ms);
            self.slowest.insert(at, slow);
            self.slowest.truncate(SLOWEST);
        }
    }

    /// Fills in the percentiles and the run's length.
    pub fn finish(&mut self, elapsed: Duration, never_sent: Option<u64>) {
        self.elapsed_ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
        self.never_sent = never_sent;
        for figures in self.by_gateway.values_mut() {
            if let Some(latency) = &figures.latency {
                let at = |q| latency.lowest_equivalent(latency.value_at_quantile(q));
                figures.p50_ms = at(0.50);
                figures.p95_ms = at(0.95);
                figures.p99_ms = at(0.99);
            }
        }
    }

    /// The summary for people, several lines, each starting `paystat:`.
    pub fn text(&self) -> String {
        let ms = |ms: u64| human_duration(Duration::from_millis(ms));
        let counts = |map: &BTreeMap<String, u64>| {
            map.iter()
                .map(|(k, n)| format!("{k} {n}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut text = format!(
            "paystat: {} check{} in {}: {}",
            self.checks,
            if self.checks == 1 { "" } else { "s" },
            ms(self.elapsed_ms),
            counts(&self.by_outcome)
        );
        if !self.by_status.is_empty() {
            text.push_str(&format!("; status {}", counts(&self.by_status)));
        }
        if self.stale > 0 {
            text.push_str(&format!("; {} stale", self.stale));
        }
        if self.from_cache > 0 {
            text.push_str(&format!(
                "; {} from the cache ({} request{} saved)",
                self.from_cache,
                self.from_cache,
                if self.from_cache == 1 { "" } else { "s" }
            ));
        }
        text.push('\n');
        for (gateway, g) in &self.by_gateway {
            let retries = match g.retries {
                0 => String::new(),
                n => format!(
                    "; {n} retr{} ({} waiting)",
                    if n == 1 { "y" } else { "ies" },
                    ms(g.retry_wait_ms)
                ),
            };
            let asked = g.checks - g.from_cache;
            let cached = match g.from_cache {
                0 => String::new(),
                n => format!(" ({n} from the cache)"),
            };
            let latency = match asked {
                0 => String::new(),
                _ => format!(
                    ", p50 {}, p95 {}, p99 {}, max {}",
                    ms(g.p50_ms),
                    ms(g.p95_ms),
                    ms(g.p99_ms),
                    ms(g.max_ms)
                ),
            };
            text.push_str(&format!(
                "paystat:   {gateway}: {} check{}{cached}{latency}{retries}\n",
                g.checks,
                if g.checks == 1 { "" } else { "s" },
            ));
        }
        if !self.slowest.is_empty() {
            let slowest: Vec<String> = self
                .slowest
                .iter()
                .map(|s| {
                    format!(
                        "{} ({})",
                        paystat::payment_id::display_safe(&s.payment_id),
                        ms(s.duration_ms)
                    )
                })
                .collect();
            text.push_str(&format!("paystat:   slowest: {}\n", slowest.join(", ")));
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use paystat::{GatewayKind, Outcome};

    fn check(id: &str, ms: u64) -> CheckResult {
        CheckResult {
            duration_ms: ms,
            attempts: 1,
            ..CheckResult::new(id, Some(GatewayKind::Ledger), Outcome::Found)
        }
    }

    #[test]
    fn the_slowest_five_are_kept_slowest_first() {
        let mut summary = Summary::default();
        for (i, ms) in [5, 90, 1, 40, 300, 7, 60, 2].into_iter().enumerate() {
            summary.add(&check(&format!("txn_{i}"), ms), false);
        }
        let slowest: Vec<u64> = summary.slowest.iter().map(|s| s.duration_ms).collect();
        assert_eq!(slowest, [300, 90, 60, 40, 7]);
        assert_eq!(summary.slowest[0].payment_id, "txn_4");
        summary.finish(Duration::from_millis(1234), Some(0));
        let ledger = &summary.by_gateway["ledger"];
        assert_eq!((ledger.checks, ledger.max_ms), (8, 300));
        assert_eq!(ledger.p50_ms, 7);
        assert!(
            summary
                .text()
                .contains("paystat: 8 checks in 1.2 s: found 8"),
            "{}",
            summary.text()
        );
    }
}
