//! A gateway's section, the environment and the flags, made into a ready gateway with its
//! resilience settings, its proxy and a checked base URL.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use super::proxy::proxy_for;
use super::{ConfigError, ConfigFile, Overrides, ProxyUrl};
use crate::bounds;
use crate::gateway::stripe::StripeSection;
use crate::gateway::{self, Gateway, GatewayKind, Section};
use crate::result::Environment;
use crate::retry::{self, RetryPolicy};

/// A gateway ready to use, with its resilience settings.
#[derive(Debug, Clone)]
pub struct Configured {
    /// The adapter, holding its credentials.
    pub gateway: Arc<dyn Gateway>,
    /// Retries, timeouts and deadline.
    pub policy: RetryPolicy,
    /// The retry budget's capacity.
    pub retry_budget: u32,
    /// Client-side pacing, requests per second; `None` is off.
    pub requests_per_second: Option<f64>,
    /// The proxy requests to this gateway go through (a CONNECT tunnel); `None` is direct.
    pub proxy: Option<ProxyUrl>,
    /// What kind of system it is, as paystat decided from its configuration (never from a
    /// reply): `mock` only when the configuration marks a loopback base URL as paystat's mock,
    /// else what the adapter makes of its configuration (`test` for a test key or sandbox host).
    pub environment: Environment,
}

impl ConfigFile {
    /// Configures the gateway `kind`: its base URL (flag, then environment, then file, then
    /// the gateway's default), its adapter with credentials read through `env`, its retry
    /// policy, budget and pacing.
    pub fn gateway(
        &self,
        kind: GatewayKind,
        env: &dyn Fn(&str) -> Option<String>,
        overrides: &Overrides,
    ) -> Result<Configured, ConfigError> {
        let profile = gateway::profile(kind);
        // `--stripe-account` is the one flag that reaches into a gateway's own section.
        let with_account;
        let section = match (kind, &overrides.stripe_account) {
            (GatewayKind::Stripe, Some(account)) => {
                with_account = StripeSection {
                    stripe_account: Some(account.clone()),
                    ..self.stripe.clone()
                };
                &with_account as &dyn Section
            }
            _ => self.section(kind),
        };
        let file = section.common();
        let url_text = match &overrides.base_url {
            Some((k, url)) if *k == kind => url.clone(),
            _ => env(profile.url_env)
                .filter(|u| !u.is_empty())
                .or_else(|| file.base_url.map(str::to_owned))
                .unwrap_or_else(|| profile.default_base_url.to_owned()),
        };
        let proxy = proxy_for(kind, &url_text, env, overrides.no_proxy || self.no_proxy)?;
        let base_url = parse_base_url(&url_text, kind)?;
        let environment = decide_environment(kind, &base_url, env)?;
        let gateway = section.adapter(base_url, env)?;
        let environment = environment.unwrap_or_else(|| gateway.environment());
        let defaults = RetryPolicy::default();
        let (o, r) = (overrides, file.retry);
        // A flag wins over the file; either is checked against its documented range and named
        // in the error as the person wrote it.
        let key = |name: &str| format!("[{kind}] {name}");
        let retry_key = |name: &str| format!("[{kind}.retry] {name}");
        let duration = |flag: Option<Duration>,
                        flag_name: &str,
                        file: Option<Duration>,
                        key: String,
                        default: Duration| {
            match (flag, file) {
                (Some(v), _) => bounds::duration(flag_name, v),
                (None, Some(v)) => bounds::duration(&key, v),
                (None, None) => Ok(default),
            }
        };
        let policy = RetryPolicy {
            max_attempts: match (o.max_attempts, r.max_attempts) {
                (Some(v), _) => bounds::attempts("--max-attempts", v)?,
                (None, Some(v)) => bounds::attempts(&retry_key("max_attempts"), v)?,
                (None, None) => defaults.max_attempts,
            },
            backoff_base: duration(
                o.backoff_base,
                "--backoff-base",
                r.backoff_base,
                retry_key("backoff_base"),
                defaults.backoff_base,
            )?,
            backoff_cap: duration(
                o.backoff_cap,
                "--backoff-cap",
                r.backoff_cap,
                retry_key("backoff_cap"),
                defaults.backoff_cap,
            )?,
            retry_after_cap: duration(
                o.retry_after_cap,
                "--retry-after-cap",
                r.retry_after_cap,
                retry_key("retry_after_cap"),
                defaults.retry_after_cap,
            )?,
            attempt_timeout: duration(
                o.timeout,
                "--timeout",
                file.timeout,
                key("timeout"),
                defaults.attempt_timeout,
            )?,
            deadline: duration(
                o.deadline,
                "--deadline",
                r.deadline,
                retry_key("deadline"),
                defaults.deadline,
            )?,
        };
        let requests_per_second = match (o.requests_per_second, file.requests_per_second) {
            (Some(v), _) => bounds::rate("--rate", v)?,
            (None, Some(v)) => bounds::rate(&key("requests_per_second"), v)?,
            (None, None) => profile.requests_per_second,
        };
        let retry_budget = match (o.retry_budget, r.budget) {
            (Some(v), _) => bounds::budget("the retry budget", v)?,
            (None, Some(v)) => bounds::budget(&retry_key("budget"), v)?,
            (None, None) => retry::DEFAULT_BUDGET,
        };
        Ok(Configured {
            gateway,
            policy,
            retry_budget,
            requests_per_second,
            proxy,
            environment,
        })
    }
}

/// `Some(Mock)` when the gateway's environment variable (`PAYSTAT_LEDGER_ENVIRONMENT=mock`)
/// marks its base URL as paystat's mock, refused for a host that is not this machine; `None`
/// when unset (the adapter decides between live and test).
fn decide_environment(
    kind: GatewayKind,
    base_url: &reqwest::Url,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<Environment>, ConfigError> {
    let var = gateway::profile(kind).environment_env;
    match env(var).as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some("mock") if is_loopback(base_url) => Ok(Some(Environment::Mock)),
        Some("mock") => Err(ConfigError::BaseUrl {
            gateway: kind,
            url: crate::credential::redact_url(base_url.as_str()),
            why: format!(
                "is not on this machine, so {var}=mock cannot mark it as paystat's mock; unset {var}"
            ),
        }),
        Some(_) => Err(ConfigError::Audit(format!(
            "{var} may only be `mock` (for a paystat mock on this machine), or unset"
        ))),
    }
}

/// Checks a gateway's base URL: http(s) only, no credentials or query in it, and plain
/// `http://` only to a loopback address.
pub fn parse_base_url(text: &str, kind: GatewayKind) -> Result<reqwest::Url, ConfigError> {
    // The URL is shown without what can carry a secret (user info, query string).
    let err = |why: String| {
        Err(ConfigError::BaseUrl {
            gateway: kind,
            url: crate::credential::redact_url(text),
            why,
        })
    };
    let url = match reqwest::Url::parse(text) {
        Ok(url) => url,
        Err(e) => return err(format!("is not a URL ({e})")),
    };
    if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() {
        return err("must be an https:// URL".into());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return err("must not carry credentials; they are read from environment variables".into());
    }
    if url.query().is_some() || url.fragment().is_some() {
        return err("must not have a query string or fragment".into());
    }
    if url.scheme() == "http" && !is_loopback(&url) {
        return err("uses plain http:// to a host other than this machine; credentials would travel in clear, so use https://".into());
    }
    Ok(url)
}

pub(super) fn is_loopback(url: &reqwest::Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}
