//! `paystat mock serve`: the fixtures as a standalone mock gateway for other tools.

use std::io::Write;

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
    contract::serve(args.port, args.expose, &list, shutdown, |addr, registered| {
        let url = format!("http://{addr}");
        println!("paystat mock gateway on {url} playing {registered} scenarios (Ctrl-C stops it)");
        println!("# point paystat check at it (the mock accepts any credentials):");
        for kind in GatewayKind::ALL {
            let var = paystat::profile(kind).url_env;
            println!("export {var}={}", contract::base_url(&url, kind));
        }
        println!("export PAYSTAT_STRIPE_KEY=sk_test_mock PAYSTAT_PLAID_CLIENT_ID=mock PAYSTAT_PLAID_SECRET=mock");
        println!("# scenarios:");
        for s in list.iter().filter(|s| s.is_http()) {
            let id = paystat::display_safe(&s.payment_id);
            println!("#   {:<7} {id:<38} {}", s.gateway.as_str(), s.title);
        }
        let _ = std::io::stdout().flush();
    })
    .await
    .map_err(|e| CliError::usage(sentence(&e)))?;
    Ok(Exit::Done)
}
