//! Everything that serves the contract suite and its tools, behind the default-on `contract`
//! feature so the checking core builds without httpmock and jsonschema:
//! - `scenario`: the scenario files TPMs read as requirements, and the one comparator
//!   ([`Expectation::mismatches`]) used by the scenario tests and `paystat verify`;
//! - `mock`: the embedded mock gateway that plays them (tests, `paystat demo`, `paystat mock serve`);
//! - `coverage`: `paystat fixtures check`, the coverage matrix and the requirements report;
//! - `schema`: the providers' published shapes, as JSON Schemas;
//! - `record` and `verify`: fixtures from reality, and reality held to the fixtures.

mod coverage;
mod expectation;
mod mock;
mod record;
mod rules;
mod scenario;
mod schema;
mod verify;

pub use coverage::{PLACEHOLDERS, Problem, check, gaps, report};
pub use expectation::{Expectation, Mismatch};
pub use mock::{
    DEMO_IDS, EmbeddedMock, LEDGER_PREFIX, ServeError, Strictness, base_url, feed_page, register,
    register_after_change, register_feed, register_with, serve, unknown_id_reply,
};
pub use record::{REQUIREMENT_PLACEHOLDER, SCRUBBED, scenario_text, scrub};
pub use rules::gaps as rule_gaps;
pub use scenario::{
    Change, ClientSettings, EarlierLine, ExplainCase, NO_RULE, RECONCILE_DIR, RULES_DIR,
    RequestSpec, Response, SECRET_FIELDS, Scenario, ScenarioError, ScenarioSet, TransportFault,
};
pub use schema::{ProviderSchemas, SCHEMA_NAMES, SchemaError, event_schema_name, schema_name};
pub use verify::{ContractCheck, render, replayable, verify};

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/fixtures.rs"));
}
