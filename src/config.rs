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

use crate::bounds::{self, OutOfRange};
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
    /// Ignore the proxy variables (`HTTPS_PROXY`, `ALL_PROXY`, …) and connect directly, like
    /// `--no-proxy`.
    #[serde(default)]
    pub no_proxy: bool,
    /// A PEM file of certificate authorities to trust besides the operating system's and the
    /// bundled ones (a company CA, for TLS-inspecting proxies), like `--ca-cert`.
    pub ca_cert: Option<PathBuf>,
    /// `[audit]`: how the audit trail is written.
    #[serde(default)]
    pub audit: AuditSettings,
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

/// `[audit]` in the config file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditSettings {
    /// `sync = "os"` for throw-away runs; the default `"disk"` syncs each line (shared by
    /// concurrent checks) before its answer is shown.
    pub sync: Option<crate::audit::Durability>,
    /// The trail's directory of day files (default: the state directory's `audit/`).
    pub dir: Option<PathBuf>,
    /// A file holding the audit key that seals the chain (HMAC-SHA-256);
    /// `PAYSTAT_AUDIT_KEY` takes precedence.
    pub key_file: Option<PathBuf>,
    /// How long day files are kept, like `400d` (the default) or `13 months`.
    pub retain: Option<String>,
    /// Day files older than this are compressed by `audit prune`, like `30d`.
    pub compress_after: Option<String>,
    /// Allow a retention shorter than PCI DSS's 365 days.
    #[serde(default)]
    pub allow_short_retention: bool,
}

/// The variable holding the audit key.
pub const AUDIT_KEY_ENV: &str = "PAYSTAT_AUDIT_KEY";
/// The variable naming the trail's directory.
pub const AUDIT_DIR_ENV: &str = "PAYSTAT_AUDIT_DIR";
/// The variable naming paystat's state directory.
pub const STATE_DIR_ENV: &str = "PAYSTAT_STATE_DIR";

/// paystat's state directory: `PAYSTAT_STATE_DIR`, else `$XDG_STATE_HOME/paystat`, else
/// `~/.local/state/paystat`, else the temporary directory's `paystat-state`.
pub fn state_dir(env: &dyn Fn(&str) -> Option<String>) -> PathBuf {
    let set = |name: &str| {
        env(name)
            .filter(|v| !v.trim().is_empty())
            .map(PathBuf::from)
    };
    if let Some(dir) = set(STATE_DIR_ENV) {
        return dir;
    }
    if let Some(dir) = set("XDG_STATE_HOME").filter(|d| d.is_absolute()) {
        return dir.join("paystat");
    }
    if let Some(home) = set("HOME").filter(|d| d.is_absolute()) {
        return home.join(".local/state/paystat");
    }
    std::env::temp_dir().join("paystat-state")
}

/// The status cache's file: `cache.sqlite3` in the [`state_dir`].
pub fn cache_path(env: &dyn Fn(&str) -> Option<String>) -> PathBuf {
    state_dir(env).join(crate::cache::FILE_NAME)
}

impl ConfigFile {
    /// Where the audit trail is: the single file `file` (`--audit-log`), else the directory
    /// `dir` (`--audit-dir`), `PAYSTAT_AUDIT_DIR`, the config's `audit.dir`, or the state
    /// directory's `audit/`.
    pub fn audit_location(
        &self,
        file: Option<&Path>,
        dir: Option<&Path>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> crate::audit::Location {
        use crate::audit::Location;
        if let Some(file) = file {
            return Location::File(file.to_owned());
        }
        let dir = dir
            .map(Path::to_owned)
            .or_else(|| {
                env(AUDIT_DIR_ENV)
                    .filter(|d| !d.trim().is_empty())
                    .map(PathBuf::from)
            })
            .or_else(|| self.audit.dir.clone())
            .unwrap_or_else(|| state_dir(env).join("audit"));
        Location::Days(dir)
    }

    /// How the trail's lines are sealed: with `PAYSTAT_AUDIT_KEY`, else the config's key file,
    /// else plain SHA-256.
    pub fn audit_sealer(
        &self,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<crate::audit::Sealer, ConfigError> {
        use crate::audit::Sealer;
        let key = match (env(AUDIT_KEY_ENV), &self.audit.key_file) {
            (Some(key), _) => key,
            (None, Some(path)) => std::fs::read_to_string(path).map_err(|e| {
                ConfigError::Audit(format!(
                    "cannot read the audit key file {}: {e}",
                    path.display()
                ))
            })?,
            (None, None) => return Ok(Sealer::plain()),
        };
        let key = key.trim();
        if key.is_empty() {
            return Err(ConfigError::Audit(format!(
                "the audit key is empty; set {AUDIT_KEY_ENV} to a secret, or unset it"
            )));
        }
        Ok(Sealer::keyed(secrecy::SecretString::from(key.to_owned())))
    }

    /// The retention in days (`audit.retain`, default 400), refused under 365 unless
    /// `allow_short_retention` (or `force`) says so; and the compression age, if set.
    pub fn audit_retention(&self, force: bool) -> Result<(u32, Option<u32>), ConfigError> {
        let days = |key: &str, text: &str| -> Result<u32, ConfigError> {
            let duration = humantime::parse_duration(text).map_err(|e| {
                ConfigError::Audit(format!(
                    "audit.{key} `{text}` is not a duration like 400d: {e}"
                ))
            })?;
            let days = duration.as_secs() / 86_400;
            u32::try_from(days)
                .ok()
                .filter(|d| (1..=36_500).contains(d))
                .ok_or_else(|| {
                    ConfigError::Audit(format!("audit.{key} must be between 1 and 36500 days"))
                })
        };
        let retain = match &self.audit.retain {
            Some(text) => days("retain", text)?,
            None => crate::audit::prune::DEFAULT_RETAIN_DAYS,
        };
        if retain < crate::audit::prune::MIN_RETAIN_DAYS
            && !(force || self.audit.allow_short_retention)
        {
            return Err(ConfigError::Audit(format!(
                "audit.retain is {retain} days, shorter than the 365 days PCI DSS 10.5.1 requires; set audit.allow_short_retention = true or pass --force"
            )));
        }
        let compress = self
            .audit
            .compress_after
            .as_deref()
            .map(|text| days("compress_after", text))
            .transpose()?;
        Ok((retain, compress))
    }
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
    /// A number outside its documented range.
    #[error(transparent)]
    OutOfRange(#[from] OutOfRange),
    /// A proxy is set for a plain `http://` gateway: the credentials would reach it in clear.
    #[error(
        "the {gateway} base URL is plain http:// and {var} sets a proxy: the credentials would reach that proxy in clear; use https:// (the key then stays inside TLS) or --no-proxy"
    )]
    ClearTextProxy {
        /// The gateway.
        gateway: GatewayKind,
        /// The variable that set the proxy.
        var: &'static str,
    },
    /// The CA certificate file cannot be used.
    #[error("cannot use the CA certificate file {}: {reason}", .path.display())]
    CaCert {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// An `[audit]` setting or the audit key cannot be used.
    #[error("{0}")]
    Audit(String),
    /// A proxy variable does not hold a usable proxy URL.
    #[error("{var} does not hold a proxy URL like http://proxy.example:3128 (it holds `{value}`)")]
    BadProxy {
        /// The variable.
        var: &'static str,
        /// Its value, with any user info and query redacted.
        value: String,
    },
}

/// The variables a proxy for `https://` gateways is read from, strongest first (curl's and
/// reqwest's names).
const HTTPS_PROXY_VARS: [&str; 4] = ["HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"];
/// The same for plain `http://` gateways (only ever on this machine, and never proxied).
const HTTP_PROXY_VARS: [&str; 4] = ["HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"];

/// The proxy to reach `base_url` through, if any: never for a loopback address, never with
/// `no_proxy`, never for a host `NO_PROXY` lists; for `https://` the first proxy variable set
/// (the usual CONNECT tunnel, through which the key travels inside TLS). A plain `http://`
/// gateway elsewhere with a proxy set is refused: the proxy would read the credentials.
fn proxy_for(
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
    /// `--no-proxy`: ignore the proxy variables.
    pub no_proxy: bool,
    /// `--ca-cert`: a PEM file of certificate authorities to trust as well.
    pub ca_cert: Option<PathBuf>,
    /// `--stripe-account`: the connected Stripe account to ask on behalf of.
    pub stripe_account: Option<String>,
}

/// The certificate authorities a checker trusts besides the operating system's store and the
/// bundled Mozilla roots: a company CA, for the TLS-inspecting proxies common where Operations
/// work.
#[derive(Debug, Clone, Default)]
pub struct Trust {
    pub(crate) certificates: Vec<reqwest::Certificate>,
}

impl Trust {
    /// How many extra authorities are trusted.
    pub fn len(&self) -> usize {
        self.certificates.len()
    }

    /// Whether only the usual roots are trusted.
    pub fn is_empty(&self) -> bool {
        self.certificates.is_empty()
    }
}

impl ConfigFile {
    /// The extra authorities of `--ca-cert`, else of the file's `ca_cert`: every PEM
    /// certificate in that file. None when neither is given.
    pub fn trust(&self, overrides: &Overrides) -> Result<Trust, ConfigError> {
        let Some(path) = overrides.ca_cert.as_ref().or(self.ca_cert.as_ref()) else {
            return Ok(Trust::default());
        };
        let fail = |reason: String| ConfigError::CaCert {
            path: path.clone(),
            reason,
        };
        let pem = std::fs::read(path).map_err(|e| fail(e.to_string()))?;
        let certificates =
            reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| fail(e.to_string()))?;
        if certificates.is_empty() {
            return Err(fail("it holds no PEM certificate".into()));
        }
        Ok(Trust { certificates })
    }
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
    /// The proxy requests to this gateway go through (a CONNECT tunnel); `None` is direct.
    pub proxy: Option<ProxyUrl>,
}

/// A proxy's URL. `Debug` shows it without the user name and password it may carry.
#[derive(Clone, PartialEq, Eq)]
pub struct ProxyUrl(pub reqwest::Url);

impl std::fmt::Debug for ProxyUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&crate::credential::redact_url(self.0.as_str()))
    }
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
        let gateway = section.adapter(base_url, env)?;
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
        })
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
    fn proxies_only_for_https_and_never_for_this_machine() {
        let proxy_env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.to_string())
            }
        };
        let tunnel = proxy_env(&[
            ("HTTPS_PROXY", "proxy.corp:3128"),
            ("HTTP_PROXY", "http://proxy.corp:3128"),
        ]);
        let via = |url: &str, env: &dyn Fn(&str) -> Option<String>, no_proxy: bool| {
            proxy_for(GatewayKind::Stripe, url, env, no_proxy)
        };
        let proxy = via("https://api.stripe.com", &tunnel, false)
            .unwrap()
            .unwrap();
        assert_eq!(proxy.0.as_str(), "http://proxy.corp:3128/");
        let secret = proxy_env(&[("HTTPS_PROXY", "http://ops:pw_canary_77@proxy.corp:3128")]);
        let proxy = via("https://api.stripe.com", &secret, false)
            .unwrap()
            .unwrap();
        assert!(!format!("{proxy:?}").contains("pw_canary_77"), "{proxy:?}");
        assert_eq!(
            via("https://api.stripe.com", &tunnel, true).unwrap(),
            None,
            "--no-proxy"
        );
        for local in [
            "http://127.0.0.1:5000/v1",
            "https://localhost:9",
            "http://[::1]:1",
        ] {
            assert_eq!(via(local, &tunnel, false).unwrap(), None, "{local}");
        }
        let err = via("http://ledger.internal/v1", &tunnel, false).unwrap_err();
        assert!(err.to_string().contains("HTTP_PROXY"), "{err}");
        let listed = proxy_env(&[
            ("https_proxy", "http://p:1"),
            ("NO_PROXY", "localhost, .internal,example.com"),
        ]);
        assert_eq!(
            via("https://ledger.internal", &listed, false).unwrap(),
            None
        );
        assert_eq!(
            via("https://api.example.com", &listed, false).unwrap(),
            None
        );
        assert!(
            via("https://api.stripe.com", &listed, false)
                .unwrap()
                .is_some()
        );
        let all = proxy_env(&[("ALL_PROXY", "socks5://p:1080")]);
        assert!(
            via("https://api.stripe.com", &all, false)
                .unwrap()
                .is_some()
        );
        let bad = proxy_env(&[("HTTPS_PROXY", "ftp://u:sk_live_secret@p")]);
        let err = via("https://api.stripe.com", &bad, false)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("HTTPS_PROXY") && !err.contains("sk_live_secret"),
            "{err}"
        );
        assert_eq!(
            via("https://api.stripe.com", &|_: &str| None, false).unwrap(),
            None
        );
    }

    #[test]
    fn numbers_out_of_range_name_their_flag_or_key() {
        let env = |name: &str| (name == "PAYSTAT_STRIPE_KEY").then(|| "sk_test_x".to_owned());
        let file: ConfigFile = toml::from_str(
            "[stripe]\nrequests_per_second = 1e-30\n[stripe.retry]\nmax_attempts = 0\n",
        )
        .unwrap();
        let err = file
            .gateway(GatewayKind::Stripe, &env, &Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("[stripe.retry] max_attempts is 0"), "{err}");
        let flags = Overrides {
            max_attempts: Some(3),
            ..Overrides::default()
        };
        let err = file
            .gateway(GatewayKind::Stripe, &env, &flags)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("[stripe] requests_per_second is 0.000"),
            "{err}"
        );
        let flags = Overrides {
            max_attempts: Some(3),
            requests_per_second: Some(f64::NAN),
            ..Overrides::default()
        };
        let err = file
            .gateway(GatewayKind::Stripe, &env, &flags)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("--rate is NaN"), "{err}");
        let flags = Overrides {
            max_attempts: Some(3),
            requests_per_second: Some(0.0),
            deadline: Some(Duration::from_secs(3600)),
            ..Overrides::default()
        };
        let err = file
            .gateway(GatewayKind::Stripe, &env, &flags)
            .unwrap_err()
            .to_string();
        assert_eq!(err, "--deadline is 1h; it must be between 1ms and 10m");
    }

    #[test]
    fn unknown_keys_are_refused() {
        assert!(toml::from_str::<ConfigFile>("[stripe]\nkey = \"sk_live_oops\"\n").is_err());
    }
}
