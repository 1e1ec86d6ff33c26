#!/usr/bin/env bash
# The whole test suite: the program in a real Solana runtime, the SDK, the local chain over
# JSON-RPC, the orchestrator against the local chain, and the renderer on lavapipe.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cargo test --workspace --locked "$@"
