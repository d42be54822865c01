//! Gateway configuration: where each gateway lives, how long to wait for it, and the *names*
//! of the environment variables that hold its credentials — never the secrets themselves.
//!
//! Sources, strongest first: a command-line flag (`--base-url`, `--timeout`), the environment
//! (`PAYSTAT_LEDGER_URL`, `PAYSTAT_STRIPE_URL`, `PAYSTAT_PLAID_URL`), the TOML file
//! (`--config PATH`, else `./paystat.toml` when present), and the defaults. Everything is
//! checked before any request is sent: a missing credential names its variable, and a plain
//! `http://` URL is accepted only for loopback addresses, since a live key would travel in clear.
//!
//! ```toml
//! [ledger]
//! base_url = "https://ledger.internal/v1"
//! timeout = "5s"
//! token_env = "PAYSTAT_LEDGER_TOKEN"        # or user_env / password_env for HTTP Basic
//!
//! [stripe]
//! base_url = "https://api.stripe.com"
//! key_env = "PAYSTAT_STRIPE_KEY"
//! stripe_version = "2024-06-20"             # optional pinned Stripe-Version
//!
//! requests_per_second = 25                 # client-side pacing (0 = off; Stripe's default)
//!
//! [stripe.retry]                            # every gateway has one; these are the defaults
//! max_attempts = 3
//! backoff_base = "500ms"
//! backoff_cap = "5s"
//! retry_after_cap = "60s"
//! deadline = "15s"
//! budget = 500
//!
//! [plaid]
//! base_url = "https://production.plaid.com"
//! client_id_env = "PAYSTAT_PLAID_CLIENT_ID"
//! secret_env = "PAYSTAT_PLAID_SECRET"
//! ```

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use secrecy::SecretString;
use serde::Deserialize;

use crate::checker::STRIPE_REQUESTS_PER_SECOND;
use crate::credential::Credential;
use crate::gateway::{Gateway, GatewayKind, Ledger, Plaid, Stripe, ledger, plaid, stripe};
use crate::retry::{self, RetryPolicy};

/// The config file read when `--config` is not given, if it exists.
pub const DEFAULT_PATH: &str = "paystat.toml";

/// The configuration file, as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// The internal ledger.
    #[serde(default)]
    pub ledger: LedgerSection,
    /// Stripe.
    #[serde(default)]
    pub stripe: StripeSection,
    /// Plaid.
    #[serde(default)]
    pub plaid: PlaidSection,
}

/// `[ledger]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LedgerSection {
    /// Base URL, like `https://ledger.internal/v1`.
    pub base_url: Option<String>,
    /// Per-request timeout, like `5s`.
    #[serde(default, deserialize_with = "crate::clock::optional_duration")]
    pub timeout: Option<Duration>,
    /// The variable holding the bearer token (default `PAYSTAT_LEDGER_TOKEN`).
    pub token_env: Option<String>,
    /// The variable holding the Basic user (default `PAYSTAT_LEDGER_USER`).
    pub user_env: Option<String>,
    /// The variable holding the Basic password (default `PAYSTAT_LEDGER_PASSWORD`).
    pub password_env: Option<String>,
    /// Client-side pacing in requests per second (0 turns it off; Stripe defaults to 25).
    pub requests_per_second: Option<f64>,
    /// Retries, deadline and retry budget (`[<gateway>.retry]`).
    #[serde(default)]
    pub retry: RetrySection,
}

/// `[stripe]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StripeSection {
    /// Base URL (default `https://api.stripe.com`).
    pub base_url: Option<String>,
    /// Per-request timeout, like `5s`.
    #[serde(default, deserialize_with = "crate::clock::optional_duration")]
    pub timeout: Option<Duration>,
    /// The variable holding the secret key (default `PAYSTAT_STRIPE_KEY`).
    pub key_env: Option<String>,
    /// A pinned `Stripe-Version` header.
    pub stripe_version: Option<String>,
    /// Client-side pacing in requests per second (0 turns it off; Stripe defaults to 25).
    pub requests_per_second: Option<f64>,
    /// Retries, deadline and retry budget (`[<gateway>.retry]`).
    #[serde(default)]
    pub retry: RetrySection,
}

/// `[plaid]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlaidSection {
    /// Base URL (default `https://sandbox.plaid.com`).
    pub base_url: Option<String>,
    /// Per-request timeout, like `5s`.
    #[serde(default, deserialize_with = "crate::clock::optional_duration")]
    pub timeout: Option<Duration>,
    /// The variable holding the client id (default `PAYSTAT_PLAID_CLIENT_ID`).
    pub client_id_env: Option<String>,
    /// The variable holding the secret (default `PAYSTAT_PLAID_SECRET`).
    pub secret_env: Option<String>,
    /// Client-side pacing in requests per second (0 turns it off; Stripe defaults to 25).
    pub requests_per_second: Option<f64>,
    /// Retries, deadline and retry budget (`[<gateway>.retry]`).
    #[serde(default)]
    pub retry: RetrySection,
}

/// `[<gateway>.retry]`: how the gateway's checks are retried and bounded.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetrySection {
    /// Attempts in all, the first included (default 3; 1 never retries).
    pub max_attempts: Option<u32>,
    /// First backoff ceiling (default `500ms`), doubling per retry.
    #[serde(default, deserialize_with = "crate::clock::optional_duration")]
    pub backoff_base: Option<Duration>,
    /// Largest backoff ceiling (default `5s`).
    #[serde(default, deserialize_with = "crate::clock::optional_duration")]
    pub backoff_cap: Option<Duration>,
    /// Longest `Retry-After` honoured (default `60s`).
    #[serde(default, deserialize_with = "crate::clock::optional_duration")]
    pub retry_after_cap: Option<Duration>,
    /// The whole check's deadline, all attempts and waits (default `15s`).
    #[serde(default, deserialize_with = "crate::clock::optional_duration")]
    pub deadline: Option<Duration>,
    /// Retry budget: token-bucket capacity (default 500; a retry costs 5, a timeout 10).
    pub budget: Option<u32>,
}

/// A configuration that cannot be used, in one sentence.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

impl ConfigFile {
    /// Reads `path`, or `./paystat.toml` when `path` is `None` and that file exists.
    pub fn load(path: Option<&Path>) -> Result<ConfigFile, ConfigError> {
        let (path, required) = match path {
            Some(path) => (path.to_owned(), true),
            None => (PathBuf::from(DEFAULT_PATH), false),
        };
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if !required && e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(ConfigFile::default());
            }
            Err(e) => {
                return Err(ConfigError(format!(
                    "cannot read the config file {}: {e}",
                    path.display()
                )));
            }
        };
        toml::from_str(&text).map_err(|e| {
            let line = e.span().map(|s| text[..s.start].matches('\n').count() + 1);
            let at = line.map(|l| format!(" (line {l})")).unwrap_or_default();
            ConfigError(format!(
                "the config file {} is not valid: {}{at}",
                path.display(),
                e.message().trim()
            ))
        })
    }
}

/// What the command line adds to the file; each applies to every gateway but `base_url`.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--base-url`, for this gateway only.
    pub base_url: Option<(GatewayKind, String)>,
    /// `--timeout`: each attempt's timeout.
    pub timeout: Option<Duration>,
    /// `--max-attempts`.
    pub max_attempts: Option<u32>,
    /// `--backoff-base`.
    pub backoff_base: Option<Duration>,
    /// `--backoff-cap`.
    pub backoff_cap: Option<Duration>,
    /// `--retry-after-cap`.
    pub retry_after_cap: Option<Duration>,
    /// `--deadline`.
    pub deadline: Option<Duration>,
    /// `--rate`: requests per second (0 turns pacing off).
    pub requests_per_second: Option<f64>,
}

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
}

impl ConfigFile {
    /// Builds the adapter for `kind`, reading credentials through `env`.
    pub fn gateway(
        &self,
        kind: GatewayKind,
        env: &dyn Fn(&str) -> Option<String>,
        overrides: &Overrides,
    ) -> Result<Configured, ConfigError> {
        let (file_url, default_url, url_env, file_timeout, file_rate, retry_file) = match kind {
            GatewayKind::Ledger => {
                let s = &self.ledger;
                (
                    &s.base_url,
                    ledger::DEFAULT_BASE_URL,
                    "PAYSTAT_LEDGER_URL",
                    s.timeout,
                    s.requests_per_second,
                    &s.retry,
                )
            }
            GatewayKind::Stripe => {
                let s = &self.stripe;
                (
                    &s.base_url,
                    stripe::DEFAULT_BASE_URL,
                    "PAYSTAT_STRIPE_URL",
                    s.timeout,
                    s.requests_per_second,
                    &s.retry,
                )
            }
            GatewayKind::Plaid => {
                let s = &self.plaid;
                (
                    &s.base_url,
                    plaid::DEFAULT_BASE_URL,
                    "PAYSTAT_PLAID_URL",
                    s.timeout,
                    s.requests_per_second,
                    &s.retry,
                )
            }
        };
        let url_text = match &overrides.base_url {
            Some((k, url)) if *k == kind => url.clone(),
            _ => env(url_env)
                .filter(|u| !u.is_empty())
                .or_else(|| file_url.clone())
                .unwrap_or_else(|| default_url.to_owned()),
        };
        let base_url = parse_base_url(&url_text, kind)?;
        let required = |var: &str, what: &str| {
            env(var)
                .filter(|v| !v.is_empty())
                .map(SecretString::from)
                .ok_or_else(|| {
                    ConfigError(format!(
                        "missing {kind} credential: set the environment variable {var} ({what})"
                    ))
                })
        };
        let gateway: Arc<dyn Gateway> = match kind {
            GatewayKind::Ledger => {
                let s = &self.ledger;
                let credential = Credential::from_lookup(
                    env,
                    s.token_env.as_deref().unwrap_or("PAYSTAT_LEDGER_TOKEN"),
                    s.user_env.as_deref().unwrap_or("PAYSTAT_LEDGER_USER"),
                    s.password_env
                        .as_deref()
                        .unwrap_or("PAYSTAT_LEDGER_PASSWORD"),
                )
                .map_err(|e| ConfigError(format!("incomplete ledger credentials: {e}")))?;
                Arc::new(Ledger::new(base_url, credential))
            }
            GatewayKind::Stripe => {
                let s = &self.stripe;
                let key = required(
                    s.key_env.as_deref().unwrap_or("PAYSTAT_STRIPE_KEY"),
                    "the secret key, sk_…",
                )?;
                Arc::new(Stripe::new(base_url, key, s.stripe_version.clone()))
            }
            GatewayKind::Plaid => {
                let s = &self.plaid;
                let client_id = required(
                    s.client_id_env
                        .as_deref()
                        .unwrap_or("PAYSTAT_PLAID_CLIENT_ID"),
                    "the client id",
                )?;
                let secret = required(
                    s.secret_env.as_deref().unwrap_or("PAYSTAT_PLAID_SECRET"),
                    "the secret",
                )?;
                Arc::new(Plaid::new(base_url, client_id, secret))
            }
        };
        let defaults = RetryPolicy::default();
        let o = overrides;
        let policy = RetryPolicy {
            max_attempts: o
                .max_attempts
                .or(retry_file.max_attempts)
                .unwrap_or(defaults.max_attempts)
                .max(1),
            backoff_base: o
                .backoff_base
                .or(retry_file.backoff_base)
                .unwrap_or(defaults.backoff_base),
            backoff_cap: o
                .backoff_cap
                .or(retry_file.backoff_cap)
                .unwrap_or(defaults.backoff_cap),
            retry_after_cap: o
                .retry_after_cap
                .or(retry_file.retry_after_cap)
                .unwrap_or(defaults.retry_after_cap),
            attempt_timeout: o
                .timeout
                .or(file_timeout)
                .unwrap_or(defaults.attempt_timeout),
            deadline: o
                .deadline
                .or(retry_file.deadline)
                .unwrap_or(defaults.deadline),
        };
        let default_rate = (kind == GatewayKind::Stripe).then_some(STRIPE_REQUESTS_PER_SECOND);
        let requests_per_second = match o.requests_per_second.or(file_rate) {
            Some(rate) if rate.is_finite() && rate > 0.0 => Some(rate),
            Some(_) => None,
            None => default_rate,
        };
        Ok(Configured {
            gateway,
            policy,
            retry_budget: retry_file.budget.unwrap_or(retry::DEFAULT_BUDGET),
            requests_per_second,
        })
    }
}

/// Checks a gateway's base URL: http(s) only, no credentials or query in it, and plain
/// `http://` only to a loopback address.
pub fn parse_base_url(text: &str, kind: GatewayKind) -> Result<reqwest::Url, ConfigError> {
    let err = |why: String| Err(ConfigError(format!("the {kind} base URL `{text}` {why}")));
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

fn is_loopback(url: &reqwest::Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls() {
        let ok = |u: &str| parse_base_url(u, GatewayKind::Stripe).is_ok();
        assert!(ok("https://api.stripe.com"));
        assert!(ok("http://127.0.0.1:5000"));
        assert!(ok("http://127.8.9.10:5000"));
        assert!(ok("http://localhost:5000/v1"));
        assert!(ok("http://[::1]:5000"));
        assert!(!ok("http://api.stripe.com"));
        assert!(!ok("http://10.0.0.5:5000"));
        assert!(!ok("ftp://127.0.0.1"));
        assert!(!ok("https://user:pw@api.stripe.com"));
        assert!(!ok("https://api.stripe.com/?key=sk_live"));
        let message = parse_base_url("http://api.stripe.com", GatewayKind::Stripe)
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("credentials would travel in clear"),
            "{message}"
        );
    }

    #[test]
    fn a_missing_credential_names_its_variable() {
        let file: ConfigFile = toml::from_str("[stripe]\nkey_env = \"TEAM_STRIPE_KEY\"\n").unwrap();
        let env = |_: &str| None;
        let err = file
            .gateway(GatewayKind::Stripe, &env, &Overrides::default())
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "missing stripe credential: set the environment variable TEAM_STRIPE_KEY (the secret key, sk_…)"
        );
        let err = ConfigFile::default()
            .gateway(GatewayKind::Plaid, &env, &Overrides::default())
            .unwrap_err();
        assert!(err.to_string().contains("PAYSTAT_PLAID_CLIENT_ID"), "{err}");
    }

    #[test]
    fn flags_beat_the_environment_which_beats_the_file() {
        let file: ConfigFile =
            toml::from_str("[ledger]\nbase_url = \"http://127.0.0.1:1/v1\"\ntimeout = \"2s\"\n")
                .unwrap();
        let env =
            |name: &str| (name == "PAYSTAT_LEDGER_URL").then(|| "http://127.0.0.1:2/v1".to_owned());
        let from_env = file
            .gateway(GatewayKind::Ledger, &env, &Overrides::default())
            .unwrap();
        assert_eq!(from_env.gateway.base_url().port(), Some(2));
        assert_eq!(from_env.policy.attempt_timeout, Duration::from_secs(2));
        let overrides = Overrides {
            base_url: Some((GatewayKind::Ledger, "http://127.0.0.1:3/v1".into())),
            timeout: Some(Duration::from_millis(250)),
            ..Overrides::default()
        };
        let from_flag = file.gateway(GatewayKind::Ledger, &env, &overrides).unwrap();
        assert_eq!(from_flag.gateway.base_url().port(), Some(3));
        assert_eq!(from_flag.policy.attempt_timeout, Duration::from_millis(250));
    }

    #[test]
    fn retry_settings_per_gateway_with_defaults() {
        let file: ConfigFile = toml::from_str(
            "[stripe]\nrequests_per_second = 10\n[stripe.retry]\nmax_attempts = 5\ndeadline = \"30s\"\nbudget = 50\n[ledger]\nrequests_per_second = 0\n",
        )
        .unwrap();
        let env = |name: &str| {
            name.starts_with("PAYSTAT_STRIPE_KEY")
                .then(|| "sk_test_x".to_owned())
        };
        let stripe = file
            .gateway(GatewayKind::Stripe, &env, &Overrides::default())
            .unwrap();
        assert_eq!(stripe.policy.max_attempts, 5);
        assert_eq!(stripe.policy.deadline, Duration::from_secs(30));
        assert_eq!(
            stripe.policy.backoff_base,
            Duration::from_millis(500),
            "unset keys keep the default"
        );
        assert_eq!(stripe.retry_budget, 50);
        assert_eq!(stripe.requests_per_second, Some(10.0));
        let ledger = file
            .gateway(GatewayKind::Ledger, &env, &Overrides::default())
            .unwrap();
        assert_eq!(ledger.requests_per_second, None);
        assert_eq!(ledger.policy, RetryPolicy::default());
        let plain = ConfigFile::default()
            .gateway(GatewayKind::Stripe, &env, &Overrides::default())
            .unwrap();
        assert_eq!(
            plain.requests_per_second,
            Some(25.0),
            "Stripe's per-endpoint limit by default"
        );
        let flags = Overrides {
            max_attempts: Some(1),
            requests_per_second: Some(0.0),
            ..Overrides::default()
        };
        let flagged = file.gateway(GatewayKind::Stripe, &env, &flags).unwrap();
        assert_eq!(flagged.policy.max_attempts, 1);
        assert_eq!(flagged.requests_per_second, None);
    }

    #[test]
    fn unknown_keys_are_refused() {
        assert!(toml::from_str::<ConfigFile>("[stripe]\nkey = \"sk_live_oops\"\n").is_err());
    }
}
