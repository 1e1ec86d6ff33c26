#!/usr/bin/env bash
# The whole test suite: the program in a real Solana runtime, the SDK, the local chain over
# JSON-RPC, the orchestrator against the local chain, the renderer on lavapipe, and the demo
# (real node-agent processes), which needs the node-agent binary built first.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cargo build --locked -p tessera-node-agent
cargo test --workspace --locked -- --include-ignored
