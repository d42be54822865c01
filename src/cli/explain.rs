//! `paystat explain`: one payment's timeline and diagnosis, for a terminal or as JSON.

use paystat::explain::ExplainOptions;
use paystat::{Ask, GatewayKind, Overrides, Routing};
use std::collections::BTreeSet;

use super::args::{ExplainArgs, ExplainFormat, GatewayArg};
use super::check::checked;
use super::exit::Exit;
use super::{CliError, build, builder, print, sentence, with_audit};

/// `paystat explain`.
pub async fn run(args: ExplainArgs) -> Result<Exit, CliError> {
    let routing = match args.gateway {
        GatewayArg::Ledger => Routing::Fixed(GatewayKind::Ledger),
        GatewayArg::Stripe => Routing::Fixed(GatewayKind::Stripe),
        GatewayArg::Plaid => Routing::Fixed(GatewayKind::Plaid),
        GatewayArg::Auto => Routing::Auto,
    };
    let builder = builder(args.config.as_deref(), args.quiet)?;
    // The rules first: a rules folder that cannot be used stops before anything is asked.
    let options =
        ExplainOptions::from_section(&builder.config().explain, args.rules.as_deref(), true)
            .map_err(|e| CliError::usage(format!("the diagnosis rules cannot be used: {e}")))?;
    let needed: BTreeSet<GatewayKind> = match routing {
        Routing::Fixed(kind) => BTreeSet::from([kind]),
        Routing::Auto => paystat::gateways::route(&args.id).into_iter().collect(),
    };
    let base_url = match (routing, args.base_url) {
        (_, None) => None,
        (Routing::Fixed(kind), Some(url)) => Some((kind, url)),
        (Routing::Auto, Some(_)) => {
            return Err(CliError::usage(
                "--base-url names one gateway's URL and cannot be used with --gateway auto",
            ));
        }
    };
    let overrides = Overrides {
        base_url,
        timeout: args.timeout,
        no_proxy: args.connection.no_proxy,
        ca_cert: args.connection.ca_cert,
        stripe_account: args.connection.stripe_account,
        ..Overrides::default()
    };
    let builder = with_audit(builder, &args.audit)?
        .overrides(overrides)
        .routing(routing)
        .concurrency(1);
    let (checker, _) = build(builder, &needed, false)?;
    let explanation = checker
        .explain(&args.id, &Ask::default(), &options)
        .await
        .map_err(|e| CliError::audit(sentence(&e)))?;
    match args.format {
        ExplainFormat::Json => {
            let json = serde_json::to_string_pretty(&explanation)
                .map_err(|e| CliError::usage(format!("cannot write the explanation: {e}")))?;
            print(format_args!("{json}\n"))?;
        }
        ExplainFormat::Text => print(format_args!("{}", paystat::explain::render(&explanation)))?,
    }
    Ok(Exit::Checked(checked(explanation.result.outcome)))
}
