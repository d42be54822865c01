//! One exchange on the wire: send a request, read the whole body within a timeout and a size
//! limit, and classify what broke when something did. Nothing here reads a body's meaning;
//! that is the adapter's job.

use std::time::Duration;

use crate::config::Trust;
use crate::gateway::Reply;
use crate::result::Outcome;

/// The largest body paystat reads; anything longer is a `bad_response`.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// What happened on the wire in one attempt, before the adapter reads it.
pub(crate) enum Exchange {
    /// A complete reply arrived.
    Replied(Reply),
    /// No usable reply: why, in one sentence, and the HTTP status if one came.
    Failed {
        outcome: Outcome,
        detail: String,
        http_status: Option<u16>,
    },
}

/// The one HTTP client of a checker, pooled across all its checks. `proxies` pairs a
/// gateway's base URL with the proxy its requests go through; everything else goes direct,
/// whatever proxy variables the environment holds (the configuration has already read them).
pub(crate) fn client(proxies: Vec<(reqwest::Url, reqwest::Url)>, trust: &Trust) -> reqwest::Client {
    // The operating system's store and the bundled roots are both trusted (reqwest's
    // native-roots and webpki-roots features); a company CA is added on top.
    let mut builder = reqwest::Client::builder();
    for certificate in &trust.certificates {
        builder = builder.add_root_certificate(certificate.clone());
    }
    let builder = if proxies.is_empty() {
        builder.no_proxy()
    } else {
        builder.proxy(reqwest::Proxy::custom(move |url| {
            proxies
                .iter()
                .find(|(base, _)| base.origin() == url.origin())
                .map(|(_, proxy)| proxy.clone())
        }))
    };
    builder
        // Credentials must reach only the configured host: a redirect is followed only
        // to the same scheme, host and port.
        .redirect(reqwest::redirect::Policy::custom(|attempt| {
            let same_origin = attempt
                .previous()
                .first()
                .is_some_and(|first| first.origin() == attempt.url().origin());
            if same_origin && attempt.previous().len() < 5 {
                attempt.follow()
            } else {
                attempt.stop()
            }
        }))
        .user_agent(concat!("paystat/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("the HTTP client's fixed settings are valid")
}

/// Sends the request and reads the whole body, within the timeout and the size limit. A zero
/// timeout (the check's deadline has passed) sends nothing.
pub(crate) async fn send(
    client: &reqwest::Client,
    request: reqwest::Request,
    timeout: Duration,
    proxy: Option<&reqwest::Url>,
) -> Exchange {
    if timeout.is_zero() {
        return Exchange::Failed {
            outcome: Outcome::Timeout,
            detail: "the check's deadline passed before the request could be sent".into(),
            http_status: None,
        };
    }
    let work = async {
        let mut response = client
            .execute(request)
            .await
            .map_err(|e| transport_failure(e, None, proxy))?;
        let status = response.status().as_u16();
        let too_big = || Exchange::Failed {
            outcome: Outcome::BadResponse,
            detail: format!("the gateway's body is over {MAX_BODY_BYTES} bytes (1 MiB)"),
            http_status: Some(status),
        };
        if response
            .content_length()
            .is_some_and(|length| length > MAX_BODY_BYTES as u64)
        {
            return Err(too_big());
        }
        let headers = response.headers().clone();
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| transport_failure(e, Some(status), proxy))?
        {
            if body.len() + chunk.len() > MAX_BODY_BYTES {
                return Err(too_big());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Reply {
            follow_up: None,
            status,
            headers,
            body,
        })
    };
    match tokio::time::timeout(timeout, work).await {
        Ok(Ok(reply)) => Exchange::Replied(reply),
        Ok(Err(failed)) => failed,
        Err(_) => Exchange::Failed {
            outcome: Outcome::Timeout,
            detail: format!("no complete answer within {}", crate::clock::human(timeout)),
            http_status: None,
        },
    }
}

/// Classifies a transport error without its URL (which names the payment, not a secret, but
/// belongs in the audit line, not in a sentence).
fn transport_failure(
    error: reqwest::Error,
    http_status: Option<u16>,
    proxy: Option<&reqwest::Url>,
) -> Exchange {
    let outcome = if error.is_timeout() {
        Outcome::Timeout
    } else if error.is_redirect() {
        Outcome::BadResponse
    } else {
        Outcome::ConnectionError
    };
    let mut cause = String::new();
    let mut source: Option<&dyn std::error::Error> = Some(&error);
    while let Some(e) = source {
        cause = e.to_string();
        source = e.source();
    }
    // The host and port tried (never the path, which names the payment, or user info).
    let at = error
        .url()
        .map(|u| {
            format!(
                " at {}:{}",
                u.host_str().unwrap_or("?"),
                u.port_or_known_default().unwrap_or(0)
            )
        })
        .unwrap_or_default();
    let what = if error.is_connect() {
        "could not connect to the gateway"
    } else if error.is_body() || error.is_decode() {
        "the connection broke while reading the gateway's body"
    } else if error.is_redirect() {
        "the gateway redirected paystat to another host"
    } else {
        "the request to the gateway failed"
    };
    // Through a proxy, say which (host and port only: its URL may carry a password).
    let via = proxy
        .map(|p| {
            format!(
                " through the proxy {}:{}",
                p.host_str().unwrap_or("?"),
                p.port_or_known_default().unwrap_or(0)
            )
        })
        .unwrap_or_default();
    Exchange::Failed {
        outcome,
        detail: format!("{what}{at}{via}: {cause}"),
        http_status,
    }
}
