//! Which proxy a gateway is reached through: the standard variables, `NO_PROXY`, and never a
//! proxy for this machine.

use super::ConfigError;
use super::gateways::is_loopback;
use crate::gateway::GatewayKind;

/// The variables a proxy for `https://` gateways is read from, strongest first (curl's and
/// reqwest's names).
const HTTPS_PROXY_VARS: [&str; 4] = ["HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"];
/// The same for plain `http://` gateways (only ever on this machine, and never proxied).
const HTTP_PROXY_VARS: [&str; 4] = ["HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"];

/// The proxy to reach `base_url` through, if any: never for a loopback address, never with
/// `no_proxy`, never for a host `NO_PROXY` lists; for `https://` the first proxy variable set
/// (the usual CONNECT tunnel, through which the key travels inside TLS). A plain `http://`
/// gateway elsewhere with a proxy set is refused: the proxy would read the credentials.
pub(super) fn proxy_for(
    kind: GatewayKind,
    url_text: &str,
    env: &dyn Fn(&str) -> Option<String>,
    no_proxy: bool,
) -> Result<Option<ProxyUrl>, ConfigError> {
    let Ok(url) = reqwest::Url::parse(url_text) else {
        return Ok(None);
    };
    if no_proxy || is_loopback(&url) {
        return Ok(None);
    }
    let vars = if url.scheme() == "https" {
        HTTPS_PROXY_VARS
    } else {
        HTTP_PROXY_VARS
    };
    let Some((var, value)) = vars
        .iter()
        .find_map(|var| env(var).filter(|v| !v.trim().is_empty()).map(|v| (*var, v)))
    else {
        return Ok(None);
    };
    let bypass = env("NO_PROXY")
        .or_else(|| env("no_proxy"))
        .unwrap_or_default();
    if url.host_str().is_some_and(|host| bypassed(host, &bypass)) {
        return Ok(None);
    }
    if url.scheme() != "https" {
        return Err(ConfigError::ClearTextProxy { gateway: kind, var });
    }
    let value = value.trim();
    let with_scheme = if value.contains("://") {
        value.to_owned()
    } else {
        format!("http://{value}")
    };
    match reqwest::Url::parse(&with_scheme) {
        Ok(proxy) if matches!(proxy.scheme(), "http" | "https" | "socks5" | "socks5h") => {
            Ok(Some(ProxyUrl(proxy)))
        }
        _ => Err(ConfigError::BadProxy {
            var,
            value: crate::credential::redact_url(value),
        }),
    }
}

/// Whether `NO_PROXY` (comma-separated hosts, domains with or without a leading dot, or `*`)
/// lists `host`.
fn bypassed(host: &str, no_proxy: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    no_proxy.split(',').map(str::trim).any(|entry| {
        let entry = entry.trim_start_matches('.');
        !entry.is_empty()
            && (entry == "*"
                || host.eq_ignore_ascii_case(entry)
                || host
                    .to_ascii_lowercase()
                    .ends_with(&format!(".{}", entry.to_ascii_lowercase())))
    })
}

/// A proxy's URL. `Debug` shows it without the user name and password it may carry.
#[derive(Clone, PartialEq, Eq)]
pub struct ProxyUrl(pub reqwest::Url);

impl std::fmt::Debug for ProxyUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&crate::credential::redact_url(self.0.as_str()))
    }
}
