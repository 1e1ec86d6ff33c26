//! The Tessera program inside a real Solana runtime. Each module covers a group of
//! instructions: the happy path with exact token balances, then one test per attack.
mod harness;

mod bond;
mod contest;
mod disputes;
mod jobs;
mod lifecycle;
mod network;
mod nodes;
mod receipts;
mod settle;
mod slash;
mod sybil;
mod trust;
mod verification;
