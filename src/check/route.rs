//! Which configured gateway answers for an id, and the local checks an id passes before any
//! request: routing by shape (`--gateway auto`) or to one fixed gateway, then
//! [`crate::payment_id::validate`].

use std::sync::Arc;

use crate::config::Configured;
use crate::gateway::{self, Gateway, GatewayKind};
use crate::payment_id;
use crate::retry::{Pacer, RetryBudget, RetryPolicy};

/// How the checker picks a gateway for an id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Routing {
    /// Always this gateway.
    Fixed(GatewayKind),
    /// From the id's shape ([`gateway::route`]).
    Auto,
}

/// A configured gateway with its policy, its retry budget and its pacing, shared by all the
/// checks of one checker.
#[derive(Debug)]
pub(crate) struct Endpoint {
    pub gateway: Arc<dyn Gateway>,
    pub policy: RetryPolicy,
    pub budget: RetryBudget,
    pub pacer: Option<Pacer>,
    /// The pacing rate, requests per second, when paced.
    pub rate: Option<f64>,
    pub proxy: Option<crate::config::ProxyUrl>,
    /// The gateway's base URL as the status cache keys it: `scheme://host:port`.
    pub cache_host: String,
    /// The environment and account as the status cache keys them (`live`, `test:acct_…`),
    /// before the credential's fingerprint is added ([`Endpoint::cache_scope`]).
    pub cache_scope: String,
    /// A digest of the credential this gateway is configured with (in memory only; the cache
    /// keeps a salted fingerprint of it).
    credential_digest: [u8; 32],
    /// [`Endpoint::cache_scope`] in the checker's own cache, once worked out.
    scope_in_cache: std::sync::OnceLock<String>,
    /// Whether the cache held any answer under this endpoint's scope when the run first looked
    /// (an empty scope — a cold cache — is not asked id by id).
    held_any: std::sync::OnceLock<bool>,
    /// Every form of this gateway's secrets, to redact from what it answers.
    pub echoes: crate::gateway::Echoes,
    /// What kind of system this gateway is, as the configuration decided.
    pub environment: crate::result::Environment,
    /// How this run stands with the gateway's change feed, once it tried to sync it
    /// ([`Checker::follow_feeds`](crate::check::Checker::follow_feeds)); unset when it did not.
    followed: std::sync::RwLock<Option<crate::cache::Followed>>,
}

impl Endpoint {
    /// The scope this endpoint's answers are kept under in `cache`: the environment, the
    /// account, and the salted fingerprint of the credential, so that only a run configured
    /// with the same credential reuses them.
    pub fn cache_scope(&self, cache: &crate::cache::Cache) -> String {
        format!(
            "{}:cred={}",
            self.cache_scope,
            cache.credential_fingerprint(&self.credential_digest)
        )
    }

    /// [`Endpoint::cache_scope`] in the checker's own cache (worked out once).
    pub fn scope_in(&self, cache: &crate::cache::Cache) -> &str {
        self.scope_in_cache.get_or_init(|| self.cache_scope(cache))
    }

    /// Whether `cache` held any answer of this endpoint when the run first asked (once a run):
    /// a cache that held none answers no lookup of the run, so none is made. An answer stored
    /// since by this run or another process is then not reused in this run — a request, never
    /// a wrong answer. A cache that cannot say is taken to hold some.
    pub fn held_any(&self, cache: &crate::cache::Cache) -> bool {
        *self.held_any.get_or_init(|| {
            let scope = self.scope_in(cache);
            cache.holds_any(&self.feed(scope)).unwrap_or(true)
        })
    }

    /// How the run stands with this gateway's feed, when it tried to sync it.
    pub fn followed(&self) -> Option<crate::cache::Followed> {
        self.followed
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Sets (or, with `None`, forgets) how the run stands with this gateway's feed.
    pub fn set_followed(&self, followed: Option<crate::cache::Followed>) {
        *self.followed.write().unwrap_or_else(|p| p.into_inner()) = followed;
    }

    /// The status cache's key for `id` at this endpoint, under `scope`.
    pub fn cache_key<'a>(&'a self, scope: &'a str, id: &'a str) -> crate::cache::Key<'a> {
        crate::cache::Key {
            gateway: self.gateway.kind(),
            host: &self.cache_host,
            scope,
            payment_id: id,
        }
    }

    /// The status cache's place of this endpoint's change feed, under `scope`.
    pub fn feed<'a>(&'a self, scope: &'a str) -> crate::cache::Feed<'a> {
        crate::cache::Feed {
            gateway: self.gateway.kind(),
            host: &self.cache_host,
            scope,
        }
    }
}

/// A digest of the secrets a gateway sends (none is a digest too), told apart by gateway.
fn credential_digest(gateway: &dyn crate::gateway::Gateway) -> [u8; 32] {
    use secrecy::ExposeSecret;
    use sha2::{Digest, Sha256};
    let mut hash = Sha256::new();
    hash.update(b"paystat credential\0");
    hash.update(gateway.kind().as_str().as_bytes());
    for secret in gateway.secrets() {
        let secret = secret.expose_secret().as_bytes();
        hash.update((secret.len() as u64).to_be_bytes());
        hash.update(secret);
    }
    hash.finalize().into()
}

impl From<Configured> for Endpoint {
    fn from(c: Configured) -> Endpoint {
        let url = c.gateway.base_url();
        let cache_host = format!(
            "{}://{}:{}",
            url.scheme(),
            url.host_str().unwrap_or_default(),
            url.port_or_known_default().unwrap_or_default()
        );
        let environment = c.environment.as_str();
        let cache_scope = match c.gateway.account() {
            Some(account) => format!("{environment}:{account}"),
            None => environment.to_owned(),
        };
        Endpoint {
            environment: c.environment,
            credential_digest: credential_digest(c.gateway.as_ref()),
            echoes: crate::gateway::Echoes::of(&c.gateway.secrets()),
            scope_in_cache: std::sync::OnceLock::new(),
            held_any: std::sync::OnceLock::new(),
            followed: std::sync::RwLock::new(None),
            cache_host,
            cache_scope,
            gateway: c.gateway,
            policy: c.policy,
            budget: RetryBudget::new(c.retry_budget),
            pacer: c.requests_per_second.map(Pacer::new),
            rate: c.requests_per_second,
            proxy: c.proxy,
        }
    }
}

/// Why an id is not sent: the gateway it would have gone to, if known, one sentence, and the id
/// as the result and its audit line may show it.
pub(crate) struct Refusal<'a> {
    pub gateway: Option<GatewayKind>,
    pub detail: String,
    pub shown_id: &'a str,
}

/// The endpoint to ask about `id`, or why none can be asked. An id that holds a configured
/// credential (a key pasted in the wrong place) is refused like any id no gateway may be asked
/// about, and shown as `[REDACTED]`, so the key reaches neither a gateway nor the trail.
pub(crate) fn endpoint_for<'a, 'i>(
    endpoints: &'a [Endpoint],
    routing: Routing,
    id: &'i str,
) -> Result<&'a Endpoint, Refusal<'i>> {
    let refuse = |gateway, detail: String| Refusal {
        gateway,
        detail,
        shown_id: id,
    };
    if holds_a_secret(endpoints, id) {
        return Err(Refusal {
            gateway: None,
            detail: "the id holds a configured credential: it was not sent, and is recorded as [REDACTED]"
                .to_owned(),
            shown_id: crate::credential::REDACTED,
        });
    }
    let kind = match routing {
        Routing::Fixed(kind) => kind,
        Routing::Auto => match gateway::route(id) {
            Some(kind) => kind,
            None => {
                let detail = match payment_id::validate(id) {
                    Err(invalid) => invalid.to_string(),
                    Ok(()) => format!("no gateway fits this id: {}", gateway::routing_rules()),
                };
                return Err(refuse(None, detail));
            }
        },
    };
    payment_id::validate(id).map_err(|invalid| refuse(Some(kind), invalid.to_string()))?;
    endpoints
        .iter()
        .find(|e| e.gateway.kind() == kind)
        .ok_or_else(|| refuse(Some(kind), format!("no {kind} gateway is configured")))
}

/// Whether `id` holds, as it is, the credential of a configured gateway.
fn holds_a_secret(endpoints: &[Endpoint], id: &str) -> bool {
    use secrecy::ExposeSecret;
    crate::credential::holds_service_token(id)
        || endpoints.iter().any(|e| {
            e.gateway
                .secrets()
                .iter()
                .any(|s| !s.expose_secret().is_empty() && id.contains(s.expose_secret()))
        })
}
