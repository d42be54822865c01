//! `paystat check --server URL`: the ids sent to the Payment Status Service in batches, each
//! result printed as the service streams it, in every output format, with the exit codes of a
//! local run. The token comes from `PAYSTAT_TOKEN`; no gateway key is needed here.

use std::time::Instant;

use futures_util::StreamExt;
use paystat::GatewayKind;
use paystat::remote::{Answered, Remote};
use secrecy::SecretString;

use super::super::exit::Exit;
use super::super::ids;
use super::super::{CliError, sentence};
use super::end::{Ended, finish};
use super::{Run, Tally};

/// The most ids sent in one batch (the service's default limit).
const BATCH: usize = 10_000;

/// Checks the ids of `ids` through the service at `server`.
pub async fn run(
    server: &str,
    gateway: Option<GatewayKind>,
    ids: impl futures_util::Stream<Item = ids::Item>,
    run: Run,
) -> Result<Exit, CliError> {
    let token = std::env::var("PAYSTAT_TOKEN")
        .ok()
        .filter(|t| !t.trim().is_empty())
        .ok_or_else(|| {
            CliError::usage(
                "--server needs a token in PAYSTAT_TOKEN (an administrator creates one with `paystat token create`)",
            )
        })?;
    let remote = Remote::new(server, SecretString::from(token))
        .map_err(|e| CliError::usage(sentence(&e)))?;
    let started = Instant::now();
    let presentation = &run.presentation;
    let mut tally = Tally::begin(presentation, false);
    let mut read = 0usize;
    let mut withheld: Vec<String> = Vec::new();
    let mut stopped_input = None;
    let mut batches = std::pin::pin!(ids.ready_chunks(BATCH));
    'batches: while let Some(items) = batches.next().await {
        let mut batch = Vec::with_capacity(items.len());
        for item in items {
            match item {
                Ok(id) => batch.push(id),
                Err(why) => {
                    stopped_input = Some(why);
                    break;
                }
            }
        }
        read += batch.len();
        if !batch.is_empty() {
            let answers = remote
                .check_batch(&batch, gateway, presentation.ordered)
                .await
                .map_err(|e| CliError::usage(sentence(&e)))?;
            let mut answers = std::pin::pin!(answers);
            while let Some(answer) = answers.next().await {
                match answer.map_err(|e| CliError::usage(sentence(&e)))? {
                    Answered::Result(result) => {
                        tally.add(&result, presentation, time::OffsetDateTime::now_utc(), None);
                    }
                    Answered::Withheld(why) => withheld.push(why),
                }
            }
            tally.flush();
        }
        if stopped_input.is_some() || tally.output_error.is_some() {
            break 'batches;
        }
    }
    if let Some(why) = withheld.first() {
        return Err(CliError::audit(format!(
            "the service withheld {} of the answers: {why}",
            withheld.len()
        )));
    }
    tally.end();
    finish(
        Ended {
            started,
            summary: tally.summary,
            withheld: Vec::new(),
            output_error: tally.output_error,
            worst: tally.worst,
            stopped: None,
            read,
            stopped_input,
        },
        &run,
    )
}
