//! The diagnosis rules: TOML files a TPM reads and edits (`fixtures/rules/` in the repository,
//! built into paystat; `--rules DIR` or `[explain] rules_dir` loads another folder at run time).
//!
//! A file holds `[[rule]]` tables, each with a `name`, the conditions under `[rule.when]`, and
//! what it means (`meaning`, `action`, `escalate_to`). **Order:** files are tried in the order of
//! their names, the rules of a file in the order they are written; the first rule whose every
//! condition holds is the diagnosis. A condition on something the explanation does not know
//! (no creation time, no payment method) does not hold.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::gateway::status_mapping;
use crate::result::{GatewayKind, Outcome, PaymentStatus};

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/rules.rs"));
}

/// One value or a list of them (`gateway = "stripe"` or `gateway = ["stripe", "plaid"]`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum OneOrMany<T> {
    /// One value.
    One(T),
    /// Any of these.
    Many(Vec<T>),
}

impl<T: PartialEq> OneOrMany<T> {
    /// The values.
    pub fn values(&self) -> &[T] {
        match self {
            OneOrMany::One(one) => std::slice::from_ref(one),
            OneOrMany::Many(many) => many,
        }
    }

    fn contains(&self, value: &T) -> bool {
        self.values().contains(value)
    }

    /// Whether every value of `self` is one of `wider`'s.
    fn within(&self, wider: &OneOrMany<T>) -> bool {
        self.values().iter().all(|v| wider.contains(v))
    }
}

/// A rule's conditions; every one given must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct When {
    /// The gateway asked.
    pub gateway: Option<OneOrMany<GatewayKind>>,
    /// The check's outcome (`found`, `timeout`, …).
    pub outcome: Option<OneOrMany<Outcome>>,
    /// paystat's normalized status (`pending`, `requires_action`, …).
    pub status: Option<OneOrMany<PaymentStatus>>,
    /// The gateway's own status word (`processing`, `requires_action`, `posted`).
    pub gateway_status: Option<OneOrMany<String>>,
    /// How the customer pays: Stripe's payment method type, Plaid's network.
    pub method: Option<OneOrMany<String>>,
    /// What the gateway waits for (Stripe's `next_action.type`).
    pub next_action: Option<OneOrMany<String>>,
    /// At least this old since the gateway created it (`24h`, `3d`).
    #[serde(
        default,
        deserialize_with = "crate::clock::optional_duration",
        serialize_with = "human_duration"
    )]
    pub older_than: Option<Duration>,
    /// Younger than this since the gateway created it.
    #[serde(
        default,
        deserialize_with = "crate::clock::optional_duration",
        serialize_with = "human_duration"
    )]
    pub younger_than: Option<Duration>,
    /// At least this many business days since creation (weekends and configured holidays skipped).
    pub business_days_at_least: Option<u32>,
    /// Fewer than this many business days since creation.
    pub business_days_under: Option<u32>,
    /// Past (true) or not yet past (false) the day the gateway expected it to settle.
    pub past_expected_settlement: Option<bool>,
    /// At least this many of our checks of this payment timed out in the last 24 hours.
    pub our_timeouts_24h_at_least: Option<u32>,
    /// Whether our checks of other payments at this gateway answered in the last 24 hours.
    pub gateway_answered_24h: Option<bool>,
}

fn human_duration<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.serialize_str(&crate::clock::human(*d)),
        None => s.serialize_none(),
    }
}

/// What is known about the payment when a rule is tried.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Situation {
    /// The gateway asked, if one was.
    pub gateway: Option<GatewayKind>,
    /// The check's outcome.
    pub outcome: Option<Outcome>,
    /// The normalized status, when found.
    pub status: Option<PaymentStatus>,
    /// The gateway's word, when found.
    pub gateway_status: Option<String>,
    /// How the customer pays, when the gateway says.
    pub method: Option<String>,
    /// What the gateway waits for, when it says.
    pub next_action: Option<String>,
    /// Time since the gateway created the payment, when it says when.
    pub age: Option<Duration>,
    /// Business days since creation.
    pub business_days: Option<u32>,
    /// Whether today is after the expected settlement day, when the gateway gives one.
    pub past_expected_settlement: Option<bool>,
    /// Our checks of this payment that timed out in the last 24 hours.
    pub our_timeouts_24h: u32,
    /// Whether our checks of other payments at this gateway answered in the last 24 hours
    /// (unknown without the trail's index).
    pub gateway_answered_24h: Option<bool>,
}

impl When {
    /// Whether every condition holds in `s`.
    pub fn holds(&self, s: &Situation) -> bool {
        fn known<T: PartialEq>(cond: &Option<OneOrMany<T>>, value: Option<&T>) -> bool {
            cond.as_ref()
                .is_none_or(|c| value.is_some_and(|v| c.contains(v)))
        }
        let words = |cond: &Option<OneOrMany<String>>, value: &Option<String>| {
            cond.as_ref()
                .is_none_or(|c| value.as_ref().is_some_and(|v| c.contains(v)))
        };
        let at_least = |bound: Option<u32>, value: Option<u32>| {
            bound.is_none_or(|b| value.is_some_and(|v| v >= b))
        };
        let under = |bound: Option<u32>, value: Option<u32>| {
            bound.is_none_or(|b| value.is_some_and(|v| v < b))
        };
        known(&self.gateway, s.gateway.as_ref())
            && known(&self.outcome, s.outcome.as_ref())
            && known(&self.status, s.status.as_ref())
            && words(&self.gateway_status, &s.gateway_status)
            && words(&self.method, &s.method)
            && words(&self.next_action, &s.next_action)
            && self
                .older_than
                .is_none_or(|d| s.age.is_some_and(|age| age >= d))
            && self
                .younger_than
                .is_none_or(|d| s.age.is_some_and(|age| age < d))
            && at_least(self.business_days_at_least, s.business_days)
            && under(self.business_days_under, s.business_days)
            && self
                .past_expected_settlement
                .is_none_or(|p| s.past_expected_settlement == Some(p))
            && at_least(self.our_timeouts_24h_at_least, Some(s.our_timeouts_24h))
            && self
                .gateway_answered_24h
                .is_none_or(|a| s.gateway_answered_24h == Some(a))
    }

    /// Whether every case these conditions allow is also allowed by `earlier`'s: then a rule
    /// with these conditions after one with `earlier`'s can never be reached.
    fn within(&self, earlier: &When) -> bool {
        fn set<T: PartialEq>(mine: &Option<OneOrMany<T>>, theirs: &Option<OneOrMany<T>>) -> bool {
            match (mine, theirs) {
                (_, None) => true,
                (Some(mine), Some(theirs)) => mine.within(theirs),
                (None, Some(_)) => false,
            }
        }
        fn bound<T: Copy>(mine: Option<T>, theirs: Option<T>, tighter: fn(T, T) -> bool) -> bool {
            match (mine, theirs) {
                (_, None) => true,
                (Some(mine), Some(theirs)) => tighter(mine, theirs),
                (None, Some(_)) => false,
            }
        }
        fn same<T: PartialEq>(mine: Option<T>, theirs: Option<T>) -> bool {
            theirs.is_none() || mine == theirs
        }
        set(&self.gateway, &earlier.gateway)
            && set(&self.outcome, &earlier.outcome)
            && set(&self.status, &earlier.status)
            && set(&self.gateway_status, &earlier.gateway_status)
            && set(&self.method, &earlier.method)
            && set(&self.next_action, &earlier.next_action)
            && bound(self.older_than, earlier.older_than, |m, t| m >= t)
            && bound(self.younger_than, earlier.younger_than, |m, t| m <= t)
            && bound(
                self.business_days_at_least,
                earlier.business_days_at_least,
                |m, t| m >= t,
            )
            && bound(
                self.business_days_under,
                earlier.business_days_under,
                |m, t| m <= t,
            )
            && same(
                self.past_expected_settlement,
                earlier.past_expected_settlement,
            )
            && bound(
                self.our_timeouts_24h_at_least,
                earlier.our_timeouts_24h_at_least,
                |m, t| m >= t,
            )
            && same(self.gateway_answered_24h, earlier.gateway_answered_24h)
    }

    /// Why no payment can meet these conditions together, if none can.
    fn contradiction(&self) -> Option<String> {
        if let (Some(old), Some(young)) = (self.older_than, self.younger_than)
            && young <= old
        {
            return Some(format!(
                "younger_than ({}) is not above older_than ({})",
                crate::clock::human(young),
                crate::clock::human(old)
            ));
        }
        if let (Some(least), Some(under)) = (self.business_days_at_least, self.business_days_under)
            && under <= least
        {
            return Some(format!(
                "business_days_under ({under}) is not above business_days_at_least ({least})"
            ));
        }
        if (self.status.is_some() || self.gateway_status.is_some())
            && let Some(outcome) = &self.outcome
            && !outcome.contains(&Outcome::Found)
        {
            return Some("a status needs the outcome `found`".into());
        }
        if let Some(words) = &self.gateway_status {
            let rows = status_mapping();
            for word in words.values() {
                let fits = rows.iter().any(|row| {
                    row.word == word
                        && self
                            .gateway
                            .as_ref()
                            .is_none_or(|g| g.contains(&row.gateway))
                        && self.status.as_ref().is_none_or(|s| s.contains(&row.status))
                });
                if !fits {
                    return Some(format!(
                        "`{word}` is not a status word of {} that paystat reads as {}",
                        self.gateway
                            .as_ref()
                            .map_or("any gateway".into(), |g| names(g.values())),
                        self.status
                            .as_ref()
                            .map_or("any status".into(), |s| names(s.values()))
                    ));
                }
            }
        }
        None
    }
}

fn names<T: Serialize>(values: &[T]) -> String {
    let words: Vec<String> = values
        .iter()
        .map(|v| {
            serde_json::to_value(v)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default()
        })
        .collect();
    words.join(" or ")
}

/// One rule, as written.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Its name, unique across the rules (what a scenario expects, and what an escalation quotes).
    pub name: String,
    /// The conditions, every one of which must hold.
    #[serde(default)]
    pub when: When,
    /// What the situation means.
    pub meaning: String,
    /// What to do.
    pub action: String,
    /// Whom to escalate to (`nobody yet` when the situation is normal).
    pub escalate_to: String,
    /// The file it came from (relative to the rules folder).
    #[serde(skip_deserializing, default)]
    pub file: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    #[serde(default)]
    rule: Vec<Rule>,
}

/// A rule file paystat cannot use, with the file and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}: {problem}")]
pub struct RulesError {
    /// The file (or folder).
    pub file: String,
    /// What is wrong, in one sentence.
    pub problem: String,
}

/// The rules, in the order they are tried.
#[derive(Debug, Clone)]
pub struct Rules {
    rules: Vec<Rule>,
    /// Where they came from: `built in`, or the folder.
    pub source: String,
}

impl Rules {
    /// The rules built into paystat (the repository's `fixtures/rules/` at build time).
    pub fn builtin() -> Rules {
        let files = embedded::FILES
            .iter()
            .map(|(name, bytes)| (name.to_string(), bytes.to_vec()))
            .collect();
        Rules::from_files(files, "built in").expect("the test suite loads the built-in rules")
    }

    /// Every `*.toml` file of folder `dir`.
    pub fn load_dir(dir: &Path) -> Result<Rules, RulesError> {
        let problem = |problem: String| RulesError {
            file: dir.display().to_string(),
            problem,
        };
        let entries = std::fs::read_dir(dir)
            .map_err(|e| problem(format!("cannot read the rules folder: {e}")))?;
        let mut files = BTreeMap::new();
        for entry in entries {
            let path: PathBuf = entry
                .map_err(|e| problem(format!("cannot read the rules folder: {e}")))?
                .path();
            if path.extension().is_none_or(|e| e != "toml") {
                continue;
            }
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let bytes =
                std::fs::read(&path).map_err(|e| problem(format!("cannot read {name}: {e}")))?;
            files.insert(name, bytes);
        }
        if files.is_empty() {
            return Err(problem("holds no rule files (*.toml)".into()));
        }
        Rules::from_files(files, &dir.display().to_string())
    }

    /// Rules from `files` (name → bytes), tried in name order; every file and rule checked.
    pub fn from_files(files: BTreeMap<String, Vec<u8>>, source: &str) -> Result<Rules, RulesError> {
        let mut rules: Vec<Rule> = Vec::new();
        for (name, bytes) in files {
            let problem = |problem: String| RulesError {
                file: name.clone(),
                problem,
            };
            let text =
                std::str::from_utf8(&bytes).map_err(|_| problem("is not UTF-8 text".into()))?;
            let file: RuleFile =
                toml::from_str(text).map_err(|e| problem(e.message().to_owned()))?;
            for mut rule in file.rule {
                rule.file = name.clone();
                rules.push(rule);
            }
        }
        let rules = Rules {
            rules,
            source: source.to_owned(),
        };
        rules.check()?;
        Ok(rules)
    }

    /// Refuses rules that cannot work: an empty or repeated name, empty words, conditions no
    /// payment meets together, a rule that an earlier one always takes first.
    fn check(&self) -> Result<(), RulesError> {
        let mut seen: BTreeMap<&str, &str> = BTreeMap::new();
        for (i, rule) in self.rules.iter().enumerate() {
            let problem = |problem: String| RulesError {
                file: rule.file.clone(),
                problem: format!("rule `{}`: {problem}", rule.name),
            };
            if rule.name.trim().is_empty() {
                return Err(problem("has no name".into()));
            }
            for (field, text) in [
                ("meaning", &rule.meaning),
                ("action", &rule.action),
                ("escalate_to", &rule.escalate_to),
            ] {
                if text.trim().is_empty() {
                    return Err(problem(format!("`{field}` is empty")));
                }
            }
            if let Some(file) = seen.insert(&rule.name, &rule.file) {
                return Err(problem(format!("the name is already used in {file}")));
            }
            if let Some(why) = rule.when.contradiction() {
                return Err(problem(format!("no payment can reach it: {why}")));
            }
            if let Some(earlier) = self.rules[..i].iter().find(|e| rule.when.within(&e.when)) {
                return Err(problem(format!(
                    "no payment can reach it: every case it covers is taken first by `{}` ({}), which is tried before it",
                    earlier.name, earlier.file
                )));
            }
        }
        Ok(())
    }

    /// The rules, in the order they are tried.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The first rule whose conditions hold in `situation`.
    pub fn diagnose(&self, situation: &Situation) -> Option<&Rule> {
        self.rules.iter().find(|r| r.when.holds(situation))
    }
}

#[cfg(test)]
mod tests;
