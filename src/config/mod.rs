//! Gateway configuration: where each gateway lives, how long to wait for it, and the *names*
//! of the environment variables that hold its credentials — never the secrets themselves.
//!
//! Sources, strongest first: a command-line flag (`--base-url`, `--timeout`), the environment
//! (`PAYSTAT_LEDGER_URL`, `PAYSTAT_STRIPE_URL`, `PAYSTAT_PLAID_URL`), the TOML file
//! (`--config PATH`, else `PAYSTAT_CONFIG`, else `$XDG_CONFIG_HOME/paystat/config.toml` or
//! `~/.config/paystat/config.toml` when present — never the working directory's), and the
//! defaults. A config file that another user owns or that its group or others may write is
//! refused, and so is a credential variable paystat reads for something else. Everything is
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
//!
//! Its rooms: [`audit`] (where the trail and the state live, its key and retention),
//! [`proxy`] (which proxy a gateway is reached through), [`trust`] (extra certificate
//! authorities), [`gateways`] (a section, the environment and the flags made into a ready
//! gateway).

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::bounds::OutOfRange;
use crate::credential::CredentialError;
use crate::gateway::ledger::LedgerSection;
use crate::gateway::plaid::PlaidSection;
use crate::gateway::stripe::StripeSection;
use crate::gateway::{GatewayKind, Section};
use crate::retry::RetryPolicy;

mod audit;
mod gateways;
mod proxy;
mod trust;
mod variables;

pub use audit::{AuditSettings, cache_path, state_dir};
pub use gateways::Configured;
pub use proxy::ProxyUrl;
pub use trust::Trust;

/// The variable naming the config file when `--config` does not.
pub const CONFIG_ENV: &str = "PAYSTAT_CONFIG";

/// The file earlier versions read from the working directory; it is no longer read.
pub const FORMER_PATH: &str = "paystat.toml";

/// The config file read when none is named: `$XDG_CONFIG_HOME/paystat/config.toml`, else
/// `~/.config/paystat/config.toml` (`None` without either variable).
pub fn default_path(env: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
    let absolute = |name: &str| env(name).map(PathBuf::from).filter(|p| p.is_absolute());
    absolute("XDG_CONFIG_HOME")
        .map(|dir| dir.join("paystat/config.toml"))
        .or_else(|| absolute("HOME").map(|home| home.join(".config/paystat/config.toml")))
}

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
    /// `[serve]`: how `paystat serve` listens and runs.
    #[serde(default)]
    pub serve: ServeSection,
    /// `[explain]`: the diagnosis rules and the business-day calendar of `paystat explain`.
    #[serde(default)]
    pub explain: ExplainSection,
    /// The file this configuration was read from, if any.
    #[serde(skip)]
    source: Option<PathBuf>,
}

/// `[explain]`: where `paystat explain` reads its rules, and which weekdays are holidays.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExplainSection {
    /// A folder of rule files used instead of the built-in rules (like `--rules DIR`).
    pub rules_dir: Option<PathBuf>,
    /// Weekdays that are not business days, as `YYYY-MM-DD`.
    #[serde(default)]
    pub holidays: Vec<String>,
}

/// `[serve]`: the Payment Status Service's settings (each also a `paystat serve` flag, which
/// wins). Durations are written like `30s` or `5m`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServeSection {
    /// The address to listen on (default `127.0.0.1:8080`).
    pub listen: Option<std::net::SocketAddr>,
    /// The TLS certificate chain (PEM).
    pub tls_cert: Option<PathBuf>,
    /// The TLS private key (PEM; owner-only).
    pub tls_key: Option<PathBuf>,
    /// Plain HTTP on a non-loopback address: a TLS-terminating proxy is in front.
    #[serde(default)]
    pub insecure_http: bool,
    /// How long checks in flight may take to finish on a stop (default 30s).
    pub shutdown_grace: Option<String>,
    /// How often the change feeds are synced into the cache (default 5m; `0s`: never).
    pub sync_every: Option<String>,
    /// The most ids in one batch (default 10,000).
    pub max_batch: Option<usize>,
    /// Requests one token may make per second (default 200).
    pub token_rate: Option<u32>,
    /// Requests of one token under way at once (default 32).
    pub token_concurrency: Option<usize>,
    /// Proxies whose `X-Forwarded-For` is believed.
    #[serde(default)]
    pub trusted_proxies: Vec<std::net::IpAddr>,
}

/// A configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
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
    /// A file paystat reads its configuration or keys from is not its user's alone.
    #[error(transparent)]
    NotPrivate(#[from] crate::ownership::NotPrivate),
    /// A credential variable named in the file is one paystat reads for something else.
    #[error(
        "[{gateway}] {key} names {var}, which paystat reads as {what}; name a variable of this {gateway} credential's own"
    )]
    SharedVariable {
        /// The gateway.
        gateway: GatewayKind,
        /// The config key (`key_env`).
        key: &'static str,
        /// The variable it names.
        var: String,
        /// What paystat reads that variable as.
        what: String,
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

impl ConfigFile {
    /// Reads `path`; when it is `None`, the file `PAYSTAT_CONFIG` names, else the
    /// [`default_path`] when it exists (else the defaults). The process environment is read.
    pub fn load(path: Option<&Path>) -> Result<ConfigFile, ConfigError> {
        ConfigFile::load_with(path, &|name| std::env::var(name).ok())
    }

    /// Like [`ConfigFile::load`], reading the environment through `env`.
    pub fn load_with(
        path: Option<&Path>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<ConfigFile, ConfigError> {
        let named = path
            .map(Path::to_owned)
            .or_else(|| env(CONFIG_ENV).filter(|p| !p.is_empty()).map(PathBuf::from));
        let (path, required) = match named {
            Some(path) => (path, true),
            None => match default_path(env) {
                Some(path) => (path, false),
                None => return Ok(ConfigFile::default()),
            },
        };
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if !required && e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(ConfigFile::default());
            }
            Err(source) => return Err(ConfigError::Read { path, source }),
        };
        crate::ownership::check("the config file", &path)?;
        let mut file = ConfigFile::parse(&path, &text)?;
        file.source = Some(path);
        Ok(file)
    }

    /// The file this configuration was read from (`None`: the defaults).
    pub fn source(&self) -> Option<&Path> {
        self.source.as_deref()
    }

    /// `./paystat.toml`, when it exists in the working directory and is not the file read:
    /// earlier versions read it, this one does not (the CLI says so).
    pub fn former_file_unread(&self) -> Option<PathBuf> {
        let former = Path::new(FORMER_PATH);
        let read = self.source.as_deref().and_then(|p| p.canonicalize().ok());
        (former.is_file() && read != former.canonicalize().ok()).then(|| former.to_owned())
    }

    /// Parses the text of a config file; `path` names it in errors.
    pub fn parse(path: &Path, text: &str) -> Result<ConfigFile, ConfigError> {
        let file: ConfigFile = toml::from_str(text).map_err(|e| ConfigError::Invalid {
            path: path.to_owned(),
            message: e.message().trim().to_owned(),
            line: e.span().map(|s| text[..s.start].matches('\n').count() + 1),
        })?;
        file.check_variables()?;
        Ok(file)
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

#[cfg(test)]
mod tests {
    use super::gateways::parse_base_url;
    use super::proxy::proxy_for;
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
            err.starts_with("[stripe] requests_per_second is 1e-30;"),
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
