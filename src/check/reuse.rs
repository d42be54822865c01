//! The status cache, as a check uses it: an answer reused when it may be shown today, a found
//! payment's answer kept, and a cache that fails set aside for the rest of the run.

use std::sync::atomic::Ordering;

use super::route::Endpoint;
use super::{Ask, Checker};
use crate::audit::{Asked, LineRef, Target};
use crate::result::{CheckResult, Outcome, Source};

/// `time` as unix milliseconds (the status cache's clock).
fn unix_ms(time: time::OffsetDateTime) -> i64 {
    i64::try_from(time.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

impl Checker {
    /// The cached answer for `id` at `endpoint`, when the cache is used and holds one that may
    /// be shown today ([`crate::cache::reusable`]): final; or stored while the run's feed sync
    /// shows the gateway's feed followed without a gap; or, where no feed was followed, younger
    /// than `--max-age`. It is audited like an asked answer, with `source: cache`, its age, no
    /// request, and the line it copies.
    pub(super) fn cached(
        &self,
        endpoint: &Endpoint,
        id: &str,
        ask: &Ask,
    ) -> Option<(CheckResult, Asked)> {
        let using = self
            .options
            .cache
            .as_ref()
            .filter(|c| !c.refresh && !ask.refresh)?;
        if self.cache_failed.load(Ordering::Relaxed) {
            return None;
        }
        // In a one-run checker, a cache that held nothing of this gateway when the run began (a
        // cold one) is not asked id by id.
        if using.one_run && !endpoint.held_any(&using.cache) {
            return None;
        }
        let scope = endpoint.scope_in(&using.cache);
        let entry = match using.cache.get(&endpoint.cache_key(scope, id)) {
            Ok(entry) => entry?,
            // A row changed after paystat stored it is a miss, and the trail says so.
            Err(e @ crate::cache::CacheError::SealBroken { .. }) => {
                tracing::warn!("{e}; asking the gateway");
                if let Err(audit) = self.audit.record_cache_rejected(id, &e.to_string()) {
                    tracing::warn!("{audit}");
                }
                return None;
            }
            Err(e) => {
                self.cache_failure(&e);
                return None;
            }
        };
        let wall = time::OffsetDateTime::from(self.options.clock.wall_time());
        let age = entry.age(unix_ms(wall));
        let followed = endpoint.followed();
        if !crate::cache::reusable(
            &entry.result,
            wall.date(),
            age,
            ask.max_age.unwrap_or(using.max_age),
            entry.feed_position.as_deref(),
            followed.as_ref(),
        ) {
            return None;
        }
        // A reuse is a copy of an audited answer, and its line names that answer's line; a row
        // that names none is asked again.
        let (seq, hash) = entry.line?;
        let result = CheckResult {
            source: Source::Cache,
            cache_age_s: Some(age.as_secs()),
            ..entry.result.answer()
        };
        let asked = Asked {
            request: None,
            target: Some(Target::of(endpoint.gateway.base_url())),
            environment: Some(entry.environment),
            copy_of: Some(LineRef { seq, hash }),
            caller: None,
        };
        Some((result, asked))
    }

    /// Keeps a found payment's answer in the cache, when it is used: once its audit line
    /// (`line`) is durable, so that every reuse names a line that is in the trail.
    pub(super) fn remember(&self, id: &str, result: &CheckResult, line: &LineRef) {
        let Some(using) = &self.options.cache else {
            return;
        };
        if result.source != Source::Gateway
            || result.outcome != Outcome::Found
            || self.cache_failed.load(Ordering::Relaxed)
        {
            return;
        }
        let Ok(endpoint) = super::route::endpoint_for(&self.endpoints, self.options.routing, id)
        else {
            return;
        };
        let now = unix_ms(time::OffsetDateTime::from(self.options.clock.wall_time()));
        let environment = endpoint.environment;
        // Written in batches by the cache's own thread: a bulk run does not wait on commits.
        let scope = endpoint.scope_in(&using.cache);
        // Where the feed stood before the gateway was asked (the run's sync): an event after it
        // is read by a later sync, which then drops this answer.
        let followed = endpoint.followed();
        let feed_position = match &followed {
            Some(crate::cache::Followed::Synced { position, .. }) => Some(position.as_str()),
            _ => None,
        };
        let provenance = crate::cache::Provenance {
            fetched_ms: now,
            feed_position,
            line: Some((line.seq, line.hash.as_str())),
        };
        if let Err(e) = using.cache.put_later(
            &endpoint.cache_key(scope, id),
            result,
            environment,
            provenance,
        ) {
            self.cache_failure(&e);
        }
    }

    /// Stops using the cache for the rest of the run, and says so once.
    fn cache_failure(&self, error: &crate::cache::CacheError) {
        if !self.cache_failed.swap(true, Ordering::SeqCst) {
            tracing::error!("{error}; the rest of this run asks every gateway");
        }
    }
}
