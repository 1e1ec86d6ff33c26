//! The `tessera` command as a library: every workflow an artist, node operator or auditor
//! runs, callable by the CLI (`main.rs` only parses flags and routes), tests and later the
//! dashboard. Chain calls go through `tessera-sdk`; orchestrator calls through
//! [`orchestrator::Orchestrator`].
pub mod amount;
pub mod audit;
pub mod config;
pub mod context;
pub mod error;
pub mod frames;
pub mod job;
pub mod node;
pub mod orchestrator;
pub mod output;
pub mod wallet;
