//! The diagnosis rules as requirements: `fixtures check` holds them to the scenarios (every
//! rule is expected by some `[explain]` scenario — a coverage gap otherwise — and every scenario
//! names a rule that exists), and
//! `fixtures report` writes them, in the order they are tried, into the requirements document.

use std::fmt::Write as _;

use super::coverage::Problem;
use super::scenario::{NO_RULE, RULES_DIR, ScenarioSet};

/// What is wrong with the rules of `set`'s folder, as problems.
pub fn check(set: &ScenarioSet) -> Vec<Problem> {
    let mut problems = Vec::new();
    let rules = match set.rules() {
        Ok(rules) => rules,
        Err(e) => {
            problems.push(Problem {
                file: format!("{RULES_DIR}/{}", e.file),
                field: "rule".into(),
                problem: e.problem,
            });
            return problems;
        }
    };
    for scenario in set.scenarios() {
        let Some(case) = &scenario.explain else {
            continue;
        };
        if case.rule != NO_RULE && !rules.rules().iter().any(|r| r.name == case.rule) {
            problems.push(Problem {
                file: scenario.file.display().to_string(),
                field: "explain.rule".into(),
                problem: format!("no rule is named `{}` (or write `{NO_RULE}`)", case.rule),
            });
        }
    }
    problems
}

/// The rules of `set`'s folder that no scenario expects (a coverage gap, like a situation
/// without a scenario): each as `rule `name` (file)`.
pub fn gaps(set: &ScenarioSet) -> Vec<String> {
    let Ok(rules) = set.rules() else {
        return Vec::new();
    };
    rules
        .rules()
        .iter()
        .filter(|rule| {
            !set.scenarios()
                .iter()
                .any(|s| s.explain.as_ref().is_some_and(|c| c.rule == rule.name))
        })
        .map(|rule| format!("rule `{}` ({})", rule.name, rule.file))
        .collect()
}

/// The rules section of the requirements document.
pub fn report(set: &ScenarioSet) -> String {
    let mut out = String::from(
        "\n## Diagnosis rules\n\nWhat `paystat explain` says about a payment, from the rule files in `fixtures/rules/`. Rules are\ntried file by file in the order of the file names, and within a file from top to bottom; the\nfirst whose every condition holds is the diagnosis. A condition on something unknown (no\ncreation time, no payment method) does not hold.\n\n| # | rule | when | what it means | what to do | escalate to | scenario |\n|---|---|---|---|---|---|---|\n",
    );
    let rules = match set.rules() {
        Ok(rules) => rules,
        Err(e) => {
            let _ = writeln!(out, "\nThe rules cannot be read: {e}");
            return out;
        }
    };
    let one_line = |text: &str| text.split_whitespace().collect::<Vec<_>>().join(" ");
    for (i, rule) in rules.rules().iter().enumerate() {
        let when = serde_json::to_value(&rule.when)
            .ok()
            .and_then(|v| v.as_object().cloned())
            .unwrap_or_default();
        let conditions: Vec<String> = when
            .iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| format!("`{k}` = {}", v.to_string().replace('"', "")))
            .collect();
        let scenarios: Vec<String> = set
            .scenarios()
            .iter()
            .filter(|s| s.explain.as_ref().is_some_and(|c| c.rule == rule.name))
            .map(|s| format!("`{}`", s.name()))
            .collect();
        let _ = writeln!(
            out,
            "| {} | `{}` ({}) | {} | {} | {} | {} | {} |",
            i + 1,
            rule.name,
            rule.file,
            if conditions.is_empty() {
                "always".into()
            } else {
                conditions.join("<br>")
            },
            one_line(&rule.meaning),
            one_line(&rule.action),
            one_line(&rule.escalate_to),
            if scenarios.is_empty() {
                "❌ none".into()
            } else {
                scenarios.join("<br>")
            }
        );
    }
    let unmatched: Vec<String> = set
        .scenarios()
        .iter()
        .filter(|s| s.explain.as_ref().is_some_and(|c| c.rule == NO_RULE))
        .map(|s| format!("`{}`", s.name()))
        .collect();
    let _ = writeln!(
        out,
        "\nWhere no rule matches, `explain` says so and gives the timeline to attach to an escalation: {}.",
        if unmatched.is_empty() {
            "no scenario shows it yet".into()
        } else {
            unmatched.join(", ")
        }
    );
    out
}
