//! Stripe PaymentIntents: `GET {base}/v1/payment_intents/{id}`.
//!
//! Wire facts (GATEWAYS.md): `status` is exactly one of seven words and there is no `failed`
//! — a declined attempt sends the intent back to `requires_payment_method` with a non-null
//! `last_payment_error`. `amount` is already an integer in minor units, `currency` is lower
//! case, `created` is unix seconds. Errors are `{"error": {type, code, message, …}}`; the
//! `Request-Id` header is what Stripe support asks for.
//!
//! Its rooms: [`wire`] (the bodies as Stripe sends them), [`status`] (their status and money,
//! normalized), [`feed`] (the events list that says which payments changed).

use std::sync::Arc;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::{
    Changes, CommonSettings, CredentialVar, FeedRules, Gateway, GatewayKind, Profile, Reading,
    Reply, Section, Verdict, header_text, url_with_segments,
};
use crate::credential::{self, CredentialError};
use crate::result::Environment;
use crate::retry::RetrySettings;

/// Stripe's API.
pub const DEFAULT_BASE_URL: &str = "https://api.stripe.com";

/// Stripe's default per-endpoint rate limit (GATEWAYS.md): paystat paces itself under it.
pub const REQUESTS_PER_SECOND: f64 = 25.0;

/// How sentences name this gateway.
const NAME: &str = "Stripe";

/// Stripe's place among the gateways: ids `pi_…`, paced at 25 requests per second.
pub static PROFILE: Profile = Profile {
    kind: GatewayKind::Stripe,
    default_base_url: DEFAULT_BASE_URL,
    url_env: "PAYSTAT_STRIPE_URL",
    environment_env: "PAYSTAT_STRIPE_ENVIRONMENT",
    requests_per_second: Some(REQUESTS_PER_SECOND),
    routing_rule: "`pi_…` to Stripe",
    owns_id: |id| id.starts_with("pi_"),
};

/// `[stripe]` in the config file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StripeSection {
    /// Base URL (default `https://api.stripe.com`).
    pub base_url: Option<String>,
    /// Per-request timeout, like `5s`.
    #[serde(default, deserialize_with = "crate::clock::optional_duration")]
    pub timeout: Option<Duration>,
    /// The variable holding the secret key (default `PAYSTAT_STRIPE_KEY`).
    pub key_env: Option<String>,
    /// The `Stripe-Version` to send (default [`STRIPE_VERSION`]).
    pub stripe_version: Option<String>,
    /// The connected account to ask on behalf of (`acct_…`, sent as `Stripe-Account`).
    pub stripe_account: Option<String>,
    /// Client-side pacing in requests per second (0 turns it off; default 25).
    pub requests_per_second: Option<f64>,
    /// Retries, deadline and retry budget (`[stripe.retry]`).
    #[serde(default)]
    pub retry: RetrySettings,
}

impl Section for StripeSection {
    fn common(&self) -> CommonSettings<'_> {
        CommonSettings {
            base_url: self.base_url.as_deref(),
            timeout: self.timeout,
            requests_per_second: self.requests_per_second,
            retry: &self.retry,
        }
    }

    fn credential_vars(&self) -> Vec<CredentialVar<'_>> {
        vec![CredentialVar {
            key: "key_env",
            configured: self.key_env.as_deref(),
            default: "PAYSTAT_STRIPE_KEY",
        }]
    }

    fn adapter(
        &self,
        base_url: reqwest::Url,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Arc<dyn Gateway>, CredentialError> {
        let key = credential::required_secret(
            env,
            GatewayKind::Stripe,
            credential::variable(
                GatewayKind::Stripe,
                "key_env",
                self.key_env.as_deref(),
                "PAYSTAT_STRIPE_KEY",
            )?,
            "the secret key, sk_…",
        )?;
        if let Some(account) = self.stripe_account.as_deref().filter(|a| !is_account_id(a)) {
            return Err(CredentialError::NotAnAccount {
                value: crate::credential::redact(account),
            });
        }
        Ok(Arc::new(Stripe::new(
            base_url,
            key,
            self.stripe_version.as_deref().unwrap_or(STRIPE_VERSION),
            self.stripe_account.clone(),
        )))
    }
}

/// The header Stripe support asks for.
const REQUEST_ID_HEADER: &str = "request-id";

/// Stripe's explicit retry advice.
const SHOULD_RETRY_HEADER: &str = "stripe-should-retry";

/// The Stripe adapter.
#[derive(Debug, Clone)]
pub struct Stripe {
    base_url: reqwest::Url,
    key: SecretString,
    version: String,
    account: Option<String>,
}

/// The API version paystat's reading of Stripe (and its fixtures) is written against, sent as
/// `Stripe-Version` unless the config file pins another (Stripe's own libraries always pin one).
pub const STRIPE_VERSION: &str = "2024-06-20";

impl Stripe {
    /// Stripe at `base_url` (normally `https://api.stripe.com`) with secret key `key`, asking
    /// with `Stripe-Version: version`, on behalf of the connected `account` (`acct_…`, sent as
    /// `Stripe-Account`) when one is given.
    pub fn new(
        base_url: reqwest::Url,
        key: SecretString,
        version: &str,
        account: Option<String>,
    ) -> Stripe {
        Stripe {
            base_url,
            key,
            version: version.to_owned(),
            account,
        }
    }
}

/// Whether `account` looks like a Stripe account id (`acct_` and letters or digits).
fn is_account_id(account: &str) -> bool {
    account
        .strip_prefix("acct_")
        .is_some_and(|rest| !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// Where Stripe answers for PaymentIntent `id`: `{base}/v1/payment_intents/{id}`, the id
/// percent-encoded as one path segment. The embedded mock serves the same URL.
pub fn status_url(base: &reqwest::Url, id: &str) -> reqwest::Url {
    url_with_segments(base, &["v1", "payment_intents", id])
}

/// The dispute list of PaymentIntent `id` under `base`: `{base}/v1/disputes?payment_intent={id}`
/// (at most 100, Stripe's largest page).
pub fn disputes_url(base: &reqwest::Url, id: &str) -> reqwest::Url {
    let mut url = url_with_segments(base, &["v1", "disputes"]);
    url.query_pairs_mut()
        .append_pair("payment_intent", id)
        .append_pair("limit", "100");
    url
}

/// The events list (the change feed) under `base`.
pub fn events_url(base: &reqwest::Url) -> reqwest::Url {
    url_with_segments(base, &["v1", "events"])
}

mod feed;
mod history;
mod list;
mod status;
mod wire;

pub use history::refunds_url;

use feed::EVENTS_KEPT;
use status::read_intent;
pub use status::status_mapping;
use wire::read_error;

impl Stripe {
    /// A GET of `url` as Stripe wants every request: the key, the pinned version, and the
    /// connected account when there is one.
    fn get(&self, client: &reqwest::Client, url: reqwest::Url) -> reqwest::RequestBuilder {
        let request = client
            .get(url)
            .bearer_auth(self.key.expose_secret())
            .header("Stripe-Version", &self.version);
        match &self.account {
            Some(account) => request.header("Stripe-Account", account),
            None => request,
        }
    }
}

impl Gateway for Stripe {
    fn kind(&self) -> GatewayKind {
        GatewayKind::Stripe
    }

    fn base_url(&self) -> &reqwest::Url {
        &self.base_url
    }

    fn request(&self, client: &reqwest::Client, id: &str) -> reqwest::Result<reqwest::Request> {
        let mut url = status_url(&self.base_url, id);
        // The intent's status never changes after `succeeded`: its latest charge says whether
        // the money was refunded, or disputed (then the dispute list says how it stands).
        url.query_pairs_mut()
            .append_pair("expand[]", "latest_charge");
        self.get(client, url).build()
    }

    fn follow_up(
        &self,
        client: &reqwest::Client,
        id: &str,
        reply: &Reply,
    ) -> Option<reqwest::Result<reqwest::Request>> {
        // Only a disputed charge costs a second request: its disputes, all of them (one charge
        // can be disputed more than once; the charge's own `dispute` field names one).
        let probe: wire::WireProbe = (reply.status == 200)
            .then(|| serde_json::from_slice(&reply.body).ok())
            .flatten()?;
        let disputed = probe.status == "succeeded"
            && probe
                .latest_charge
                .as_ref()
                .and_then(wire::Expandable::object)
                .is_some_and(|c| c.disputed);
        disputed.then(|| self.get(client, disputes_url(&self.base_url, id)).build())
    }

    fn read_followed(&self, id: &str, reply: &Reply, follow_up: &Reply) -> Reading {
        if follow_up.status != 200 {
            // The dispute list's own failure (a rate limit, an outage) decides the attempt; its
            // 404 says nothing of the payment, which Stripe has just returned.
            let mut reading = self.read(id, follow_up);
            if reading.verdict.outcome() == crate::result::Outcome::NotFound {
                reading.verdict = Verdict::refused(
                    crate::result::Outcome::BadResponse,
                    "Stripe's dispute list for this PaymentIntent answered 404",
                );
            }
            return reading;
        }
        let mut reading = self.read(id, reply);
        if let Verdict::Found(_) = reading.verdict {
            reading.verdict = read_intent(id, &reply.body, Some(&follow_up.body));
        }
        reading
    }

    fn secrets(&self) -> Vec<&SecretString> {
        vec![&self.key]
    }

    fn api_version(&self) -> Option<&str> {
        Some(&self.version)
    }

    fn account(&self) -> Option<&str> {
        self.account.as_deref()
    }

    fn feed(&self) -> Option<FeedRules> {
        Some(FeedRules {
            keeps: Some(EVENTS_KEPT),
            // From five minutes before now: clocks differ, and reading an event twice is
            // harmless (it drops an entry already dropped).
            start: |now| now.saturating_sub(300).to_string(),
        })
    }

    fn changes_request(
        &self,
        client: &reqwest::Client,
        position: &str,
        page: Option<&str>,
    ) -> Option<reqwest::Result<reqwest::Request>> {
        Some(
            self.get(
                client,
                feed::events_page_url(&self.base_url, position, page),
            )
            .build(),
        )
    }

    fn read_changes(&self, reply: &Reply) -> Result<Changes, String> {
        feed::read_changes(reply)
    }

    fn facts(&self, _id: &str, reply: &Reply) -> super::Facts {
        history::facts(reply)
    }

    fn history_request(
        &self,
        client: &reqwest::Client,
        id: &str,
        reply: &Reply,
        page: Option<&str>,
    ) -> Option<reqwest::Result<reqwest::Request>> {
        // Everything else is in the check's own reply; refunds have dates only in their list.
        history::refunded(reply).then(|| {
            self.get(client, refunds_url(&self.base_url, id, page))
                .build()
        })
    }

    fn read_history(
        &self,
        reply: &Reply,
        _page: Option<&str>,
    ) -> Result<super::HistoryPage, String> {
        history::read_refunds(reply)
    }

    fn lister(
        &self,
        window: super::Window,
        resume: Option<&str>,
    ) -> Option<Box<dyn super::Lister>> {
        Some(Box::new(list::StripeLister::new(
            self.clone(),
            window,
            resume,
        )))
    }

    fn environment(&self) -> Environment {
        // Stripe's test-mode keys say so in their prefix (`sk_test_`, `rk_test_`).
        let key = self.key.expose_secret();
        if key.starts_with("sk_test_") || key.starts_with("rk_test_") {
            Environment::Test
        } else {
            Environment::Live
        }
    }

    fn read(&self, id: &str, reply: &Reply) -> Reading {
        let request_id = header_text(&reply.headers, REQUEST_ID_HEADER);
        let verdict = match reply.status {
            200 => read_intent(id, &reply.body, None),
            status => read_error(status, &reply.body),
        };
        // Stripe's explicit advice overrides the status: `false` forbids a retry, `true` asks
        // for one (GATEWAYS.md); anything else is no advice.
        let retry_advice = match header_text(&reply.headers, SHOULD_RETRY_HEADER).as_deref() {
            Some("true") => Some(true),
            Some("false") => Some(false),
            _ => None,
        };
        Reading {
            verdict,
            request_id,
            retry_advice,
        }
    }
}
