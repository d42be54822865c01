//! `paystat fixtures check` and `paystat fixtures report`: the scenario files as a contract
//! TPMs can read.

use paystat::contract::{self, ProviderSchemas, ScenarioSet};

use super::args::{FixturesArgs, ReportArgs};
use super::exit::Exit;
use super::{CliError, print, sentence};

/// The scenarios and schemas of a fixtures folder.
pub fn load(args: &FixturesArgs) -> Result<(ScenarioSet, ProviderSchemas), CliError> {
    let set = ScenarioSet::from_dir(&args.fixtures).map_err(|e| CliError::usage(sentence(&e)))?;
    let schemas = ProviderSchemas::load(|name| std::fs::read(args.fixtures.join(name)).ok())
        .map_err(|e| CliError::usage(format!("{}/{}", args.fixtures.display(), sentence(&e))))?;
    Ok((set, schemas))
}

/// `paystat fixtures check`: every problem on its own line, then a count; exit 1 if any.
pub fn check(args: &FixturesArgs) -> Result<Exit, CliError> {
    let (set, schemas) = load(args)?;
    let problems = contract::check(&set, &schemas);
    for problem in &problems {
        print(format_args!("{}/{problem}\n", args.fixtures.display()))?;
    }
    let gaps = contract::gaps(&set);
    for (gateway, situation) in &gaps {
        print(format_args!(
            "coverage gap: {gateway}: no scenario for {situation}\n"
        ))?;
    }
    let rule_gaps = contract::rule_gaps(&set);
    for rule in &rule_gaps {
        print(format_args!(
            "coverage gap: {rule}: no scenario with an [explain] table expects it\n"
        ))?;
    }
    print(format_args!(
        "{} scenarios checked: {} problems, {} coverage gaps\n",
        set.scenarios().len(),
        problems.len(),
        gaps.len() + rule_gaps.len()
    ))?;
    Ok(Exit::Fixtures {
        problems: !problems.is_empty(),
    })
}

/// `paystat fixtures report`: writes the requirements document.
pub fn report(args: &ReportArgs) -> Result<Exit, CliError> {
    let (set, _) = load(&args.fixtures)?;
    let text = contract::report(&set);
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| args.fixtures.fixtures.join("REQUIREMENTS.md"));
    if out.as_os_str() == "-" {
        print(format_args!("{text}"))?;
    } else {
        std::fs::write(&out, text)
            .map_err(|e| CliError::usage(format!("cannot write {}: {e}", out.display())))?;
        eprintln!(
            "wrote {} ({} scenarios)",
            out.display(),
            set.scenarios().len()
        );
    }
    Ok(Exit::Done)
}
