//! What the status cache saves, measured on the real binary against a local server that counts
//! the requests it answers.
//!
//! Run with `cargo bench --bench cache` (optionally `-- 10000 500` for the ledger ids and the
//! Stripe ids). Two parts, in one run:
//!
//! - **A re-run.** `paystat check` over the ledger ids twice with the same state directory. The
//!   ids are mixed as a day's reconciliation finds them: 7 in 10 completed and 1 in 10 failed
//!   (final), 2 in 10 pending (can still change). The second run should send only the pending
//!   ones; the bench prints the requests and wall time of each run.
//! - **Stripe's pacing.** The Stripe ids (canceled PaymentIntents: final; a succeeded one can
//!   still be refunded, so it is not), at Stripe's default 25 requests/s: once with `--no-cache`, once to
//!   fill the cache, once served from it. The bench prints the uncached and cached wall times
//!   side by side.
//!
//! After the re-run it prints `paystat audit stats --by gateway` over that trail: the latency
//! percentiles of the asked checks, and how many answers came from the cache.
//!
//! After the re-run it prints `paystat audit stats --by gateway` over that trail: the latency
//! percentiles of the asked checks, and how many answers came from the cache.

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

mod child;
mod server;

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let number =
        |i: usize, default: usize| args.get(i).and_then(|a| a.parse().ok()).unwrap_or(default);
    let (ledger_ids, stripe_ids) = (number(0, 10_000), number(1, 500));
    let requests = Arc::new(AtomicU64::new(0));
    let port = serve(Arc::clone(&requests));
    let server = format!("http://127.0.0.1:{port}");
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();

    let ids: String = (0..ledger_ids).map(|i| format!("txn_{i:07}\n")).collect();
    let final_ids = (0..ledger_ids).filter(|i| i % 10 < 8).count();
    println!(
        "ledger: {ledger_ids} ids, {final_ids} final (completed or failed), {} pending; concurrency 64",
        ledger_ids - final_ids
    );
    let state = dir.path().join("ledger");
    for run in ["first run", "second run"] {
        let before = requests.load(Ordering::SeqCst);
        let mut cmd = paystat(&state);
        cmd.args(["--base-url", &format!("{server}/v1"), "--concurrency", "64"]);
        let (wall, lines) = run_child(&mut cmd, &ids);
        assert_eq!(lines, ledger_ids, "every id has its line");
        let sent = requests.load(Ordering::SeqCst) - before;
        println!(
            "  {run:<11} {sent:>6} requests, {:>7.2} s",
            wall.as_secs_f64()
        );
    }

    // What the trail says of the two runs: the gateway's latency, and the answers from the cache.
    let stats = Command::new(env!("CARGO_BIN_EXE_paystat"))
        .args(["audit", "stats", "--by", "gateway"])
        .env("PAYSTAT_STATE_DIR", &state)
        .env_remove("PAYSTAT_AUDIT_DIR")
        .output()
        .expect("paystat runs");
    print!("{}", String::from_utf8_lossy(&stats.stdout));

    let ids: String = (0..stripe_ids)
        .map(|i| format!("pi_bench{i:06}\n"))
        .collect();
    println!("stripe: {stripe_ids} ids (final), paced at Stripe's default 25 requests/s");
    let state = dir.path().join("stripe");
    let mut walls = Vec::new();
    for (run, flags) in [
        ("uncached", &["--no-cache"][..]),
        ("filling", &[][..]),
        ("cached", &[][..]),
    ] {
        let before = requests.load(Ordering::SeqCst);
        let mut cmd = paystat(&state);
        cmd.args(["--gateway", "stripe", "--concurrency", "8"])
            .args(flags)
            .env("PAYSTAT_STRIPE_URL", &server)
            .env("PAYSTAT_STRIPE_KEY", "sk_test_bench");
        let (wall, lines) = run_child(&mut cmd, &ids);
        assert_eq!(lines, stripe_ids, "every id has its line");
        let sent = requests.load(Ordering::SeqCst) - before;
        println!(
            "  {run:<11} {sent:>6} requests, {:>7.2} s",
            wall.as_secs_f64()
        );
        walls.push(wall.as_secs_f64());
    }
    println!(
        "  cached / uncached: {:.3} of the wall time ({:.2} s against {:.2} s)",
        walls[2] / walls[0],
        walls[2],
        walls[0]
    );
}

/// `paystat check`, ids from standard input, JSON lines out, its state under `state`.
fn paystat(state: &std::path::Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_paystat"));
    cmd.args(["check", "--quiet", "--format", "jsonl", "-"])
        .env("PAYSTAT_STATE_DIR", state)
        .env_remove("RUST_LOG")
        .env_remove("PAYSTAT_AUDIT_DIR")
        .env_remove("XDG_STATE_HOME");
    cmd
}

/// Runs `cmd` with `ids` on standard input; its wall time and how many lines it printed.
fn run_child(cmd: &mut Command, ids: &str) -> (Duration, usize) {
    let started = Instant::now();
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("paystat starts");
    let feeder = child::feed(&mut child, ids);
    let output = child.wait_with_output().unwrap();
    feeder.join().unwrap();
    let lines = output
        .stdout
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .count();
    (started.elapsed(), lines)
}

/// A local ledger and Stripe, counting requests: `GET /v1/payments/txn_N` is completed,
/// failed or pending by N's last digit; `GET /v1/payment_intents/pi_benchN` is canceled.
fn serve(requests: Arc<AtomicU64>) -> u16 {
    server::serve(Arc::new(move |request| {
        requests.fetch_add(1, Ordering::SeqCst);
        answer(request.uri().path())
    }))
}

fn answer(path: &str) -> String {
    let id = path.rsplit('/').next().unwrap_or("");
    let digit = id.bytes().last().map_or(0, |b| b.wrapping_sub(b'0'));
    if path.starts_with("/v1/payment_intents/") {
        format!(
            r#"{{"id": "{id}", "object": "payment_intent", "amount": 2000, "amount_received": 0, "currency": "usd", "status": "canceled", "created": 1680800504, "livemode": false, "latest_charge": null}}"#
        )
    } else {
        let status = match digit {
            8 | 9 => "pending",
            7 => "failed",
            _ => "completed",
        };
        format!(
            r#"{{"id": "{id}", "status": "{status}", "amount": 150.00, "currency": "USD", "created_at": "2025-01-06T10:30:00Z"}}"#
        )
    }
}
