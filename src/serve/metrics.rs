//! The service's metrics in the Prometheus text format (prometheus-client): what was checked,
//! how the gateways and the trail behaved, and how the HTTP side is used. No label ever holds a
//! payment id, an actor or a token: only gateway names, outcomes, sources, reasons, routes and
//! statuses, each from a fixed set.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::result::CheckResult;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CheckLabels {
    gateway: String,
    outcome: String,
    source: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct GatewayLabel {
    gateway: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RetryLabels {
    gateway: String,
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpLabels {
    route: String,
    status: u16,
}

/// Every metric the service keeps.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    checks: Family<CheckLabels, Counter>,
    gateway_seconds: Family<GatewayLabel, Histogram>,
    retries: Family<RetryLabels, Counter>,
    audit_syncs: Counter,
    audit_sync_seconds: Counter<f64, std::sync::atomic::AtomicU64>,
    /// The sync totals last reported, to add what came since.
    reported: std::sync::Mutex<(u64, std::time::Duration)>,
    cache_entries: Gauge,
    http: Family<HttpLabels, Counter>,
    in_flight: Gauge,
}

fn buckets() -> impl Iterator<Item = f64> {
    [
        0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
    ]
    .into_iter()
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("paystat");
        let checks = Family::<CheckLabels, Counter>::default();
        registry.register(
            "checks",
            "Status checks answered, by gateway, outcome and source (gateway or cache)",
            checks.clone(),
        );
        let gateway_seconds =
            Family::<GatewayLabel, Histogram>::new_with_constructor(|| Histogram::new(buckets()));
        registry.register(
            "gateway_request_duration_seconds",
            "Each request to a gateway, from sending it to its whole reply",
            gateway_seconds.clone(),
        );
        let retries = Family::<RetryLabels, Counter>::default();
        registry.register(
            "retries",
            "Requests sent again, by gateway and the reason for waiting",
            retries.clone(),
        );
        let audit_syncs = Counter::default();
        registry.register(
            "audit_syncs",
            "Disk syncs of the audit trail (concurrent checks share one)",
            audit_syncs.clone(),
        );
        let audit_sync_seconds = Counter::<f64, std::sync::atomic::AtomicU64>::default();
        registry.register(
            "audit_sync_duration_seconds",
            "Time spent in disk syncs of the audit trail (divide by paystat_audit_syncs_total for the mean)",
            audit_sync_seconds.clone(),
        );
        let cache_entries = Gauge::default();
        registry.register(
            "cache_entries",
            "Answers held in the status cache",
            cache_entries.clone(),
        );
        let http = Family::<HttpLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by route and status",
            http.clone(),
        );
        let in_flight = Gauge::default();
        registry.register(
            "checks_in_flight",
            "Check requests under way: a single check, or a batch while it runs",
            in_flight.clone(),
        );
        Metrics {
            registry,
            checks,
            gateway_seconds,
            retries,
            audit_syncs,
            audit_sync_seconds,
            reported: std::sync::Mutex::new((0, std::time::Duration::ZERO)),
            cache_entries,
            http,
            in_flight,
        }
    }
}

impl Metrics {
    /// Counts an answered check, its requests and its retries.
    pub fn checked(&self, result: &CheckResult) {
        let gateway = result.gateway.map_or("none", |g| g.as_str()).to_owned();
        self.checks
            .get_or_create(&CheckLabels {
                gateway: gateway.clone(),
                outcome: result.outcome.as_str().to_owned(),
                source: result.source.as_str().to_owned(),
            })
            .inc();
        let label = GatewayLabel {
            gateway: gateway.clone(),
        };
        for attempt in &result.attempt_log {
            self.gateway_seconds
                .get_or_create(&label)
                .observe(attempt.duration_ms as f64 / 1000.0);
            if let Some(reason) = attempt.wait_reason {
                self.retries
                    .get_or_create(&RetryLabels {
                        gateway: gateway.clone(),
                        reason: reason.as_str().to_owned(),
                    })
                    .inc();
            }
        }
    }

    /// Counts an HTTP response.
    pub fn answered(&self, route: &str, status: u16) {
        self.http
            .get_or_create(&HttpLabels {
                route: route.to_owned(),
                status,
            })
            .inc();
    }

    /// One more check request (a single check or a batch) under way, until the guard drops.
    pub fn in_flight(&self) -> InFlight {
        self.in_flight.inc();
        InFlight(self.in_flight.clone())
    }

    /// The text exposition, with the cache's entries counted now.
    pub fn render(&self, cache_entries: Option<u64>) -> String {
        if let Some(entries) = cache_entries {
            self.cache_entries
                .set(i64::try_from(entries).unwrap_or(i64::MAX));
        }
        {
            let (syncs, took) = crate::audit::sync_totals();
            let mut reported = self.reported.lock().unwrap_or_else(|p| p.into_inner());
            self.audit_syncs.inc_by(syncs.saturating_sub(reported.0));
            self.audit_sync_seconds
                .inc_by(took.saturating_sub(reported.1).as_secs_f64());
            *reported = (syncs, took);
        }
        let mut text = String::new();
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}

/// A check under way (dropped when it ends, however it ends).
pub struct InFlight(Gauge);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.dec();
    }
}
