//! Stripe's lists, for a fill: first the disputes created since the window opened
//! (`GET /v1/disputes?created[gte]=…`), then the PaymentIntents created in the window, newest
//! first (`GET /v1/payment_intents?created[gte]=…&created[lt]=…&limit=100&expand[]=data.latest_charge`),
//! paged with `starting_after`. Each intent is read by [`read_intent`], as a check reads one,
//! with the disputes that name it when its charge says it was disputed.

use std::collections::HashMap;

use serde::Deserialize;
use serde_json::Value;

use super::super::list::{ListedPage, Lister, Window};
use super::super::{Reading, Reply, Verdict, header_text, url_with_segments};
use super::status::read_intent;
use super::wire::read_error;
use super::{REQUEST_ID_HEADER, Stripe};
use crate::result::Outcome;

/// Stripe's largest page.
const PAGE: &str = "100";

/// Where the lister stands.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Stage {
    /// Reading the disputes, after the one named.
    Disputes(Option<String>),
    /// Reading the intents, after the one named.
    Intents(Option<String>),
    /// Read to the end.
    Done,
}

/// A page of a Stripe list.
#[derive(Deserialize)]
struct WireList {
    data: Vec<Value>,
    has_more: bool,
}

/// The lists of one window.
pub(super) struct StripeLister {
    stripe: Stripe,
    window: Window,
    stage: Stage,
    /// Where the intents' list starts once the disputes are read (a resumed fill's place).
    resume: Option<String>,
    /// The disputes read so far, by the PaymentIntent they name.
    disputes: HashMap<String, Vec<Value>>,
}

impl StripeLister {
    /// A resumed fill reads the disputes again (there are few), then the intents after
    /// `resume`.
    pub(super) fn new(stripe: Stripe, window: Window, resume: Option<&str>) -> StripeLister {
        StripeLister {
            stripe,
            window,
            stage: Stage::Disputes(None),
            resume: resume.map(str::to_owned),
            disputes: HashMap::new(),
        }
    }

    /// Reads one intent of a page, as a check reads its reply, with the disputes naming it.
    fn intent(
        &self,
        item: &Value,
        request_id: Option<&String>,
    ) -> Result<(String, Reading), String> {
        let Some(id) = item.get("id").and_then(Value::as_str) else {
            return Err("Stripe's intent list holds an item without an id".into());
        };
        let disputed = item.get("status").and_then(Value::as_str) == Some("succeeded")
            && item
                .get("latest_charge")
                .and_then(|c| c.get("disputed"))
                .and_then(Value::as_bool)
                == Some(true);
        let body = serde_json::to_vec(item).map_err(|e| e.to_string())?;
        let verdict = if disputed {
            match self.disputes.get(id) {
                Some(disputes) => {
                    let list =
                        serde_json::json!({"object": "list", "data": disputes, "has_more": false});
                    let list = serde_json::to_vec(&list).map_err(|e| e.to_string())?;
                    read_intent(id, &body, Some(&list))
                }
                // Its dispute was opened before the window did, or the list did not show it: a
                // check of this payment asks Stripe's dispute list for it.
                None => Verdict::refused(
                    Outcome::BadResponse,
                    "Stripe's charge says it was disputed, and its dispute list since the window opened names no dispute of it",
                ),
            }
        } else {
            read_intent(id, &body, None)
        };
        Ok((
            id.to_owned(),
            Reading {
                verdict,
                request_id: request_id.cloned(),
                retry_advice: None,
            },
        ))
    }
}

impl Lister for StripeLister {
    fn request(&self, client: &reqwest::Client) -> Option<reqwest::Result<reqwest::Request>> {
        let base = &self.stripe.base_url;
        let since = self.window.since.unix_timestamp();
        let url = match &self.stage {
            Stage::Disputes(after) => disputes_page_url(base, since, after.as_deref()),
            Stage::Intents(after) => intents_page_url(
                base,
                (since, self.window.until.unix_timestamp()),
                after.as_deref(),
            ),
            Stage::Done => return None,
        };
        Some(self.stripe.get(client, url).build())
    }

    fn read(&mut self, reply: &Reply) -> Result<ListedPage, String> {
        let (list, cursor) = match &self.stage {
            Stage::Disputes(after) => ("disputes", after.clone()),
            Stage::Intents(after) => ("payment_intents", after.clone()),
            Stage::Done => return Err("Stripe's lists were already read to their end".into()),
        };
        if reply.status != 200 {
            return Err(read_error(reply.status, &reply.body)
                .list_refusal(&format!("Stripe's {list} list"), reply.status));
        }
        let page: WireList = serde_json::from_slice(&reply.body)
            .map_err(|e| format!("Stripe's {list} list is not a list: {e}"))?;
        let request_id = header_text(&reply.headers, REQUEST_ID_HEADER);
        let last = page
            .data
            .last()
            .and_then(|item| item.get("id"))
            .and_then(Value::as_str)
            .map(str::to_owned);
        let next = match (page.has_more, last) {
            (false, _) => None,
            (true, Some(last)) => Some(last),
            (true, None) => {
                return Err(format!(
                    "Stripe's {list} list said there was more after a page with nothing on it"
                ));
            }
        };
        let mut payments = Vec::new();
        match self.stage {
            Stage::Disputes(_) => {
                for dispute in page.data {
                    if let Some(intent) = dispute.get("payment_intent").and_then(Value::as_str) {
                        self.disputes
                            .entry(intent.to_owned())
                            .or_default()
                            .push(dispute);
                    }
                }
                self.stage = match &next {
                    Some(next) => Stage::Disputes(Some(next.clone())),
                    None => Stage::Intents(self.resume.take()),
                };
            }
            _ => {
                for item in &page.data {
                    payments.push(self.intent(item, request_id.as_ref())?);
                }
                self.stage = match &next {
                    Some(next) => Stage::Intents(Some(next.clone())),
                    None => Stage::Done,
                };
            }
        }
        Ok(ListedPage {
            list,
            cursor,
            next,
            payments,
            request_id,
        })
    }

    fn done(&self) -> bool {
        self.stage == Stage::Done
    }

    fn resume_point(&self) -> Option<String> {
        match &self.stage {
            Stage::Intents(after) => after.clone(),
            Stage::Disputes(_) => self.resume.clone(),
            Stage::Done => None,
        }
    }
}

/// The disputes created from `since` (unix seconds), after dispute `after`.
pub fn disputes_page_url(base: &reqwest::Url, since: i64, after: Option<&str>) -> reqwest::Url {
    let mut url = url_with_segments(base, &["v1", "disputes"]);
    {
        let mut query = url.query_pairs_mut();
        query
            .append_pair("created[gte]", &since.to_string())
            .append_pair("limit", PAGE);
        if let Some(after) = after {
            query.append_pair("starting_after", after);
        }
    }
    url
}

/// The intents created in `[since, until)` (unix seconds), their charges expanded, after intent
/// `after`.
pub fn intents_page_url(
    base: &reqwest::Url,
    (since, until): (i64, i64),
    after: Option<&str>,
) -> reqwest::Url {
    let mut url = url_with_segments(base, &["v1", "payment_intents"]);
    {
        let mut query = url.query_pairs_mut();
        query
            .append_pair("created[gte]", &since.to_string())
            .append_pair("created[lt]", &until.to_string())
            .append_pair("limit", PAGE)
            .append_pair("expand[]", "data.latest_charge");
        if let Some(after) = after {
            query.append_pair("starting_after", after);
        }
    }
    url
}
