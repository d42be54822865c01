//! A malformed scenario file fails with a message that names the file and the field.

use std::path::Path;

use paystat::contract::Scenario;
use rstest::rstest;

const GOOD: &str = r#"
title = "t"
requirement = "r"
gateway = "ledger"
payment_id = "txn_1"
situation = "status:completed"
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
#[case::pinned_secret(
    "[response]",
    "[request]\nheaders = { \"Authorization\" = \"Bearer tok_live\" }\n[response]",
    "ledger/x.toml: request: `Authorization` carries a credential: require it by name only, with \"*\""
)]
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
    let message = paystat::contract::ScenarioSet::from_files(&files)
        .unwrap_err()
        .to_string();
    assert!(
        message.starts_with("ledger/b.toml: payment_id: txn_1 is already used by ledger/a.toml"),
        "{message}"
    );
}

/// `fixtures check` over a set made of `files` (path → text), with the real schemas.
fn problems(files: &[(&str, &str)]) -> Vec<String> {
    let map = files
        .iter()
        .map(|(p, t)| ((*p).into(), t.as_bytes().to_vec()))
        .collect();
    let set = paystat::contract::ScenarioSet::from_files(&map).unwrap();
    let schemas = paystat::contract::ProviderSchemas::embedded();
    paystat::contract::check(&set, &schemas)
        .iter()
        .map(ToString::to_string)
        .collect()
}

const LEDGER_BODY: &str =
    r#"{"id": "txn_1", "status": "completed", "amount": 1.00, "currency": "USD"}"#;

fn with_body(body: &str) -> String {
    GOOD.replace("body = '{}'", &format!("body = '{body}'"))
}

#[test]
fn a_realistic_template_passes_the_check() {
    assert_eq!(
        problems(&[("ledger/x.toml", &with_body(LEDGER_BODY))]),
        Vec::<String>::new()
    );
}

#[test]
fn a_body_that_drifted_from_the_provider_shape_is_caught() {
    let drifted =
        with_body(r#"{"id": "txn_1", "state": "completed", "amount": 1.00, "currency": "USD"}"#);
    let found = problems(&[("ledger/x.toml", &drifted)]);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].starts_with(
            "ledger/x.toml: response.body: does not match the provider's published shape"
        ),
        "{found:?}"
    );
    assert!(
        found[0].contains("\"status\" is a required property"),
        "{found:?}"
    );
}

#[test]
fn an_off_spec_flag_on_a_conforming_body_is_stale() {
    let stale =
        with_body(LEDGER_BODY).replace("[response]\n", "[response]\noff_spec = \"no reason\"\n");
    let found = problems(&[("ledger/x.toml", &stale)]);
    assert_eq!(
        found,
        vec![
            "ledger/x.toml: response.off_spec: the body matches the provider's shape after all; remove off_spec"
        ]
    );
}

#[test]
fn a_placeholder_requirement_is_refused() {
    let unwritten = with_body(LEDGER_BODY).replace(
        "requirement = \"r\"",
        "requirement = \"TODO: write the requirement\"",
    );
    let found = problems(&[("ledger/x.toml", &unwritten)]);
    assert_eq!(found.len(), 1);
    assert!(
        found[0].starts_with("ledger/x.toml: requirement: still holds the placeholder `TODO`"),
        "{found:?}"
    );
}

#[test]
fn two_scenarios_claiming_one_situation_must_agree() {
    let a = with_body(LEDGER_BODY);
    let b = a.replace("txn_1", "txn_2").replace(
        "outcome = \"found\"\nstatus = \"completed\"",
        "outcome = \"found\"\nstatus = \"pending\"",
    );
    let found = problems(&[("ledger/a.toml", &a), ("ledger/b.toml", &b)]);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].contains(
            "`status:completed` is also claimed by ledger/a.toml with a different expectation"
        ),
        "{found:?}"
    );
}

#[rstest]
#[case::unknown_kind("situation = \"weather:rain\"", "`weather` is not a situation kind")]
#[case::undocumented_word(
    "situation = \"status:refunded\"",
    "`refunded` is not a documented ledger status word"
)]
#[case::status_code_mismatch(
    "situation = \"http:404\"",
    "claims HTTP 404 but the response status is Some(200)"
)]
#[case::missing_detail("situation = \"http\"", "`http` needs a detail")]
fn a_wrong_situation_is_refused(#[case] situation: &str, #[case] expected: &str) {
    let file = with_body(LEDGER_BODY).replace("situation = \"status:completed\"", situation);
    let found = problems(&[("ledger/x.toml", &file)]);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].starts_with("ledger/x.toml: situation: ") && found[0].contains(expected),
        "{found:?}"
    );
}
