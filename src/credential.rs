//! Gateway credentials, held so that they cannot leak.
//!
//! Secrets live in [`secrecy::SecretString`]: `Debug` prints `[REDACTED]`, nothing implements
//! `Display` or `Serialize`, and the value is exposed only on the line that sets the request
//! header (which reqwest then marks as sensitive).

use secrecy::{ExposeSecret, SecretString};

use crate::result::GatewayKind;

/// How paystat authenticates to a gateway.
#[derive(Debug, Clone, Default)]
pub enum Credential {
    /// No `Authorization` header (the ledger's original mock API needs none).
    #[default]
    None,
    /// `Authorization: Bearer <token>`.
    Bearer(SecretString),
    /// HTTP Basic, for legacy ledger deployments.
    Basic {
        /// The user name (not secret, but never logged either).
        user: String,
        /// The password.
        password: SecretString,
    },
}

/// A credential that was only half configured.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{present} is set but {missing} is not; set both or neither")]
pub struct IncompleteCredential {
    /// The variable that is set.
    pub present: String,
    /// The variable that is missing.
    pub missing: String,
}

/// Why a gateway's credentials cannot be built from the environment.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialError {
    /// A required variable is unset or empty.
    #[error("missing {gateway} credential: set the environment variable {var} ({what})")]
    Missing {
        /// The gateway.
        gateway: GatewayKind,
        /// The variable to set.
        var: String,
        /// What the variable holds, for people.
        what: &'static str,
    },
    /// Half of a two-part credential is set.
    #[error("incomplete {gateway} credentials")]
    Incomplete {
        /// The gateway.
        gateway: GatewayKind,
        /// Which half is missing.
        #[source]
        source: IncompleteCredential,
    },
}

/// Reads a required secret from `var` through `lookup`.
pub fn required(
    lookup: &dyn Fn(&str) -> Option<String>,
    gateway: GatewayKind,
    var: &str,
    what: &'static str,
) -> Result<SecretString, CredentialError> {
    lookup(var)
        .filter(|v| !v.is_empty())
        .map(SecretString::from)
        .ok_or_else(|| CredentialError::Missing {
            gateway,
            var: var.to_owned(),
            what,
        })
}

impl Credential {
    /// Reads a credential from a lookup (the environment in production, a map in tests):
    /// a bearer token from `token_var`, else Basic from `user_var` and `password_var`.
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
        token_var: &str,
        user_var: &str,
        password_var: &str,
    ) -> Result<Credential, IncompleteCredential> {
        let non_empty = |name: &str| lookup(name).filter(|v| !v.is_empty());
        if let Some(token) = non_empty(token_var) {
            return Ok(Credential::Bearer(SecretString::from(token)));
        }
        match (non_empty(user_var), non_empty(password_var)) {
            (Some(user), Some(password)) => Ok(Credential::Basic {
                user,
                password: SecretString::from(password),
            }),
            (Some(_), None) => Err(IncompleteCredential {
                present: user_var.to_owned(),
                missing: password_var.to_owned(),
            }),
            (None, Some(_)) => Err(IncompleteCredential {
                present: password_var.to_owned(),
                missing: user_var.to_owned(),
            }),
            (None, None) => Ok(Credential::None),
        }
    }

    /// Adds the `Authorization` header, if any, to a request.
    pub fn authorize(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match self {
            Credential::None => request,
            Credential::Bearer(token) => request.bearer_auth(token.expose_secret()),
            Credential::Basic { user, password } => {
                request.basic_auth(user, Some(password.expose_secret()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        }
    }

    fn read(pairs: &[(&str, &str)]) -> Result<Credential, IncompleteCredential> {
        Credential::from_lookup(lookup(pairs), "TOKEN", "USER", "PASSWORD")
    }

    #[test]
    fn token_wins_and_debug_hides_it() {
        let c = read(&[("TOKEN", "tok_canary_123"), ("USER", "u")]).unwrap();
        assert!(matches!(c, Credential::Bearer(_)));
        assert!(!format!("{c:?}").contains("tok_canary_123"));
    }

    #[test]
    fn basic_needs_both_halves() {
        let c = read(&[("USER", "ops"), ("PASSWORD", "pw_canary_456")]).unwrap();
        assert!(matches!(c, Credential::Basic { .. }));
        assert!(!format!("{c:?}").contains("pw_canary_456"));
        assert_eq!(
            read(&[("USER", "ops")]).unwrap_err().to_string(),
            "USER is set but PASSWORD is not; set both or neither"
        );
        assert!(matches!(read(&[]), Ok(Credential::None)));
    }
}
