//! One page of a gateway's list, for a fill: its request paced like a check's, sent with the
//! gateway's retry policy (a rate limit or an outage is waited out as a check waits it out), and
//! read by the adapter's [`Lister`]; every payment on it made into the result a check of it
//! would give. The checker learns nothing of the list's wire format.

use std::time::Duration;

use super::answer::{Answer, millis};
use super::exchange::Exchange;
use super::route::Endpoint;
use super::{Checker, INTERRUPTED};
use crate::audit::RequestLine;
use crate::gateway::{ListedPage, Lister, Reply, outcome_for_http_status};
use crate::result::{CheckResult, Outcome};
use crate::retry::Decision;

/// A page read: the adapter's reading, each payment's result, and its request line.
#[derive(Debug)]
pub struct Page {
    /// What the adapter read (its payments' readings are made into `results`).
    pub page: ListedPage,
    /// Each payment's result, as a check of it would have given it (source `gateway`).
    pub results: Vec<CheckResult>,
    /// The request line of the page (method and path; never the query).
    pub request: RequestLine,
}

impl Checker {
    /// Asks for and reads the next page of `lister` at `endpoint`; `Ok(None)` when the list is
    /// read to its end; one sentence when the page cannot be had (after the retries the
    /// gateway's policy allows) or read. Every request sent is counted in `sent`.
    pub(crate) async fn list_page(
        &self,
        endpoint: &Endpoint,
        lister: &mut dyn Lister,
        sent: &mut u64,
    ) -> Result<Option<Page>, String> {
        let (policy, clock) = (endpoint.policy, &self.options.clock);
        let mut requests = 0_u32;
        let deadline = clock.now() + policy.deadline;
        loop {
            let request = match lister.request(&self.client) {
                None => return Ok(None),
                Some(Ok(request)) => request,
                Some(Err(e)) => {
                    return Err(format!(
                        "the list request cannot be built: {}",
                        e.without_url()
                    ));
                }
            };
            let line = RequestLine {
                method: request.method().as_str().to_owned(),
                path: request.url().path().to_owned(),
            };
            requests += 1;
            *sent += 1;
            let started = clock.now();
            let exchange = self
                .follow_up(endpoint, &self.client, Ok(request), deadline)
                .await;
            let took = clock.now().saturating_sub(started);
            let (outcome, http_status, headers, detail) = match exchange {
                Exchange::Replied(reply) if !retryable_status(reply.status) => {
                    return self
                        .read_page(endpoint, lister, &reply, line, took)
                        .map(Some);
                }
                Exchange::Replied(reply) => (
                    outcome_for_http_status(reply.status),
                    Some(reply.status),
                    Some(reply.headers),
                    format!("the list answered HTTP {}", reply.status),
                ),
                Exchange::Failed {
                    outcome,
                    detail,
                    http_status,
                } => (outcome, http_status, None, detail),
            };
            if outcome == Outcome::Interrupted {
                return Err(INTERRUPTED.into());
            }
            let facts = self.retry_facts(
                endpoint,
                (requests, outcome, http_status),
                None,
                headers.as_ref(),
                deadline,
            );
            match policy.next(&facts) {
                Decision::Wait(wait, _) => {
                    tracing::info!(gateway = %endpoint.gateway.kind(), requests, wait_ms = millis(wait), %detail, "retrying a list page");
                    if !self.wait(wait).await {
                        return Err(INTERRUPTED.into());
                    }
                }
                Decision::Stop(_) => {
                    return Err(format!("{detail} ({requests} requests)"));
                }
            }
        }
    }

    fn read_page(
        &self,
        endpoint: &Endpoint,
        lister: &mut dyn Lister,
        reply: &Reply,
        request: RequestLine,
        took: Duration,
    ) -> Result<Page, String> {
        let gateway = endpoint.gateway.as_ref();
        // A sentence about a body may quote it, and a gateway may echo a credential there.
        let mut page = lister.read(reply).map_err(|mut e| {
            endpoint.echoes.scrub_text(&mut e);
            crate::credential::redact(&e)
        })?;
        if let Some(id) = &mut page.request_id {
            endpoint.echoes.scrub_text(id);
        }
        let mut results = Vec::with_capacity(page.payments.len());
        for (id, mut reading) in std::mem::take(&mut page.payments) {
            reading.redact(&endpoint.echoes);
            let mut answer = Answer::asking(gateway, endpoint.environment);
            answer.sent(request.clone());
            answer.listed(reading, reply.status, took);
            let (result, _, _) = answer.into_result(&id, took);
            results.push(result);
        }
        Ok(Page {
            page,
            results,
            request,
        })
    }
}

/// Whether a reply to a list request is worth asking again: a rate limit or the gateway's own
/// failure. Anything else is the page, or an error to report.
fn retryable_status(status: u16) -> bool {
    status == 429 || (500..=599).contains(&status)
}
