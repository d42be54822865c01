//! Plaid's list of transfers, for a fill: `POST /transfer/list` with `start_date` and
//! `end_date` (RFC 3339), 25 a page (Plaid's most), paged by `offset`. Each transfer is read by
//! [`read_transfer`], as a check reads `/transfer/get`'s reply.

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::super::list::{ListedPage, Lister, Window, rfc3339};
use super::super::{Reading, Reply, url_with_segments};
use super::status::read_transfer;
use super::wire::read_error;
use super::{PLAID_VERSION, Plaid};

/// Plaid's largest page of `/transfer/list`.
pub const TRANSFERS_PER_PAGE: usize = 25;

/// `POST {base}/transfer/list`.
pub fn transfer_list_url(base: &reqwest::Url) -> reqwest::Url {
    url_with_segments(base, &["transfer", "list"])
}

/// The body of `/transfer/list`. It borrows the secrets for the moment it is serialized.
#[derive(Serialize)]
struct WireListRequest<'a> {
    client_id: &'a str,
    secret: &'a str,
    start_date: &'a str,
    end_date: &'a str,
    count: usize,
    offset: u64,
}

#[derive(Deserialize)]
struct WireListPage {
    transfers: Vec<Value>,
    #[serde(default)]
    request_id: Option<String>,
}

/// The transfers of one window.
pub(super) struct PlaidLister {
    base_url: reqwest::Url,
    client_id: SecretString,
    secret: SecretString,
    window: (String, String),
    /// The next page's offset; `None` once read to the end.
    offset: Option<u64>,
}

impl PlaidLister {
    pub(super) fn new(plaid: &Plaid, window: Window, resume: Option<&str>) -> PlaidLister {
        PlaidLister {
            base_url: plaid.base_url.clone(),
            client_id: plaid.client_id.clone(),
            secret: plaid.secret.clone(),
            window: (rfc3339(window.since), rfc3339(window.until)),
            offset: Some(resume.and_then(|r| r.parse().ok()).unwrap_or(0)),
        }
    }
}

impl Lister for PlaidLister {
    fn request(&self, client: &reqwest::Client) -> Option<reqwest::Result<reqwest::Request>> {
        let offset = self.offset?;
        let body = serde_json::to_vec(&WireListRequest {
            client_id: self.client_id.expose_secret(),
            secret: self.secret.expose_secret(),
            start_date: &self.window.0,
            end_date: &self.window.1,
            count: TRANSFERS_PER_PAGE,
            offset,
        })
        .expect("strings and numbers always serialize");
        Some(
            client
                .post(transfer_list_url(&self.base_url))
                .header("Plaid-Version", PLAID_VERSION)
                .header("content-type", "application/json")
                .body(body)
                .build(),
        )
    }

    fn read(&mut self, reply: &Reply) -> Result<ListedPage, String> {
        let Some(offset) = self.offset else {
            return Err("Plaid's transfer list was already read to its end".into());
        };
        if reply.status != 200 {
            return Err(read_error(reply.status, &reply.body)
                .verdict
                .list_refusal("Plaid's transfer list", reply.status));
        }
        let page: WireListPage = serde_json::from_slice(&reply.body)
            .map_err(|e| format!("Plaid's transfer list is not a list of transfers: {e}"))?;
        if page.transfers.len() > TRANSFERS_PER_PAGE {
            return Err(format!(
                "Plaid's transfer list sent {} transfers on a page of {TRANSFERS_PER_PAGE}",
                page.transfers.len()
            ));
        }
        let mut payments = Vec::with_capacity(page.transfers.len());
        for transfer in &page.transfers {
            let Some(id) = transfer.get("id").and_then(Value::as_str) else {
                return Err("Plaid's transfer list holds a transfer without an id".into());
            };
            // The body `/transfer/get` would have sent for it.
            let body = serde_json::to_vec(
                &serde_json::json!({"transfer": transfer, "request_id": page.request_id}),
            )
            .map_err(|e| e.to_string())?;
            let reading: Reading = read_transfer(id, &body);
            payments.push((id.to_owned(), reading));
        }
        // A full page may have more after it; a shorter one is the last.
        let next = (page.transfers.len() == TRANSFERS_PER_PAGE)
            .then(|| offset + TRANSFERS_PER_PAGE as u64);
        self.offset = next;
        Ok(ListedPage {
            list: "transfers",
            cursor: (offset > 0).then(|| offset.to_string()),
            next: next.map(|n| n.to_string()),
            payments,
            request_id: page.request_id,
        })
    }

    fn done(&self) -> bool {
        self.offset.is_none()
    }

    fn resume_point(&self) -> Option<String> {
        self.offset.filter(|o| *o > 0).map(|o| o.to_string())
    }
}
