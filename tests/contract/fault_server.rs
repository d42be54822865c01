//! A small raw-TCP server that misbehaves on purpose, for what httpmock cannot do: answer a
//! script of responses in order (503, 503, 200 …) and break HTTP below the status line.
//!
//! Each accepted connection takes the next step of the script (the last step repeats). Every
//! response closes its connection, so each attempt is one connection and `connections()`
//! counts attempts.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use paystat::contract::TransportFault;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

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
    /// Break HTTP the way a scenario's `transport` says (not `connection_refused`: nothing
    /// listening needs no server, see `helpers::refused_server`).
    Fail(TransportFault),
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
    pub async fn failing(fault: TransportFault) -> FaultServer {
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
        Step::Fail(TransportFault::ConnectionReset) => {
            let _ = stream.set_zero_linger();
            drop(stream);
        }
        Step::Fail(TransportFault::ClosedMidBody) => {
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"id\": \"txn_001\", \"st")
                .await;
            let _ = stream.shutdown().await;
        }
        Step::Fail(TransportFault::MalformedChunked) => {
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{\"id\"\r\n0\r\n\r\n")
                .await;
            let _ = stream.shutdown().await;
        }
        Step::Fail(TransportFault::HeadersThenStall) => {
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n")
                .await;
            let _ = hold.send(stream);
        }
        Step::Fail(TransportFault::GarbageThenClose) => {
            let mut rng = fastrand::Rng::with_seed(7);
            let garbage: Vec<u8> = (0..512).map(|_| rng.u8(..)).collect();
            let _ = stream.write_all(&garbage).await;
            let _ = stream.shutdown().await;
        }
        Step::Fail(TransportFault::DripPastTimeout) => {
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
        Step::Fail(TransportFault::NeverAnswers) => {
            let _ = hold.send(stream);
        }
        Step::Fail(TransportFault::ConnectionRefused) => {
            // A server cannot refuse a connection it accepted; close it unanswered.
            drop(stream);
        }
    }
}
