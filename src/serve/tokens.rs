//! The service's bearer tokens: created once and shown once, kept only as their SHA-256 with
//! an id, an actor, a role and dates in `tokens.json` in the state directory (owner-only,
//! replaced whole by rename), and read again by the running service whenever the file changes,
//! so a revocation takes effect at once.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The file in the state directory that holds the tokens (never a token itself).
pub const FILE_NAME: &str = "tokens.json";

/// What a token may do: each role can do what the one before it can.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Checks payments.
    Ops,
    /// Also reads a payment's history and exports the trail.
    Compliance,
    /// Also syncs the cache with the gateways' change feeds.
    Admin,
}

impl Role {
    /// Its name, as the file and the audit lines write it.
    pub fn name(self) -> &'static str {
        match self {
            Role::Ops => "ops",
            Role::Compliance => "compliance",
            Role::Admin => "admin",
        }
    }
}

/// One token as the state directory keeps it: never the token, only its SHA-256.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Token {
    /// Its id (`tok_` and 12 hex digits), as `token list`, `token revoke` and audit lines name it.
    pub id: String,
    /// Who it is: the actor of every audit line written for its requests.
    pub actor: String,
    /// What it may do.
    pub role: Role,
    /// The SHA-256 of the token, in hex.
    pub sha256: String,
    /// When it was created (RFC 3339, UTC).
    pub created: String,
    /// When it stops being accepted (RFC 3339, UTC).
    pub expires: String,
    /// When it was revoked, if it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked: Option<String>,
}

impl Token {
    /// `active`, `expired` or `revoked`, at `now`.
    pub fn state(&self, now: OffsetDateTime) -> &'static str {
        if self.revoked.is_some() {
            "revoked"
        } else if expired(&self.expires, now) {
            "expired"
        } else {
            "active"
        }
    }
}

/// Whether `expires` is past at `now` (an unreadable date counts as past).
fn expired(expires: &str, now: OffsetDateTime) -> bool {
    OffsetDateTime::parse(expires, &Rfc3339).map_or(true, |at| at <= now)
}

/// Why a request's token was not accepted (each a 401).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denied {
    /// No `Authorization: Bearer` header.
    Missing,
    /// A token this service does not know.
    Unknown,
    /// A known token past its expiry.
    Expired,
    /// A known token revoked.
    Revoked,
}

impl Denied {
    /// One sentence for the problem's detail.
    pub fn detail(self) -> &'static str {
        match self {
            Denied::Missing => {
                "this endpoint needs `Authorization: Bearer <token>`; an administrator creates one with `paystat token create`"
            }
            Denied::Unknown => "the token is not one this service issued",
            Denied::Expired => "the token has expired; ask an administrator for a new one",
            Denied::Revoked => "the token was revoked",
        }
    }
}

/// Why the token file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// Reading or writing the file failed.
    #[error("cannot use the token file {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file is not a token list.
    #[error("the token file {path} is not a token list: {detail}")]
    Malformed { path: PathBuf, detail: String },
    /// The state directory or the file could be changed by another user.
    #[error(transparent)]
    NotPrivate(#[from] crate::ownership::NotPrivate),
    /// No token has this id.
    #[error("no token has the id {0}")]
    NoSuchToken(String),
    /// An actor that cannot be recorded.
    #[error("the actor must be 1 to 256 characters without control characters")]
    BadActor,
    /// A validity out of range.
    #[error("a token is valid for 1 minute to 10 years (--expires 90d, say)")]
    BadExpiry,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct File {
    tokens: Vec<Token>,
}

/// A file's inode, length and modification time (seconds, nanoseconds): a file replaced or
/// changed has another.
type Identity = (u64, u64, i64, i64);

/// The token file, read again whenever it changes on disk.
#[derive(Debug)]
pub struct Tokens {
    path: PathBuf,
    /// The tokens as last read, and the file's identity then.
    read: Mutex<(Option<Identity>, Vec<Token>)>,
}

impl Tokens {
    /// The tokens of the state directory `state_dir`.
    pub fn at(state_dir: &Path) -> Tokens {
        Tokens {
            path: state_dir.join(FILE_NAME),
            read: Mutex::new((None, Vec::new())),
        }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn io(&self, source: std::io::Error) -> TokenError {
        TokenError::Io {
            path: self.path.clone(),
            source,
        }
    }

    /// Every token, read now.
    pub fn list(&self) -> Result<Vec<Token>, TokenError> {
        Ok(self.load()?.tokens)
    }

    fn load(&self) -> Result<File, TokenError> {
        if let Some(dir) = self.path.parent() {
            crate::ownership::check("the state directory", dir)?;
        }
        crate::ownership::check_no_link("the token file", &self.path)?;
        match std::fs::read(&self.path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| TokenError::Malformed {
                path: self.path.clone(),
                detail: e.to_string(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(File::default()),
            Err(e) => Err(self.io(e)),
        }
    }

    fn store(&self, file: &File) -> Result<(), TokenError> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        crate::ownership::create_private_dir(dir).map_err(|e| self.io(e))?;
        let mut temporary = self.path.clone().into_os_string();
        temporary.push(format!(".{}.new", std::process::id()));
        let temporary = PathBuf::from(temporary);
        let write = || -> std::io::Result<()> {
            use std::io::Write;
            let mut out = crate::ownership::create_private(&temporary, true)?;
            let mut bytes = serde_json::to_vec_pretty(file).map_err(std::io::Error::other)?;
            bytes.push(b'\n');
            out.write_all(&bytes)?;
            out.sync_all()?;
            std::fs::rename(&temporary, &self.path)?;
            std::fs::File::open(dir)?.sync_all()
        };
        write().map_err(|e| self.io(e))
    }

    /// Changes the file under an exclusive lock (two `token` commands at once both count).
    fn change<T>(
        &self,
        f: impl FnOnce(&mut File) -> Result<T, TokenError>,
    ) -> Result<T, TokenError> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        crate::ownership::create_private_dir(dir).map_err(|e| self.io(e))?;
        let lock_path = dir.join("tokens.lock");
        let lock = crate::ownership::create_private(&lock_path, false).map_err(|e| self.io(e))?;
        let _held = crate::audit::AppendLock::take(&lock).map_err(|e| self.io(e))?;
        let mut file = self.load()?;
        let value = f(&mut file)?;
        self.store(&file)?;
        Ok(value)
    }

    /// Creates a token for `actor` with `role`, valid for `valid` from `now`: the new entry
    /// and the token, which is shown once and kept nowhere.
    pub fn create(
        &self,
        actor: &str,
        role: Role,
        valid: Duration,
        now: OffsetDateTime,
    ) -> Result<(Token, SecretString), TokenError> {
        if actor.trim().is_empty()
            || actor.chars().count() > crate::audit::MAX_ACTOR
            || actor.chars().any(char::is_control)
        {
            return Err(TokenError::BadActor);
        }
        if valid < MIN_VALID || valid > MAX_VALID {
            return Err(TokenError::BadExpiry);
        }
        let mut secret = [0u8; 32];
        let mut id = [0u8; 6];
        getrandom::fill(&mut secret)
            .and_then(|()| getrandom::fill(&mut id))
            .map_err(|e| self.io(std::io::Error::other(e.to_string())))?;
        // Hex: one word, which redaction and scanners see whole.
        let token = format!("{PREFIX}{}", crate::result::hex(&secret));
        let expires = now + valid;
        let entry = Token {
            id: format!("tok_{}", crate::result::hex(&id)),
            actor: actor.to_owned(),
            role,
            sha256: crate::result::sha256_hex(token.as_bytes()),
            created: rfc3339(now),
            expires: rfc3339(expires),
            revoked: None,
        };
        let kept = entry.clone();
        self.change(move |file| {
            file.tokens.push(kept);
            Ok(())
        })?;
        Ok((entry, SecretString::from(token)))
    }

    /// Revokes the token `id` at `now` (a token revoked already keeps its first date).
    pub fn revoke(&self, id: &str, now: OffsetDateTime) -> Result<Token, TokenError> {
        self.change(|file| {
            let token = file
                .tokens
                .iter_mut()
                .find(|t| t.id == id)
                .ok_or_else(|| TokenError::NoSuchToken(crate::payment_id::display_safe(id)))?;
            token.revoked.get_or_insert_with(|| rfc3339(now));
            Ok(token.clone())
        })
    }

    /// The token `presented` stands for, if it is accepted at `now`. Every known token's hash
    /// is compared, in constant time, whatever matches.
    pub fn authenticate(
        &self,
        presented: Option<&SecretString>,
        now: OffsetDateTime,
    ) -> Result<Result<Token, Denied>, TokenError> {
        let Some(presented) = presented else {
            return Ok(Err(Denied::Missing));
        };
        let digest = crate::result::sha256_hex(presented.expose_secret().as_bytes());
        let tokens = self.current()?;
        let mut found: Option<&Token> = None;
        for token in &tokens {
            if bool::from(token.sha256.as_bytes().ct_eq(digest.as_bytes())) {
                found = Some(token);
            }
        }
        Ok(match found {
            None => Err(Denied::Unknown),
            Some(t) if t.revoked.is_some() => Err(Denied::Revoked),
            Some(t) if expired(&t.expires, now) => Err(Denied::Expired),
            Some(t) => Ok(t.clone()),
        })
    }

    /// The tokens, read again only when the file changed since the last read.
    fn current(&self) -> Result<Vec<Token>, TokenError> {
        let identity = match std::fs::metadata(&self.path) {
            Ok(m) => Some((m.ino(), m.len(), m.mtime(), m.mtime_nsec())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(self.io(e)),
        };
        let mut read = self.read.lock().unwrap_or_else(|p| p.into_inner());
        if identity.is_none() {
            *read = (None, Vec::new());
        } else if read.0 != identity {
            *read = (identity, self.load()?.tokens);
        }
        Ok(read.1.clone())
    }
}

/// The shortest validity a token may have.
pub const MIN_VALID: Duration = Duration::from_secs(60);

/// The longest validity a token may have (ten years).
pub const MAX_VALID: Duration = Duration::from_secs(3650 * 86_400);

/// What every token starts with, so a scanner (and paystat's own redaction) can tell one.
pub const PREFIX: &str = crate::credential::SERVICE_TOKEN_PREFIX;

fn rfc3339(at: OffsetDateTime) -> String {
    at.replace_nanosecond(0)
        .unwrap_or(at)
        .format(&Rfc3339)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_790_000_000).unwrap()
    }

    #[test]
    fn a_token_is_kept_only_as_its_hash_and_authenticates_until_revoked_or_expired() {
        let dir = tempfile::tempdir().unwrap();
        let tokens = Tokens::at(dir.path());
        let (entry, token) = tokens
            .create("alice", Role::Ops, Duration::from_secs(3600), now())
            .unwrap();
        assert!(token.expose_secret().starts_with(PREFIX));
        assert_eq!(token.expose_secret().len(), PREFIX.len() + 64);
        assert_eq!(
            crate::credential::redact(token.expose_secret()),
            "[REDACTED]"
        );
        let file = std::fs::read_to_string(tokens.path()).unwrap();
        assert!(!file.contains(token.expose_secret()), "{file}");
        assert!(file.contains(&entry.sha256));
        let mode = std::fs::metadata(tokens.path()).unwrap().mode() & 0o777;
        assert_eq!(mode, 0o600);

        let ok = tokens.authenticate(Some(&token), now()).unwrap().unwrap();
        assert_eq!((ok.actor.as_str(), ok.role), ("alice", Role::Ops));
        let other = SecretString::from(format!("{PREFIX}nope"));
        assert_eq!(
            tokens.authenticate(Some(&other), now()).unwrap(),
            Err(Denied::Unknown)
        );
        assert_eq!(
            tokens.authenticate(None, now()).unwrap(),
            Err(Denied::Missing)
        );
        let later = now() + Duration::from_secs(3600);
        assert_eq!(
            tokens.authenticate(Some(&token), later).unwrap(),
            Err(Denied::Expired)
        );

        // A revocation by another handle (another process) is seen at the next request.
        Tokens::at(dir.path()).revoke(&entry.id, now()).unwrap();
        assert_eq!(
            tokens.authenticate(Some(&token), now()).unwrap(),
            Err(Denied::Revoked)
        );
        assert!(matches!(
            tokens.revoke("tok_000000000000", now()),
            Err(TokenError::NoSuchToken(_))
        ));
    }

    #[test]
    fn an_absurd_validity_or_actor_is_refused_with_a_sentence() {
        let dir = tempfile::tempdir().unwrap();
        let tokens = Tokens::at(dir.path());
        let create = |actor: &str, valid| tokens.create(actor, Role::Ops, valid, now());
        for valid in [
            Duration::from_secs(59),
            Duration::from_secs(u64::MAX),
            MAX_VALID + Duration::from_secs(1),
        ] {
            assert!(
                matches!(create("alice", valid), Err(TokenError::BadExpiry)),
                "{valid:?}"
            );
        }
        assert!(create("alice", MAX_VALID).is_ok());
        assert!(create("alice", MIN_VALID).is_ok());
        for actor in ["", "  ", "al\nice", &"a".repeat(257)] {
            assert!(
                matches!(create(actor, MIN_VALID), Err(TokenError::BadActor)),
                "{actor:?}"
            );
        }
        assert!(
            create(&"a".repeat(256), MIN_VALID).is_ok(),
            "256 characters are kept"
        );
        assert_eq!(tokens.list().unwrap().len(), 3);
    }

    #[test]
    fn no_token_file_is_no_token_and_an_unreachable_one_is_an_error() {
        let presented = SecretString::from(format!("{PREFIX}{}", "0".repeat(64)));
        let dir = tempfile::tempdir().unwrap();
        let none = Tokens::at(dir.path()).authenticate(Some(&presented), now());
        assert_eq!(none.unwrap(), Err(Denied::Unknown));
        // A state directory that is a file: the token file cannot even be looked at.
        let file = dir.path().join("a-file");
        std::fs::write(&file, b"").unwrap();
        assert!(
            Tokens::at(&file)
                .authenticate(Some(&presented), now())
                .is_err()
        );
    }

    #[test]
    fn a_token_file_that_cannot_be_read_is_an_error_not_an_empty_list() {
        let dir = tempfile::tempdir().unwrap();
        let tokens = Tokens::at(dir.path());
        // Missing: no tokens yet.
        assert!(tokens.list().unwrap().is_empty());
        // A directory where the file should be: an error, and a create does not write over it.
        std::fs::create_dir(tokens.path()).unwrap();
        assert!(matches!(tokens.list(), Err(TokenError::Io { .. })));
        assert!(tokens.create("alice", Role::Ops, MIN_VALID, now()).is_err());
        let garbage = tempfile::tempdir().unwrap();
        let tokens = Tokens::at(garbage.path());
        std::fs::write(tokens.path(), b"not json").unwrap();
        assert!(matches!(tokens.list(), Err(TokenError::Malformed { .. })));
    }

    #[test]
    fn roles_are_ordered_by_what_they_may_do() {
        assert!(Role::Ops < Role::Compliance && Role::Compliance < Role::Admin);
    }
}
