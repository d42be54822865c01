//! The hash chain that makes the trail tamper-evident.
//!
//! Every line carries its sequence number (`seq`), the hash of the line before it (`prev`) and,
//! as its last field, its own `hash`: SHA-256 over the line's canonical bytes — the line exactly
//! as written, without its `,"hash":"…"` field — or, when an audit key is configured, HMAC-SHA-256
//! with that key. The first line of a trail follows [`GENESIS`].
//!
//! Threat model, plainly: without a key the chain catches accidents and naive edits (a changed
//! amount, a deleted line, lines out of order), but anyone who can write the file can recompute
//! every hash after an edit. With a key (`PAYSTAT_AUDIT_KEY`, or a key file named in the config)
//! someone who can edit the file but does not hold the key cannot rewrite the chain. Deleting the
//! newest lines is caught only against a head anchored elsewhere (`paystat audit head`, then
//! `audit verify --expect-head`).

use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

/// The `prev` of a trail's first line.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The format version written in every chained line's `v`: 3 since the chain's first line
/// counts the lines before it and the trail keeps a sealed record of how far it is on disk
/// ([`super::durable`]).
pub const FORMAT_VERSION: u32 = 3;

/// The first format version with chain fields: a line of an earlier one is legacy.
pub const CHAINED_SINCE: u32 = 2;

/// How line hashes are made: plain SHA-256, or HMAC-SHA-256 with the audit key.
#[derive(Clone, Default)]
pub struct Sealer {
    key: Option<SecretString>,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealer")
            .field("keyed", &self.key.is_some())
            .finish()
    }
}

/// The name of a chain's hash, written in each line's `chain` field.
pub const PLAIN: &str = "sha256";
/// The name of a keyed chain's hash.
pub const KEYED: &str = "hmac-sha256";

impl Sealer {
    /// Plain SHA-256: tamper-evident against accidents and naive edits only.
    pub fn plain() -> Sealer {
        Sealer { key: None }
    }

    /// HMAC-SHA-256 with `key`.
    pub fn keyed(key: SecretString) -> Sealer {
        Sealer { key: Some(key) }
    }

    /// Whether lines are sealed with a key.
    pub fn is_keyed(&self) -> bool {
        self.key.is_some()
    }

    /// A short fingerprint of the key (16 hex digits of a SHA-256 of it), to name a key in a line
    /// without the key; `None` without a key.
    pub fn fingerprint(&self) -> Option<String> {
        self.key.as_ref().map(|key| {
            let digest =
                sha256_hex(format!("paystat audit key\n{}", key.expose_secret()).as_bytes());
            digest[..16].to_owned()
        })
    }

    /// The `chain` field of lines this sealer makes.
    pub fn name(&self) -> &'static str {
        if self.is_keyed() { KEYED } else { PLAIN }
    }

    /// The hash of `body`, a line's canonical bytes, in lower-case hex.
    pub fn hash(&self, body: &[u8]) -> String {
        match &self.key {
            None => sha256_hex(body),
            Some(key) => {
                let mut mac = Hmac::<Sha256>::new_from_slice(key.expose_secret().as_bytes())
                    .expect("HMAC takes a key of any length");
                mac.update(body);
                hex(&mac.finalize().into_bytes())
            }
        }
    }

    /// Seals a serialized line `body` (a JSON object, no newline): appends its hash as the last
    /// field. Returns the sealed line (no newline) and the hash.
    pub fn seal(&self, mut body: Vec<u8>) -> (Vec<u8>, String) {
        let hash = self.seal_at(&mut body, 0);
        (body, hash)
    }

    /// Seals the line that starts at `start` of `buffer` and runs to its end (a JSON object,
    /// no newline), where it is: appends its hash as the last field, and returns the hash.
    pub fn seal_at(&self, buffer: &mut Vec<u8>, start: usize) -> String {
        let hash = self.hash(&buffer[start..]);
        debug_assert_eq!(buffer.last(), Some(&b'}'));
        buffer.pop();
        buffer.extend_from_slice(b",\"hash\":\"");
        buffer.extend_from_slice(hash.as_bytes());
        buffer.extend_from_slice(b"\"}");
        hash
    }
}

/// A sealed line taken apart: its canonical bytes and the hash it claims.
pub fn unseal(line: &[u8]) -> Option<(Vec<u8>, &str)> {
    const SUFFIX_LEN: usize = ",\"hash\":\"".len() + 64 + "\"}".len();
    let start = line.len().checked_sub(SUFFIX_LEN)?;
    let suffix = &line[start..];
    if !suffix.starts_with(b",\"hash\":\"") || !suffix.ends_with(b"\"}") {
        return None;
    }
    let hash = std::str::from_utf8(&suffix[9..9 + 64]).ok()?;
    if !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let mut body = line[..start].to_vec();
    body.push(b'}');
    Some((body, hash))
}

use crate::result::hex;
pub use crate::result::sha256_hex;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_line_unseals_to_its_body_and_hash() {
        let sealer = Sealer::plain();
        let (line, hash) = sealer.seal(br#"{"seq":1}"#.to_vec());
        assert_eq!(
            std::str::from_utf8(&line).unwrap(),
            format!(r#"{{"seq":1,"hash":"{hash}"}}"#)
        );
        let (body, claimed) = unseal(&line).unwrap();
        assert_eq!(body, br#"{"seq":1}"#);
        assert_eq!(claimed, hash);
        assert_eq!(sealer.hash(&body), hash);
        // SHA-256 as any tool computes it (the FIPS 180-2 "abc" vector).
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn a_key_changes_every_hash() {
        let body = br#"{"seq":1}"#;
        let plain = Sealer::plain().hash(body);
        let keyed = Sealer::keyed(SecretString::from("k1")).hash(body);
        let other = Sealer::keyed(SecretString::from("k2")).hash(body);
        assert_ne!(plain, keyed);
        assert_ne!(keyed, other);
        assert_eq!(keyed.len(), 64);
        assert!(!format!("{:?}", Sealer::keyed(SecretString::from("k1"))).contains("k1"));
    }

    #[test]
    fn lines_without_a_hash_do_not_unseal() {
        assert!(unseal(br#"{"seq":1}"#).is_none());
        assert!(unseal(b"").is_none());
        let (line, _) = Sealer::plain().seal(br#"{"a":1}"#.to_vec());
        let mut broken = line.clone();
        let at = broken.len() - 5;
        broken[at] = b'z';
        assert!(unseal(&broken).is_none());
    }
}
