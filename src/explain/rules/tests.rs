//! The tests of `explain::rules`.

use super::*;

fn rules(text: &str) -> Result<Rules, RulesError> {
    Rules::from_files(
        BTreeMap::from([("r.toml".to_owned(), text.as_bytes().to_vec())]),
        "test",
    )
}

const TAIL: &str = "meaning = \"m\"\naction = \"a\"\nescalate_to = \"e\"\n";

#[test]
fn the_builtin_rules_load() {
    assert!(Rules::builtin().rules().len() >= 5);
}

#[test]
fn unknown_fields_are_refused_with_the_file() {
    let e = rules(&format!(
        "[[rule]]\nname = \"x\"\n{TAIL}[rule.when]\nstatuss = \"pending\"\n"
    ))
    .unwrap_err();
    assert_eq!(e.file, "r.toml");
    assert!(e.problem.contains("statuss"), "{e}");
}

#[test]
fn a_rule_shadowed_by_an_earlier_one_is_refused() {
    let text = format!(
        "[[rule]]\nname = \"wide\"\n{TAIL}[rule.when]\ngateway = \"stripe\"\nolder_than = \"1d\"\n\
         [[rule]]\nname = \"narrow\"\n{TAIL}[rule.when]\ngateway = \"stripe\"\nstatus = \"pending\"\nolder_than = \"2d\"\n"
    );
    let e = rules(&text).unwrap_err();
    assert!(
        e.problem.contains("`narrow`") && e.problem.contains("`wide`"),
        "{e}"
    );
    // The other way round both can be reached.
    let text = format!(
        "[[rule]]\nname = \"narrow\"\n{TAIL}[rule.when]\ngateway = \"stripe\"\nstatus = \"pending\"\nolder_than = \"2d\"\n\
         [[rule]]\nname = \"wide\"\n{TAIL}[rule.when]\ngateway = \"stripe\"\nolder_than = \"1d\"\n"
    );
    assert_eq!(rules(&text).unwrap().rules().len(), 2);
}

#[test]
fn a_rule_on_other_values_is_not_shadowed_and_one_on_fewer_is() {
    let rule = |name: &str, gateway: &str| {
        format!("[[rule]]\nname = \"{name}\"\n{TAIL}[rule.when]\ngateway = {gateway}\n")
    };
    let both = rule("stripe", "\"stripe\"") + &rule("plaid", "\"plaid\"");
    assert_eq!(rules(&both).unwrap().rules().len(), 2);
    let wider_later = rule("stripe", "\"stripe\"") + &rule("either", "[\"stripe\", \"plaid\"]");
    assert_eq!(rules(&wider_later).unwrap().rules().len(), 2);
    let narrower_later = rule("either", "[\"stripe\", \"plaid\"]") + &rule("stripe", "\"stripe\"");
    let e = rules(&narrower_later).unwrap_err();
    assert!(
        e.problem.contains("`stripe`") && e.problem.contains("`either`"),
        "{e}"
    );
}

#[test]
fn a_later_rule_is_shadowed_only_when_every_bound_of_the_earlier_covers_it() {
    let day = Duration::from_secs(86_400);
    // (earlier, a later rule it shadows, a later rule it does not)
    let cases: [(When, When, When); 7] = [
        (
            When {
                older_than: Some(day),
                ..When::default()
            },
            When {
                older_than: Some(day * 2),
                ..When::default()
            },
            When {
                older_than: Some(day / 2),
                ..When::default()
            },
        ),
        (
            When {
                younger_than: Some(day * 2),
                ..When::default()
            },
            When {
                younger_than: Some(day),
                ..When::default()
            },
            When {
                younger_than: Some(day * 3),
                ..When::default()
            },
        ),
        (
            When {
                business_days_at_least: Some(2),
                ..When::default()
            },
            When {
                business_days_at_least: Some(3),
                ..When::default()
            },
            When {
                business_days_at_least: Some(1),
                ..When::default()
            },
        ),
        (
            When {
                business_days_under: Some(5),
                ..When::default()
            },
            When {
                business_days_under: Some(4),
                ..When::default()
            },
            When {
                business_days_under: Some(6),
                ..When::default()
            },
        ),
        (
            When {
                our_timeouts_24h_at_least: Some(3),
                ..When::default()
            },
            When {
                our_timeouts_24h_at_least: Some(4),
                ..When::default()
            },
            When {
                our_timeouts_24h_at_least: Some(2),
                ..When::default()
            },
        ),
        (
            When {
                past_expected_settlement: Some(true),
                ..When::default()
            },
            When {
                past_expected_settlement: Some(true),
                ..When::default()
            },
            When {
                past_expected_settlement: Some(false),
                ..When::default()
            },
        ),
        (
            When {
                gateway_answered_24h: Some(true),
                ..When::default()
            },
            When {
                gateway_answered_24h: Some(true),
                ..When::default()
            },
            When::default(),
        ),
    ];
    for (earlier, shadowed, reachable) in cases {
        assert!(shadowed.within(&earlier), "{shadowed:?} after {earlier:?}");
        assert!(
            !reachable.within(&earlier),
            "{reachable:?} after {earlier:?}"
        );
        // Equal bounds are covered too; no condition at all covers everything.
        assert!(earlier.within(&earlier));
        assert!(earlier.within(&When::default()));
    }
}

#[test]
fn age_bounds_hold_at_their_edges() {
    let day = Duration::from_secs(86_400);
    let at = |age: Duration| Situation {
        age: Some(age),
        ..Situation::default()
    };
    let older = When {
        older_than: Some(day),
        ..When::default()
    };
    assert!(older.holds(&at(day)));
    assert!(older.holds(&at(day * 2)));
    assert!(!older.holds(&at(day / 2)));
    let younger = When {
        younger_than: Some(day),
        ..When::default()
    };
    assert!(younger.holds(&at(day / 2)));
    assert!(
        !younger.holds(&at(day)),
        "younger than a day is under a day"
    );
    assert!(!younger.holds(&at(day * 2)));
    assert!(
        !younger.holds(&Situation::default()),
        "an unknown age is not young"
    );
}

#[test]
fn contradictions_are_refused() {
    for when in [
        "older_than = \"2d\"\nyounger_than = \"1d\"",
        "business_days_at_least = 4\nbusiness_days_under = 4",
        "gateway = \"plaid\"\ngateway_status = \"processing\"",
        "gateway = \"stripe\"\nstatus = \"completed\"\ngateway_status = \"processing\"",
        "outcome = \"timeout\"\nstatus = \"pending\"",
    ] {
        let e = rules(&format!(
            "[[rule]]\nname = \"x\"\n{TAIL}[rule.when]\n{when}\n"
        ))
        .unwrap_err();
        assert!(e.problem.contains("no payment can reach it"), "{when}: {e}");
    }
    let e = rules(&format!(
        "[[rule]]\nname = \"x\"\n{TAIL}[rule.when]\ngateway = [\"plaid\", \"ledger\"]\nstatus = \"pending\"\ngateway_status = \"processing\"\n"
    ))
    .unwrap_err();
    assert!(
        e.problem.contains(
            "`processing` is not a status word of plaid or ledger that paystat reads as pending"
        ),
        "{e}"
    );
}

#[test]
fn names_are_unique_and_texts_present() {
    let e = rules(&format!("[[rule]]\nname = \"x\"\n{TAIL}[rule.when]\ngateway = \"ledger\"\n[[rule]]\nname = \"x\"\n{TAIL}")).unwrap_err();
    assert!(e.problem.contains("already used"), "{e}");
    let e = rules("[[rule]]\nname = \"x\"\nmeaning = \" \"\naction = \"a\"\nescalate_to = \"e\"\n")
        .unwrap_err();
    assert!(e.problem.contains("`meaning` is empty"), "{e}");
}

#[test]
fn every_condition_must_hold_and_unknowns_do_not() {
    let when = When {
        gateway: Some(OneOrMany::One(GatewayKind::Stripe)),
        method: Some(OneOrMany::Many(vec![
            "us_bank_account".into(),
            "sepa_debit".into(),
        ])),
        business_days_under: Some(4),
        ..When::default()
    };
    let mut s = Situation {
        gateway: Some(GatewayKind::Stripe),
        method: Some("sepa_debit".into()),
        business_days: Some(3),
        ..Situation::default()
    };
    assert!(when.holds(&s));
    s.business_days = Some(4);
    assert!(!when.holds(&s));
    s.business_days = None;
    assert!(!when.holds(&s), "an unknown age meets no bound");
    s.business_days = Some(0);
    s.method = Some("card".into());
    assert!(!when.holds(&s));
    s.method = None;
    assert!(!when.holds(&s));
}
