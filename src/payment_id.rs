//! The local checks every payment id passes before any request is sent.
//!
//! An id travels as exactly one URL path segment (or inside a JSON body), so paystat refuses
//! what no gateway can hold and what could escape its segment: an empty id, one over 255 bytes,
//! control characters (they would forge log lines and break terminals), and the dot segments
//! `.` and `..`, which URL parsers resolve even when percent-encoded. Everything else — `/`,
//! `?`, `#`, `%`, spaces, Unicode — is legal and gets percent-encoded by the adapter.

/// The longest id paystat will send, in bytes.
pub const MAX_ID_BYTES: usize = 255;

/// Why an id was rejected locally.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidId {
    /// The id is empty.
    #[error("the payment id is empty")]
    Empty,
    /// The id is longer than [`MAX_ID_BYTES`].
    #[error("the payment id is {0} bytes long; at most 255 are allowed")]
    TooLong(usize),
    /// The id contains a control character.
    #[error("the payment id contains a control character (U+{0:04X})")]
    ControlCharacter(u32),
    /// The id is `.` or `..`, which cannot be sent as a path segment.
    #[error("the payment id `{0}` is a dot segment and cannot be sent in a URL path")]
    DotSegment(&'static str),
}

/// Checks an id against the rules above.
pub fn validate(id: &str) -> Result<(), InvalidId> {
    if id.is_empty() {
        return Err(InvalidId::Empty);
    }
    if id.len() > MAX_ID_BYTES {
        return Err(InvalidId::TooLong(id.len()));
    }
    if let Some(c) = id.chars().find(|c| c.is_control()) {
        return Err(InvalidId::ControlCharacter(u32::from(c)));
    }
    match id {
        "." => Err(InvalidId::DotSegment(".")),
        ".." => Err(InvalidId::DotSegment("..")),
        _ => Ok(()),
    }
}

/// Writes an id so that a terminal shows it as one harmless line.
pub fn display_safe(id: &str) -> String {
    id.escape_debug().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules() {
        assert_eq!(validate("txn_001"), Ok(()));
        assert_eq!(validate("a/b?c#d%e f"), Ok(()));
        assert_eq!(validate("ünïcødé"), Ok(()));
        assert_eq!(validate(""), Err(InvalidId::Empty));
        assert_eq!(validate(&"x".repeat(255)), Ok(()));
        assert_eq!(validate(&"x".repeat(256)), Err(InvalidId::TooLong(256)));
        assert_eq!(validate("a\nb"), Err(InvalidId::ControlCharacter(10)));
        assert_eq!(validate("a\u{7f}"), Err(InvalidId::ControlCharacter(0x7f)));
        assert_eq!(validate("a\u{85}"), Err(InvalidId::ControlCharacter(0x85)));
        assert_eq!(validate(".."), Err(InvalidId::DotSegment("..")));
        assert_eq!(validate("..."), Ok(()));
    }
}
