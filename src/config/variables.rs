//! The credential variables a config file names: each must be a variable of that credential's
//! own. A file that points `key_env` at `PAYSTAT_AUDIT_KEY` would send the audit key to Stripe;
//! one that points it at another gateway's variable, that gateway's secret.

use super::audit::{AUDIT_DIR_ENV, AUDIT_KEY_ENV, AUDIT_KEY_PREVIOUS_ENV, STATE_DIR_ENV};
use super::{CONFIG_ENV, ConfigError, ConfigFile};
use crate::gateway::{self, GatewayKind};

/// Variables paystat (or the HTTP stack under it) reads for something other than a gateway's
/// credential, and what each is.
const OTHER_USES: [(&str, &str); 16] = [
    (AUDIT_KEY_ENV, "the audit key"),
    (AUDIT_KEY_PREVIOUS_ENV, "the audit key before its rotation"),
    (AUDIT_DIR_ENV, "the audit directory"),
    (STATE_DIR_ENV, "the state directory"),
    (CONFIG_ENV, "the config file's path"),
    ("HTTPS_PROXY", "a proxy"),
    ("https_proxy", "a proxy"),
    ("HTTP_PROXY", "a proxy"),
    ("http_proxy", "a proxy"),
    ("ALL_PROXY", "a proxy"),
    ("all_proxy", "a proxy"),
    ("NO_PROXY", "the proxy exceptions"),
    ("no_proxy", "the proxy exceptions"),
    ("HOME", "the home directory"),
    ("XDG_CONFIG_HOME", "the configuration directory"),
    ("XDG_STATE_HOME", "the state directory"),
];

impl ConfigFile {
    /// Refuses a credential variable named in the file that paystat reads as anything else.
    pub(super) fn check_variables(&self) -> Result<(), ConfigError> {
        let defaults = ConfigFile::default();
        for kind in GatewayKind::ALL {
            for var in self.section(kind).credential_vars() {
                let Some(name) = var.configured else { continue };
                let refuse = |what: String| ConfigError::SharedVariable {
                    gateway: kind,
                    key: var.key,
                    var: name.to_owned(),
                    what,
                };
                if let Some((_, what)) = OTHER_USES.iter().find(|(v, _)| *v == name) {
                    return Err(refuse((*what).to_owned()));
                }
                for other in GatewayKind::ALL {
                    let profile = gateway::profile(other);
                    if name == profile.url_env {
                        return Err(refuse(format!("the {other} base URL")));
                    }
                    if name == profile.environment_env {
                        return Err(refuse(format!("the {other} environment")));
                    }
                    for theirs in self.section(other).credential_vars() {
                        let same = other == kind && theirs.key == var.key;
                        if !same && theirs.configured == Some(name) {
                            return Err(refuse(format!("[{other}] {}", theirs.key)));
                        }
                    }
                    if other != kind
                        && defaults
                            .section(other)
                            .credential_vars()
                            .iter()
                            .any(|theirs| theirs.default == name)
                    {
                        return Err(refuse(format!("the {other} credential")));
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn parse(text: &str) -> Result<ConfigFile, ConfigError> {
        ConfigFile::parse(Path::new("config.toml"), text)
    }

    #[test]
    fn a_credential_variable_paystat_reads_for_something_else_is_refused() {
        for (text, what) in [
            ("[stripe]\nkey_env = \"PAYSTAT_AUDIT_KEY\"", "the audit key"),
            (
                "[ledger]\ntoken_env = \"PAYSTAT_PLAID_SECRET\"",
                "the plaid credential",
            ),
            (
                "[plaid]\nsecret_env = \"PAYSTAT_STRIPE_URL\"",
                "the stripe base URL",
            ),
            (
                "[stripe]\nkey_env = \"TEAM_KEY\"\n[ledger]\ntoken_env = \"TEAM_KEY\"",
                "[stripe] key_env",
            ),
            ("[ledger]\npassword_env = \"HTTPS_PROXY\"", "a proxy"),
            (
                "[ledger]\ntoken_env = \"TEAM_LEDGER\"\npassword_env = \"TEAM_LEDGER\"",
                "[ledger] password_env",
            ),
        ] {
            let err = parse(text).unwrap_err().to_string();
            assert!(
                err.contains(&format!("paystat reads as {what}")),
                "{text}: {err}"
            );
        }
        assert!(parse("[stripe]\nkey_env = \"TEAM_STRIPE_KEY\"").is_ok());
        // A gateway's own default, named again, is still its own.
        assert!(parse("[stripe]\nkey_env = \"PAYSTAT_STRIPE_KEY\"").is_ok());
    }
}
