//! Bulk throughput: how long Operations wait for ten thousand checks, and what they cost.
//!
//! Run with `cargo bench --bench bulk` (optionally `-- 50000 64` for the number of ids and the
//! concurrency). It starts the embedded mock gateways, checks a mix of ledger, Stripe and Plaid
//! ids (found, not found, and the ledger's 404s) with `--gateway auto` routing and Stripe's
//! default 25/s pacing turned off (the mock has no rate limit), audits every check to a file on
//! the machine's disk (the target folder), and prints checks per second with audit lines synced
//! to disk (the default; concurrent lines share a sync) and handed to the OS only, their ratio
//! (medians of five interleaved rounds), the syncs made, bytes per line and peak memory.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use paystat::contract::{EmbeddedMock, ScenarioSet};
use paystat::{
    AuditTrail, Checker, CheckerOptions, ConfigFile, Durability, GatewayKind, Overrides, Routing,
};

/// Rounds of each setting, interleaved; the median is reported.
const ROUNDS: usize = 5;

fn main() {
    let mut args = std::env::args().skip(1).filter(|a| !a.starts_with('-'));
    let count: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let concurrency: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(32);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let scenarios = ScenarioSet::embedded();
        let mock = EmbeddedMock::start(scenarios.scenarios()).await;
        // Configured the way `paystat check` is, with the mock's URLs and stand-in credentials
        // as its environment, and pacing off (the mock has no rate limit).
        let env = |name: &str| match GatewayKind::ALL
            .into_iter()
            .find(|kind| paystat::profile(*kind).url_env == name)
        {
            Some(kind) => Some(mock.base_url(kind)),
            None => Some("bench-not-a-secret".to_owned()),
        };
        let overrides = Overrides {
            requests_per_second: Some(0.0),
            ..Overrides::default()
        };
        let config = ConfigFile::parse(Path::new("bench.toml"), "").unwrap();
        let gateways = GatewayKind::ALL
            .map(|kind| config.gateway(kind, &env, &overrides).unwrap())
            .to_vec();
        let mix = paystat::contract::DEMO_IDS;
        let ids: Vec<String> = (0..count).map(|i| mix[i % mix.len()].to_owned()).collect();
        // The trail on the machine's disk (the target folder), not a tmpfs: what is measured
        // is the cost of syncing. Both settings in one run, interleaved, medians of five.
        let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
        let mut rates = std::collections::BTreeMap::<&str, Vec<f64>>::new();
        let mut syncs = 0;
        let mut bytes_per_line = 0.0;
        for round in 0..ROUNDS {
            for (name, durability) in [("disk", Durability::Disk), ("os", Durability::Os)] {
                let audit_path = dir.path().join(format!("audit-{name}-{round}.jsonl"));
                let audit = Arc::new(
                    AuditTrail::open_with(&audit_path, "bench".into(), durability).unwrap(),
                );
                let options = CheckerOptions {
                    concurrency,
                    ..CheckerOptions::new(Routing::Auto)
                };
                let checker = Checker::new(gateways.clone(), Arc::clone(&audit), options);
                let started = Instant::now();
                let results = checker.check_all(&ids).await;
                let elapsed = started.elapsed();
                let audited = results.iter().filter(|r| r.is_ok()).count();
                assert_eq!(audited, count, "every check must be audited");
                rates
                    .entry(name)
                    .or_default()
                    .push(count as f64 / elapsed.as_secs_f64());
                if durability == Durability::Disk {
                    syncs = audit.syncs();
                }
                let bytes = std::fs::metadata(&audit_path).map(|m| m.len()).unwrap_or(0);
                bytes_per_line = bytes as f64 / audited.max(1) as f64;
            }
        }
        let median = |name: &str| {
            let mut r = rates[name].clone();
            r.sort_by(f64::total_cmp);
            r[r.len() / 2]
        };
        let (disk, os) = (median("disk"), median("os"));
        println!("checks:             {count} per run, concurrency {concurrency}, {ROUNDS} rounds each");
        println!("throughput (disk):  {disk:.0} checks/s, lines synced before answers ({syncs} syncs for {count} lines in the last round)");
        println!("throughput (os):    {os:.0} checks/s, lines handed to the OS only");
        println!("ratio disk / os:    {:.2}", disk / os);
        println!("audit log:          {bytes_per_line:.0} bytes per line");
        if let Some(peak) = peak_memory_kib() {
            println!("peak memory (RSS):  {:.1} MiB", peak as f64 / 1024.0);
        }
    });
}

/// The process's peak resident set size, from /proc (Linux only).
fn peak_memory_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
