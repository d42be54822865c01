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

use serde::Deserialize;

use crate::credential::CredentialError;
use crate::gateway::ledger::LedgerSection;
use crate::gateway::plaid::PlaidSection;
use crate::gateway::stripe::StripeSection;
use crate::gateway::{self, Gateway, GatewayKind, Section};
use crate::retry::{self, RetryPolicy};

/// The config file read when `--config` is not given, if it exists.
pub const DEFAULT_PATH: &str = "paystat.toml";

/// The configuration file, as written. Each gateway's section belongs to its adapter.
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

/// A configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file named by `--config` cannot be read.
    #[error("cannot read the config file {}", .path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// The file is not valid TOML for paystat.
    #[error("the config file {} is not valid: {message}{}", .path.display(), .line.map(|l| format!(" (line {l})")).unwrap_or_default())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong, as the TOML reader says it.
        message: String,
        /// Where, when known.
        line: Option<usize>,
    },
    /// A gateway's base URL cannot be used.
    #[error("the {gateway} base URL `{url}` {why}")]
    BaseUrl {
        /// The gateway.
        gateway: GatewayKind,
        /// The URL as given.
        url: String,
        /// Why it cannot be used.
        why: String,
    },
    /// A gateway's credentials are missing or half set.
    #[error(transparent)]
    Credential(#[from] CredentialError),
}

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
            Err(source) => return Err(ConfigError::Read { path, source }),
        };
        ConfigFile::parse(&path, &text)
    }

    /// Parses the text of a config file; `path` names it in errors.
    pub fn parse(path: &Path, text: &str) -> Result<ConfigFile, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::Invalid {
            path: path.to_owned(),
            message: e.message().trim().to_owned(),
            line: e.span().map(|s| text[..s.start].matches('\n').count() + 1),
        })
    }

    /// The section of `kind`.
    fn section(&self, kind: GatewayKind) -> &dyn Section {
        match kind {
            GatewayKind::Ledger => &self.ledger,
            GatewayKind::Stripe => &self.stripe,
            GatewayKind::Plaid => &self.plaid,
        }
    }
}

/// What the command line (or a test, or the demo) adds to the file; each applies to every
/// gateway but `base_url`.
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
    /// The retry budget's capacity (the file's `budget`).
    pub retry_budget: Option<u32>,
}

impl Overrides {
    /// Overrides that set every part of `policy`.
    pub fn policy(policy: RetryPolicy) -> Overrides {
        Overrides {
            timeout: Some(policy.attempt_timeout),
            max_attempts: Some(policy.max_attempts),
            backoff_base: Some(policy.backoff_base),
            backoff_cap: Some(policy.backoff_cap),
            retry_after_cap: Some(policy.retry_after_cap),
            deadline: Some(policy.deadline),
            ..Overrides::default()
        }
    }
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
        let section = self.section(kind);
        let file = section.common();
        let url_text = match &overrides.base_url {
            Some((k, url)) if *k == kind => url.clone(),
            _ => env(profile.url_env)
                .filter(|u| !u.is_empty())
                .or_else(|| file.base_url.map(str::to_owned))
                .unwrap_or_else(|| profile.default_base_url.to_owned()),
        };
        let base_url = parse_base_url(&url_text, kind)?;
        let gateway = section.adapter(base_url, env)?;
        let defaults = RetryPolicy::default();
        let (o, r) = (overrides, file.retry);
        let policy = RetryPolicy {
            max_attempts: o
                .max_attempts
                .or(r.max_attempts)
                .unwrap_or(defaults.max_attempts)
                .max(1),
            backoff_base: o
                .backoff_base
                .or(r.backoff_base)
                .unwrap_or(defaults.backoff_base),
            backoff_cap: o
                .backoff_cap
                .or(r.backoff_cap)
                .unwrap_or(defaults.backoff_cap),
            retry_after_cap: o
                .retry_after_cap
                .or(r.retry_after_cap)
                .unwrap_or(defaults.retry_after_cap),
            attempt_timeout: o
                .timeout
                .or(file.timeout)
                .unwrap_or(defaults.attempt_timeout),
            deadline: o.deadline.or(r.deadline).unwrap_or(defaults.deadline),
        };
        let requests_per_second = match o.requests_per_second.or(file.requests_per_second) {
            Some(rate) if rate.is_finite() && rate > 0.0 => Some(rate),
            Some(_) => None,
            None => profile.requests_per_second,
        };
        Ok(Configured {
            gateway,
            policy,
            retry_budget: o.retry_budget.or(r.budget).unwrap_or(retry::DEFAULT_BUDGET),
            requests_per_second,
        })
    }
}

/// Checks a gateway's base URL: http(s) only, no credentials or query in it, and plain
/// `http://` only to a loopback address.
pub fn parse_base_url(text: &str, kind: GatewayKind) -> Result<reqwest::Url, ConfigError> {
    let err = |why: String| {
        Err(ConfigError::BaseUrl {
            gateway: kind,
            url: text.to_owned(),
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
        assert!(matches!(err, ConfigError::Credential(_)), "{err:?}");
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
