#!/usr/bin/env bash
# The main job end to end on the embedded default: local chain, network bootstrap,
# orchestrator, node agents rendering the sample scene on Vulkan, receipt, payouts.
# Extra arguments go to tessera-demo (see `--help`), e.g. `scripts/demo.sh --frames 1`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cargo build --locked -p tessera-node-agent -p tessera-e2e --bins
exec target/debug/tessera-demo "$@"
