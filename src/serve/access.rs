//! Who is asking, and how much: every response gets a request id; every API call needs a
//! bearer token the state directory knows (read again when it changes, so a revocation counts
//! at once), a role that allows it, and room in the token's rate and concurrency limits.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use secrecy::SecretString;

use super::problem::Problem;
use super::tokens::{Role, Token};
use super::{ServeOptions, Service};
use crate::audit::Caller;

/// The header that carries the request id, on every response.
pub const REQUEST_ID: &str = "x-request-id";

/// The request's id (`req_` and 16 hex digits), on every response and audit line.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// The peer's address, as the connection gave it.
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub SocketAddr);

/// How long a check took inside a request (the gateway exchange, the audit line and its
/// sync), set on the response by the handler that checked.
#[derive(Debug, Clone, Copy)]
pub struct CheckTime(pub Duration);

/// An authenticated request: its token, and the caller its audit lines name.
#[derive(Debug, Clone)]
pub struct Authed {
    pub token: Token,
    pub caller: Arc<Caller>,
}

impl Authed {
    /// Refuses (403) a token whose role does not reach `needed`.
    pub fn require(&self, needed: Role, what: &str) -> Result<(), Problem> {
        if self.token.role >= needed {
            return Ok(());
        }
        Err(Problem::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "Forbidden",
            format!(
                "{what} needs the {} role; this token's role is {}",
                needed.name(),
                self.token.role.name()
            ),
        ))
    }
}

/// Each token's request budget and requests under way.
#[derive(Debug)]
pub struct Limits {
    rate: f64,
    concurrency: usize,
    buckets: Mutex<HashMap<String, (f64, Duration)>>,
    running: Mutex<HashMap<String, usize>>,
}

impl Limits {
    pub fn new(options: &ServeOptions) -> Limits {
        Limits {
            rate: f64::from(options.token_rate.max(1)),
            concurrency: options.token_concurrency.max(1),
            buckets: Mutex::new(HashMap::new()),
            running: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one request from `token`'s budget at `now`, or says in how many seconds (whole,
    /// for `Retry-After`) there is one.
    fn take(&self, token: &str, now: Duration) -> Result<(), u32> {
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let (level, at) = buckets.entry(token.to_owned()).or_insert((self.rate, now));
        let refill = now.saturating_sub(*at).as_secs_f64() * self.rate;
        *level = (*level + refill).min(self.rate);
        *at = now;
        if *level >= 1.0 {
            *level -= 1.0;
            Ok(())
        } else {
            // At least one request a second comes back: the next is never more than a second away.
            Err(1)
        }
    }

    /// Counts a request of `token` under way, unless it has as many as it may.
    fn enter(self: &Arc<Self>, token: &str) -> Option<Running> {
        let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        let count = running.entry(token.to_owned()).or_insert(0);
        if *count >= self.concurrency {
            return None;
        }
        *count += 1;
        Some(Running {
            limits: Arc::clone(self),
            token: token.to_owned(),
        })
    }
}

/// A request under way, counted against its token until it drops.
pub struct Running {
    limits: Arc<Limits>,
    token: String,
}

impl Drop for Running {
    fn drop(&mut self) {
        let mut running = self
            .limits
            .running
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(count) = running.get_mut(&self.token) {
            *count = count.saturating_sub(1);
        }
    }
}

/// The bearer token of `headers`, if any (kept secret: it is never formatted).
fn bearer(headers: &HeaderMap) -> Option<SecretString> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| SecretString::from(token.trim().to_owned()))
}

/// The client's address: the peer's, or behind a trusted proxy the last address
/// `X-Forwarded-For` gives that is not itself a trusted proxy.
pub fn client_of(peer: Option<SocketAddr>, headers: &HeaderMap, trusted: &[IpAddr]) -> String {
    let Some(peer) = peer else {
        return "unknown".to_owned();
    };
    if !trusted.contains(&peer.ip()) {
        return peer.to_string();
    }
    let forwarded = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|a| a.trim().parse::<IpAddr>().ok())
        .collect::<Vec<_>>();
    forwarded
        .iter()
        .rev()
        .find(|a| !trusted.contains(a))
        .map_or_else(|| peer.to_string(), ToString::to_string)
}

/// Authenticates an API call: a known, unexpired, unrevoked token within its limits.
pub async fn authenticate(
    State(service): State<Arc<Service>>,
    mut request: Request,
    next: Next,
) -> Response {
    let request_id = request
        .extensions()
        .get::<RequestId>()
        .map(|r| r.0.clone())
        .unwrap_or_default();
    let presented = bearer(request.headers());
    let now = time::OffsetDateTime::from(service.checker.clock().wall_time());
    let token = match service.tokens.authenticate(presented.as_ref(), now) {
        Ok(Ok(token)) => token,
        Ok(Err(denied)) => {
            return Problem::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "Unauthorized",
                denied.detail(),
            )
            .into_response();
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot read the token file");
            return Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "tokens_unreadable",
                "Tokens unreadable",
                "the service cannot read its token file; its operator has been told in the log",
            )
            .into_response();
        }
    };
    if let Err(seconds) = service
        .limits
        .take(&token.id, service.checker.clock().now())
    {
        return Problem::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_requests",
            "Too many requests",
            format!(
                "this token may make {} requests a second",
                service.options.token_rate
            ),
        )
        .retry_after(seconds)
        .into_response();
    }
    let Some(_running) = service.limits.enter(&token.id) else {
        return Problem::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_requests",
            "Too many requests",
            format!(
                "this token may have {} requests under way at once",
                service.options.token_concurrency
            ),
        )
        .retry_after(1)
        .into_response();
    };
    let peer = request.extensions().get::<Peer>().map(|p| p.0);
    let caller = Caller {
        actor: token.actor.clone(),
        via: "serve".to_owned(),
        token_id: token.id.clone(),
        client: client_of(peer, request.headers(), &service.options.trusted_proxies),
        request_id,
    };
    request.extensions_mut().insert(Authed {
        token,
        caller: Arc::new(caller),
    });
    next.run(request).await
}

/// Around every request: a request id (on the response, and in a problem's body), any error
/// turned into a problem, and the request counted by route and status.
pub async fn finish(
    State(service): State<Arc<Service>>,
    mut request: Request,
    next: Next,
) -> Response {
    let arrived = std::time::Instant::now();
    let id = format!("req_{:016x}", fastrand::u64(..));
    request.extensions_mut().insert(RequestId(id.clone()));
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |m| m.as_str().to_owned());
    let mut response = next.run(request).await;
    let status = response.status();
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes() == b"application/problem+json");
    if status.is_client_error() || status.is_server_error() {
        if is_problem {
            response = with_request_id(response, &id).await;
        } else if !is_json(response.headers()) {
            // axum's own refusals (a body too large, a wrong method, a bad path) as problems.
            let (code, detail) = match status {
                StatusCode::PAYLOAD_TOO_LARGE => (
                    "too_large",
                    format!(
                        "the request body is larger than {} bytes",
                        service.options.body_limit
                    ),
                ),
                StatusCode::METHOD_NOT_ALLOWED => (
                    "method_not_allowed",
                    "this endpoint does not take that method; see /openapi.json".to_owned(),
                ),
                _ => ("bad_request", "the request cannot be read".to_owned()),
            };
            let title = status.canonical_reason().unwrap_or("Error");
            let mut problem = Problem::new(status, code, title, detail);
            problem.request_id = id.clone();
            response = problem.into_response();
        }
    }
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    // Server-Timing (W3C): the request inside the service, and the check's part of it, in ms.
    let mut timing = format!("total;dur={:.3}", arrived.elapsed().as_secs_f64() * 1000.0);
    if let Some(CheckTime(check)) = response.extensions().get::<CheckTime>().copied() {
        timing.push_str(&format!(", check;dur={:.3}", check.as_secs_f64() * 1000.0));
    }
    if let Ok(value) = HeaderValue::from_str(&timing) {
        response.headers_mut().insert("server-timing", value);
    }
    service.metrics.answered(&route, response.status().as_u16());
    response
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"))
}

/// A problem response with `id` in its body.
async fn with_request_id(response: Response, id: &str) -> Response {
    let (parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 64 * 1024).await else {
        return Response::from_parts(parts, axum::body::Body::empty());
    };
    let mut value: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
    if let Some(object) = value.as_object_mut() {
        object.insert("request_id".into(), id.into());
    }
    let mut parts = parts;
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(
        parts,
        axum::body::Body::from(serde_json::to_vec(&value).unwrap_or_default()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(rate: u32, concurrency: usize) -> Arc<Limits> {
        Arc::new(Limits::new(&ServeOptions {
            token_rate: rate,
            token_concurrency: concurrency,
            ..ServeOptions::default()
        }))
    }

    #[test]
    fn a_tokens_rate_refills_with_time_and_says_when_to_come_back() {
        let limits = limits(3, 8);
        let at = Duration::from_secs(100);
        for _ in 0..3 {
            assert_eq!(limits.take("tok_a", at), Ok(()));
        }
        assert_eq!(limits.take("tok_a", at), Err(1));
        // Another token has its own budget.
        assert_eq!(limits.take("tok_b", at), Ok(()));
        // A third of a second gives back one request; a whole second all three, not more.
        assert_eq!(
            limits.take("tok_a", at + Duration::from_millis(340)),
            Ok(())
        );
        assert_eq!(
            limits.take("tok_a", at + Duration::from_millis(340)),
            Err(1)
        );
        let later = at + Duration::from_secs(10);
        for _ in 0..3 {
            assert_eq!(limits.take("tok_a", later), Ok(()));
        }
        assert_eq!(limits.take("tok_a", later), Err(1));
    }

    #[test]
    fn a_tokens_requests_under_way_are_counted_until_they_end() {
        let limits = limits(100, 2);
        let first = limits.enter("tok_a").expect("room");
        let second = limits.enter("tok_a").expect("room");
        assert!(limits.enter("tok_a").is_none());
        assert!(limits.enter("tok_b").is_some());
        drop(first);
        let third = limits.enter("tok_a").expect("room again");
        assert!(limits.enter("tok_a").is_none());
        drop((second, third));
        assert!(limits.enter("tok_a").is_some());
    }

    #[test]
    fn the_client_is_the_peer_unless_a_trusted_proxy_forwards_for_it() {
        let peer: SocketAddr = "10.0.0.2:4000".parse().unwrap();
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", "203.0.113.9, 10.0.0.3".parse().unwrap());
        assert_eq!(client_of(Some(peer), &headers, &[]), "10.0.0.2:4000");
        let trusted: Vec<IpAddr> = vec!["10.0.0.2".parse().unwrap(), "10.0.0.3".parse().unwrap()];
        assert_eq!(client_of(Some(peer), &headers, &trusted), "203.0.113.9");
        assert_eq!(
            client_of(Some(peer), &HeaderMap::new(), &trusted),
            "10.0.0.2:4000"
        );
        assert_eq!(client_of(None, &headers, &trusted), "unknown");
    }

    #[test]
    fn only_a_bearer_authorization_is_a_token() {
        use secrecy::ExposeSecret;
        let mut headers = HeaderMap::new();
        assert!(bearer(&headers).is_none());
        headers.insert(header::AUTHORIZATION, "Basic YWxpY2U6eA==".parse().unwrap());
        assert!(bearer(&headers).is_none());
        headers.insert(header::AUTHORIZATION, "bearer pst_abc ".parse().unwrap());
        assert_eq!(bearer(&headers).unwrap().expose_secret(), "pst_abc");
    }
}
