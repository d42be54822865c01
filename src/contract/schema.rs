//! The providers' published shapes, as JSON Schemas in `fixtures/schemas/`.
//!
//! Mock-based suites fail in one well-known way: the mock drifts from reality and the tests stay
//! green. Every gateway body in the fixtures is therefore validated against a schema written from
//! the provider's public specification (GATEWAYS.md): a hand-edited fixture cannot drift into a
//! shape no gateway sends, and `paystat verify` checks a real provider's answers the same way.

use std::collections::BTreeMap;

use crate::gateway::GatewayKind;

/// The schema file a gateway body is held to: the success shape for a 200, the error shape
/// for anything else.
pub fn schema_name(gateway: GatewayKind, http_status: u16) -> &'static str {
    match (gateway, http_status == 200) {
        (GatewayKind::Ledger, true) => "ledger_payment.json",
        (GatewayKind::Ledger, false) => "ledger_error.json",
        (GatewayKind::Stripe, true) => "stripe_payment_intent.json",
        (GatewayKind::Stripe, false) => "stripe_error.json",
        (GatewayKind::Plaid, true) => "plaid_transfer_get.json",
        (GatewayKind::Plaid, false) => "plaid_error.json",
    }
}

/// The schema a change feed's event is held to (Stripe's Event object, Plaid's transfer event).
pub fn event_schema_name(gateway: GatewayKind) -> Option<&'static str> {
    match gateway {
        GatewayKind::Ledger => None,
        GatewayKind::Stripe => Some("stripe_event.json"),
        GatewayKind::Plaid => Some("plaid_transfer_event.json"),
    }
}

/// Every schema file name, for the checks that all are present.
pub const SCHEMA_NAMES: [&str; 8] = [
    "stripe_event.json",
    "plaid_transfer_event.json",
    "ledger_payment.json",
    "ledger_error.json",
    "stripe_payment_intent.json",
    "stripe_error.json",
    "plaid_transfer_get.json",
    "plaid_error.json",
];

/// A schema file that cannot be used, naming the file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SchemaError {
    /// The file is not there.
    #[error("{path}: the schema file is missing")]
    Missing {
        /// The schema file, relative to the fixtures folder.
        path: String,
    },
    /// The file is not JSON.
    #[error("{path}: not JSON")]
    NotJson {
        /// The schema file.
        path: String,
        /// What the JSON reader said.
        source: serde_json::Error,
    },
    /// The file is JSON but not a JSON Schema.
    #[error("{path}: not a valid JSON Schema: {reason}")]
    NotSchema {
        /// The schema file.
        path: String,
        /// What the schema compiler said.
        reason: String,
    },
}

/// The compiled schemas.
pub struct ProviderSchemas {
    validators: BTreeMap<&'static str, jsonschema::Validator>,
}

impl std::fmt::Debug for ProviderSchemas {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.validators.keys()).finish()
    }
}

impl ProviderSchemas {
    /// Compiles the schemas from `read(name)` (the fixtures folder, or the copy built into
    /// paystat). A missing or invalid schema is an error naming the file.
    pub fn load(read: impl Fn(&str) -> Option<Vec<u8>>) -> Result<ProviderSchemas, SchemaError> {
        let mut validators = BTreeMap::new();
        for name in SCHEMA_NAMES {
            let path = format!("schemas/{name}");
            let Some(bytes) = read(&path) else {
                return Err(SchemaError::Missing { path });
            };
            let schema: serde_json::Value = match serde_json::from_slice(&bytes) {
                Ok(schema) => schema,
                Err(source) => return Err(SchemaError::NotJson { path, source }),
            };
            let validator =
                jsonschema::validator_for(&schema).map_err(|e| SchemaError::NotSchema {
                    path: path.clone(),
                    reason: e.to_string(),
                })?;
            validators.insert(name, validator);
        }
        Ok(ProviderSchemas { validators })
    }

    /// The schemas built into paystat.
    pub fn embedded() -> ProviderSchemas {
        let files: BTreeMap<&str, &[u8]> = super::embedded::FILES.iter().copied().collect();
        ProviderSchemas::load(|path| files.get(path).map(|b| b.to_vec()))
            .expect("build.rs embeds the schemas the test suite has compiled")
    }

    /// Checks a change-feed event against its provider's shape; the problems, if any.
    pub fn check_event(&self, gateway: GatewayKind, event: &[u8]) -> Result<(), Vec<String>> {
        match event_schema_name(gateway) {
            Some(name) => self.check_with(name, event),
            None => Err(vec![format!("{gateway} has no change feed")]),
        }
    }

    /// Checks a body against its provider's shape; the problems, one line each, if any.
    pub fn check(
        &self,
        gateway: GatewayKind,
        http_status: u16,
        body: &[u8],
    ) -> Result<(), Vec<String>> {
        self.check_with(schema_name(gateway, http_status), body)
    }

    fn check_with(&self, name: &'static str, body: &[u8]) -> Result<(), Vec<String>> {
        let value: serde_json::Value = match serde_json::from_slice(body) {
            Ok(value) => value,
            Err(e) => return Err(vec![format!("{name}: the body is not JSON ({e})")]),
        };
        let validator = &self.validators[name];
        let problems: Vec<String> = validator
            .iter_errors(&value)
            .map(|e| {
                let at = e.instance_path().to_string();
                let at = if at.is_empty() { "/".to_owned() } else { at };
                format!("{name}: at {at}: {e}")
            })
            .collect();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }
}
