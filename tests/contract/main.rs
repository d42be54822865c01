//! The contract-test suite: how paystat behaves against every response a gateway can give.
//! One binary (this file only lists modules) so the suite links once.

mod audit_trail;
mod cli;
mod docs;
mod fixture_format;
mod helpers;
mod ids;
mod scenarios;
mod secrets;
