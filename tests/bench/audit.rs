//! The audit commands on a big trail: do `audit verify`, `export`, `history` and `stats` stay
//! in bounded memory however long the trail is?
//!
//! Run with `cargo bench --bench audit` (optionally `-- 1000000` for the number of lines). It
//! writes two chained day-file trails on the machine's disk (the target folder) — a tenth of the
//! lines, then all of them, spread over 30 UTC days — and runs the real `paystat audit …`
//! commands on each as child processes, printing each one's wall time and peak RSS (from
//! `wait4`), the RSS ratio big/small (bounded memory means about 1), and the export's speed
//! against `cat` of the same files (the baseline: reading the bytes and nothing else).

mod child;
mod server;

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use paystat::audit_trail::{GENESIS, Origin, RequestLine, Sealer, Target};
use paystat::{AuditRecord, CheckResult, Environment, GatewayKind, Money, Outcome, PaymentStatus};

const DAYS: u64 = 30;

fn main() {
    let lines: u64 = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let root = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let small = write_trail(&root.path().join("small"), lines / 10);
    let big = write_trail(&root.path().join("big"), lines);
    println!(
        "trails:             {} and {lines} lines over {DAYS} days",
        lines / 10
    );
    let commands: [(&str, Vec<&str>); 5] = [
        ("verify", vec!["verify"]),
        (
            "export (a month)",
            vec!["export", "--since", "2026-10-01", "--until", "2026-11-01"],
        ),
        (
            "export csv",
            vec![
                "export",
                "--since",
                "2026-10-01",
                "--until",
                "2026-11-01",
                "--format",
                "csv",
            ],
        ),
        (
            "history (no index)",
            vec!["history", "txn_0000042", "--no-index"],
        ),
        ("stats", vec!["stats", "--by", "gateway"]),
    ];
    let (cat_small, _) = run(Command::new("sh")
        .arg("-c")
        .arg(format!("cat {}/*.jsonl", small.display())));
    let (cat_big, _) = run(Command::new("sh")
        .arg("-c")
        .arg(format!("cat {}/*.jsonl", big.display())));
    println!(
        "baseline (cat):     {:.2} s small, {:.2} s big",
        cat_small.as_secs_f64(),
        cat_big.as_secs_f64()
    );
    for (name, args) in commands {
        let (t_small, rss_small) = run(&mut paystat_audit(&small, &args));
        let (t_big, rss_big) = run(&mut paystat_audit(&big, &args));
        println!(
            "{name:<19} {:>6.2} s, {:>5.1} MiB peak RSS  |  {:>6.2} s, {:>5.1} MiB  |  RSS big/small {:.2}, time/cat {:.1}",
            t_small.as_secs_f64(),
            rss_small,
            t_big.as_secs_f64(),
            rss_big,
            rss_big / rss_small,
            t_big.as_secs_f64() / cat_big.as_secs_f64().max(1e-3),
        );
    }
    one_payment(&big, lines);
}

/// One payment on the big trail: `audit history` reading every file, then with the trail's
/// index (built by the first run, brought up to date by later ones), and `explain` (a check of
/// the payment against the bench's local ledger, the gateway's facts, every line about it in the
/// trail, the rules) with a warm index and after the index is removed.
fn one_payment(big: &Path, lines: u64) {
    let port = server::serve(std::sync::Arc::new(|request| {
        let id = request
            .uri()
            .path()
            .rsplit('/')
            .next()
            .unwrap_or("")
            .to_owned();
        format!(
            r#"{{"id": "{id}", "status": "pending", "amount": 150.00, "currency": "USD", "created_at": "2026-10-01T08:00:00Z"}}"#
        )
    }));
    let index = big.join("index.sqlite");
    let explain = || {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_paystat"));
        cmd.args(["explain", "txn_0000042", "--audit-dir"])
            .arg(big)
            .env_remove("PAYSTAT_AUDIT_KEY")
            .env_remove("PAYSTAT_CONFIG")
            .env("XDG_CONFIG_HOME", big.join("no-config"))
            .env("PAYSTAT_LEDGER_URL", format!("http://127.0.0.1:{port}/v1"))
            .env("PAYSTAT_LEDGER_ENVIRONMENT", "mock")
            .env("PAYSTAT_LEDGER_TOKEN", "bench-ledger-token-0001");
        cmd
    };
    // Another paystat's `audit history` on the same trail (`BASELINE_PAYSTAT=path`): an earlier
    // build, for a before-and-after in one run.
    let baseline = std::env::var_os("BASELINE_PAYSTAT").map(|bin| {
        let mut cmd = paystat_audit(big, &["history", "txn_0000042"]);
        let mut other = Command::new(bin);
        other.args(cmd.get_args()).env_remove("PAYSTAT_AUDIT_KEY");
        cmd = other;
        run(&mut cmd)
    });
    let _ = std::fs::remove_file(&index);
    let every = run(&mut paystat_audit(
        big,
        &["history", "txn_0000042", "--no-index"],
    ));
    let built = run(&mut paystat_audit(big, &["history", "txn_0000042"]));
    let warm = run(&mut paystat_audit(big, &["history", "txn_0000042"]));
    let explained = run(&mut explain());
    let _ = std::fs::remove_file(&index);
    let cold = run(&mut explain());
    println!("\none payment (txn_0000042) of a {lines}-line trail:");
    if let Some((t, rss)) = baseline {
        println!(
            "{:<22} {:>6.2} s, {:>5.1} MiB peak RSS  |  {:.3} of reading every file",
            "history, BASELINE_PAYSTAT",
            t.as_secs_f64(),
            rss,
            t.as_secs_f64() / every.0.as_secs_f64().max(1e-3)
        );
    }
    for (name, (t, rss)) in [
        ("history, every file", every),
        ("history, index built", built),
        ("history, index warm", warm),
        ("explain, index warm", explained),
        ("explain, no index yet", cold),
    ] {
        println!(
            "{name:<22} {:>6.2} s, {:>5.1} MiB peak RSS  |  {:.3} of reading every file",
            t.as_secs_f64(),
            rss,
            t.as_secs_f64() / every.0.as_secs_f64().max(1e-3)
        );
    }
}

fn paystat_audit(trail: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_paystat"));
    cmd.arg("audit")
        .arg(args[0])
        .arg("--audit-dir")
        .arg(trail)
        .args(&args[1..])
        .env_remove("PAYSTAT_AUDIT_KEY");
    cmd
}

/// Runs `cmd` with its output thrown away; its wall time and peak RSS in MiB.
#[allow(
    clippy::zombie_processes,
    reason = "the child is reaped by wait4, which also reports its peak RSS"
)]
fn run(cmd: &mut Command) -> (Duration, f64) {
    let started = Instant::now();
    let child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the command starts");
    let used = child::reap(&child);
    let status = used.status;
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "{cmd:?} failed with {status}"
    );
    (started.elapsed(), used.peak_rss_kib as f64 / 1024.0)
}

/// Writes `lines` chained lines over [`DAYS`] day files in `dir`, the way paystat writes them;
/// every fifth found check is an answer reused from the cache, naming the line it copies (so
/// `verify` looks up 20 % of the trail's lines a second time).
fn write_trail(dir: &Path, lines: u64) -> PathBuf {
    use std::io::Write;
    std::fs::create_dir_all(dir).unwrap();
    let sealer = Sealer::plain();
    let mut prev = GENESIS.to_owned();
    let per_day = lines.div_ceil(DAYS);
    let start = time::macros::date!(2026 - 10 - 01);
    let mut file: Option<(u64, std::io::BufWriter<std::fs::File>)> = None;
    // The last answer the gateway gave, and its line: what a reuse copies.
    let mut last_asked: Option<(CheckResult, paystat::audit_trail::LineRef)> = None;
    for seq in 1..=lines {
        let day = (seq - 1) / per_day;
        if file.as_ref().is_none_or(|(d, _)| *d != day) {
            let date = start + time::Duration::days(day as i64);
            let path = dir.join(format!("{date}.jsonl"));
            file = Some((
                day,
                std::io::BufWriter::new(std::fs::File::create(path).unwrap()),
            ));
        }
        let second = (seq - 1) % per_day * 86_000 / per_day;
        let date = start + time::Duration::days(day as i64);
        let timestamp = format!(
            "{date}T{:02}:{:02}:{:02}.000Z",
            second / 3600,
            second / 60 % 60,
            second % 60
        );
        let gateway = GatewayKind::ALL[(seq % 3) as usize];
        let found = seq % 7 != 0;
        let mut result = CheckResult::new(
            format!("txn_{:07}", seq % 200_000),
            Some(gateway),
            if found {
                Outcome::Found
            } else {
                Outcome::Timeout
            },
        );
        if found {
            result.status = Some(PaymentStatus::Completed);
            result.gateway_status = Some("completed".into());
            result.amount = Some(Money::from_minor(15_000, paystat::currency("USD").unwrap()));
            result.http_status = Some(200);
        } else {
            result.detail = Some("no complete answer within 5 s".into());
        }
        result.attempts = 1;
        result.duration_ms = 20 + seq % 480;
        let copy_of = match &last_asked {
            Some((asked, line)) if found && seq % 5 == 0 => {
                result = CheckResult {
                    source: paystat::Source::Cache,
                    cache_age_s: Some(60),
                    attempts: 0,
                    duration_ms: 1,
                    ..asked.clone()
                };
                Some(Cow::Owned(line.clone()))
            }
            _ => None,
        };
        let record = AuditRecord {
            envelope: paystat::Envelope {
                v: 2,
                seq,
                prev: Cow::Owned(prev.clone()),
                legacy_before: None,
                chain: sealer.name().into(),
                timestamp: timestamp.into(),
                event: paystat::audit_trail::EVENT_STATUS_CHECK.into(),
                actor: ["alice", "bob", "carol"][(seq % 3) as usize].into(),
                os_user: "ops".into(),
                origin: Cow::Owned(Origin {
                    host: "ops-1".into(),
                    pid: 4242,
                }),
                caller: None,
            },
            target: Some(Cow::Owned(Target {
                scheme: "https".into(),
                host: "ledger.internal".into(),
                port: Some(443),
            })),
            environment: Some(Environment::Live),
            request: Some(Cow::Owned(RequestLine {
                method: "GET".into(),
                path: format!("/v1/payments/txn_{:07}", seq % 200_000),
            })),
            sync: paystat::audit_trail::Durability::Disk,
            copy_of: copy_of.clone(),
            check: Cow::Owned(result.clone()),
            hash: String::new(),
        };
        let (mut line, hash) = sealer.seal(serde_json::to_vec(&record).unwrap());
        line.push(b'\n');
        file.as_mut().unwrap().1.write_all(&line).unwrap();
        if found && copy_of.is_none() {
            last_asked = Some((
                result,
                paystat::audit_trail::LineRef {
                    seq,
                    hash: hash.clone(),
                },
            ));
        }
        prev = hash;
    }
    if let Some((_, mut f)) = file {
        f.flush().unwrap();
    }
    dir.to_owned()
}
