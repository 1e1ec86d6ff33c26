//! Tessera's off-chain client: everything that talks to the program from outside the chain.
//!
//! - [`pda`]: every account address, derived from its documented seeds.
//! - [`ix`]: one builder per program instruction.
//! - [`accounts`]: decoding of the program's accounts.
//! - [`tiles`]: the tile grid of a job (index ↔ rectangle).
//! - [`receipt`]: building a job's receipt (tile and payout merkle trees) and checking it.
//! - [`manifest`]: the orchestrator's job manifest (tiles, payouts, proofs) as served.
//! - [`protocol`]: the tile message nodes sign.
//! - [`audit`]: checking a job offline: chain, manifest and frames against each other.
//! - [`contest`]: proving on-chain that a node's payout leaf is short of its tile leaves.
//! - [`estimate`]: render time from the nodes' benchmark scores.
//! - [`program_error`]: the program's error codes as readable errors.
//! - `client`: the RPC chain client on `solana-client`.

pub mod accounts;
pub mod audit;
pub mod claim;
pub mod client;
pub mod contest;
pub mod error;
pub mod estimate;
pub mod events;
pub mod hex;
pub mod ix;
pub mod keys;
pub mod manifest;
pub mod pda;
pub mod program_error;
pub mod protocol;
pub mod receipt;
pub mod standing;
pub mod tiles;
pub mod token;

pub use tessera;
pub use tessera::instructions::{JobParams, NetworkParams, NetworkUpdate, ReceiptParams};
pub use tessera::merkle;
pub use tessera::state::{Claim, Contest, Job, JobState, Network, Node, OrchestratorBond};
pub use tessera::ID as PROGRAM_ID;
