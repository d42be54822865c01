//! A secret echoed back by a gateway, in whatever form it comes: raw, JSON-escaped
//! (`\u0073k_test_…`), percent-encoded, or inside base64 (the secret alone, or an HTTP Basic
//! `user:password`, at any of base64's three alignments, standard or URL-safe alphabet).
//! Bodies are bytes: a reply that is not UTF-8 is searched all the same.
//!
//! [`Echoes::scrub`] replaces every echo with `[REDACTED]`; [`Echoes::find`] says whether any is
//! left (what `paystat record` asks of a fixture before writing it).

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE};
use secrecy::{ExposeSecret, SecretString};

use super::REDACTED;

/// The form a secret was found in, for the sentence that refuses a recording.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// As it is, or with some characters JSON- or percent-escaped.
    Escaped,
    /// Inside base64.
    Base64,
}

impl Form {
    /// The form in words.
    pub fn as_str(self) -> &'static str {
        match self {
            Form::Escaped => "as text (raw, JSON-escaped or percent-encoded)",
            Form::Base64 => "base64-encoded",
        }
    }
}

/// Every form of some secrets, worked out once (a checker keeps one per gateway, so a reply is
/// searched without encoding anything again). Its `Debug` shows nothing of them.
pub struct Echoes {
    patterns: Vec<Pattern>,
}

struct Pattern {
    raw: SecretString,
    /// The base64 cores ([`base64_cores`]): as secret as the secret.
    cores: Vec<SecretString>,
}

impl std::fmt::Debug for Echoes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Echoes({} secrets)", self.patterns.len())
    }
}

impl Echoes {
    /// The forms of `secrets` (empty ones are left out).
    pub fn of(secrets: &[&SecretString]) -> Echoes {
        let patterns = secrets
            .iter()
            .filter(|s| !s.expose_secret().is_empty())
            .map(|secret| Pattern {
                raw: (*secret).clone(),
                cores: base64_cores(secret.expose_secret().as_bytes())
                    .into_iter()
                    .map(SecretString::from)
                    .collect(),
            })
            .collect();
        Echoes { patterns }
    }

    /// Whether there is no secret to look for.
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// The first echo in `bytes`, as a byte range and its form.
    pub fn find(&self, bytes: &[u8]) -> Option<(std::ops::Range<usize>, Form)> {
        self.patterns
            .iter()
            .filter_map(|p| find_one(bytes, p))
            .min_by_key(|(range, _)| range.start)
    }

    /// `bytes` with every echo replaced by `[REDACTED]`; `None` when there was none.
    pub fn scrub(&self, bytes: &[u8]) -> Option<Vec<u8>> {
        let mut out: Option<Vec<u8>> = None;
        let mut rest = bytes;
        while let Some((range, _)) = self.find(rest) {
            let buffer = out.get_or_insert_with(Vec::new);
            buffer.extend_from_slice(&rest[..range.start]);
            buffer.extend_from_slice(REDACTED.as_bytes());
            rest = &rest[range.end..];
        }
        let mut out = out?;
        out.extend_from_slice(rest);
        Some(out)
    }

    /// `text` with every echo replaced (the replacement keeps it UTF-8: a match starts and ends
    /// on character boundaries, since the secret and its escapes are whole characters and
    /// base64 is ASCII).
    pub fn scrub_text(&self, text: &mut String) {
        if let Some(bytes) = self.scrub(text.as_bytes()) {
            *text = String::from_utf8_lossy(&bytes).into_owned();
        }
    }
}

fn find_one(bytes: &[u8], pattern: &Pattern) -> Option<(std::ops::Range<usize>, Form)> {
    let secret = pattern.raw.expose_secret();
    let first = secret.as_bytes()[0];
    let escaped = (0..bytes.len())
        // Only where an escape or the secret itself can start.
        .filter(|i| matches!(bytes[*i], b'%' | b'\\' | b'+') || bytes[*i] == first)
        .find_map(|start| {
            escaped_match(&bytes[start..], secret).map(|len| (start..start + len, Form::Escaped))
        });
    let encoded = pattern
        .cores
        .iter()
        .filter_map(|core| {
            memmem(bytes, core.expose_secret().as_bytes()).map(|at| {
                // The whole base64 word goes: what surrounds the core still encodes part of
                // the secret.
                let start = bytes[..at]
                    .iter()
                    .rposition(|b| !is_base64(*b))
                    .map_or(0, |p| p + 1);
                let end = bytes[at..]
                    .iter()
                    .position(|b| !is_base64(*b))
                    .map_or(bytes.len(), |p| at + p);
                (start..end, Form::Base64)
            })
        })
        .min_by_key(|(range, _)| range.start);
    match (escaped, encoded) {
        (Some(a), Some(b)) => Some(if a.0.start <= b.0.start { a } else { b }),
        (a, b) => a.or(b),
    }
}

/// How many bytes at the start of `hay` spell `secret`, each character either as it is or
/// escaped (`\uXXXX`, `\/`, `\\`, `\"`, `%XX` per byte, `+` for a space).
fn escaped_match(hay: &[u8], secret: &str) -> Option<usize> {
    let mut at = 0;
    for c in secret.chars() {
        at += char_match(&hay[at..], c)?;
    }
    Some(at)
}

fn char_match(hay: &[u8], c: char) -> Option<usize> {
    let mut utf8 = [0; 4];
    let raw = c.encode_utf8(&mut utf8).as_bytes();
    // A backslash JSON escapes as two: read as the escape, not as itself and a stray one.
    if c == '\\' && hay.starts_with(b"\\\\") {
        return Some(2);
    }
    if hay.starts_with(raw) {
        return Some(raw.len());
    }
    match hay.first()? {
        b'%' | b'+' => {
            let mut at = 0;
            for b in raw {
                at += byte_match(&hay[at..], *b)?;
            }
            Some(at)
        }
        b'\\' => {
            let next = *hay.get(1)?;
            if next == b'u' {
                let mut units = [0u16; 2];
                let units = c.encode_utf16(&mut units);
                let mut at = 0;
                for unit in units.iter() {
                    let rest = hay.get(at..)?;
                    if rest.len() < 6 || &rest[..2] != b"\\u" {
                        return None;
                    }
                    let hex = std::str::from_utf8(&rest[2..6]).ok()?;
                    if u16::from_str_radix(hex, 16).ok()? != *unit {
                        return None;
                    }
                    at += 6;
                }
                Some(at)
            } else if (c == '/' || c == '"') && next == c as u8 {
                Some(2)
            } else {
                None
            }
        }
        _ => None,
    }
}

fn byte_match(hay: &[u8], b: u8) -> Option<usize> {
    match hay.first()? {
        first if *first == b => Some(1),
        b'+' if b == b' ' => Some(1),
        b'%' => {
            let hex = std::str::from_utf8(hay.get(1..3)?).ok()?;
            (u8::from_str_radix(hex, 16).ok()? == b).then_some(3)
        }
        _ => None,
    }
}

/// The part of the base64 of `secret` that does not depend on what comes before or after it,
/// at each of the three alignments, in both alphabets.
fn base64_cores(secret: &[u8]) -> Vec<String> {
    let mut cores = Vec::new();
    for offset in 0..3usize {
        let mut padded = vec![0u8; offset];
        padded.extend_from_slice(secret);
        // Characters wholly inside the secret's bits: from ceil(8·offset/6) to
        // floor(8·(offset+len)/6).
        let first = (8 * offset).div_ceil(6);
        let last = 8 * (offset + secret.len()) / 6;
        if last <= first + 3 {
            continue;
        }
        for engine in [&STANDARD, &URL_SAFE] {
            let encoded = engine.encode(&padded);
            let core = encoded[first..last].to_owned();
            if !cores.contains(&core) {
                cores.push(core);
            }
        }
    }
    cores
}

fn is_base64(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=' | b'-' | b'_')
}

fn memmem(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || needle.len() > hay.len() {
        return None;
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn find(bytes: &[u8], secrets: &[&SecretString]) -> Option<(std::ops::Range<usize>, Form)> {
        Echoes::of(secrets).find(bytes)
    }

    fn scrub(bytes: &[u8], secrets: &[&SecretString]) -> Option<Vec<u8>> {
        Echoes::of(secrets).scrub(bytes)
    }

    const KEY: &str = "sk_test_51Mtw0canaryKEY";

    fn secrets() -> SecretString {
        SecretString::from(KEY.to_owned())
    }

    fn scrubbed(text: &[u8]) -> String {
        let secret = secrets();
        let out = scrub(text, &[&secret]).unwrap_or_else(|| text.to_vec());
        String::from_utf8_lossy(&out).into_owned()
    }

    #[test]
    fn every_form_is_scrubbed() {
        let json_escaped = KEY
            .chars()
            .enumerate()
            .map(|(i, c)| {
                if i % 2 == 0 {
                    format!("\\u{:04x}", c as u32)
                } else {
                    c.to_string()
                }
            })
            .collect::<String>();
        let percent = KEY.bytes().map(|b| format!("%{b:02X}")).collect::<String>();
        let basic = STANDARD.encode(format!("opsuser:{KEY}"));
        let alone = URL_SAFE.encode(KEY);
        for (form, echoed) in [
            ("raw", KEY.to_owned()),
            ("json", json_escaped),
            ("json-first", format!("\\u0073{}", &KEY[1..])),
            ("percent", percent),
            ("basic", format!("Basic {basic}")),
            ("base64", alone),
        ] {
            for offset in 0..3 {
                let text = format!("{}{{\"message\":\"bad key {echoed}\"}}", "x".repeat(offset));
                let out = scrubbed(text.as_bytes());
                assert!(out.contains(REDACTED), "{form}: {out}");
                let secret = secrets();
                assert_eq!(find(out.as_bytes(), &[&secret]), None, "{form}: {out}");
                assert!(out.ends_with("\"}"), "{form}: the rest stays: {out}");
            }
        }
    }

    #[test]
    fn every_echo_goes_and_nothing_around_it() {
        let b64 = STANDARD.encode(format!("opsuser:{KEY}"));
        assert_eq!(
            scrubbed(format!("{KEY} then Basic {b64}!").as_bytes()),
            "[REDACTED] then Basic [REDACTED]!"
        );
        assert_eq!(
            scrubbed(format!("Basic {b64} then {KEY}.").as_bytes()),
            "Basic [REDACTED] then [REDACTED]."
        );
        let secret = secrets();
        assert_eq!(format!("{:?}", Echoes::of(&[&secret])), "Echoes(1 secrets)");
        assert!(Echoes::of(&[]).is_empty() && !Echoes::of(&[&secret]).is_empty());
    }

    /// A form-encoded body writes a space as `+` and other bytes as `%XX`, in any mix.
    #[test]
    fn a_form_encoded_secret_is_found() {
        let secret = SecretString::from("pass word!x".to_owned());
        let out = Echoes::of(&[&secret])
            .scrub(b"password=pass+word%21x&next=1")
            .expect("found");
        assert_eq!(out, b"password=[REDACTED]&next=1");
        assert_eq!(Echoes::of(&[&secret]).scrub(b"pass+wordx is another"), None);
    }

    /// JSON may escape `/`, `\\` and `"` with a backslash alone.
    #[test]
    fn a_secret_with_json_punctuation_is_found_escaped() {
        let secret = SecretString::from("pass/word\\with\"quote".to_owned());
        let echoed = br#"{"message": "bad pass\/word\\with\"quote"}"#;
        let out = Echoes::of(&[&secret]).scrub(echoed).expect("found");
        assert_eq!(out, br#"{"message": "bad [REDACTED]"}"#);
        // Outside JSON a backslash is itself.
        let out = Echoes::of(&[&secret])
            .scrub(b"echoed: pass/word\\with\"quote.")
            .expect("found raw");
        assert_eq!(out, b"echoed: [REDACTED].");
    }

    #[test]
    fn a_body_that_is_not_utf8_is_searched_too() {
        let mut body = b"\xff\xfe key=".to_vec();
        body.extend_from_slice(KEY.as_bytes());
        body.extend_from_slice(b" \xff");
        let secret = secrets();
        let out = scrub(&body, &[&secret]).expect("found");
        assert_eq!(out, b"\xff\xfe key=[REDACTED] \xff");
    }

    #[test]
    fn text_without_the_secret_is_left_alone() {
        let secret = secrets();
        for text in [
            "sk_test_ only a prefix",
            "opsuser",
            "c2tfdGVzdF8",
            "%73k_other",
            "",
        ] {
            assert_eq!(scrub(text.as_bytes(), &[&secret]), None, "{text}");
        }
    }
}
