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
    /// The environment and account as the status cache keys them (`live`, `test:acct_…`).
    pub cache_scope: String,
    /// What kind of system this gateway is, as the configuration decided.
    pub environment: crate::result::Environment,
}

impl Endpoint {
    /// The status cache's key for `id` at this endpoint.
    pub fn cache_key<'a>(&'a self, id: &'a str) -> crate::cache::Key<'a> {
        crate::cache::Key {
            gateway: self.gateway.kind(),
            host: &self.cache_host,
            scope: &self.cache_scope,
            payment_id: id,
        }
    }

    /// The status cache's place of this endpoint's change feed.
    pub fn feed(&self) -> crate::cache::Feed<'_> {
        crate::cache::Feed {
            gateway: self.gateway.kind(),
            host: &self.cache_host,
            scope: &self.cache_scope,
        }
    }
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

/// Why an id is not sent: the gateway it would have gone to, if known, and one sentence.
pub(crate) type Refusal = (Option<GatewayKind>, String);

/// The endpoint to ask about `id`, or why none can be asked.
pub(crate) fn endpoint_for<'a>(
    endpoints: &'a [Endpoint],
    routing: Routing,
    id: &str,
) -> Result<&'a Endpoint, Refusal> {
    let kind = match routing {
        Routing::Fixed(kind) => kind,
        Routing::Auto => match gateway::route(id) {
            Some(kind) => kind,
            None => {
                let detail = match payment_id::validate(id) {
                    Err(invalid) => invalid.to_string(),
                    Ok(()) => format!("no gateway fits this id: {}", gateway::routing_rules()),
                };
                return Err((None, detail));
            }
        },
    };
    payment_id::validate(id).map_err(|invalid| (Some(kind), invalid.to_string()))?;
    endpoints
        .iter()
        .find(|e| e.gateway.kind() == kind)
        .ok_or_else(|| (Some(kind), format!("no {kind} gateway is configured")))
}
