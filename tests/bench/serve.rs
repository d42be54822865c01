//! The Payment Status Service against the bench's own fast ledger server, beside `paystat
//! check` in the same run.
//!
//! Run with `cargo bench --bench serve` (optionally `-- 2000 20000 500 10` for the single GETs,
//! the ids per batch round, the keep-alive clients and the seconds they run). It starts the
//! minimal HTTP/1 ledger of `server.rs`, then the release-profile `paystat serve` as a child
//! process (its trail synced to disk, the default), creates a token, and measures:
//!
//! - **one GET at a time** over one keep-alive connection: the service's own time per request
//!   (its `Server-Timing` header: `total` from the request's arrival to its response, less
//!   `check`, the time inside the checker — the gateway exchange, the audit line and its disk
//!   sync — which is reported beside it), p50 and p99;
//! - **a batch**: the ids through `POST /v1/checks`, timed from sending to the last line, in
//!   three rounds interleaved with `paystat check --format jsonl --concurrency 64 -` over the
//!   same ids (its default audit settings too); medians and the ratio service/CLI;
//! - **keep-alive clients**: that many connections, each sending one GET a second from a random
//!   offset for the given seconds; the own time's p50 and p99, and the service's peak RSS.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use tokio::io::{AsyncBufReadExt, BufReader};

mod child;
mod server;

fn main() {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let singles = args.first().copied().unwrap_or(2000) as usize;
    let batch = args.get(1).copied().unwrap_or(20_000) as usize;
    let clients = args.get(2).copied().unwrap_or(500) as usize;
    let seconds = args.get(3).copied().unwrap_or(10);
    let _ = rlimit::increase_nofile_limit(clients as u64 * 2 + 512);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run(singles, batch, clients, seconds));
}

/// The ledger answer for the id at the end of the request's path.
fn ledger(request: &hyper::Request<hyper::body::Incoming>) -> String {
    let id = request.uri().path().rsplit('/').next().unwrap_or("");
    format!(
        r#"{{"id": "{id}", "status": "completed", "amount": 150.00, "currency": "USD", "created_at": "2025-01-06T10:30:00Z"}}"#
    )
}

async fn run(singles: usize, batch: usize, clients: usize, seconds: u64) {
    let port = server::serve(Arc::new(ledger));
    let base = format!("http://127.0.0.1:{port}/v1");
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    std::fs::create_dir_all(&state).unwrap();
    let env = |cmd: &mut tokio::process::Command| {
        cmd.env("PAYSTAT_STATE_DIR", &state)
            .env("PAYSTAT_LEDGER_URL", &base)
            .env("PAYSTAT_LEDGER_ENVIRONMENT", "mock")
            .env("XDG_CONFIG_HOME", dir.path().join("config"))
            .env_remove("RUST_LOG")
            .env_remove("PAYSTAT_AUDIT_DIR")
            .env_remove("PAYSTAT_CONFIG");
    };
    let binary = env!("CARGO_BIN_EXE_paystat");
    let mut create = tokio::process::Command::new(binary);
    create.args(["token", "create", "--actor", "bench", "--role", "ops"]);
    env(&mut create);
    let token = String::from_utf8(create.output().await.unwrap().stdout)
        .unwrap()
        .trim()
        .to_owned();
    assert!(token.starts_with("pst_"), "no token was created");
    let mut serve = tokio::process::Command::new(binary);
    serve
        .args(["serve", "--listen", "127.0.0.1:0", "--log-format", "json"])
        .args([
            "--max-batch",
            &batch.max(1).to_string(),
            "--sync-every",
            "0s",
        ])
        // One token stands for every client here: its limits are not what is measured.
        .args(["--token-rate", "1000000", "--token-concurrency", "100000"])
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    env(&mut serve);
    // The service logs every check at info; the bench wants its errors only.
    serve.env("RUST_LOG", "paystat=warn");
    let mut service = serve.spawn().unwrap();
    let pid = service.id().unwrap();
    let mut stderr = BufReader::new(service.stderr.take().unwrap()).lines();
    let addr = loop {
        let line = stderr
            .next_line()
            .await
            .unwrap()
            .expect("the service starts");
        if let Some(rest) = line.split("serving on http://").nth(1) {
            break rest.split_whitespace().next().unwrap().to_owned();
        }
    };
    tokio::spawn(async move { while let Ok(Some(_)) = stderr.next_line().await {} });
    println!("paystat serve at {addr}, pid {pid}; ledger at {base}");

    // One GET at a time.
    let mut connection = Connection::open(&addr, &token).await;
    for i in 0..200 {
        connection.get(&format!("txn_w{i}")).await;
    }
    let mut own = Vec::with_capacity(singles);
    let mut check = Vec::with_capacity(singles);
    let mut round_trip = Vec::with_capacity(singles);
    for i in 0..singles {
        let sent = Instant::now();
        let timing = connection.get(&format!("txn_{i:07}")).await;
        round_trip.push(sent.elapsed().as_secs_f64() * 1000.0);
        own.push(timing.total - timing.check);
        check.push(timing.check);
    }
    println!(
        "one GET at a time, {singles} requests: own time p50 {:.3} ms, p99 {:.3} ms (beside it, the check: p50 {:.3} ms, p99 {:.3} ms; the client's round trip: p50 {:.3} ms, p99 {:.3} ms)",
        quantile(&mut own, 0.5),
        quantile(&mut own, 0.99),
        quantile(&mut check, 0.5),
        quantile(&mut check, 0.99),
        quantile(&mut round_trip, 0.5),
        quantile(&mut round_trip, 0.99),
    );

    // A batch through the service beside the CLI's bulk run, interleaved.
    let ids: Vec<String> = (0..batch).map(|i| format!("txn_{i:07}")).collect();
    let mut served = Vec::new();
    let mut cli = Vec::new();
    for round in 0..3 {
        let started = Instant::now();
        let lines = connection.batch(&ids).await;
        assert_eq!(
            lines, batch,
            "round {round}: the service answered {lines} of {batch}"
        );
        served.push(batch as f64 / started.elapsed().as_secs_f64());

        let mut run = tokio::process::Command::new(binary);
        run.args(["check", "--quiet", "--format", "jsonl", "--no-cache"])
            .args(["--concurrency", "64", "--base-url", &base, "-"])
            .env("PAYSTAT_STATE_DIR", dir.path().join(format!("cli{round}")))
            .env("XDG_CONFIG_HOME", dir.path().join("config"))
            .env("PAYSTAT_LEDGER_ENVIRONMENT", "mock")
            .env_remove("RUST_LOG")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped());
        let started = Instant::now();
        let mut child = run.spawn().unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let input = ids.join("\n");
        let feeding = tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            stdin.write_all(input.as_bytes()).await.unwrap();
        });
        let out = child.wait_with_output().await.unwrap();
        feeding.await.unwrap();
        let lines = out.stdout.iter().filter(|b| **b == b'\n').count();
        assert_eq!(
            lines, batch,
            "round {round}: the CLI answered {lines} of {batch}"
        );
        cli.push(batch as f64 / started.elapsed().as_secs_f64());
    }
    let (served, cli) = (median(&mut served), median(&mut cli));
    println!(
        "a batch of {batch} ids, median of 3 rounds: service {served:.0} checks/s, paystat check {cli:.0} checks/s; ratio {:.2}",
        served / cli
    );
    drop(connection);

    // Keep-alive clients, one GET a second each.
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let tasks: Vec<_> = (0..clients)
        .map(|c| {
            let addr = addr.clone();
            let token = token.clone();
            tokio::spawn(async move {
                let mut connection = Connection::open(&addr, &token).await;
                let offset = Duration::from_millis(fastrand::u64(0..1000));
                tokio::time::sleep(offset).await;
                let mut tick = tokio::time::interval(Duration::from_secs(1));
                let mut own = Vec::new();
                let mut n = 0;
                while Instant::now() < deadline {
                    tick.tick().await;
                    let timing = connection.get(&format!("txn_c{c}_{n}")).await;
                    own.push(timing.total - timing.check);
                    n += 1;
                }
                own
            })
        })
        .collect();
    let mut own: Vec<f64> = Vec::new();
    for task in tasks {
        own.extend(task.await.unwrap());
    }
    let peak = peak_rss_kib(pid);
    println!(
        "{clients} keep-alive clients at one GET a second for {seconds} s, {} requests: own time p50 {:.3} ms, p99 {:.3} ms; the service's peak RSS {} MiB",
        own.len(),
        quantile(&mut own, 0.5),
        quantile(&mut own, 0.99),
        peak / 1024
    );
    let _ = service.start_kill();
    let _ = service.wait().await;
}

/// The service's peak resident set so far, in KiB (`VmHWM`).
fn peak_rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn quantile(values: &mut [f64], q: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(f64::total_cmp);
    let at = ((values.len() as f64 - 1.0) * q).round() as usize;
    values[at]
}

fn median(values: &mut [f64]) -> f64 {
    quantile(values, 0.5)
}

/// What the service's `Server-Timing` said, in milliseconds.
struct Timing {
    total: f64,
    check: f64,
}

/// One keep-alive HTTP/1 connection to the service.
struct Connection {
    sender: hyper::client::conn::http1::SendRequest<Full<Bytes>>,
    token: String,
    host: String,
}

impl Connection {
    async fn open(addr: &str, token: &str) -> Connection {
        let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        stream.set_nodelay(true).unwrap();
        let (sender, connection) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                .await
                .unwrap();
        tokio::spawn(connection);
        Connection {
            sender,
            token: format!("Bearer {token}"),
            host: addr.to_owned(),
        }
    }

    async fn get(&mut self, id: &str) -> Timing {
        let request = hyper::Request::get(format!("/v1/payments/{id}"))
            .header("host", &self.host)
            .header("authorization", &self.token)
            .body(Full::new(Bytes::new()))
            .unwrap();
        self.sender.ready().await.unwrap();
        let response = self.sender.send_request(request).await.unwrap();
        assert_eq!(response.status(), 200);
        let timing = response
            .headers()
            .get("server-timing")
            .and_then(|v| v.to_str().ok())
            .map(parse_timing)
            .expect("the service says its timing");
        response.into_body().collect().await.unwrap();
        timing
    }

    /// Sends `ids` as one batch; how many result lines came back.
    async fn batch(&mut self, ids: &[String]) -> usize {
        let body = serde_json::json!({ "ids": ids }).to_string();
        let request = hyper::Request::post("/v1/checks")
            .header("host", &self.host)
            .header("authorization", &self.token)
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body)))
            .unwrap();
        self.sender.ready().await.unwrap();
        let response = self.sender.send_request(request).await.unwrap();
        assert_eq!(response.status(), 200);
        let mut body = response.into_body();
        let mut lines = 0;
        while let Some(frame) = body.frame().await {
            if let Ok(data) = frame.unwrap().into_data() {
                lines += data.iter().filter(|b| **b == b'\n').count();
            }
        }
        lines
    }
}

fn parse_timing(header: &str) -> Timing {
    let mut timing = Timing {
        total: 0.0,
        check: 0.0,
    };
    for part in header.split(',') {
        let mut fields = part.trim().split(";dur=");
        let (Some(name), Some(value)) = (fields.next(), fields.next()) else {
            continue;
        };
        let value: f64 = value.parse().unwrap_or(0.0);
        match name {
            "total" => timing.total = value,
            "check" => timing.check = value,
            _ => {}
        }
    }
    timing
}
