//! Many checks at once: ids from a stream, at most `concurrency` asking, each result returned
//! once its audit line is durable — in input order or as checks complete.

use std::sync::Arc;

use futures_util::stream::{LocalBoxStream, Stream, StreamExt};
use tokio::sync::mpsc::error::TrySendError;

use super::{Ask, Checker, UnauditedCheck, WrittenCheck};
use crate::gateway::Reply;
use crate::result::CheckResult;

impl Checker {
    /// Checks `ids` concurrently; results come back in the order of `ids`.
    pub async fn check_all(&self, ids: &[String]) -> Vec<Result<CheckResult, UnauditedCheck>> {
        let ids = futures_util::stream::iter(ids.iter().cloned());
        let checked = self.check_stream(ids, true);
        checked.collect().await
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
        static DEFAULT: std::sync::LazyLock<Ask> = std::sync::LazyLock::new(Ask::default);
        self.check_stream_as(ids, ordered, &DEFAULT)
    }

    /// Checks ids as [`Checker::check_stream`] does, each asked as `ask` says (a batch sent to
    /// the service: who asked, which gateway).
    pub fn check_stream_as<'a>(
        &'a self,
        ids: impl Stream<Item = String> + 'a,
        ordered: bool,
        ask: &'a Ask,
    ) -> LocalBoxStream<'a, Result<CheckResult, UnauditedCheck>> {
        self.stream_as(ids, ordered, ask).boxed_local()
    }

    /// Checks ids as [`Checker::check_stream_as`] does, as a stream that may move between
    /// threads (the service runs each batch on a multi-threaded runtime).
    pub fn check_stream_send<'a>(
        &'a self,
        ids: impl Stream<Item = String> + Send + 'a,
        ordered: bool,
        ask: &'a Ask,
    ) -> futures_util::stream::BoxStream<'a, Result<CheckResult, UnauditedCheck>> {
        self.stream_as(ids, ordered, ask).boxed()
    }

    fn stream_as<'a, S: Stream<Item = String> + 'a>(
        &'a self,
        ids: S,
        ordered: bool,
        ask: &'a Ask,
    ) -> impl Stream<Item = Result<CheckResult, UnauditedCheck>> + 'a {
        let shown = |r: Result<(CheckResult, Option<Reply>), UnauditedCheck>| r.map(|(a, _)| a);
        self.stream_capturing(ids, ordered, ask, false).map(shown)
    }

    /// Checks ids as [`Checker::check_stream`] does, each result with the gateway's last
    /// complete reply (`check --explain` reads the facts of a stale payment from it; the replies
    /// are dropped as the results are shown, so memory stays bounded).
    pub fn check_stream_capturing<'a>(
        &'a self,
        ids: impl Stream<Item = String> + 'a,
        ordered: bool,
    ) -> LocalBoxStream<'a, Result<(CheckResult, Option<Reply>), UnauditedCheck>> {
        static DEFAULT: std::sync::LazyLock<Ask> = std::sync::LazyLock::new(Ask::default);
        self.stream_capturing(ids, ordered, &DEFAULT, true)
            .boxed_local()
    }

    fn stream_capturing<'a, S: Stream<Item = String> + 'a>(
        &'a self,
        ids: S,
        ordered: bool,
        ask: &'a Ask,
        capture: bool,
    ) -> impl Stream<Item = Result<(CheckResult, Option<Reply>), UnauditedCheck>> + 'a {
        let asked = ids
            .take_until(self.stop.stopped())
            .take_while(|_| std::future::ready(self.stop.taking()))
            .map(
                move |id| async move { self.ask_and_write(&self.client, &id, capture, ask).await },
            );
        self.pipeline(asked, ordered)
    }

    /// Checks asked (at most `concurrency` at once), then awaited durable (outside that limit).
    fn pipeline<'a, F>(
        &'a self,
        asked: impl Stream<Item = F> + 'a,
        ordered: bool,
    ) -> impl Stream<Item = Result<(CheckResult, Option<Reply>), UnauditedCheck>> + 'a
    where
        F: Future<Output = Result<WrittenCheck, UnauditedCheck>> + 'a,
    {
        use futures_util::future::Either;
        let concurrency = self.options.concurrency.max(1);
        let syncing = awaiting_sync(concurrency);
        if ordered {
            Either::Left(
                asked
                    .buffered(concurrency)
                    .map(|written| self.when_durable(written))
                    .buffered(syncing),
            )
        } else {
            Either::Right(
                asked
                    .buffer_unordered(concurrency)
                    .map(|written| self.when_durable(written))
                    .buffer_unordered(syncing),
            )
        }
    }
}

/// How many written lines may await their sync beside `concurrency` checks asking: enough for
/// the lines of a sync interval (up to 10 ms of gathering plus the sync itself) at tens of
/// thousands of checks a second, so a bulk run does not wait on the disk; bounded (a few MB of
/// results at most), so memory does not grow with the input or the concurrency.
fn awaiting_sync(concurrency: usize) -> usize {
    concurrency.saturating_mul(32).clamp(1024, 4096)
}

/// A check's result, as the helper thread sends it back.
type HelperResult = Result<CheckResult, UnauditedCheck>;

impl Checker {
    /// Checks ids like [`Checker::check_stream`], on two threads when the machine has two cores
    /// and the run may have two checks at once: this one and a helper with its own runtime and
    /// its own connections, each running half of `--concurrency`. A check's request, answer
    /// and audit line stay on the thread that started it (no hand-off per request between
    /// threads); only ids go to the helper and its results come back. The helper takes ids
    /// whenever it has room, so a slow half does not hold back the other. Stopping and
    /// interrupting behave as in [`Checker::check_stream`]. In input order (`ordered`) the
    /// checks stay on this thread: there, a slow check must hold back new ones, or the results
    /// waiting behind it would grow without bound.
    pub fn check_stream_parallel<'a>(
        self: &'a Arc<Self>,
        ids: impl Stream<Item = String> + 'a,
        ordered: bool,
    ) -> LocalBoxStream<'a, Result<CheckResult, UnauditedCheck>> {
        let concurrency = self.options.concurrency.max(1);
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        if ordered || concurrency < 2 || cores < 2 {
            return self.check_stream(ids, ordered);
        }
        let helper_share = concurrency / 2;
        let (to_helper, helper_ids) = tokio::sync::mpsc::channel::<String>(helper_share);
        let (helper_results, from_helper) = tokio::sync::mpsc::unbounded_channel::<HelperResult>();
        let helper = Arc::clone(self);
        let started = std::thread::Builder::new()
            .name("paystat-checks".into())
            .spawn(move || helper.run_helper(helper_ids, helper_results, helper_share));
        if started.is_err() {
            return self.check_stream(ids, ordered);
        }
        // The ids this thread checks itself: every id the helper has no room for. Each time
        // this thread takes an id, it first hands the helper as many as it takes.
        // Waiting for the next id ends when the run stops taking ids, even with the input
        // still open.
        let ids = ids.take_until(self.stop.stopped());
        let mine = futures_util::stream::unfold(
            (ids.boxed_local(), Some(to_helper)),
            move |(mut ids, mut helper)| async move {
                loop {
                    if !self.stop.taking() {
                        return None;
                    }
                    let id = ids.next().await?;
                    let id = match &helper {
                        None => id,
                        Some(to) => match to.try_send(id) {
                            Ok(()) => continue,
                            Err(TrySendError::Full(id)) => id,
                            Err(TrySendError::Closed(id)) => {
                                helper = None;
                                id
                            }
                        },
                    };
                    return Some((id, (ids, helper)));
                }
            },
        );
        let local = concurrency - helper_share;
        let syncing = awaiting_sync(local);
        let here = mine
            .map(move |id| async move {
                self.ask_and_write(&self.client, &id, false, &Ask::default())
                    .await
            })
            .buffer_unordered(local)
            .map(move |written| async move { self.when_durable(written).await.map(|(c, _)| c) })
            .buffer_unordered(syncing);
        futures_util::stream::select(here, tokio_stream_of(from_helper)).boxed_local()
    }

    /// The helper thread: checks the ids it is handed on a runtime of its own, with a client
    /// of its own, at most `concurrency` at once, and sends each result back.
    fn run_helper(
        self: Arc<Self>,
        ids: tokio::sync::mpsc::Receiver<String>,
        results: tokio::sync::mpsc::UnboundedSender<HelperResult>,
        concurrency: usize,
    ) {
        let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            // No runtime: the ids handed over are never checked; they count as never sent.
            return;
        };
        let client = self.another_client();
        let checker = &self;
        let client = &client;
        runtime.block_on(async move {
            let syncing = awaiting_sync(concurrency);
            let mut done = tokio_stream_of(ids)
                .take_while(|_| std::future::ready(checker.stop.taking()))
                .map(|id| async move {
                    checker
                        .ask_and_write(client, &id, false, &Ask::default())
                        .await
                })
                .buffer_unordered(concurrency)
                .map(|written| async move { checker.when_durable(written).await.map(|(c, _)| c) })
                .buffer_unordered(syncing);
            while let Some(result) = done.next().await {
                if results.send(result).is_err() {
                    break;
                }
            }
        });
    }
}

/// A tokio receiver as a stream.
fn tokio_stream_of<T: 'static>(
    mut receiver: impl Receive<T> + 'static,
) -> impl Stream<Item = T> + 'static {
    futures_util::stream::poll_fn(move |cx| receiver.poll_receive(cx))
}

/// The two kinds of tokio receiver, polled alike.
trait Receive<T> {
    fn poll_receive(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<Option<T>>;
}

impl<T> Receive<T> for tokio::sync::mpsc::Receiver<T> {
    fn poll_receive(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<Option<T>> {
        self.poll_recv(cx)
    }
}

impl<T> Receive<T> for tokio::sync::mpsc::UnboundedReceiver<T> {
    fn poll_receive(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<Option<T>> {
        self.poll_recv(cx)
    }
}
