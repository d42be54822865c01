//! Many checks at once: ids from a stream, at most `concurrency` asking, each result returned
//! once its audit line is durable — in input order or as checks complete.

use futures_util::stream::{LocalBoxStream, Stream, StreamExt};

use super::{Checked, Checker, UnauditedCheck};
use crate::gateway::Reply;
use crate::result::CheckResult;

impl Checker {
    /// Checks `ids` concurrently; results come back in the order of `ids`.
    pub async fn check_all(&self, ids: &[String]) -> Vec<Result<CheckResult, UnauditedCheck>> {
        let ids = futures_util::stream::iter(ids.iter().cloned());
        self.check_stream(ids, true).collect().await
    }

    /// Checks ids as `ids` yields them. At most `concurrency` checks ask at once; a written line
    /// awaits its sync outside that limit, so one sync covers many lines while the next requests
    /// go out. Results come as checks complete, or with `ordered` in input order (a slow check
    /// holds back at most `concurrency` others). No result comes before its line is durable.
    pub fn check_stream<'a>(
        &'a self,
        ids: impl Stream<Item = String> + 'a,
        ordered: bool,
    ) -> LocalBoxStream<'a, Result<CheckResult, UnauditedCheck>> {
        let asked = ids
            .take_while(|_| std::future::ready(self.stop.taking()))
            .map(move |id| async move { self.ask_and_write(&id, false).await });
        self.pipeline(asked, ordered)
    }

    /// Checks asked (at most `concurrency` at once), then awaited durable (outside that limit).
    fn pipeline<'a, F>(
        &'a self,
        asked: impl Stream<Item = F> + 'a,
        ordered: bool,
    ) -> LocalBoxStream<'a, Result<CheckResult, UnauditedCheck>>
    where
        F: Future<Output = Result<Checked, UnauditedCheck>> + 'a,
    {
        let concurrency = self.options.concurrency.max(1);
        let syncing = concurrency.saturating_mul(8).max(256);
        let shown = |r: Result<(CheckResult, Option<Reply>), UnauditedCheck>| r.map(|(c, _)| c);
        if ordered {
            asked
                .buffered(concurrency)
                .map(|written| self.when_durable(written))
                .buffered(syncing)
                .map(shown)
                .boxed_local()
        } else {
            asked
                .buffer_unordered(concurrency)
                .map(|written| self.when_durable(written))
                .buffer_unordered(syncing)
                .map(shown)
                .boxed_local()
        }
    }
}
