//! paystat run the way a careless operator, a hostile network and a broken machine would run
//! it: proxies that would read credentials, a mock probed the moment it listens, absurd
//! numbers, a full or closed standard output, more checks than the open-files limit allows.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use paystat::GatewayKind;
use paystat::contract::{EmbeddedMock, ScenarioSet};
use proptest::prelude::*;

use crate::helpers::{CANARIES, LEDGER_TOKEN, STRIPE_KEY, fixtures_dir, paystat};

/// A proxy on loopback that records every byte it receives and answers 502 to anything.
struct RecordingProxy {
    url: String,
    received: Arc<Mutex<Vec<u8>>>,
}

impl RecordingProxy {
    fn start() -> RecordingProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let received = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&received);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
                let mut buffer = [0u8; 8192];
                let mut request = Vec::new();
                while let Ok(n) = stream.read(&mut buffer) {
                    if n == 0 {
                        break;
                    }
                    request.extend_from_slice(&buffer[..n]);
                    if request.windows(4).any(|w| w == b"\r\n\r\n") {
                        break;
                    }
                }
                log.lock().unwrap().extend_from_slice(&request);
                let _ = stream.write_all(
                    b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                );
            }
        });
        RecordingProxy { url, received }
    }

    fn received(&self) -> String {
        String::from_utf8_lossy(&self.received.lock().unwrap()).into_owned()
    }
}

fn mock() -> (tokio::runtime::Runtime, EmbeddedMock) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mock = runtime.block_on(async {
        let scenarios = ScenarioSet::from_dir(&fixtures_dir()).unwrap();
        EmbeddedMock::start(scenarios.scenarios()).await
    });
    (runtime, mock)
}

const PROXY_VARIABLES: [&str; 6] = [
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "ALL_PROXY",
    "all_proxy",
];

#[test]
fn a_loopback_gateway_is_never_reached_through_a_proxy() {
    let proxy = RecordingProxy::start();
    let (_runtime, mock) = mock();
    let dir = tempfile::tempdir().unwrap();
    let mut check = paystat(dir.path());
    for var in PROXY_VARIABLES {
        check.env(var, &proxy.url);
    }
    let output = check
        .env("PAYSTAT_LEDGER_TOKEN", LEDGER_TOKEN)
        .args([
            "check",
            "--base-url",
            &mock.base_url(GatewayKind::Ledger),
            "txn_001",
        ])
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(proxy.received(), "", "nothing may reach the proxy");
}

#[test]
fn an_https_gateway_goes_through_the_proxy_tunnel_and_the_key_stays_out_of_it() {
    let proxy = RecordingProxy::start();
    let dir = tempfile::tempdir().unwrap();
    let output = paystat(dir.path())
        .env("HTTPS_PROXY", &proxy.url)
        .env("PAYSTAT_STRIPE_KEY", STRIPE_KEY)
        .env("PAYSTAT_STRIPE_URL", "https://stripe.paystat-test.invalid")
        .args(["check", "--gateway", "stripe", "--max-attempts", "1"])
        .arg("pi_3MtwBwLkdIwHu7ix28a3tqPa")
        .output()
        .unwrap();
    let received = proxy.received();
    // The proxy was asked for a tunnel, as corporate proxies are, and saw no credential.
    assert!(
        received.starts_with("CONNECT stripe.paystat-test.invalid:443 HTTP/1.1"),
        "{received}"
    );
    for canary in CANARIES {
        assert!(!received.contains(canary), "the proxy saw a credential");
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(3), "{stdout}");
    assert!(stdout.contains("connection_error"), "{stdout}");
    assert!(
        stdout.contains("through the proxy 127.0.0.1:"),
        "the failure names the proxy: {stdout}"
    );
}

#[test]
fn a_plain_http_gateway_with_a_proxy_set_is_refused_naming_the_variable() {
    let proxy = RecordingProxy::start();
    let dir = tempfile::tempdir().unwrap();
    let output = paystat(dir.path())
        .env("http_proxy", &proxy.url)
        .env("PAYSTAT_LEDGER_TOKEN", LEDGER_TOKEN)
        .args([
            "check",
            "--base-url",
            "http://ledger.paystat-test.invalid/v1",
            "txn_001",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("http_proxy sets a proxy"), "{stderr}");
    assert_eq!(proxy.received(), "");
}

#[test]
fn the_standalone_mock_answers_the_moment_it_accepts() {
    // A free port, known before the mock starts, so the test can knock on it right away.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let mut serve = paystat(dir.path())
        .args(["mock", "serve", "--port", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Knock without sleeping until the port accepts (bounded: the mock starts in seconds).
    let started = Instant::now();
    let mut stream = loop {
        if let Ok(stream) = TcpStream::connect(("127.0.0.1", port)) {
            break stream;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the mock never listened"
        );
        std::thread::yield_now();
    };
    stream
        .write_all(
            b"GET /v1/payments/txn_001 HTTP/1.1\r\nHost: mock\r\nAccept: application/json\r\nConnection: close\r\n\r\n",
        )
        .unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).unwrap();
    serve.kill().unwrap();
    serve.wait().unwrap();
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    assert!(reply.contains("\"id\": \"txn_001\""), "{reply}");
}

#[test]
fn results_that_cannot_be_written_exit_5_and_a_closed_pipe_exits_0() {
    let (_runtime, mock) = mock();
    let dir = tempfile::tempdir().unwrap();
    let base = mock.base_url(GatewayKind::Ledger);
    let full = paystat(dir.path())
        .args(["check", "--base-url", &base, "txn_001"])
        .stdout(std::fs::File::create("/dev/full").unwrap())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&full.stderr);
    assert_eq!(full.status.code(), Some(5), "{stderr}");
    assert_eq!(
        stderr.trim(),
        "paystat: cannot write to standard output: No space left on device (os error 28)"
    );

    // A reader that goes away at once, like `| head -0`.
    let mut closed = paystat(dir.path())
        .args([
            "check",
            "--base-url",
            &base,
            "txn_001",
            "txn_002",
            "txn_003",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(closed.stdout.take());
    let output = closed.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&output.stderr), "", "quietly");
}

#[test]
fn more_checks_than_open_files_are_lowered_and_said() {
    let (_runtime, mock) = mock();
    let dir = tempfile::tempdir().unwrap();
    // A shell that lowers its own open-files limit, then runs paystat with far more checks.
    let output = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "ulimit -n 80 && exec \"$0\" check --quiet --base-url {} --concurrency 1024 txn_001 txn_002",
            mock.base_url(GatewayKind::Ledger)
        ))
        .arg(env!("CARGO_BIN_EXE_paystat"))
        .current_dir(dir.path())
        .env_remove("RUST_LOG")
        .env("XDG_STATE_HOME", dir.path().join("state"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert_eq!(
        stderr.trim(),
        "paystat: the open-files limit (80) allows 16 checks at once, not 1024; running 16 at once"
    );
    let too_many = paystat(dir.path())
        .args(["check", "--concurrency", "100000", "txn_001"])
        .output()
        .unwrap();
    assert_eq!(too_many.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&too_many.stderr).trim(),
        "paystat: --concurrency is 100000; it must be between 1 and 1024 checks at once"
    );
}

/// The numbers that used to panic, overflow or be silently ignored, each refused in one
/// sentence naming its flag or key, with exit 2 and no request sent.
#[test]
fn the_numbers_that_used_to_break_paystat_are_refused_in_one_sentence() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&str, &[&str], &str); 6] = [
        ("", &["--rate", "1e-30"], "paystat: --rate is 1e-30;"),
        (
            "",
            &["--rate", "6e-20", "txn_002"],
            "paystat: --rate is 6e-20;",
        ),
        (
            "[ledger]\nrequests_per_second = 1e-30\n",
            &[],
            "paystat: [ledger] requests_per_second is 1e-30;",
        ),
        (
            "[ledger.retry]\nmax_attempts = 0\n",
            &[],
            "paystat: [ledger.retry] max_attempts is 0; it must be between 1 and 10 attempts",
        ),
        (
            "[ledger]\nrequests_per_second = -5\n",
            &[],
            "paystat: [ledger] requests_per_second is -5; it must be 0",
        ),
        (
            "[ledger]\nrequests_per_second = nan\n",
            &[],
            "paystat: [ledger] requests_per_second is NaN; it must be 0",
        ),
    ];
    for (config, flags, expected) in cases {
        let path = crate::helpers::write_config(dir.path(), config);
        let output = paystat(dir.path())
            .args(["check", "--base-url", &crate::helpers::refused_base_url()])
            .args(flags)
            .arg("txn_001")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{config} {flags:?}: {stderr}"
        );
        // The file read is said first, then the one error sentence.
        let (read, error) = stderr.split_once('\n').unwrap();
        assert_eq!(
            read,
            format!("paystat: configuration from {}", path.display())
        );
        assert_eq!(error.lines().count(), 1, "{stderr}");
        assert!(error.starts_with(expected), "{config} {flags:?}: {stderr}");
    }
    assert!(
        crate::helpers::live_trail(dir.path()).is_empty(),
        "nothing was checked"
    );
}

/// Numbers as a person might type them: mostly the edges (tiny, huge, zero, negative, not
/// finite, one past a limit), where bugs live, and now and then anything at all.
fn any_number() -> impl Strategy<Value = String> {
    let edges = [
        "0",
        "-0",
        "1e-30",
        "6e-20",
        "1e-300",
        "0.05",
        "0.1",
        "1",
        "10",
        "11",
        "1024",
        "1025",
        "10000",
        "10000.5",
        "1e308",
        "inf",
        "-inf",
        "nan",
        "-5",
        "4294967296",
        "18446744073709551616",
        "0ms",
        "1ms",
        "599s",
        "601s",
        "10000000000h",
    ];
    prop_oneof![
        4 => prop::sample::select(edges.to_vec()).prop_map(str::to_owned),
        1 => any::<f64>().prop_map(|f| f.to_string()),
        1 => any::<i64>().prop_map(|i| i.to_string()),
        1 => (0u64..1_000_000_000).prop_map(|n| format!("{n}ms")),
    ]
}

const NUMERIC_FLAGS: [&str; 8] = [
    "--rate",
    "--max-attempts",
    "--timeout",
    "--deadline",
    "--backoff-base",
    "--backoff-cap",
    "--retry-after-cap",
    "--concurrency",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// Any number in any flag or config key: exit 2 with one sentence, or a run that goes on
    /// (against a port where nothing listens) — never a panic.
    #[test]
    fn no_number_makes_paystat_panic(
        flag in 0..NUMERIC_FLAGS.len(),
        value in any_number(),
        key in 0..7usize,
        file_value in any_number(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let keys = [
            "requests_per_second = {}",
            "timeout = \"{}\"",
            "[ledger.retry]\nmax_attempts = {}",
            "[ledger.retry]\ndeadline = \"{}\"",
            "[ledger.retry]\nbackoff_base = \"{}\"",
            "[ledger.retry]\nretry_after_cap = \"{}\"",
            "[ledger.retry]\nbudget = {}",
        ];
        let config = format!("[ledger]\n{}\n", keys[key].replace("{}", &file_value));
        crate::helpers::write_config(dir.path(), &config);
        let mut command = paystat(dir.path());
        command
            .args(["check", "--base-url", &crate::helpers::refused_base_url()])
            .arg(format!("{}={value}", NUMERIC_FLAGS[flag]));
        if NUMERIC_FLAGS[flag] != "--max-attempts" {
            // One attempt at a refused port: a valid run ends at once.
            command.arg("--max-attempts=1");
        }
        let mut child = command
            .arg("txn_001")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let started = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break Some(status);
            }
            if started.elapsed() > Duration::from_secs(3) {
                // Past validation and still retrying a refused port: a valid run.
                child.kill().unwrap();
                child.wait().unwrap();
                break None;
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        let mut stderr = String::new();
        child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
        prop_assert!(!stderr.contains("panicked"), "{stderr}");
        if let Some(status) = status {
            let code = status.code();
            prop_assert!(matches!(code, Some(0..=3)), "exit {code:?}: {stderr}");
            if code == Some(2) {
                prop_assert!(stderr.trim().lines().count() <= 3, "{stderr}");
            }
        }
    }
}

/// A ledger on loopback behind TLS, its certificate signed by a certificate authority the
/// test makes (as a company CA signs what a TLS-inspecting proxy shows). Returns the port and
/// the CA's PEM.
fn tls_ledger(runtime: &tokio::runtime::Runtime) -> (u16, String) {
    tls_server(
        runtime,
        r#"{"id": "txn_001", "status": "completed", "amount": 150.00, "currency": "USD"}"#,
    )
}

/// A server on loopback behind TLS, as [`tls_ledger`], answering every request with `body`.
fn tls_server(runtime: &tokio::runtime::Runtime, body: &'static str) -> (u16, String) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, "paystat test company CA");
    let ca = ca.self_signed(&ca_key).unwrap();
    let leaf_key = rcgen::KeyPair::generate().unwrap();
    let leaf = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .signed_by(&leaf_key, &ca, &ca_key)
        .unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![leaf.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into()),
        )
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let port = listener.local_addr().unwrap().port();
    runtime.spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        while let Ok((stream, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(stream).await else {
                    return;
                };
                let mut head = Vec::new();
                let mut buffer = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut buffer).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buffer[..n]),
                    }
                }
                let reply = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = tls.write_all(reply.as_bytes()).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    (port, ca.pem())
}

#[test]
fn a_company_ca_is_trusted_when_given_and_only_then() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (port, ca_pem) = tls_ledger(&runtime);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("company-ca.pem"), ca_pem).unwrap();
    let base = format!("https://localhost:{port}/v1");
    let run = |extra: &[&str]| {
        paystat(dir.path())
            .args(["check", "--base-url", &base, "--max-attempts", "1"])
            .args(extra)
            .arg("txn_001")
            .output()
            .unwrap()
    };
    let unknown = run(&[]);
    let stdout = String::from_utf8_lossy(&unknown.stdout);
    assert_eq!(unknown.status.code(), Some(3), "{stdout}");
    assert!(stdout.contains("connection_error"), "{stdout}");
    let trusted = run(&["--ca-cert", "company-ca.pem"]);
    assert_eq!(
        trusted.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&trusted.stdout),
        String::from_utf8_lossy(&trusted.stderr)
    );
    crate::helpers::write_config(
        dir.path(),
        &format!("ca_cert = {:?}\n", dir.path().join("company-ca.pem")),
    );
    assert_eq!(run(&[]).status.code(), Some(0), "the config key works too");
    let missing = run(&["--ca-cert", "no-such.pem"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&missing.stderr)
            .lines()
            .last()
            .is_some_and(
                |l| l.starts_with("paystat: cannot use the CA certificate file no-such.pem:")
            ),
        "{}",
        String::from_utf8_lossy(&missing.stderr)
    );
}

/// `cache sync` reads the feeds through the same client as the checks: one that trusts the
/// company CA.
#[test]
fn cache_sync_trusts_the_company_ca() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (port, ca_pem) = tls_server(
        &runtime,
        r#"{"object": "list", "data": [], "has_more": false}"#,
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("company-ca.pem"), ca_pem).unwrap();
    let output = paystat(dir.path())
        .env("PAYSTAT_STRIPE_URL", format!("https://localhost:{port}"))
        .env("PAYSTAT_STRIPE_KEY", STRIPE_KEY)
        .args(["cache", "sync", "--gateway", "stripe"])
        .output()
        .unwrap();
    // Without the CA the same sync cannot read the feed.
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    std::fs::write(
        dir.path().join("paystat.toml"),
        "ca_cert = \"company-ca.pem\"\n",
    )
    .unwrap();
    let output = paystat(dir.path())
        .env("PAYSTAT_STRIPE_URL", format!("https://localhost:{port}"))
        .env("PAYSTAT_STRIPE_KEY", STRIPE_KEY)
        .args([
            "cache",
            "sync",
            "--gateway",
            "stripe",
            "--config",
            "paystat.toml",
        ])
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A bulk run checks on two threads, each with its own HTTP client: the second client must
/// trust the company CA (and follow the proxy rules) exactly as the first does.
#[test]
fn both_threads_of_a_bulk_run_trust_the_company_ca() {
    if std::thread::available_parallelism().map_or(1, |n| n.get()) < 2 {
        eprintln!("skipped: one core, so a bulk run checks on one thread only");
        return;
    }
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (port, ca_pem) = tls_ledger(&runtime);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("company-ca.pem"), ca_pem).unwrap();
    let mut child = paystat(dir.path())
        .args([
            "check",
            "--base-url",
            &format!("https://localhost:{port}/v1"),
        ])
        .args(["--ca-cert", "company-ca.pem", "--max-attempts", "1"])
        // Every check asks the gateway: a cached answer would need no client at all.
        .args(["--no-cache", "--concurrency", "8", "--format", "jsonl", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let ids = "txn_001\n".repeat(200);
    child
        .stdin
        .take()
        .unwrap()
        .write_all(ids.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let found = stdout
        .lines()
        .filter(|l| l.contains("\"outcome\":\"found\""))
        .count();
    assert_eq!(
        (output.status.code(), found),
        (Some(0), 200),
        "every check, on either thread, reached the gateway:\n{}{}",
        stdout
            .lines()
            .find(|l| !l.contains("\"found\""))
            .unwrap_or(""),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn a_base_url_at_a_plain_web_server_is_never_read_as_not_found() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    // A web server that answers every path with its 404 page.
    let server = runtime.block_on(httpmock::MockServer::start_async());
    runtime.block_on(server.mock_async(|_when, then| {
        then.status(404)
            .header("content-type", "text/html")
            .body("<html><body><h1>404 Not Found</h1></body></html>");
    }));
    let dir = tempfile::tempdir().unwrap();
    for (gateway, id) in [
        ("ledger", "txn_001"),
        ("stripe", "pi_3MtwBwLkdIwHu7ix28a3tqPa"),
        ("plaid", "460cbe92-2dcc-8eae-5ad6-b37d0ec90fd9"),
    ] {
        let output = paystat(dir.path())
            .env("PAYSTAT_STRIPE_KEY", STRIPE_KEY)
            .env("PAYSTAT_PLAID_CLIENT_ID", "client")
            .env("PAYSTAT_PLAID_SECRET", "plaid-test-secret")
            .args([
                "check",
                "--gateway",
                gateway,
                "--base-url",
                &server.url("/v1"),
                id,
            ])
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert_eq!(output.status.code(), Some(3), "{gateway}: {stdout}");
        assert!(stdout.contains("bad_response"), "{gateway}: {stdout}");
        assert!(stdout.contains("check the base URL"), "{gateway}: {stdout}");
        assert!(!stdout.contains("not_found"), "{gateway}: {stdout}");
    }
}
