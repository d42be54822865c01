//! The benches' local HTTP/1 server (hyper on one worker thread; httpmock stays the contract
//! suite's mock): every request is answered by a plain function of it, with a JSON body.

use std::sync::Arc;

/// What a bench's server answers: the JSON body for a request (HTTP 200), or, when the body
/// starts with `404 `, the rest of it with HTTP 404.
pub type Answer = dyn Fn(&hyper::Request<hyper::body::Incoming>) -> String + Send + Sync;

/// Starts the server on a free loopback port, answering with `answer`; returns the port.
pub fn serve(answer: Arc<Answer>) -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                let answer = Arc::clone(&answer);
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |request| {
                        let body = answer(&request);
                        let (status, body) = match body.strip_prefix("404 ") {
                            Some(rest) => (404, rest.to_owned()),
                            None => (200, body),
                        };
                        async move {
                            hyper::Response::builder()
                                .status(status)
                                .header("content-type", "application/json")
                                .body(http_body_util::Full::new(bytes::Bytes::from(body)))
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        });
    });
    port
}
