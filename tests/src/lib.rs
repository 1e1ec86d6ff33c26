//! End-to-end tests live in `tests/`: `program/` runs the on-chain program inside
//! `solana-program-test`'s real runtime (native processor + the real SPL Token program).
