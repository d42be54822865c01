//! The command line as a client of the Payment Status Service (`paystat check --server URL`):
//! ids sent to the service's batch endpoint with the token from `PAYSTAT_TOKEN`, results read
//! back as the service streams them. The operator's machine holds no gateway key; the service
//! asks, audits (with the token's actor) and answers.

use futures_util::Stream;
use secrecy::{ExposeSecret, SecretString};

use crate::result::{CheckResult, GatewayKind};

/// Why the service could not be asked, or answered what paystat cannot read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RemoteError {
    /// The server's URL cannot be used.
    #[error("--server {0} is not an http:// or https:// URL")]
    BadUrl(String),
    /// No connection, or it broke.
    #[error("cannot reach the service at {url}: {detail}")]
    Unreachable {
        /// The service.
        url: String,
        /// What failed.
        detail: String,
    },
    /// The service refused the batch (its problem's detail).
    #[error("the service refused the batch (HTTP {status}): {detail}")]
    Refused {
        /// The HTTP status.
        status: u16,
        /// The problem's detail.
        detail: String,
    },
    /// A line of the answer that is not a result.
    #[error("the service sent a line paystat cannot read: {0}")]
    BadLine(String),
}

/// One line of a batch's answer: a result, or a check the service withheld (its audit line
/// could not be written).
#[derive(Debug)]
pub enum Answered {
    /// An audited result.
    Result(Box<CheckResult>),
    /// A check whose answer the service withheld, and why.
    Withheld(String),
}

/// A client of one service.
pub struct Remote {
    base: url::Url,
    token: SecretString,
    client: reqwest::Client,
}

impl std::fmt::Debug for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Remote")
            .field("base", &self.base.as_str())
            .finish_non_exhaustive()
    }
}

impl Remote {
    /// A client of the service at `base`, authenticating with `token`.
    pub fn new(base: &str, token: SecretString) -> Result<Remote, RemoteError> {
        let url = url::Url::parse(base)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.has_host())
            .ok_or_else(|| RemoteError::BadUrl(crate::payment_id::display_safe(base)))?;
        let client = reqwest::Client::builder()
            .connect_timeout(std::time::Duration::from_secs(10))
            .build()
            .map_err(|e| RemoteError::Unreachable {
                url: url.to_string(),
                detail: e.to_string(),
            })?;
        Ok(Remote {
            base: url,
            token,
            client,
        })
    }

    /// Checks `ids` through the service's batch endpoint: results as the service sends them.
    pub async fn check_batch(
        &self,
        ids: &[String],
        gateway: Option<GatewayKind>,
        ordered: bool,
    ) -> Result<impl Stream<Item = Result<Answered, RemoteError>> + use<>, RemoteError> {
        let mut url = self.base.join("v1/checks").map_err(|_| {
            RemoteError::BadUrl(crate::payment_id::display_safe(self.base.as_str()))
        })?;
        url.query_pairs_mut()
            .append_pair("ordered", if ordered { "true" } else { "false" })
            .append_pair("gateway", gateway.map_or("auto", |g| g.as_str()));
        let body = serde_json::json!({ "ids": ids });
        let unreachable = |e: reqwest::Error| RemoteError::Unreachable {
            url: self.base.to_string(),
            detail: crate::credential::redact(&e.without_url().to_string()),
        };
        let response = self
            .client
            .post(url)
            .bearer_auth(self.token.expose_secret())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_string())
            .send()
            .await
            .map_err(unreachable)?;
        let status = response.status();
        if !status.is_success() {
            let text = response.text().await.unwrap_or_default();
            let detail = serde_json::from_str::<serde_json::Value>(&text)
                .ok()
                .and_then(|v| v.get("detail").and_then(|d| d.as_str()).map(str::to_owned))
                .unwrap_or_else(|| format!("{} bytes of {}", text.len(), status));
            return Err(RemoteError::Refused {
                status: status.as_u16(),
                detail: crate::credential::redact(&detail),
            });
        }
        let base = self.base.to_string();
        let lines = futures_util::stream::unfold(
            (Some(response), Vec::<u8>::new()),
            move |(mut response, mut buffer)| {
                let base = base.clone();
                async move {
                    loop {
                        if let Some(end) = buffer.iter().position(|b| *b == b'\n') {
                            let line: Vec<u8> = buffer.drain(..=end).collect();
                            return Some((read_line(&line), (response, buffer)));
                        }
                        let Some(open) = response.as_mut() else {
                            if buffer.iter().all(u8::is_ascii_whitespace) {
                                return None;
                            }
                            let line = std::mem::take(&mut buffer);
                            return Some((read_line(&line), (None, buffer)));
                        };
                        match open.chunk().await {
                            Ok(Some(bytes)) => buffer.extend_from_slice(&bytes),
                            Ok(None) => response = None,
                            Err(e) => {
                                let error = RemoteError::Unreachable {
                                    url: base,
                                    detail: format!("the answer broke off: {}", e.without_url()),
                                };
                                return Some((Err(error), (None, Vec::new())));
                            }
                        }
                    }
                }
            },
        );
        Ok(lines)
    }
}

/// One line of a batch's answer.
fn read_line(line: &[u8]) -> Result<Answered, RemoteError> {
    let value: serde_json::Value = serde_json::from_slice(line)
        .map_err(|e| RemoteError::BadLine(format!("not JSON ({e})")))?;
    if value.get("payment_id").is_none() && value.get("type").is_some() {
        let detail = value
            .get("detail")
            .and_then(|d| d.as_str())
            .unwrap_or("the service withheld an answer");
        return Ok(Answered::Withheld(crate::credential::redact(detail)));
    }
    serde_json::from_value::<CheckResult>(value)
        .map(|r| Answered::Result(Box::new(r)))
        .map_err(|e| RemoteError::BadLine(format!("not a result ({e})")))
}
