//! The shape of an audit line, written once: the [`Envelope`] every line starts with (its
//! place in the chain, when, who, from where), then what the event adds — for a status check
//! the request and the whole normalized result ([`AuditRecord`]), for another event its own
//! fields. One serializer writes a whole line; nothing is spliced from pieces.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::macros::format_description;

use super::Durability;
use crate::result::{CheckResult, Environment};

/// The event name of a status check.
pub const EVENT_STATUS_CHECK: &str = "payment.status_check";

/// The event of the line that records an audit failure that stopped a run.
pub const EVENT_HALTED: &str = "audit.halted";

/// The event of the line that records a repaired fragment.
pub const EVENT_REPAIR: &str = "audit.repair";

/// The event of the line after which a trail written without the audit key is sealed with it
/// (`paystat audit seal`), sealed with the key itself.
pub const EVENT_KEYED: &str = "audit.keyed";

/// The event of the line, sealed with the old audit key, after which lines are sealed with the
/// new one it names by fingerprint (`new_key`).
pub const EVENT_KEY_ROTATED: &str = "audit.key_rotated";

/// The event of the line that records pruning: the day files removed, and the last line they
/// held (`through_seq`, `through_hash`), which the checkpoint repeats.
pub const EVENT_PRUNE: &str = "audit.prune";

/// The event of the line that records a status cache row paystat would not serve: it did not
/// match its seal, so the gateway was asked instead.
pub const EVENT_CACHE_REJECTED: &str = "cache.row_rejected";

/// The event of the line that records a service token created (`paystat token create`): its
/// id, actor, role and expiry, never the token.
pub const EVENT_TOKEN_CREATED: &str = "token.created";

/// The event of the line that records a service token revoked (`paystat token revoke`).
pub const EVENT_TOKEN_REVOKED: &str = "token.revoked";

/// The event of the line that records a read of the trail through the service (a history or an
/// export): who read which range with which filters, and how many lines.
pub const EVENT_AUDIT_READ: &str = "audit.read";

/// The event of the line that records one page of a gateway's list read into the status cache
/// (`paystat cache fill`, `paystat reconcile`): the window, the page's cursor, the gateway's
/// request id, and each payment listed with its status and the digest of its answer. Nobody
/// was shown a status: a check later served from the cache names this line as its `copy_of`.
pub const EVENT_FILL_PAGE: &str = "cache.fill_page";

/// Every event a line can record, as `audit export --event` takes them.
pub const EVENTS: [&str; 11] = [
    EVENT_STATUS_CHECK,
    EVENT_CACHE_REJECTED,
    EVENT_HALTED,
    EVENT_REPAIR,
    EVENT_KEYED,
    EVENT_KEY_ROTATED,
    EVENT_PRUNE,
    EVENT_TOKEN_CREATED,
    EVENT_TOKEN_REVOKED,
    EVENT_AUDIT_READ,
    EVENT_FILL_PAGE,
];

/// Who asked through the Payment Status Service: the authenticated actor (the token's), and
/// how the request came. Written on the line's envelope as `via`, `token_id`, `client` and
/// `request_id`; a line written by the command line has none of them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Caller {
    /// The token's actor: the line's `actor` (never serialized here, the envelope has it).
    #[serde(skip)]
    pub actor: String,
    /// How the request came: `serve`.
    pub via: String,
    /// The id of the token that authenticated the request (never the token).
    pub token_id: String,
    /// The client's address (from `X-Forwarded-For` only behind a trusted proxy).
    pub client: String,
    /// The request id the response carries.
    pub request_id: String,
}

/// Where a check came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Origin {
    /// The host name of the machine that ran the check.
    pub host: String,
    /// The process id of the paystat process.
    pub pid: u32,
}

impl Origin {
    /// This process on this machine.
    pub fn current() -> Origin {
        Origin {
            host: gethostname::gethostname().to_string_lossy().into_owned(),
            pid: std::process::id(),
        }
    }
}

/// The request a check sent: never a credential, never a query string.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestLine {
    /// The HTTP method.
    pub method: String,
    /// The URL path, percent-encoded as sent.
    pub path: String,
}

/// Which host a check asked: scheme, host and port, never a path, user or query.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    /// `https` or `http`.
    pub scheme: String,
    /// The host name or address.
    pub host: String,
    /// The port, the scheme's default filled in.
    pub port: Option<u16>,
}

impl Target {
    /// The target of a gateway at `url`.
    pub fn of(url: &url::Url) -> Target {
        Target {
            scheme: url.scheme().to_owned(),
            host: url.host_str().unwrap_or_default().to_owned(),
            port: url.port_or_known_default(),
        }
    }
}

/// A line of the trail by its place in the chain and its hash: what a reused answer names as
/// the line that recorded the gateway's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineRef {
    /// The line's `seq`.
    pub seq: u64,
    /// The line's `hash`.
    pub hash: String,
}

/// What a check asked, for its audit line: the request, the host and the kind of system.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Asked {
    /// The request sent; none when the id was rejected locally.
    pub request: Option<RequestLine>,
    /// The gateway's host; none when no gateway was chosen.
    pub target: Option<Target>,
    /// Mock, test or live; none when no gateway was chosen.
    pub environment: Option<Environment>,
    /// For an answer reused from the status cache: the line that recorded the gateway's answer
    /// it copies.
    pub copy_of: Option<LineRef>,
    /// Who asked, when the check came through the service (the line's actor is then theirs).
    pub caller: Option<std::sync::Arc<Caller>>,
}

/// The fields every line starts with, whatever its event: its place in the chain, when it
/// was written, which event, who wrote it and from where. Borrowed when written (a bulk run
/// writes thousands of lines a second), owned when read back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope<'a> {
    /// The line format's version ([`super::chain::FORMAT_VERSION`]); 0 for a legacy line.
    #[serde(default)]
    pub v: u32,
    /// The line's place in the chain, from 1.
    #[serde(default)]
    pub seq: u64,
    /// The hash of the line before it ([`super::GENESIS`] for the first).
    #[serde(default)]
    pub prev: Cow<'a, str>,
    /// On a chain's first line only: how many lines without chain fields (written before the
    /// chain) come before it in the trail. Any other such line is one put there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub legacy_before: Option<u64>,
    /// How hashes are made: `sha256`, or `hmac-sha256` with the audit key.
    #[serde(default)]
    pub chain: Cow<'a, str>,
    /// When the line was written, RFC 3339 UTC with milliseconds.
    pub timestamp: Cow<'a, str>,
    /// What happened: [`EVENT_STATUS_CHECK`], [`EVENT_REPAIR`], [`EVENT_HALTED`],
    /// [`EVENT_CACHE_REJECTED`].
    pub event: Cow<'a, str>,
    /// Who the operator says they are (`--actor`; the OS user when not given).
    pub actor: Cow<'a, str>,
    /// The operating-system user that ran paystat, always.
    #[serde(default)]
    pub os_user: Cow<'a, str>,
    /// Where from.
    pub origin: Cow<'a, Origin>,
    /// For a request through the service: how it came, and which token authenticated it.
    #[serde(default, flatten, skip_serializing_if = "Option::is_none")]
    pub caller: Option<Cow<'a, Caller>>,
}

/// One status check's audit line, as written and as read back. Lines written before the chain
/// (format version 1, `payment_audit.jsonl` of earlier paystat) read with `v` 0 and no chain
/// fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord<'a> {
    /// Its place in the chain, when, who and from where.
    #[serde(flatten)]
    pub envelope: Envelope<'a>,
    /// The host asked; absent when no gateway was chosen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<Cow<'a, Target>>,
    /// `mock`, `test` or `live`; absent when no gateway was chosen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<Environment>,
    /// The request sent; absent when the id was rejected locally.
    pub request: Option<Cow<'a, RequestLine>>,
    /// `os` when the line was only handed to the operating system (`--audit-sync os`); absent
    /// for the default, a line synced to disk before its answer was shown.
    #[serde(default, skip_serializing_if = "Durability::is_disk")]
    pub sync: Durability,
    /// For an answer reused from the status cache: the line that recorded the gateway's answer
    /// it copies (`audit verify` checks that the two answers are the same).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub copy_of: Option<Cow<'a, LineRef>>,
    /// What the check concluded: the whole normalized result, its fields at the top level.
    #[serde(flatten)]
    pub check: Cow<'a, CheckResult>,
    /// The line's own hash (written last, over everything before it; see [`super::chain`]).
    #[serde(default, skip_serializing)]
    pub hash: String,
}

/// A line of another event (a repair, a halt): the envelope, then the event's own fields.
#[derive(Debug, Serialize)]
pub(super) struct Note<'a> {
    #[serde(flatten)]
    pub envelope: Envelope<'a>,
    #[serde(flatten)]
    pub fields: &'a serde_json::Map<String, serde_json::Value>,
}

/// The actor to record when none is given: the operating-system user.
pub fn default_actor() -> String {
    whoami::username()
        .ok()
        .or_else(|| std::env::var("USER").ok())
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

pub(super) fn now_millis() -> String {
    timestamp_of(OffsetDateTime::now_utc())
}

/// `time` as an audit timestamp: RFC 3339, UTC, milliseconds.
pub(super) fn timestamp_of(time: OffsetDateTime) -> String {
    let format =
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    time.format(&format).expect("UTC time always formats")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_have_milliseconds_in_utc() {
        let ts = now_millis();
        assert_eq!(ts.len(), "2026-01-01T00:00:00.000Z".len(), "{ts}");
        assert!(ts.ends_with('Z'));
    }
}
