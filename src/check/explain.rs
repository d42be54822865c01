//! What `paystat explain` asks of a checker: an audited check of the payment, never from the
//! cache, with the gateway's reply kept; the facts its adapter reads from that reply; and the
//! pages of the gateway's own history of the payment (what its adapter asks for: events,
//! refunds) — one more request and its pages, paced like any other, never audited as checks
//! (they decide no status) and scrubbed of every credential.

use std::time::Duration;

use super::{Ask, Checker, UnauditedCheck, route};
use crate::gateway::{Facts, Reply};
use crate::result::CheckResult;

/// The most pages of history one explanation reads.
const MAX_PAGES: u32 = 40;

/// How long the history may take, beyond each request's own timeout.
const HISTORY_DEADLINE: Duration = Duration::from_secs(60);

/// A check made to explain a payment, and what its gateway keeps about the payment.
#[derive(Debug, Clone)]
pub struct Explained {
    /// The check's result (audited, durable).
    pub result: CheckResult,
    /// The check's line in the trail.
    pub seq: u64,
    /// What the gateway's reply and its history say beyond the status.
    pub facts: Facts,
    /// Requests sent for the history (the check's own are in its result).
    pub history_requests: u32,
    /// Why the history could not be read to its end, when it could not.
    pub history_error: Option<String>,
}

impl Checker {
    /// Checks `id` for an explanation (the gateway is asked, whatever the cache holds) and reads
    /// the gateway's history of it. Returned only once the check's line is durable.
    pub async fn check_to_explain(&self, id: &str, ask: &Ask) -> Result<Explained, UnauditedCheck> {
        let ask = Ask {
            refresh: true,
            ..ask.clone()
        };
        let written = self.ask_and_write(&self.client, id, true, &ask).await?;
        let seq = written.2.line().seq;
        let (result, reply) = self.when_durable(Ok(written)).await?;
        let mut explained = Explained {
            result,
            seq,
            facts: Facts::default(),
            history_requests: 0,
            history_error: None,
        };
        let routing = ask.routing.unwrap_or(self.options.routing);
        let (Some(reply), Ok(endpoint)) =
            (reply, route::endpoint_for(&self.endpoints, routing, id))
        else {
            return Ok(explained);
        };
        explained.facts = endpoint.gateway.facts(id, &reply);
        self.read_history(endpoint, id, &reply, &mut explained)
            .await;
        explained.facts.redact(&endpoint.echoes);
        if let Some(error) = &mut explained.history_error {
            endpoint.echoes.scrub_text(error);
            *error = crate::credential::redact(error);
        }
        Ok(explained)
    }

    async fn read_history(
        &self,
        endpoint: &route::Endpoint,
        id: &str,
        reply: &Reply,
        explained: &mut Explained,
    ) {
        let gateway = endpoint.gateway.as_ref();
        let deadline = self.options.clock.now() + HISTORY_DEADLINE;
        let mut page: Option<String> = None;
        loop {
            let Some(request) = gateway.history_request(&self.client, id, reply, page.as_deref())
            else {
                return;
            };
            if explained.history_requests >= MAX_PAGES {
                explained.history_error = Some(format!(
                    "the history did not end within {MAX_PAGES} pages; the timeline shows the first ones"
                ));
                return;
            }
            explained.history_requests += 1;
            let read = match self
                .follow_up(endpoint, &self.client, request, deadline)
                .await
            {
                super::exchange::Exchange::Replied(reply) => {
                    gateway.read_history(&reply, page.as_deref())
                }
                super::exchange::Exchange::Failed { detail, .. } => {
                    Err(format!("the history request failed: {detail}"))
                }
            };
            match read {
                Ok(read) => {
                    explained.facts.events.extend(read.events);
                    match read.next_page {
                        Some(next) if Some(&next) != page.as_ref() => page = Some(next),
                        Some(_) => {
                            explained.history_error = Some(
                                "the history did not advance from one page to the next".into(),
                            );
                            return;
                        }
                        None => return,
                    }
                }
                Err(e) => {
                    explained.history_error = Some(e);
                    return;
                }
            }
        }
    }
}
