#!/usr/bin/env bash
# The whole test suite: the program in a real Solana runtime, the SDK, the local chain over
# JSON-RPC, the orchestrator against the local chain, the renderer on lavapipe, and the
# commands end to end (real localnet, orchestrator, node-agent and tessera processes), which
# need every binary built first.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cargo build --locked --workspace --bins
# solana-program-test turns the runtime's per-instruction DEBUG log on unless RUST_LOG says
# otherwise (12 000 lines per run), and its tarpc client warns once per call that no
# OpenTelemetry subscriber is installed (3 000 lines), and the bank reports every fee burned
# into a rent-paying account at WARN (solana_metrics); keep test output to results and failures.
export RUST_LOG=${RUST_LOG:-warn,tarpc=error,solana_metrics=error}
cargo test --workspace --locked -- --include-ignored
# The renderer once more on lavapipe of Mesa 25 (fetched by scripts/lavapipe.sh beside the
# system's Mesa 22), the faster CPU driver the renderer README recommends to node operators.
# (Its own line: a failed fetch must stop the suite, not leave VK_DRIVER_FILES empty.)
mesa25=$(scripts/lavapipe.sh)
VK_DRIVER_FILES=$mesa25 cargo test --locked -p tessera-render
