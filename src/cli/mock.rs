//! `paystat mock serve`: the fixtures as a standalone mock gateway for other tools.

use std::fmt::Write as _;
use std::io::Write as _;

use paystat::GatewayKind;
use paystat::contract::{self, ScenarioSet};

use super::args::ServeArgs;
use super::exit::Exit;
use super::{CliError, sentence};

/// `paystat mock serve`.
pub async fn serve(args: ServeArgs) -> Result<Exit, CliError> {
    let scenarios = match &args.fixtures {
        Some(dir) => ScenarioSet::from_dir(dir).map_err(|e| CliError::usage(sentence(&e)))?,
        None => ScenarioSet::embedded(),
    };
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let list = scenarios.scenarios().to_vec();
    let strictness = if args.strict {
        contract::Strictness::Contract
    } else {
        contract::Strictness::AnyClient
    };
    contract::serve(args.port, args.expose, strictness, &list, shutdown, |addr, registered| {
        // Written in one piece once every scenario is registered; a closed stdout does not
        // stop the mock.
        let mut out = String::new();
        let url = format!("http://{addr}");
        let _ = writeln!(
            out,
            "paystat mock gateway on {url} playing {registered} scenarios (Ctrl-C stops it)"
        );
        out.push_str("# point paystat check at it (the mock accepts any credentials; the\n# ENVIRONMENT variables tell paystat these URLs are a mock, so its answers are never\n# audited or cached as a live gateway's):\n");
        for kind in GatewayKind::ALL {
            let profile = paystat::gateways::profile(kind);
            let _ = writeln!(
                out,
                "export {}={} {}=mock",
                profile.url_env,
                contract::base_url(&url, kind),
                profile.environment_env
            );
        }
        out.push_str("export PAYSTAT_LEDGER_TOKEN=mock-ledger-token PAYSTAT_STRIPE_KEY=sk_test_mock PAYSTAT_PLAID_CLIENT_ID=mock-client PAYSTAT_PLAID_SECRET=mock-plaid-secret\n");
        out.push_str("# scenarios:\n");
        for s in list.iter().filter(|s| s.is_http()) {
            let id = paystat::payment_id::display_safe(&s.payment_id);
            let _ = writeln!(out, "#   {:<7} {id:<38} {}", s.gateway.as_str(), s.title);
        }
        let mut stdout = std::io::stdout().lock();
        let _ = stdout.write_all(out.as_bytes()).and_then(|()| stdout.flush());
    })
    .await
    .map_err(|e| CliError::usage(sentence(&e)))?;
    Ok(Exit::Done)
}
