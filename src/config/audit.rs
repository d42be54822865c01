//! The `[audit]` section and the state directory: where the trail and the cache live, how
//! lines are sealed, how long they are kept.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{ConfigError, ConfigFile};

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
/// The variable holding the audit key before the last rotation (for `audit verify` and
/// `audit rotate-key`).
pub const AUDIT_KEY_PREVIOUS_ENV: &str = "PAYSTAT_AUDIT_KEY_PREVIOUS";
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
            (None, Some(path)) => {
                let key = std::fs::read_to_string(path).map_err(|e| {
                    ConfigError::Audit(format!(
                        "cannot read the audit key file {}: {e}",
                        path.display()
                    ))
                })?;
                crate::ownership::check("the audit key file", path)?;
                key
            }
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

    /// The audit key before the last rotation, from `PAYSTAT_AUDIT_KEY_PREVIOUS`, if set.
    pub fn audit_previous_sealer(
        &self,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Option<crate::audit::Sealer>, ConfigError> {
        match env(AUDIT_KEY_PREVIOUS_ENV).map(|k| k.trim().to_owned()) {
            None => Ok(None),
            Some(key) if key.is_empty() => Err(ConfigError::Audit(format!(
                "{AUDIT_KEY_PREVIOUS_ENV} is empty; set it to the audit key before the last rotation, or unset it"
            ))),
            Some(key) => Ok(Some(crate::audit::Sealer::keyed(
                secrecy::SecretString::from(key),
            ))),
        }
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
