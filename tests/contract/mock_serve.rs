//! `paystat mock serve` as its banner promises: it answers any HTTP client the scenario's
//! method and path (a script written for the original mock API, with `Accept: */*` and no
//! credentials), holds clients to the scenarios' `[request]` only with `--strict`, and set up as
//! its banner says, `paystat verify` passes against it for every gateway.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Stdio};

use crate::helpers::paystat;

/// A running `paystat mock serve`, its base URL and the `export` lines it printed.
struct Served {
    child: Child,
    url: String,
    exports: Vec<(String, String)>,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(dir: &std::path::Path, flags: &[&str]) -> Served {
    let mut child = paystat(dir)
        .args(["mock", "serve"])
        .args(flags)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut banner = String::new();
    stdout.read_line(&mut banner).unwrap();
    let url = banner
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap()
        .to_owned();
    let mut exports = Vec::new();
    loop {
        let mut line = String::new();
        if stdout.read_line(&mut line).unwrap() == 0 || line.starts_with("# scenarios:") {
            break;
        }
        if let Some(assignments) = line.trim().strip_prefix("export ") {
            for pair in assignments.split(' ') {
                let (name, value) = pair.split_once('=').unwrap();
                exports.push((name.to_owned(), value.to_owned()));
            }
        }
    }
    // The rest of the banner is read (and dropped) so the mock never blocks on its stdout.
    std::thread::spawn(move || {
        let mut rest = Vec::new();
        let _ = stdout.read_to_end(&mut rest);
    });
    Served {
        child,
        url,
        exports,
    }
}

/// One HTTP/1.1 request as a plain client sends it; the status code and body.
fn plain(url: &str, method: &str, path: &str, body: &str) -> (u16, String) {
    let address = url.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nUser-Agent: python-requests/2.31.0\r\nAccept: */*\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).unwrap();
    let status = reply.split_whitespace().nth(1).unwrap().parse().unwrap();
    let body = reply
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

#[test]
fn mock_serve_answers_a_plain_client() {
    let dir = tempfile::tempdir().unwrap();
    let served = serve(dir.path(), &["--port", "0"]);
    for (method, path, body, word) in [
        ("GET", "/v1/payments/txn_001", "", "completed"),
        ("GET", "/v1/payments/txn_003", "", "failed"),
        (
            "GET",
            "/v1/payment_intents/pi_3MtwBwLkdIwHu7ix28a3tqPa",
            "",
            "succeeded",
        ),
        (
            "POST",
            "/transfer/get",
            r#"{"transfer_id": "460cbe92-2dcc-8eae-5ad6-b37d0ec90fd9"}"#,
            "settled",
        ),
    ] {
        let (status, reply) = plain(&served.url, method, path, body);
        assert_eq!(status, 200, "{method} {path}: {reply}");
        assert!(reply.contains(word), "{method} {path}: {reply}");
    }
    // Held to the contract, the same plain client is told it breaks the scenario's [request].
    let strict = serve(dir.path(), &["--port", "0", "--strict"]);
    let (status, _) = plain(&strict.url, "GET", "/v1/payments/txn_001", "");
    assert_eq!(status, 418);
}

#[test]
fn verify_passes_against_the_mock_set_up_as_its_banner_says() {
    let dir = tempfile::tempdir().unwrap();
    let served = serve(dir.path(), &[]);
    for gateway in ["ledger", "stripe", "plaid"] {
        let output = paystat(dir.path())
            .envs(served.exports.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .args(["verify", "--gateway", gateway])
            .output()
            .unwrap();
        assert_eq!(
            output.status.code(),
            Some(0),
            "{gateway}: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}
