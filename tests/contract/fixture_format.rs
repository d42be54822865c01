//! A malformed scenario file fails with a message that names the file and the field.

use std::path::Path;

use paystat::Scenario;
use rstest::rstest;

const GOOD: &str = r#"
title = "t"
requirement = "r"
gateway = "ledger"
payment_id = "txn_1"
[response]
status = 200
body = '{}'
[expect]
outcome = "found"
status = "completed"
"#;

fn parse(text: &str) -> Result<Scenario, String> {
    Scenario::parse(Path::new("ledger/x.toml"), text, |_| None).map_err(|e| e.to_string())
}

#[test]
fn the_template_parses() {
    let scenario = parse(GOOD).unwrap();
    assert_eq!(scenario.name(), "ledger/x");
    assert_eq!(scenario.body_bytes, b"{}");
}

#[rstest]
#[case::unknown_outcome(
    r#"outcome = "found""#,
    r#"outcome = "fund""#,
    "ledger/x.toml: file: unknown variant `fund`"
)]
#[case::misspelled_field("status = 200\n", "stauts = 200\n", "unknown field `stauts`")]
#[case::found_without_status(
    "status = \"completed\"\n",
    "\n",
    "ledger/x.toml: expect.status: a found payment must say its expected status"
)]
#[case::status_out_of_range(
    "status = 200\n",
    "status = 99\n",
    "ledger/x.toml: response.status: must be between 100 and 599"
)]
#[case::no_status_no_fault(
    "status = 200\n",
    "\n",
    "ledger/x.toml: response.status: give an HTTP status or a transport fault"
)]
#[case::bad_delay(
    "body = '{}'",
    "body = '{}'\ndelay = \"soon\"",
    "`soon` is not a duration"
)]
#[case::missing_body_file(
    "body = '{}'",
    "body_file = \"big.json\"",
    "ledger/x.toml: response.body_file: ledger/big.json does not exist"
)]
#[case::empty_requirement(
    r#"requirement = "r""#,
    r#"requirement = "  ""#,
    "ledger/x.toml: requirement: must not be empty"
)]
#[case::amount_without_found(
    "outcome = \"found\"\nstatus = \"completed\"",
    "outcome = \"not_found\"\namount_minor = 5",
    "ledger/x.toml: expect.amount_minor: only a found payment has this"
)]
fn a_broken_file_names_the_file_and_field(
    #[case] from: &str,
    #[case] to: &str,
    #[case] expected: &str,
) {
    assert!(GOOD.contains(from), "bad test case: {from:?}");
    let broken = GOOD.replacen(from, to, 1);
    let message = parse(&broken).expect_err("the broken file must be refused");
    assert!(message.contains(expected), "{message}");
    assert!(message.starts_with("ledger/x.toml: "), "{message}");
    assert!(!message.contains('\n'), "one line: {message}");
}

#[test]
fn two_scenarios_cannot_share_an_id() {
    let mut files = std::collections::BTreeMap::new();
    files.insert("ledger/a.toml".into(), GOOD.as_bytes().to_vec());
    files.insert("ledger/b.toml".into(), GOOD.as_bytes().to_vec());
    let message = paystat::ScenarioSet::from_files(&files)
        .unwrap_err()
        .to_string();
    assert!(
        message.starts_with("ledger/b.toml: payment_id: txn_1 is already used by ledger/a.toml"),
        "{message}"
    );
}
