//! What a reconciliation through the lists costs against a check per id, in requests — the
//! figure a gateway's rate limit turns into hours.
//!
//! Run with `cargo bench --bench reconcile` (optionally `-- 100000` for the ids). The bench's
//! server imitates Stripe for one month of PaymentIntents created 25 s apart (every one
//! succeeded; every 500th disputed, its dispute in the dispute list): the list
//! (`GET /v1/payment_intents`, newest first, `starting_after`, 100 a page, charges expanded), a
//! single intent, the dispute lists and the events feed (empty: nothing changes), counting every
//! request. The release binary runs, unpaced (`--rate 0`), with its state in a fresh directory:
//!
//! - **per id**: `paystat check --gateway stripe --no-cache` over the export's ids;
//! - **reconcile**: `paystat reconcile --gateway stripe --since … --until … --ids-file export.csv`
//!   over the same ids and window (the export also names 100 ids Stripe does not have, and lacks
//!   100 it has).
//!
//! It prints each one's requests, wall time, and the time those requests take at Stripe's default
//! 25 requests/s, and the ratio.

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

mod server;

/// 2026-11-01T00:00:00Z.
const SINCE: i64 = 1_793_491_200;

fn intent(i: usize) -> serde_json::Value {
    let id = format!("pi_bench{i:07}");
    let created = SINCE + i as i64 * 25;
    serde_json::json!({
        "id": id, "object": "payment_intent", "amount": 2000, "amount_capturable": 0,
        "amount_received": 2000, "cancellation_reason": null, "created": created, "currency": "usd",
        "last_payment_error": null, "next_action": null, "payment_method_types": ["card"],
        "status": "succeeded",
        "latest_charge": {"id": format!("ch_bench{i:07}"), "object": "charge", "amount": 2000,
            "amount_refunded": 0, "refunded": false, "disputed": i.is_multiple_of(500), "status": "succeeded"},
    })
}

fn dispute(i: usize) -> serde_json::Value {
    serde_json::json!({"id": format!("dp_bench{i:07}"), "object": "dispute", "amount": 2000,
        "payment_intent": format!("pi_bench{i:07}"), "status": "needs_response", "reason": "fraudulent",
        "created": SINCE + i as i64 * 25 + 86_400})
}

fn list(data: Vec<serde_json::Value>, has_more: bool) -> String {
    serde_json::json!({"object": "list", "data": data, "has_more": has_more}).to_string()
}

/// The query's value of `name`.
fn query<'a>(uri: &'a hyper::Uri, name: &str) -> Option<&'a str> {
    uri.query()?
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// The index of `pi_bench0001234`.
fn index(id: &str) -> Option<usize> {
    id.strip_prefix("pi_bench")?.parse().ok()
}

fn answer(count: usize) -> Arc<server::Answer> {
    Arc::new(move |request: &hyper::Request<hyper::body::Incoming>| {
        let uri = request.uri();
        let path = uri.path();
        if let Some(id) = path.strip_prefix("/v1/payment_intents/") {
            return match index(id).filter(|i| *i < count) {
                Some(i) => intent(i).to_string(),
                None => format!(
                    "404 {}",
                    serde_json::json!({"error": {"type": "invalid_request_error", "code": "resource_missing", "message": "No such payment_intent"}})
                ),
            };
        }
        match path {
            "/v1/payment_intents" => {
                // Newest first: the highest index first, then down.
                let top = query(uri, "starting_after")
                    .and_then(index)
                    .unwrap_or(count);
                let from = top.saturating_sub(100);
                let data = (from..top).rev().map(intent).collect();
                list(data, from > 0)
            }
            "/v1/disputes" if query(uri, "payment_intent").is_some() => {
                let i = query(uri, "payment_intent").and_then(index).unwrap_or(0);
                list(vec![dispute(i)], false)
            }
            "/v1/disputes" => {
                let after = query(uri, "starting_after")
                    .and_then(|d| d.strip_prefix("dp_bench")?.parse::<usize>().ok());
                let disputed: Vec<usize> = (0..count)
                    .rev()
                    .filter(|i| i.is_multiple_of(500))
                    .filter(|i| after.is_none_or(|a| *i < a))
                    .collect();
                let page: Vec<_> = disputed.iter().take(100).map(|i| dispute(*i)).collect();
                list(page, disputed.len() > 100)
            }
            "/v1/events" => list(Vec::new(), false),
            _ => "{}".to_owned(),
        }
    })
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let count: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let requests = Arc::new(AtomicU64::new(0));
    let counted = Arc::clone(&requests);
    let answer = answer(count);
    let port = server::serve(Arc::new(move |request| {
        counted.fetch_add(1, Ordering::SeqCst);
        answer(request)
    }));
    let url = format!("http://127.0.0.1:{port}");
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    // The export: every intent but the last 100, and 100 Stripe does not have.
    let mut export = String::from("payment_id,amount,currency\n");
    for i in 0..count.saturating_sub(100) {
        export.push_str(&format!("pi_bench{i:07},20.00,USD\n"));
    }
    for i in 0..100 {
        export.push_str(&format!("pi_bench{:07},20.00,USD\n", 9_000_000 + i));
    }
    let export_path = dir.path().join("export.csv");
    std::fs::write(&export_path, &export).unwrap();
    let until = SINCE + 30 * 86_400;
    let window = |t: i64| {
        time::OffsetDateTime::from_unix_timestamp(t)
            .unwrap()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    };
    println!(
        "stripe: {count} PaymentIntents over 30 days; the export names {} ids (100 Stripe does not have) and lacks 100",
        count
    );
    let mut runs = Vec::new();
    for (name, args) in [
        (
            "per id",
            vec![
                "check".to_owned(),
                "--quiet".into(),
                "--gateway".into(),
                "stripe".into(),
                "--no-cache".into(),
                "--rate".into(),
                "0".into(),
                "--format".into(),
                "jsonl".into(),
                "--ids-file".into(),
                export_path.display().to_string(),
                "--column".into(),
                "payment_id".into(),
            ],
        ),
        (
            "reconcile",
            vec![
                "reconcile".to_owned(),
                "--quiet".into(),
                "--gateway".into(),
                "stripe".into(),
                "--since".into(),
                window(SINCE),
                "--until".into(),
                window(until),
                "--rate".into(),
                "0".into(),
                "--format".into(),
                "csv".into(),
                "--ids-file".into(),
                export_path.display().to_string(),
            ],
        ),
    ] {
        let state = dir.path().join(name.replace(' ', "_"));
        let before = requests.load(Ordering::SeqCst);
        let started = Instant::now();
        let output = Command::new(env!("CARGO_BIN_EXE_paystat"))
            .args(&args)
            .env("PAYSTAT_STATE_DIR", &state)
            .env("PAYSTAT_STRIPE_URL", &url)
            .env("PAYSTAT_STRIPE_KEY", "sk_test_bench")
            .env_remove("PAYSTAT_AUDIT_DIR")
            .env_remove("XDG_STATE_HOME")
            .env_remove("RUST_LOG")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .output()
            .expect("paystat runs");
        let wall = started.elapsed().as_secs_f64();
        let sent = requests.load(Ordering::SeqCst) - before;
        let lines = output.stdout.iter().filter(|b| **b == b'\n').count();
        println!(
            "  {name:<10} {sent:>7} requests, {wall:>7.2} s here, {:>9.1} min at 25 requests/s ({lines} output lines, exit {:?})",
            sent as f64 / 25.0 / 60.0,
            output.status.code()
        );
        if !matches!(output.status.code(), Some(0..=3)) {
            eprintln!("{}", String::from_utf8_lossy(&output.stderr));
        }
        runs.push(sent);
    }
    println!(
        "  reconcile / per id: {:.4} of the requests ({:.0}x fewer)",
        runs[1] as f64 / runs[0] as f64,
        runs[0] as f64 / runs[1].max(1) as f64
    );
}
