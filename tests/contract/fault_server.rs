//! A small raw-TCP server that misbehaves on purpose, for what httpmock cannot do: answer a
//! script of responses in order (503, 503, 200 …) and break HTTP below the status line.
//!
//! Each accepted connection takes the next step of the script (the last step repeats). Every
//! response closes its connection, so each attempt is one connection and `connections()`
//! counts attempts.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// A transport fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Read the request, then reset the connection before any byte.
    ResetBeforeResponse,
    /// Promise 1,000 bytes with `Content-Length`, send 20, close.
    ClosedMidBody,
    /// Send a chunked body whose chunk size is not hexadecimal.
    MalformedChunked,
    /// Send the headers, then never the body.
    HeadersThenStall,
    /// Send bytes that are not HTTP, then close.
    GarbageThenClose,
    /// Send the body one byte every 30 ms, far slower than the attempt timeout.
    DripPastTimeout,
    /// Accept and read the request, never answer.
    AcceptNeverAnswer,
}

impl Fault {
    /// Every fault, in documentation order.
    pub const ALL: [Fault; 7] = [
        Fault::ResetBeforeResponse,
        Fault::ClosedMidBody,
        Fault::MalformedChunked,
        Fault::HeadersThenStall,
        Fault::GarbageThenClose,
        Fault::DripPastTimeout,
        Fault::AcceptNeverAnswer,
    ];

    /// How the matrix names it.
    pub fn name(self) -> &'static str {
        match self {
            Fault::ResetBeforeResponse => "connection reset before any byte",
            Fault::ClosedMidBody => "connection closed mid-body",
            Fault::MalformedChunked => "malformed chunked encoding",
            Fault::HeadersThenStall => "headers, then the body never comes",
            Fault::GarbageThenClose => "random bytes, then close",
            Fault::DripPastTimeout => "body dripped past the timeout",
            Fault::AcceptNeverAnswer => "accepts, never answers",
        }
    }
}

/// A canned HTTP response.
#[derive(Debug, Clone)]
pub struct Canned {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Canned {
    /// A response with a JSON body.
    pub fn json(status: u16, body: &str) -> Canned {
        Canned {
            status,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: body.as_bytes().to_vec(),
        }
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> Canned {
        self.headers.push((name.into(), value.into()));
        self
    }
}

/// One step of a script.
#[derive(Debug, Clone)]
pub enum Step {
    Respond(Canned),
    Fail(Fault),
}

/// The running server; dropping it closes every connection.
pub struct FaultServer {
    port: u16,
    connections: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl Drop for FaultServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FaultServer {
    /// Starts a server playing `script` on a free loopback port.
    pub async fn start(script: Vec<Step>) -> FaultServer {
        assert!(!script.is_empty());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let connections = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&connections);
        let task = tokio::spawn(async move {
            let mut held = Vec::new();
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let n = counter.fetch_add(1, Ordering::SeqCst);
                let step = script[n.min(script.len() - 1)].clone();
                // Stalled connections stay open until the server is dropped.
                let (tx, rx) = tokio::sync::oneshot::channel::<TcpStream>();
                held.push(rx);
                tokio::spawn(play(stream, step, tx));
            }
        });
        FaultServer {
            port,
            connections,
            task,
        }
    }

    /// A server that fails every connection with `fault`.
    pub async fn failing(fault: Fault) -> FaultServer {
        FaultServer::start(vec![Step::Fail(fault)]).await
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Connections accepted so far (one per attempt).
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

/// Reads one request: the head, and a body of `Content-Length` bytes.
async fn read_request(stream: &mut TcpStream) {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    while buffer.len() < head_end + length {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
        }
    }
}

async fn play(mut stream: TcpStream, step: Step, hold: tokio::sync::oneshot::Sender<TcpStream>) {
    read_request(&mut stream).await;
    match step {
        Step::Respond(canned) => {
            let mut head = format!(
                "HTTP/1.1 {} Scripted\r\nContent-Length: {}\r\nConnection: close\r\n",
                canned.status,
                canned.body.len()
            );
            for (name, value) in &canned.headers {
                head.push_str(&format!("{name}: {value}\r\n"));
            }
            head.push_str("\r\n");
            let _ = stream.write_all(head.as_bytes()).await;
            let _ = stream.write_all(&canned.body).await;
            let _ = stream.shutdown().await;
        }
        Step::Fail(Fault::ResetBeforeResponse) => {
            let _ = stream.set_zero_linger();
            drop(stream);
        }
        Step::Fail(Fault::ClosedMidBody) => {
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"id\": \"txn_001\", \"st")
                .await;
            let _ = stream.shutdown().await;
        }
        Step::Fail(Fault::MalformedChunked) => {
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{\"id\"\r\n0\r\n\r\n")
                .await;
            let _ = stream.shutdown().await;
        }
        Step::Fail(Fault::HeadersThenStall) => {
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n")
                .await;
            let _ = hold.send(stream);
        }
        Step::Fail(Fault::GarbageThenClose) => {
            let mut rng = fastrand::Rng::with_seed(7);
            let garbage: Vec<u8> = (0..512).map(|_| rng.u8(..)).collect();
            let _ = stream.write_all(&garbage).await;
            let _ = stream.shutdown().await;
        }
        Step::Fail(Fault::DripPastTimeout) => {
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n")
                .await;
            for _ in 0..200 {
                if stream.write_all(b" ").await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(30)).await;
            }
        }
        Step::Fail(Fault::AcceptNeverAnswer) => {
            let _ = hold.send(stream);
        }
    }
}
