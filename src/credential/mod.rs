//! Gateway credentials, held so that they cannot leak.
//!
//! Secrets live in [`secrecy::SecretString`]: `Debug` prints `[REDACTED]`, nothing implements
//! `Display` or `Serialize`, and the value is exposed only on the line that sets the request
//! header (which reqwest then marks as sensitive).

use secrecy::{ExposeSecret, SecretString};

pub mod echo;

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

/// What stands in for a secret in any message.
pub const REDACTED: &str = "[REDACTED]";

/// Prefixes of the secret keys people paste by mistake (Stripe's secret and restricted keys,
/// webhook secrets, the Payment Status Service's own tokens).
const SECRET_PREFIXES: [&str; 6] = [
    "sk_live_",
    "sk_test_",
    "rk_live_",
    "rk_test_",
    "whsec_",
    SERVICE_TOKEN_PREFIX,
];

/// What every token of the Payment Status Service starts with (`pst_` and 64 hex digits).
pub const SERVICE_TOKEN_PREFIX: &str = "pst_";

/// Whether `text` holds a word shaped like a service token: never sent to a gateway, never
/// recorded (an operator who pastes their token as an id).
pub fn holds_service_token(text: &str) -> bool {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .any(|word| word.starts_with(SERVICE_TOKEN_PREFIX))
}

/// Whether a word looks like a secret: a known key prefix, or a long run of hexadecimal digits
/// (Plaid's client ids are 24 hex digits and its secrets 30).
pub fn looks_like_secret(word: &str) -> bool {
    SECRET_PREFIXES.iter().any(|p| word.starts_with(p))
        || (word.len() >= 24
            && word.bytes().all(|b| b.is_ascii_hexdigit())
            && word.bytes().any(|b| b.is_ascii_digit())
            && word.bytes().any(|b| b.is_ascii_alphabetic()))
}

/// `text` with every secret-looking word replaced by [`REDACTED`]: the last line of defence
/// for a message that quotes what a person typed.
pub fn redact(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        out.push_str(if looks_like_secret(word) {
            REDACTED
        } else {
            word
        });
        word.clear();
    };
    for c in text.chars() {
        if c.is_ascii_alphanumeric() || c == '_' {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

/// A URL as a message may show it: user name and password replaced by [`REDACTED`], the query
/// string and fragment dropped (they can carry keys), secret-looking words redacted.
pub fn redact_url(text: &str) -> String {
    let mut url = match url::Url::parse(text) {
        // `ops:pass@host` parses as an opaque URL of scheme `ops`: read it as unparsed.
        Ok(url) if !url.cannot_be_a_base() => url,
        _ => return redact_unparsed_url(text),
    };
    let has_user = !url.username().is_empty() || url.password().is_some();
    if !has_user && url.query().is_none() && url.fragment().is_none() {
        // Nothing structural to hide: show it as typed.
        return redact(text);
    }
    if has_user {
        let _ = url.set_username(REDACTED);
        let _ = url.set_password(None);
    }
    let had_query = url.query().is_some() || url.fragment().is_some();
    url.set_query(None);
    url.set_fragment(None);
    let shown = redact(url.as_str()).replace("%5BREDACTED%5D", REDACTED);
    if had_query {
        format!("{shown}?{REDACTED}")
    } else {
        shown
    }
}

/// A URL that does not parse, shown without anything that could be user info (all before the
/// last `@`, after the scheme) or a query string or fragment.
fn redact_unparsed_url(text: &str) -> String {
    let (scheme, rest) = match text.find("://") {
        Some(at) => text.split_at(at + 3),
        None => ("", text),
    };
    let (rest, had_query) = match rest.find(['?', '#']) {
        // A `?` or `#` inside what may be a password does not end the URL.
        Some(at) if !rest[at..].contains('@') => (&rest[..at], true),
        _ => (rest, false),
    };
    let rest = match rest.rfind('@') {
        Some(at) => format!("{REDACTED}@{}", &rest[at + 1..]),
        None => rest.to_owned(),
    };
    let query = if had_query {
        format!("?{REDACTED}")
    } else {
        String::new()
    };
    redact(&format!("{scheme}{rest}{query}"))
}

/// Whether `name` can be an environment variable's name (letters, digits and `_`, not
/// starting with a digit) and does not look like a secret pasted in its place.
pub fn is_variable_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !looks_like_secret(name)
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
    /// A config key that must name an environment variable holds something else (often the
    /// secret itself, which is therefore never shown).
    #[error(
        "[{gateway}] {key} must name an environment variable (like {example}), not hold the credential itself; its value is not shown"
    )]
    NotAVariable {
        /// The gateway.
        gateway: GatewayKind,
        /// The config key (`key_env`).
        key: &'static str,
        /// A variable name that would do.
        example: &'static str,
    },
    /// The Stripe account to ask on behalf of is not an account id.
    #[error(
        "[stripe] stripe_account (or --stripe-account) must be a Stripe account id like acct_1032D82eZvKYlo2C, not `{value}`"
    )]
    NotAnAccount {
        /// What was given, with anything shaped like a key redacted.
        value: String,
    },
    /// A secret shorter than [`MIN_SECRET_LEN`]: too short to be a real credential, and too
    /// short to redact without rewriting ordinary text.
    #[error(
        "the {gateway} credential in {var} is shorter than {MIN_SECRET_LEN} characters; set it to the real secret"
    )]
    TooShort {
        /// The gateway.
        gateway: GatewayKind,
        /// The variable that holds it.
        var: String,
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

/// The environment variable a config key names: `configured` (from `[gateway] key`), else
/// `default`; refused when it cannot be a variable's name.
pub fn variable<'a>(
    gateway: GatewayKind,
    key: &'static str,
    configured: Option<&'a str>,
    default: &'static str,
) -> Result<&'a str, CredentialError> {
    match configured {
        None => Ok(default),
        Some(name) if is_variable_name(name) => Ok(name),
        Some(_) => Err(CredentialError::NotAVariable {
            gateway,
            key,
            example: default,
        }),
    }
}

/// The shortest secret paystat takes as a credential.
pub const MIN_SECRET_LEN: usize = 8;

/// `secret` (from `var`) when it is long enough to be a credential.
fn long_enough(
    gateway: GatewayKind,
    var: &str,
    secret: SecretString,
) -> Result<SecretString, CredentialError> {
    if secret.expose_secret().chars().count() < MIN_SECRET_LEN {
        return Err(CredentialError::TooShort {
            gateway,
            var: var.to_owned(),
        });
    }
    Ok(secret)
}

/// Reads a required secret from `var` through `lookup`, refused when shorter than
/// [`MIN_SECRET_LEN`].
pub fn required_secret(
    lookup: &dyn Fn(&str) -> Option<String>,
    gateway: GatewayKind,
    var: &str,
    what: &'static str,
) -> Result<SecretString, CredentialError> {
    long_enough(gateway, var, required(lookup, gateway, var, what)?)
}

/// Reads a required value (a secret, or a client id that is not one) from `var` through
/// `lookup`.
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
        gateway: GatewayKind,
        token_var: &str,
        user_var: &str,
        password_var: &str,
    ) -> Result<Credential, CredentialError> {
        let non_empty = |name: &str| lookup(name).filter(|v| !v.is_empty());
        let incomplete = |present: &str, missing: &str| CredentialError::Incomplete {
            gateway,
            source: IncompleteCredential {
                present: present.to_owned(),
                missing: missing.to_owned(),
            },
        };
        if let Some(token) = non_empty(token_var) {
            let token = long_enough(gateway, token_var, SecretString::from(token))?;
            return Ok(Credential::Bearer(token));
        }
        match (non_empty(user_var), non_empty(password_var)) {
            (Some(user), Some(password)) => Ok(Credential::Basic {
                user,
                password: long_enough(gateway, password_var, SecretString::from(password))?,
            }),
            (Some(_), None) => Err(incomplete(user_var, password_var)),
            (None, Some(_)) => Err(incomplete(password_var, user_var)),
            (None, None) => Ok(Credential::None),
        }
    }

    /// The secret values this credential sends.
    pub fn secrets(&self) -> Vec<&SecretString> {
        match self {
            Credential::None => Vec::new(),
            Credential::Bearer(token) => vec![token],
            Credential::Basic { password, .. } => vec![password],
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

    fn read(pairs: &[(&str, &str)]) -> Result<Credential, CredentialError> {
        Credential::from_lookup(
            lookup(pairs),
            GatewayKind::Ledger,
            "TOKEN",
            "USER",
            "PASSWORD",
        )
    }

    #[test]
    fn secrets_are_redacted_from_messages() {
        assert_eq!(
            redact("key_env = sk_live_51Mtw, rk_test_x and whsec_y"),
            "key_env = [REDACTED], [REDACTED] and [REDACTED]"
        );
        assert_eq!(
            redact("secret 4e0a5d1b2c3d4e5f6a7b8c9d0e1f2a and txn_001"),
            "secret [REDACTED] and txn_001"
        );
        assert_eq!(redact("PAYSTAT_STRIPE_KEY"), "PAYSTAT_STRIPE_KEY");
        assert_eq!(
            redact_url("http://u:SECRET_canary@127.0.0.1:1/v1"),
            "http://[REDACTED]@127.0.0.1:1/v1"
        );
        assert_eq!(
            redact_url("https://api.example.com/v1?key=abc#frag"),
            "https://api.example.com/v1?[REDACTED]"
        );
        assert_eq!(redact_url("not a url sk_test_1"), "not a url [REDACTED]");
        // A URL that does not parse keeps nothing that could be user info.
        assert_eq!(
            redact_url("https://ops:Hunter2pass@ledger.example:99999/v1"),
            "https://[REDACTED]@ledger.example:99999/v1"
        );
        assert_eq!(
            redact_url("http://u:Hunter2p@ss:x@proxy.corp:99999"),
            "http://[REDACTED]@proxy.corp:99999"
        );
        assert_eq!(
            redact_url("ops:Hunter2pass@ledger example?k=v"),
            "[REDACTED]@ledger example?[REDACTED]"
        );
    }

    #[test]
    fn variable_names_are_names() {
        let var = |configured| {
            variable(
                GatewayKind::Stripe,
                "key_env",
                configured,
                "PAYSTAT_STRIPE_KEY",
            )
        };
        assert_eq!(var(None), Ok("PAYSTAT_STRIPE_KEY"));
        assert_eq!(var(Some("TEAM_STRIPE_KEY")), Ok("TEAM_STRIPE_KEY"));
        for pasted in ["sk_live_51MtwBwLkdIwHu7ix", "not a name", "9LIVES", ""] {
            let err = var(Some(pasted)).unwrap_err().to_string();
            assert!(err.contains("must name an environment variable"), "{err}");
            assert!(pasted.is_empty() || !err.contains(pasted), "{err}");
        }
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
        let err = read(&[("USER", "ops")]).unwrap_err();
        assert_eq!(
            std::error::Error::source(&err).unwrap().to_string(),
            "USER is set but PASSWORD is not; set both or neither"
        );
        assert!(matches!(read(&[]), Ok(Credential::None)));
    }

    #[test]
    fn a_secret_shorter_than_eight_characters_is_not_a_credential() {
        for pairs in [
            &[("TOKEN", "x")][..],
            &[("TOKEN", "1234567")],
            &[("USER", "ops"), ("PASSWORD", "hunter2")],
        ] {
            let err = read(pairs).unwrap_err().to_string();
            assert!(err.contains("shorter than 8 characters"), "{err}");
            assert!(
                !err.contains("hunter2") && !err.contains("1234567"),
                "{err}"
            );
        }
        assert!(read(&[("TOKEN", "12345678")]).is_ok());
    }
}
