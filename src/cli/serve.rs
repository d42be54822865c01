//! `paystat serve` and `paystat token …`: the service started from the configuration, and its
//! tokens created, listed and revoked (each creation and revocation audited).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use comfy_table::{Table, presets};
use paystat::serve::{ServeOptions, Service, Tls, TokenError, Tokens, TrailReading};
use paystat::{CheckerBuilder, GatewayKind, Routing};
use secrecy::ExposeSecret;

use super::args::{ServeCmdArgs, TokenCommand, TokenConfigArgs};
use super::exit::Exit;
use super::{CliError, build, builder, print, sentence, with_audit, with_trail};

fn duration_of(name: &str, text: Option<&str>) -> Result<Option<Duration>, CliError> {
    text.map(|t| {
        humantime::parse_duration(t)
            .map_err(|_| CliError::usage(format!("[serve] {name} is a duration such as 30s or 5m")))
    })
    .transpose()
}

/// `paystat serve`.
pub async fn run(args: ServeCmdArgs) -> Result<Exit, CliError> {
    let builder = with_audit(builder(args.config.as_deref(), false)?, &args.audit)?;
    let section = builder.config().serve.clone();
    let listen = args
        .listen
        .or(section.listen)
        .unwrap_or(paystat::serve::DEFAULT_LISTEN);
    let tls = match (
        args.tls_cert.or(section.tls_cert),
        args.tls_key.or(section.tls_key),
    ) {
        (Some(cert), Some(key)) => Some(Tls::from_pem(&cert, &key).map_err(CliError::usage)?),
        (None, None) => None,
        _ => {
            return Err(CliError::usage(
                "TLS needs both a certificate and a key (--tls-cert and --tls-key, or [serve] tls_cert and tls_key)",
            ));
        }
    };
    if tls.is_none() && !listen.ip().is_loopback() && !(args.insecure_http || section.insecure_http)
    {
        return Err(CliError::usage(format!(
            "{listen} is not a loopback address: give --tls-cert and --tls-key, or --insecure-http when a TLS-terminating proxy is in front"
        )));
    }
    let explain = paystat::explain::ExplainOptions::from_section(
        &builder.config().explain,
        args.rules.as_deref(),
        false,
    )
    .map_err(|e| CliError::usage(format!("the diagnosis rules cannot be used: {e}")))?;
    let mut options = ServeOptions {
        explain,
        ..ServeOptions::default()
    };
    if let Some(grace) = args.shutdown_grace.or(duration_of(
        "shutdown_grace",
        section.shutdown_grace.as_deref(),
    )?) {
        if grace > Duration::from_secs(3600) {
            return Err(CliError::usage(
                "the shutdown grace (--shutdown-grace, [serve] shutdown_grace) is at most 1h",
            ));
        }
        options.shutdown_grace = grace;
    }
    if let Some(every) = args
        .sync_every
        .or(duration_of("sync_every", section.sync_every.as_deref())?)
    {
        if every > Duration::from_secs(86_400)
            || (!every.is_zero() && every < Duration::from_secs(1))
        {
            return Err(CliError::usage(
                "the feed sync interval (--sync-every, [serve] sync_every) is 1s to 24h, or 0s for never",
            ));
        }
        options.sync_every = every;
    }
    if let Some(n) = args.max_batch.or(section.max_batch) {
        if n == 0 || n > 1_000_000 {
            return Err(CliError::usage(
                "the batch limit (--max-batch, [serve] max_batch) is 1 to 1000000 ids",
            ));
        }
        options.max_batch = n;
    }
    if let Some(rate) = args.token_rate.or(section.token_rate) {
        if rate == 0 {
            return Err(CliError::usage(
                "the token rate (--token-rate, [serve] token_rate) is at least 1 request a second",
            ));
        }
        options.token_rate = rate;
    }
    if let Some(n) = args.token_concurrency.or(section.token_concurrency) {
        if n == 0 || n > 100_000 {
            return Err(CliError::usage(
                "the requests one token may have under way (--token-concurrency, [serve] token_concurrency) are 1 to 100000",
            ));
        }
        options.token_concurrency = n;
    }
    options.trusted_proxies = if args.trusted_proxies.is_empty() {
        section.trusted_proxies.clone()
    } else {
        args.trusted_proxies.clone()
    };
    // One descriptor per connection, and the gateways' and the trail's besides.
    let wanted = options.max_connections as u64 + 256;
    if let Ok(limit) = rlimit::increase_nofile_limit(wanted)
        && limit < wanted
    {
        eprintln!(
            "paystat: the open-files limit ({limit}) is below the {} connections the service takes; some clients will wait to connect",
            options.max_connections
        );
    }
    let state_dir = builder.state_dir();
    let trail = trail_reading(&builder)?;
    let mut builder = builder.routing(Routing::Auto).concurrency(64);
    if !args.no_cache {
        builder = builder.cache(Duration::ZERO, false);
    }
    // Every gateway that can be configured is served; one that cannot is said, and its ids
    // are refused with that reason.
    let (checker, unconfigured) = build(builder, &GatewayKind::ALL.into_iter().collect(), true)?;
    for (gateway, why) in &unconfigured {
        eprintln!("paystat: {gateway} is not configured ({why}); its payments cannot be checked");
    }
    // The service reuses only answers that can no longer change (or, when a request says
    // `max_age`, younger ones): a long-running process cannot sync a feed before every check as
    // a `check` run does, and an answer is never older than the feed that would correct it.
    let checker = Arc::new(checker);
    let service = Service::new(Arc::clone(&checker), state_dir, trail, options);
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| CliError::usage(format!("cannot listen on {listen}: {e}")))?;
    let bound: SocketAddr = listener
        .local_addr()
        .map_err(|e| CliError::usage(format!("cannot listen on {listen}: {e}")))?;
    eprintln!(
        "paystat: serving on {}://{bound} (SIGTERM or Ctrl-C to stop)",
        if tls.is_some() { "https" } else { "http" }
    );
    let syncing = tokio::spawn(Arc::clone(&service).sync_in_background());
    let indexing = tokio::spawn(Arc::clone(&service).index_in_background());
    paystat::serve::serve(listener, Arc::clone(&service), tls, stopped()).await;
    syncing.abort();
    indexing.abort();
    if let Some(Err(e)) = checker.cache().map(|cache| cache.flush()) {
        eprintln!(
            "paystat: {}; those answers will be asked again",
            sentence(&e)
        );
    }
    eprintln!("paystat: stopped; every answer sent is in the audit trail");
    Ok(Exit::Done)
}

/// Resolves at the first SIGTERM or SIGINT.
async fn stopped() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    eprintln!("paystat: stopping: no new connections; finishing the checks under way");
}

/// Where the service reads the trail back from, and how it judges the chain.
fn trail_reading(builder: &CheckerBuilder) -> Result<TrailReading, CliError> {
    let env = |name: &str| std::env::var(name).ok();
    let file = builder.config();
    let sealer = file
        .audit_sealer(&env)
        .map_err(|e| CliError::usage(sentence(&e)))?;
    let previous = file
        .audit_previous_sealer(&env)
        .map_err(|e| CliError::usage(sentence(&e)))?;
    Ok(TrailReading {
        location: builder.trail_location(),
        sealer,
        previous,
    })
}

fn token_error(e: &TokenError) -> CliError {
    CliError::usage(sentence(e))
}

/// `paystat token …`.
pub fn token(command: TokenCommand) -> Result<Exit, CliError> {
    let now = time::OffsetDateTime::now_utc();
    match command {
        TokenCommand::Create(args) => {
            let (builder, tokens) = token_store(&args.config)?;
            let (entry, token) = tokens
                .create(&args.actor, args.role, args.expires, now)
                .map_err(|e| token_error(&e))?;
            let mut fields = serde_json::Map::new();
            fields.insert("token_id".into(), entry.id.clone().into());
            fields.insert("token_actor".into(), entry.actor.clone().into());
            fields.insert("role".into(), entry.role.name().into());
            fields.insert("expires".into(), entry.expires.clone().into());
            audit(&builder, paystat::audit_trail::EVENT_TOKEN_CREATED, fields)?;
            eprintln!(
                "paystat: token {} for {} ({}), valid until {}; it is shown once, below — keep it in a secret store",
                entry.id,
                entry.actor,
                entry.role.name(),
                entry.expires
            );
            print(format_args!("{}\n", token.expose_secret()))?;
            Ok(Exit::Done)
        }
        TokenCommand::List(args) => {
            let (_, tokens) = token_store(&args)?;
            let mut table = Table::new();
            table.load_preset(presets::ASCII_MARKDOWN);
            table.set_header(["id", "actor", "role", "created", "expires", "state"]);
            for t in tokens.list().map_err(|e| token_error(&e))? {
                let state = t.state(now);
                table.add_row([
                    t.id,
                    paystat::payment_id::display_safe(&t.actor),
                    t.role.name().to_owned(),
                    t.created,
                    t.expires,
                    state.to_owned(),
                ]);
            }
            print(format_args!("{table}\n"))?;
            Ok(Exit::Done)
        }
        TokenCommand::Revoke(args) => {
            let (builder, tokens) = token_store(&args.config)?;
            let entry = tokens.revoke(&args.id, now).map_err(|e| token_error(&e))?;
            let mut fields = serde_json::Map::new();
            fields.insert("token_id".into(), entry.id.clone().into());
            fields.insert("token_actor".into(), entry.actor.clone().into());
            audit(&builder, paystat::audit_trail::EVENT_TOKEN_REVOKED, fields)?;
            eprintln!(
                "paystat: token {} ({}) is revoked; the running service refuses it from its next request",
                entry.id, entry.actor
            );
            Ok(Exit::Done)
        }
    }
}

fn token_store(args: &TokenConfigArgs) -> Result<(CheckerBuilder, Tokens), CliError> {
    let builder = with_trail(builder(args.config.as_deref(), true)?, &args.trail);
    let tokens = Tokens::at(&builder.state_dir());
    Ok((builder, tokens))
}

/// Writes a line of `event` to the trail (exit 4 when it cannot be written).
fn audit(
    builder: &CheckerBuilder,
    event: &str,
    fields: serde_json::Map<String, serde_json::Value>,
) -> Result<(), CliError> {
    let trail = builder
        .open_trail()
        .map_err(|e| CliError::audit(sentence(&e)))?;
    trail.note(event, fields).map_err(|e| {
        CliError::audit(format!(
            "{}; the token file was changed, but the trail does not say so",
            sentence(&e)
        ))
    })
}
