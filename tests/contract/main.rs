//! The contract-test suite: how paystat behaves against every response a gateway can give.
//! One binary (this file only lists modules) so the suite links once.

mod arbitrary_replies;
mod architecture;
mod audit_chain;
mod audit_queries;
mod audit_trail;
mod bulk_cli;
mod cache;
mod cli;
#[cfg(feature = "serve")]
mod console;
mod contract_tools;
mod docs;
mod explain;
mod fault_matrix;
mod fault_server;
mod fixture_format;
mod helpers;
mod hostile;
mod ids;
mod mock_serve;
mod reconcile;
mod resilience;
mod scenarios;
mod schema_bodies;
mod secrets;
#[cfg(feature = "serve")]
mod serve;
mod trust;
