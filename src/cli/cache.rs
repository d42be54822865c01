//! `paystat cache …`: what the status cache holds, clearing it, and syncing it with the
//! gateways' change feeds.

use std::collections::BTreeSet;
use std::time::Duration;

use comfy_table::{Table, presets};

use paystat::{Cache, CheckerBuilder, ConfigFile, GatewayKind};

use super::args::{AuditArgs, CacheClearArgs, CacheCommand, CacheSyncArgs, TrailArgs};
use super::exit::Exit;
use super::{CliError, build, builder, print, sentence, with_audit};

/// Runs one `cache` command.
pub async fn run(command: CacheCommand) -> Result<Exit, CliError> {
    match command {
        CacheCommand::Stats => stats(),
        CacheCommand::Clear(args) => clear(&args),
        CacheCommand::Sync(args) => sync(&args).await,
        CacheCommand::Fill(args) => super::reconcile::fill(*args).await,
    }
}

/// Opens the status cache of the state directory; an unusable one is a usage error (exit 2).
pub fn open() -> Result<Cache, CliError> {
    CheckerBuilder::new(ConfigFile::default())
        .open_cache()
        .map_err(|e| CliError::usage(sentence(&e)))
}

/// `n` and the noun that goes with it.
fn count(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

fn ago(then: i64, now: i64) -> String {
    let seconds = u64::try_from(now.saturating_sub(then)).unwrap_or(0);
    format!(
        "{} ago",
        paystat::clock::human(Duration::from_secs(seconds))
    )
}

fn stats() -> Result<Exit, CliError> {
    let cache = open()?;
    let stats = cache.stats().map_err(|e| CliError::usage(sentence(&e)))?;
    let cursors = cache.cursors().map_err(|e| CliError::usage(sentence(&e)))?;
    let now = now();
    let mut table = Table::new();
    table.load_preset(presets::ASCII_MARKDOWN).set_header([
        "gateway",
        "entries",
        "final",
        "final_after",
        "changing",
        "oldest",
        "newest",
    ]);
    let mut total = 0;
    for (gateway, counts) in &stats {
        total += counts.entries;
        table.add_row([
            gateway.to_string(),
            counts.entries.to_string(),
            counts.final_.to_string(),
            counts.final_after.to_string(),
            counts.changing.to_string(),
            counts.oldest.map_or_else(String::new, |t| ago(t, now)),
            counts.newest.map_or_else(String::new, |t| ago(t, now)),
        ]);
    }
    let mut text = format!(
        "{}: {}\n",
        cache.path().display(),
        count(total, "entry", "entries")
    );
    if !stats.is_empty() {
        text.push_str(&format!("{table}\n"));
    }
    if cursors.is_empty() {
        text.push_str("change feeds: never synced (`paystat cache sync`)\n");
    }
    for (gateway, host, scope, cursor) in cursors {
        text.push_str(&format!(
            "change feed {gateway} at {host} ({scope}): synced {}, position {}\n",
            ago(cursor.synced_at, now),
            paystat::payment_id::display_safe(&cursor.position)
        ));
    }
    print(format_args!("{text}"))?;
    Ok(Exit::Done)
}

fn clear(args: &CacheClearArgs) -> Result<Exit, CliError> {
    let cache = open()?;
    let gateway = args.gateway.map(GatewayKind::from);
    let dropped = cache
        .clear(gateway)
        .map_err(|e| CliError::usage(sentence(&e)))?;
    let what = gateway.map_or_else(|| "every".to_owned(), |g| format!("the {g}"));
    print(format_args!(
        "dropped {dropped} entries: {what} cached answer is gone, and with it the change feeds' cursors\n"
    ))?;
    Ok(Exit::Done)
}

async fn sync(args: &CacheSyncArgs) -> Result<Exit, CliError> {
    let cache = open()?;
    let (kinds, tolerant) = match args.gateway {
        Some(gateway) => (BTreeSet::from([GatewayKind::from(gateway)]), false),
        None => (
            BTreeSet::from([GatewayKind::Stripe, GatewayKind::Plaid]),
            true,
        ),
    };
    let audit = AuditArgs {
        trail: TrailArgs {
            audit_log: None,
            audit_dir: None,
        },
        actor: None,
        audit_sync: None,
    };
    let builder = with_audit(builder(args.config.as_deref(), false)?, &audit)?;
    let (checker, unconfigured) = build(builder, &kinds, tolerant)?;
    let report = checker
        .sync_feeds(&cache)
        .await
        .map_err(|e| CliError::usage(sentence(&e)))?;
    let mut text = String::new();
    let mut failed = false;
    for (gateway, why) in &unconfigured {
        text.push_str(&format!("{gateway}: not synced, not configured: {why}\n"));
    }
    for sync in &report {
        if !sync.has_feed {
            text.push_str(&format!(
                "{}: no change feed; its answers that can still change are reused only within --max-age\n",
                sync.gateway
            ));
            continue;
        }
        if let Some(why) = &sync.reset {
            text.push_str(&format!(
                "{}: {why}: dropped the {} that could still change\n",
                sync.gateway,
                count(sync.reset_dropped, "cached entry", "cached entries")
            ));
        }
        match &sync.error {
            Some(error) => {
                failed = true;
                text.push_str(&format!(
                    "{}: the change feed could not be read to its end ({error}); its cursor is unchanged, {} dropped before that\n",
                    sync.gateway,
                    count(sync.dropped, "cached entry", "cached entries")
                ));
            }
            None => text.push_str(&format!(
                "{}: {} in {}; {} dropped\n",
                sync.gateway,
                count(sync.changes, "change", "changes"),
                count(u64::from(sync.pages), "page", "pages"),
                count(sync.dropped, "cached entry", "cached entries")
            )),
        }
    }
    print(format_args!("{text}"))?;
    Ok(Exit::Synced { failed })
}
