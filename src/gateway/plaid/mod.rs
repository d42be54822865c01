//! Plaid Transfer: `POST {base}/transfer/get` with `{client_id, secret, transfer_id}`.
//!
//! Wire facts (GATEWAYS.md): a read that is a POST, with the credentials in the JSON body —
//! so the body is built here, sent, and never logged or audited (the audit line records only
//! the method and path). `amount` is a decimal string, `iso_currency_code` upper case,
//! `created` RFC 3339. `cancelled` has two l's; a `settled` debit can still become `returned`.
//! Errors are flat `{error_type, error_code, error_message, display_message, request_id}`, and
//! Plaid asks clients to branch on `error_type`/`error_code`, not on the HTTP status.
//!
//! Its rooms: [`wire`] (the bodies as Plaid sends them, and its errors), [`status`] (a
//! transfer's status, refunds and amount, normalized), [`feed`] (the transfer event sync).

use std::sync::Arc;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::{
    Changes, CommonSettings, CredentialVar, FeedRules, Gateway, GatewayKind, Profile, Reading,
    Reply, Section, url_with_segments,
};
use crate::credential::{self, CredentialError};
use crate::result::Environment;
use crate::retry::RetrySettings;

/// Plaid's sandbox (production is `https://production.plaid.com`, set by config).
pub const DEFAULT_BASE_URL: &str = "https://sandbox.plaid.com";

/// How sentences name this gateway.
const NAME: &str = "Plaid";

/// Plaid's place among the gateways: ids are hyphenated UUIDs; not paced.
pub static PROFILE: Profile = Profile {
    kind: GatewayKind::Plaid,
    default_base_url: DEFAULT_BASE_URL,
    url_env: "PAYSTAT_PLAID_URL",
    environment_env: "PAYSTAT_PLAID_ENVIRONMENT",
    requests_per_second: None,
    routing_rule: "a UUID (8-4-4-4-12 hex digits) to Plaid",
    owns_id: is_hyphenated_uuid,
};

/// Plaid's ids are hyphenated UUIDs. Only that exact form is routed to Plaid (the `uuid`
/// crate would also accept braced, URN and unhyphenated forms, which Plaid never sends).
fn is_hyphenated_uuid(id: &str) -> bool {
    let groups: Vec<&str> = id.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(group, len)| group.len() == len && group.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// `[plaid]` in the config file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlaidSection {
    /// Base URL (default `https://sandbox.plaid.com`).
    pub base_url: Option<String>,
    /// Per-request timeout, like `5s`.
    #[serde(default, deserialize_with = "crate::clock::optional_duration")]
    pub timeout: Option<Duration>,
    /// The variable holding the client id (default `PAYSTAT_PLAID_CLIENT_ID`).
    pub client_id_env: Option<String>,
    /// The variable holding the secret (default `PAYSTAT_PLAID_SECRET`).
    pub secret_env: Option<String>,
    /// Client-side pacing in requests per second (0 turns it off; Plaid is not paced).
    pub requests_per_second: Option<f64>,
    /// Retries, deadline and retry budget (`[plaid.retry]`).
    #[serde(default)]
    pub retry: RetrySettings,
}

impl Section for PlaidSection {
    fn common(&self) -> CommonSettings<'_> {
        CommonSettings {
            base_url: self.base_url.as_deref(),
            timeout: self.timeout,
            requests_per_second: self.requests_per_second,
            retry: &self.retry,
        }
    }

    fn credential_vars(&self) -> Vec<CredentialVar<'_>> {
        vec![
            CredentialVar {
                key: "client_id_env",
                configured: self.client_id_env.as_deref(),
                default: "PAYSTAT_PLAID_CLIENT_ID",
            },
            CredentialVar {
                key: "secret_env",
                configured: self.secret_env.as_deref(),
                default: "PAYSTAT_PLAID_SECRET",
            },
        ]
    }

    fn adapter(
        &self,
        base_url: reqwest::Url,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Arc<dyn Gateway>, CredentialError> {
        let var = |key, configured: Option<&str>, default| {
            credential::variable(GatewayKind::Plaid, key, configured, default).map(str::to_owned)
        };
        let client_id = credential::required(
            env,
            GatewayKind::Plaid,
            &var(
                "client_id_env",
                self.client_id_env.as_deref(),
                "PAYSTAT_PLAID_CLIENT_ID",
            )?,
            "the client id",
        )?;
        let secret = credential::required_secret(
            env,
            GatewayKind::Plaid,
            &var(
                "secret_env",
                self.secret_env.as_deref(),
                "PAYSTAT_PLAID_SECRET",
            )?,
            "the secret",
        )?;
        Ok(Arc::new(Plaid::new(base_url, client_id, secret)))
    }
}

/// The API version paystat's mapping is written against.
pub const PLAID_VERSION: &str = "2020-09-14";

/// The Plaid adapter.
#[derive(Debug, Clone)]
pub struct Plaid {
    base_url: reqwest::Url,
    client_id: SecretString,
    secret: SecretString,
}

impl Plaid {
    /// Plaid at `base_url` with the team's `client_id` and `secret`.
    pub fn new(base_url: reqwest::Url, client_id: SecretString, secret: SecretString) -> Plaid {
        Plaid {
            base_url,
            client_id,
            secret,
        }
    }
}

/// Where Plaid answers: `POST {base}/transfer/get`, for every transfer.
pub fn status_url(base: &reqwest::Url) -> reqwest::Url {
    url_with_segments(base, &["transfer", "get"])
}

/// The transfer event sync (the change feed) under `base`.
pub fn event_sync_url(base: &reqwest::Url) -> reqwest::Url {
    url_with_segments(base, &["transfer", "event", "sync"])
}

/// The part of the request body that names the transfer (the rest is credentials), which the
/// embedded mock matches on.
#[cfg(feature = "contract")]
pub fn transfer_selector(id: &str) -> serde_json::Value {
    serde_json::json!({ "transfer_id": id })
}

mod feed;
mod history;
mod list;
mod status;
mod wire;

pub use history::event_list_url;

use status::read_transfer;
pub use status::status_mapping;
use wire::{WireRequest, read_error};

/// A POST of a JSON `body` to `url` as Plaid wants every request (its credentials ride in the
/// body).
fn post(client: &reqwest::Client, url: reqwest::Url, body: Vec<u8>) -> reqwest::RequestBuilder {
    client
        .post(url)
        .header("Plaid-Version", PLAID_VERSION)
        .header("content-type", "application/json")
        .body(body)
}
impl Gateway for Plaid {
    fn kind(&self) -> GatewayKind {
        GatewayKind::Plaid
    }

    fn base_url(&self) -> &reqwest::Url {
        &self.base_url
    }

    fn request(&self, client: &reqwest::Client, id: &str) -> reqwest::Result<reqwest::Request> {
        let url = status_url(&self.base_url);
        let body = serde_json::to_vec(&WireRequest {
            client_id: self.client_id.expose_secret(),
            secret: self.secret.expose_secret(),
            transfer_id: id,
        })
        .expect("three strings always serialize");
        post(client, url, body).build()
    }

    fn secrets(&self) -> Vec<&SecretString> {
        vec![&self.client_id, &self.secret]
    }

    fn feed(&self) -> Option<FeedRules> {
        // Plaid keeps transfer events from the start: a first sync reads from event 0.
        Some(FeedRules {
            keeps: None,
            start: |_| "0".to_owned(),
        })
    }

    fn changes_request(
        &self,
        client: &reqwest::Client,
        position: &str,
        page: Option<&str>,
    ) -> Option<reqwest::Result<reqwest::Request>> {
        let body = feed::sync_body(&self.client_id, &self.secret, position, page);
        Some(post(client, event_sync_url(&self.base_url), body).build())
    }

    fn read_changes(&self, reply: &Reply) -> Result<Changes, String> {
        feed::read_changes(reply)
    }

    fn api_version(&self) -> Option<&str> {
        Some(PLAID_VERSION)
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
        // A transfer Plaid did not return has no events to list.
        if reply.status != 200 {
            return None;
        }
        let body = history::event_list_body(&self.client_id, &self.secret, id, page)?;
        Some(post(client, event_list_url(&self.base_url), body).build())
    }

    fn read_history(
        &self,
        reply: &Reply,
        page: Option<&str>,
    ) -> Result<super::HistoryPage, String> {
        history::read_events(reply, page)
    }

    fn lister(
        &self,
        window: super::Window,
        resume: Option<&str>,
    ) -> Option<Box<dyn super::Lister>> {
        Some(Box::new(list::PlaidLister::new(self, window, resume)))
    }

    fn environment(&self) -> Environment {
        // Plaid's environments are hosts: sandbox.plaid.com is test money, production.plaid.com real.
        match self.base_url.host_str() {
            Some("sandbox.plaid.com") => Environment::Test,
            _ => Environment::Live,
        }
    }

    fn read(&self, id: &str, reply: &Reply) -> Reading {
        match reply.status {
            200 => read_transfer(id, &reply.body),
            status => read_error(status, &reply.body),
        }
    }
}
