//! Bulk runs of the real binary against a fast local server, beside a bare client baseline.
//!
//! Run with `cargo bench --bench bulk` (optionally `-- 100000 64 1000000` for the ids per
//! round, the concurrency, and the ids of the memory run; `0` skips that run). It starts a
//! minimal HTTP/1 ledger written for the bench (hyper; httpmock stays the contract suite's mock),
//! then, in five interleaved rounds, runs as child processes:
//!
//! - **baseline**: this bench binary in its `--baseline` role: one pooled reqwest client, the
//!   same concurrency, each body parsed and one JSON line written per result to a file;
//! - **paystat**: `paystat check --format jsonl --concurrency N -` reading the ids from a pipe,
//!   its default audit settings (lines synced to disk, group commit) on the machine's disk;
//! - **paystat, os**: the same with `--audit-sync os`;
//! - **paystat, cache**: the first with the status cache on, cold (a fresh state directory per
//!   round: every answer is looked up, missed and written). The others run with `--no-cache`.
//!
//! - **baseline, mimalloc**: the same loop on mimalloc, the allocator paystat's binary uses
//!   (the issue's baseline keeps the system allocator; this one shows how much of paystat's
//!   standing comes from the allocator alone);
//! - **paystat, before** (only when `PAYSTAT_BENCH_BEFORE` names another paystat binary, say
//!   one built from an earlier commit): that binary run like **paystat**, for a before/after
//!   comparison within the same rounds.
//!
//! For each it measures checks per second and client CPU per check (the child's own user +
//! system time, from `wait4`, divided by its checks), and prints medians and the ratios
//! paystat/baseline and disk/os. Then one run over the memory run's ids reports paystat's peak
//! RSS and the time from the server's first answer to paystat's first output line.
//!
//! `target/release/deps/bulk-… --serve` runs the server alone and prints its base URL, for
//! profiling: `seq -f 'txn_%07g' 100000 | perf record -g target/release/paystat check
//! --format jsonl --concurrency 64 --base-url URL - > /dev/null`.

use std::io::{BufRead, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

mod child;
mod server;

/// The bench binary's allocator: the system's, or mimalloc when `PAYSTAT_BENCH_MIMALLOC` is
/// set (the "baseline, mimalloc" role). Chosen at the first allocation, before any memory
/// exists, so every block is freed by the allocator that gave it.
struct Chosen;

/// 0: not chosen yet; 1: the system's; 2: mimalloc.
static CHOSEN: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(0);

impl Chosen {
    /// The allocator of this run.
    fn allocator() -> &'static dyn std::alloc::GlobalAlloc {
        let mimalloc = match CHOSEN.load(Ordering::Relaxed) {
            1 => false,
            2 => true,
            _ => {
                // SAFETY: getenv with a valid C string; nothing here allocates.
                let on = !unsafe { libc::getenv(c"PAYSTAT_BENCH_MIMALLOC".as_ptr()) }.is_null();
                CHOSEN.store(if on { 2 } else { 1 }, Ordering::Relaxed);
                on
            }
        };
        if mimalloc {
            &mimalloc::MiMalloc
        } else {
            &std::alloc::System
        }
    }
}

// SAFETY: every call is passed on unchanged to one allocator, the same one for the whole run.
unsafe impl std::alloc::GlobalAlloc for Chosen {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        // SAFETY: the caller's contract, passed on.
        unsafe { Chosen::allocator().alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: std::alloc::Layout) -> *mut u8 {
        // SAFETY: the caller's contract, passed on.
        unsafe { Chosen::allocator().alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        // SAFETY: the caller's contract, passed on to the allocator that gave `ptr`.
        unsafe { Chosen::allocator().dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, size: usize) -> *mut u8 {
        // SAFETY: the caller's contract, passed on to the allocator that gave `ptr`.
        unsafe { Chosen::allocator().realloc(ptr, layout, size) }
    }
}

#[global_allocator]
static ALLOCATOR: Chosen = Chosen;

const ROUNDS: usize = 5;

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    if args.first().map(String::as_str) == Some("--baseline") {
        baseline(&args[1..]);
        return;
    }
    if args.first().map(String::as_str) == Some("--serve") {
        // The bench's server alone, for profiling a client against it (`perf record`).
        let server = Server::start();
        println!("http://127.0.0.1:{}/v1", server.port);
        loop {
            std::thread::park();
        }
    }
    let number =
        |i: usize, default: usize| args.get(i).and_then(|a| a.parse().ok()).unwrap_or(default);
    let (count, concurrency, memory_ids) =
        (number(0, 100_000), number(1, 64), number(2, 1_000_000));
    let server = Server::start();
    let base = format!("http://127.0.0.1:{}/v1", server.port);
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let ids: String = (0..count).map(|i| format!("txn_{i:07}\n")).collect();

    let before = std::env::var_os("PAYSTAT_BENCH_BEFORE").map(std::path::PathBuf::from);
    let mut contestants = vec![
        "baseline",
        "baseline, mimalloc",
        "paystat",
        "paystat, os",
        "paystat, cache",
    ];
    if before.is_some() {
        contestants.push("paystat, before");
    }
    let mut figures: std::collections::BTreeMap<&str, (Vec<f64>, Vec<f64>)> = Default::default();
    for round in 0..ROUNDS {
        for &who in &contestants {
            let out = dir
                .path()
                .join(format!("out-{round}-{}.jsonl", who.replace([',', ' '], "")));
            let mut cmd = match who {
                "baseline" | "baseline, mimalloc" => {
                    let mut cmd = Command::new(std::env::current_exe().unwrap());
                    cmd.args(["--baseline", &base, &concurrency.to_string()]);
                    if who == "baseline" {
                        cmd.env_remove("PAYSTAT_BENCH_MIMALLOC");
                    } else {
                        cmd.env("PAYSTAT_BENCH_MIMALLOC", "1");
                    }
                    cmd
                }
                "paystat, cache" => {
                    let state = dir.path().join(format!("cold-{round}"));
                    paystat(&state, &base, concurrency)
                }
                "paystat, before" => {
                    let mut cmd = paystat(dir.path(), &base, concurrency);
                    let binary = before.as_ref().expect("only with PAYSTAT_BENCH_BEFORE");
                    let mut before_cmd = Command::new(binary);
                    before_cmd.args(cmd.get_args());
                    for (key, value) in cmd.get_envs() {
                        match value {
                            Some(value) => before_cmd.env(key, value),
                            None => before_cmd.env_remove(key),
                        };
                    }
                    cmd = before_cmd;
                    cmd.arg("--no-cache");
                    cmd
                }
                _ => {
                    let mut cmd = paystat(dir.path(), &base, concurrency);
                    cmd.arg("--no-cache");
                    if who == "paystat, os" {
                        cmd.args(["--audit-sync", "os"]);
                    }
                    cmd
                }
            };
            let run = run_child(&mut cmd, &ids, &out, None);
            assert_eq!(run.lines, count as u64, "{who}: every id has its line");
            let entry = figures.entry(who).or_default();
            entry.0.push(count as f64 / run.wall.as_secs_f64());
            entry.1.push(run.cpu.as_secs_f64() * 1e6 / count as f64);
        }
    }
    let median = |v: &Vec<f64>| {
        let mut v = v.clone();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    println!(
        "ids per run:        {count}, concurrency {concurrency}, {ROUNDS} interleaved rounds, medians"
    );
    for (who, (rates, cpu)) in &figures {
        println!(
            "{who:<19} {:>7.0} checks/s, {:>5.1} µs client CPU per check",
            median(rates),
            median(cpu)
        );
    }
    let (base_rate, base_cpu) = (
        median(&figures["baseline"].0),
        median(&figures["baseline"].1),
    );
    let (disk_rate, disk_cpu) = (median(&figures["paystat"].0), median(&figures["paystat"].1));
    let os_rate = median(&figures["paystat, os"].0);
    let (cache_rate, cache_cpu) = (
        median(&figures["paystat, cache"].0),
        median(&figures["paystat, cache"].1),
    );
    println!(
        "paystat / baseline: {:.2} of the throughput, {:.2}x the CPU per check",
        disk_rate / base_rate,
        disk_cpu / base_cpu
    );
    let (mi_rate, mi_cpu) = (
        median(&figures["baseline, mimalloc"].0),
        median(&figures["baseline, mimalloc"].1),
    );
    println!(
        "paystat / baseline on mimalloc: {:.2} of the throughput, {:.2}x the CPU per check",
        disk_rate / mi_rate,
        disk_cpu / mi_cpu
    );
    println!(
        "audit disk / os:    {:.2} of the throughput",
        disk_rate / os_rate
    );
    if let Some((rates, cpu)) = figures.get("paystat, before") {
        println!(
            "paystat / before:   {:.2} of the throughput, {:.2}x the CPU per check; before / baseline: {:.2} of the throughput, {:.2}x the CPU",
            disk_rate / median(rates),
            disk_cpu / median(cpu),
            median(rates) / base_rate,
            median(cpu) / base_cpu
        );
    }
    println!(
        "cache on / off:     {:.2} of the throughput, {:.2}x the CPU per check (cold cache: every answer written)",
        cache_rate / disk_rate,
        cache_cpu / disk_cpu
    );
    println!(
        "cache on / baseline: {:.2} of the throughput, {:.2}x the CPU per check",
        cache_rate / base_rate,
        cache_cpu / base_cpu
    );
    let audit_bytes: u64 = walk(&dir.path().join("state"))
        .iter()
        .map(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
        .sum();
    // The trails of paystat, paystat os, and paystat before when it runs (the cache runs keep
    // theirs in state directories of their own).
    let trails = if before.is_some() { 3 } else { 2 };
    let audited = (ROUNDS * trails * count) as f64;
    println!(
        "audit line:         {:.0} bytes",
        audit_bytes as f64 / audited
    );

    if memory_ids > 0 {
        let ids: String = (0..memory_ids).map(|i| format!("txn_{i:07}\n")).collect();
        let out = dir.path().join("memory.jsonl");
        server.first_answer.store(0, Ordering::SeqCst);
        let run = run_child(
            paystat(dir.path(), &base, concurrency).arg("--no-cache"),
            &ids,
            &out,
            Some(&server),
        );
        assert_eq!(run.lines, memory_ids as u64);
        println!(
            "{memory_ids} ids:       peak RSS {:.1} MiB, {:.0} checks/s, first line {:.1} ms after the first answer",
            run.peak_rss_kib as f64 / 1024.0,
            memory_ids as f64 / run.wall.as_secs_f64(),
            run.first_line_after_answer
                .map_or(f64::NAN, |d| d.as_secs_f64() * 1e3)
        );
    }
}

/// `paystat check` reading ids from standard input, JSON lines out, the trail under `dir`.
fn paystat(dir: &std::path::Path, base: &str, concurrency: usize) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_paystat"));
    cmd.args(["check", "--quiet", "--format", "jsonl", "--base-url", base])
        .args(["--concurrency", &concurrency.to_string(), "-"])
        .env("XDG_STATE_HOME", dir.join("state"))
        .env_remove("RUST_LOG")
        .env_remove("PAYSTAT_AUDIT_DIR")
        .env_remove("PAYSTAT_STATE_DIR");
    cmd
}

/// What one child run measured.
struct Run {
    wall: Duration,
    cpu: Duration,
    peak_rss_kib: i64,
    lines: u64,
    first_line_after_answer: Option<Duration>,
}

/// Runs `cmd` with `ids` on its standard input and its standard output copied to `out`.
#[allow(
    clippy::zombie_processes,
    reason = "the child is reaped by wait4, which also reports its resources"
)]
fn run_child(cmd: &mut Command, ids: &str, out: &std::path::Path, server: Option<&Server>) -> Run {
    let started = Instant::now();
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the client starts");
    let feeder = child::feed(&mut child, ids);
    let stdout = child.stdout.take().unwrap();
    let out = out.to_owned();
    let first_answer = server.map(|s| Arc::clone(&s.first_answer));
    let epoch = server.map(|s| s.epoch);
    let reader = std::thread::spawn(move || {
        let mut reader = std::io::BufReader::with_capacity(1 << 16, stdout);
        let mut file = std::io::BufWriter::new(std::fs::File::create(out).unwrap());
        let mut line = Vec::new();
        let mut lines = 0u64;
        let mut first = None;
        while reader.read_until(b'\n', &mut line).unwrap() > 0 {
            if lines == 0 {
                first = epoch.map(|e: Instant| e.elapsed());
            }
            file.write_all(&line).unwrap();
            line.clear();
            lines += 1;
        }
        let answered = first_answer.map(|a| Duration::from_nanos(a.load(Ordering::SeqCst)));
        let after = first.zip(answered).map(|(f, a)| f.saturating_sub(a));
        (lines, after)
    });
    let used = child::reap(&child);
    let wall = started.elapsed();
    feeder.join().unwrap();
    let (lines, first_line_after_answer) = reader.join().unwrap();
    Run {
        wall,
        cpu: used.cpu,
        peak_rss_kib: used.peak_rss_kib,
        lines,
        first_line_after_answer,
    }
}

/// The baseline client: ids from standard input, one pooled reqwest client, `concurrency`
/// requests in flight, each body parsed, one JSON line per result written out (to standard
/// output, which the harness copies to a file, as it does paystat's).
fn baseline(args: &[String]) {
    use futures_util::StreamExt;
    let (base, concurrency) = (&args[0], args[1].parse::<usize>().unwrap());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let client = reqwest::Client::new();
        let ids: Vec<String> = std::io::stdin()
            .lock()
            .lines()
            .map(Result::unwrap)
            .collect();
        let mut file = std::io::BufWriter::new(std::io::stdout().lock());
        let mut results = futures_util::stream::iter(ids)
            .map(|id| {
                let client = client.clone();
                let url = format!("{base}/payments/{id}");
                async move {
                    let reply = client.get(url).send().await.unwrap();
                    let status = reply.status().as_u16();
                    let body = reply.bytes().await.unwrap();
                    let value: serde_json::Value = serde_json::from_slice(&body).unwrap();
                    serde_json::json!({ "payment_id": id, "http_status": status, "body": value })
                }
            })
            .buffer_unordered(concurrency);
        while let Some(line) = results.next().await {
            serde_json::to_writer(&mut file, &line).unwrap();
            file.write_all(b"\n").unwrap();
        }
        file.flush().unwrap();
    });
}

/// The bench's ledger: `GET /v1/payments/{id}` answers a completed payment with that id.
struct Server {
    port: u16,
    epoch: Instant,
    /// Nanoseconds after `epoch` of the first answer since it was reset to 0.
    first_answer: Arc<AtomicU64>,
}

impl Server {
    fn start() -> Server {
        let epoch = Instant::now();
        let first_answer = Arc::new(AtomicU64::new(0));
        let first = Arc::clone(&first_answer);
        let port = server::serve(Arc::new(move |request| {
            let now = u64::try_from(epoch.elapsed().as_nanos())
                .unwrap_or(u64::MAX)
                .max(1);
            let _ = first.compare_exchange(0, now, Ordering::SeqCst, Ordering::SeqCst);
            let id = request.uri().path().rsplit('/').next().unwrap_or("");
            format!(
                r#"{{"id": "{id}", "status": "completed", "amount": 150.00, "currency": "USD", "created_at": "2025-01-06T10:30:00Z"}}"#
            )
        }));
        Server {
            port,
            epoch,
            first_answer,
        }
    }
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(path) = stack.pop() {
        if path.is_dir() {
            if let Ok(entries) = std::fs::read_dir(&path) {
                stack.extend(entries.filter_map(|e| Some(e.ok()?.path())));
            }
        } else {
            files.push(path);
        }
    }
    files
}
