//! The documents people read say what the code does: the README's vocabulary tables and the
//! fixtures' status-mapping table are generated from the code's own texts and compared here,
//! and every mapping row has its scenario file.

use paystat::contract::ScenarioSet;
use paystat::gateways::{status_mapping, status_mapping_table};
use paystat::{Outcome, PaymentStatus};

use crate::helpers::fixtures_dir;

fn read(path: &str) -> String {
    std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path)).unwrap()
}

/// Asserts that `doc` holds exactly `generated`: the whole Markdown table that starts with
/// `generated`'s header line, row for row, no more and no less.
fn assert_table(doc: &str, name: &str, generated: &str) {
    let header = generated
        .lines()
        .next()
        .unwrap_or_else(|| panic!("the code generated an empty table for {name}"));
    let mut lines = doc.lines().skip_while(|l| *l != header);
    let found: Vec<&str> = lines.by_ref().take_while(|l| l.starts_with('|')).collect();
    assert!(!found.is_empty(), "{name} has no table headed `{header}`");
    assert_eq!(
        found.join("\n") + "\n",
        generated,
        "{name}'s table is stale; it should read:\n{generated}"
    );
}

#[test]
fn the_readme_vocabulary_matches_the_code() {
    let readme = read("README.md");
    assert_table(&readme, "README.md", &Outcome::markdown_table());
    assert_table(&readme, "README.md", &PaymentStatus::markdown_table());
    // The status cache's rules: what each gateway word means, and whether it can still change.
    assert_table(&readme, "README.md", &status_mapping_table());
}

#[test]
fn the_fixtures_mapping_table_matches_the_code() {
    let fixtures_readme = read("fixtures/README.md");
    assert_table(
        &fixtures_readme,
        "fixtures/README.md",
        &status_mapping_table(),
    );
}

#[test]
fn a_stale_or_missing_table_is_caught() {
    let table = status_mapping_table();
    let result =
        |doc: String| std::panic::catch_unwind(|| assert_table(&doc, "doc", &table)).is_err();
    assert!(
        !result(format!("intro\n\n{table}\nafter\n")),
        "the exact table passes"
    );
    assert!(result("no table here\n".into()), "a missing table fails");
    let without_last_row = table.lines().collect::<Vec<_>>();
    let short = without_last_row[..without_last_row.len() - 1].join("\n");
    assert!(result(format!("{short}\n\nafter\n")), "a missing row fails");
    assert!(
        result(format!(
            "{table}| ledger | `refunded` | `completed` | x |\n"
        )),
        "an extra row fails"
    );
}

#[test]
fn every_mapped_word_has_a_scenario() {
    let set = ScenarioSet::from_dir(&fixtures_dir()).unwrap();
    for row in status_mapping() {
        let covered = set.scenarios().iter().any(|s| {
            s.gateway == row.gateway
                && s.expect.outcome == Outcome::Found
                && s.expect.gateway_status.as_deref() == Some(row.word)
                && s.expect.status == Some(row.status)
        });
        assert!(
            covered,
            "no scenario shows {} `{}` becoming `{}`",
            row.gateway, row.word, row.status
        );
    }
}

#[test]
fn the_binary_plays_the_same_scenarios_as_the_tests() {
    let on_disk = ScenarioSet::from_dir(&fixtures_dir()).unwrap();
    let embedded = ScenarioSet::embedded();
    let names = |set: &ScenarioSet| set.scenarios().iter().map(|s| s.name()).collect::<Vec<_>>();
    assert_eq!(names(&embedded), names(&on_disk));
}

#[test]
fn the_requirements_document_is_up_to_date() {
    let set = ScenarioSet::from_dir(&fixtures_dir()).unwrap();
    let generated = paystat::contract::report(&set);
    let committed = read("fixtures/REQUIREMENTS.md");
    assert!(
        committed == generated,
        "fixtures/REQUIREMENTS.md is stale: run `cargo run -- fixtures report` (or `make report`) and commit it"
    );
}

#[test]
fn the_fixtures_pass_their_own_check_with_no_coverage_gap() {
    let set = ScenarioSet::from_dir(&fixtures_dir()).unwrap();
    let schemas = paystat::contract::ProviderSchemas::load(|name| {
        std::fs::read(fixtures_dir().join(name)).ok()
    })
    .unwrap();
    let problems: Vec<String> = paystat::contract::check(&set, &schemas)
        .iter()
        .map(ToString::to_string)
        .collect();
    assert!(problems.is_empty(), "{problems:#?}");
    assert_eq!(paystat::contract::gaps(&set), vec![]);
    assert_eq!(paystat::contract::rule_gaps(&set), Vec::<String>::new());
    // The schemas built into the binary are the ones in the folder.
    let embedded = paystat::contract::ProviderSchemas::embedded();
    assert!(paystat::contract::check(&set, &embedded).is_empty());
}

#[test]
fn every_link_in_the_documents_resolves_inside_the_repository() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut checked = 0;
    for doc in [
        "README.md",
        "fixtures/README.md",
        "fixtures/GATEWAYS.md",
        "tests/MUTANTS.md",
    ] {
        let text = read(doc);
        let base = root.join(doc).parent().unwrap().to_owned();
        for target in text
            .split("](")
            .skip(1)
            .filter_map(|rest| rest.split(')').next())
        {
            let target = target.split('#').next().unwrap_or("");
            if target.is_empty() || target.starts_with("http") {
                continue;
            }
            let path = base.join(target);
            let resolved = path.canonicalize();
            assert!(
                resolved
                    .as_ref()
                    .is_ok_and(|p| p.starts_with(root.canonicalize().unwrap())),
                "{doc} links to {target}, which is not a file of this repository"
            );
            checked += 1;
        }
    }
    assert!(checked >= 5, "only {checked} links found");
}
