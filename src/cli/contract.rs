//! `paystat record` and `paystat verify`: fixtures from a real gateway, and a real gateway
//! held to the fixtures. Both check through a checker configured like `check`'s, so every
//! request is audited.

use std::collections::BTreeSet;

use paystat::contract::{self, ProviderSchemas, ScenarioSet};
use paystat::{Checker, GatewayKind, Overrides, Routing};

use super::args::{AuditArgs, FixturesArgs, OneGatewayArgs, RecordArgs, VerifyArgs};
use super::exit::{Exit, Failure};
use super::{CliError, build, builder, print, sentence, with_audit};

/// A checker for the one gateway of `record` or `verify`, configured as `check` would be.
fn one_gateway_checker(
    args: &OneGatewayArgs,
    audit: &AuditArgs,
) -> Result<(GatewayKind, Checker), CliError> {
    let kind = GatewayKind::from(args.gateway);
    let overrides = Overrides {
        base_url: args.base_url.clone().map(|url| (kind, url)),
        timeout: args.timeout,
        no_proxy: args.connection.no_proxy,
        ca_cert: args.connection.ca_cert.clone(),
        stripe_account: args.connection.stripe_account.clone(),
        ..Overrides::default()
    };
    let builder = with_audit(builder(args.config.as_deref(), false)?, audit)?
        .overrides(overrides)
        .routing(Routing::Fixed(kind));
    let (checker, _) = build(builder, &BTreeSet::from([kind]), false)?;
    Ok((kind, checker))
}

/// `paystat record`: one audited check, its reply written as a scrubbed scenario.
pub async fn record(args: RecordArgs) -> Result<Exit, CliError> {
    if args.out.exists() && !args.force {
        return Err(CliError::usage(format!(
            "{} exists; pass --force to replace it",
            args.out.display()
        )));
    }
    let (kind, checker) = one_gateway_checker(&args.gateway, &args.audit)?;
    let (result, reply) = checker
        .check_capturing(&args.id)
        .await
        .map_err(|e| CliError::audit(sentence(&e)))?;
    let Some(reply) = reply else {
        return Err(CliError {
            failure: Failure::NoAnswer,
            message: format!(
                "no HTTP answer to record: {} ({})",
                result.outcome,
                result.detail.unwrap_or_default()
            ),
        });
    };
    let text = contract::scenario_text(kind, &args.id, &reply, &result);
    // The last look before a file meant to be committed: whatever scrubbing missed, in any form
    // a credential can take, keeps the file from being written at all.
    if let Some((gateway, form)) = checker.echoed_secret(text.as_bytes()) {
        return Err(CliError::usage(format!(
            "the recording still holds the {gateway} credential ({form}) after scrubbing; nothing was written to {}",
            args.out.display()
        )));
    }
    if let Some(parent) = args.out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .map_err(|e| CliError::usage(format!("cannot create {}: {e}", parent.display())))?;
    }
    std::fs::write(&args.out, text)
        .map_err(|e| CliError::usage(format!("cannot write {}: {e}", args.out.display())))?;
    print(format_args!(
        "recorded {kind} HTTP {} for {} into {} (scrubbed); write its title and requirement, then run `paystat fixtures check`\n",
        reply.status,
        paystat::payment_id::display_safe(&args.id),
        args.out.display()
    ))?;
    Ok(Exit::Done)
}

/// `paystat verify`: replays the provider-answerable scenarios and prints the contract report.
pub async fn verify(args: VerifyArgs) -> Result<Exit, CliError> {
    let (set, schemas) = match &args.fixtures {
        Some(dir) => super::fixtures::load(&FixturesArgs {
            fixtures: dir.clone(),
        })?,
        None => (ScenarioSet::embedded(), ProviderSchemas::embedded()),
    };
    let (kind, checker) = one_gateway_checker(&args.gateway, &args.audit)?;
    let scenarios = contract::replayable(&set, kind);
    if scenarios.is_empty() {
        return Err(CliError::usage(format!(
            "no {kind} scenario can be replayed against a real provider"
        )));
    }
    let checks = contract::verify(&checker, &scenarios, &schemas)
        .await
        .map_err(|e| CliError::audit(sentence(&e)))?;
    print(format_args!("{}", contract::render(&checks)))?;
    Ok(Exit::Verified {
        broken: checks.iter().any(|c| !c.mismatches.is_empty()),
    })
}
