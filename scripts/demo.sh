#!/usr/bin/env bash
# README command 1: one render job end to end on a local chain, through the real commands.
#
#   local chain → network bootstrap → orchestrator → two operators stake and register nodes →
#   two `node-agent run` render on Vulkan → the artist submits the sample scene and watches it
#   render (previews) → approves → downloads the verified clean frames → the agents claim their pay on their own →
#   an auditor checks everything from the files alone → balances before and after.
#
# Settings (environment): FRAMES (1-2), SIZE (320x180), TILE (64), SPP (16), DATA (data/demo),
# DEMO_SKIP_BUILD=1 to use binaries already in $CARGO_TARGET_DIR/debug (default target/debug).
set -euo pipefail
cd "$(dirname "$0")/.."
FRAMES=${FRAMES:-1-2} SIZE=${SIZE:-320x180} TILE=${TILE:-64} SPP=${SPP:-16}
DATA=${DATA:-data/demo}
BIN=${CARGO_TARGET_DIR:-target}/debug
if [ "${DEMO_SKIP_BUILD:-}" != 1 ]; then
  scripts/deps.sh
  cargo build --locked --bins -p tessera-cli -p tessera-localnet -p tessera-migrations \
    -p tessera-orchestrator -p tessera-node-agent
fi
rm -rf "$DATA" && mkdir -p "$DATA/logs"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null || echo $((20000 + RANDOM % 20000)); }
wait_port() { for _ in $(seq 300); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return; sleep 0.2; done; echo "port $1 never opened; see $DATA/logs" >&2; exit 1; }
json_field() { sed -n "s/.*\"$1\": *\"\{0,1\}\([^\",]*\)\"\{0,1\},\{0,1\}$/\1/p" | head -1; }
step() { printf '\n== %s\n' "$*"; }
run() { printf '$ %s\n' "$*" | sed "s|$BIN/||g; s|$DATA/|\$DATA/|g"; "$@"; }

RPC_PORT=$(free_port) ORCH_PORT=$(free_port)
export TESSERA_CONFIG="$DATA/config.yml"
T="$BIN/tessera"

step "1. local development chain"
"$BIN/tessera-localnet" --data-dir "$DATA/chain" --port "$RPC_PORT" > "$DATA/logs/localnet.log" 2>&1 &
pids+=($!); wait_port "$RPC_PORT"
ADMIN="$DATA/chain/faucet.json"
run $T config set url "http://127.0.0.1:$RPC_PORT" > /dev/null
run $T config set orchestrator "http://127.0.0.1:$ORCH_PORT" > /dev/null
echo "RPC http://127.0.0.1:$RPC_PORT, admin and mint authority: the chain's faucet"

step "2. network bootstrap (token mint, initialize_network with its treasury, the orchestrator's bond)"
ORCH_KEY=$($T dev keygen "$DATA/orchestrator.json")
$T dev fund "$ORCH_KEY" --sol 10 > /dev/null   # it pays for posting receipts
run "$BIN/tessera-migrate" --rpc-url "http://127.0.0.1:$RPC_PORT" --keypair "$ADMIN" \
  --orchestrator "$ORCH_KEY" --challenge-window 3600 --state-dir "$DATA/migrations" > /dev/null
run $T network

step "3. orchestrator"
"$BIN/tessera-orchestrator" --db "$DATA/orchestrator.sqlite" --blobs "$DATA/blobs" \
  --listen "127.0.0.1:$ORCH_PORT" --rpc-url "http://127.0.0.1:$RPC_PORT" \
  --keypair "$DATA/orchestrator.json" --verify-share 0.2 > "$DATA/logs/orchestrator.log" 2>&1 &
pids+=($!); wait_port "$ORCH_PORT"
echo "HTTP http://127.0.0.1:$ORCH_PORT"

step "4. two node operators stake, register and start their agents"
for i in 0 1; do
  OP=$($T dev keygen "$DATA/operator-$i.json")
  $T -k "$ADMIN" dev fund "$OP" --sol 10 --tokens 5 > /dev/null
  run $T -k "$DATA/operator-$i.json" node register --stake 2 --score 30 \
    --node-keypair "$DATA/node-$i.json"
  "$BIN/node-agent" run --orchestrator "http://127.0.0.1:$ORCH_PORT" \
    --url "http://127.0.0.1:$RPC_PORT" --keypair "$DATA/node-$i.json" --idle-secs 1 \
    --data-dir "$DATA/node-$i" \
    > "$DATA/logs/node-$i.log" 2>&1 &
  pids+=($!)
done

# A node's checks count (they can convict a wrong node, off-chain and on) only if it was
# registered strictly before the job, by the chain clock's seconds; a job created in the
# registrations' second would get its checks from non-witnesses after --witness-wait-ms
# (20 s) and convict nobody. Move the development chain's clock past the registrations.
$T dev advance-clock 2 > /dev/null
echo "chain clock moved 2 s past the registrations: both nodes are witnesses of the job created next"

step "5. the artist quotes and submits the sample scene"
ARTIST=$($T dev keygen "$DATA/artist.json")
$T -k "$ADMIN" dev fund "$ARTIST" --sol 10 --tokens 100 > /dev/null
A=(-k "$DATA/artist.json")
balances() {
  $T balance "$ARTIST" | sed 's/^/   artist     /'
  for i in 0 1; do $T balance -k "$DATA/operator-$i.json" | sed "s/^/   operator $i /"; done
  $T network | sed -n 's/^treasury *\(.*\)/   treasury   \1/p'
}
echo "balances before:"; balances
SCENE=node-agent/render/assets/cornell.glb
JOB_FLAGS=(--frames "$FRAMES" --size "$SIZE" --tile "$TILE" --spp "$SPP")
run $T "${A[@]}" job quote "$SCENE" "${JOB_FLAGS[@]}"
JOB=$($T "${A[@]}" job submit "$SCENE" "${JOB_FLAGS[@]}" --no-wait --output json | json_field job_id)
echo "job $JOB escrowed and registered"
run $T "${A[@]}" job watch "$JOB" --out "$DATA/previews"   # reduced-resolution previews

step "6. approve, then download (clean frames only after settlement, each checked against the on-chain tile root)"
run $T "${A[@]}" job approve "$JOB"
run $T "${A[@]}" job download "$JOB" --out "$DATA/download"

step "7. the node agents claim their payouts on their own"
for _ in $(seq 120); do
  S=$($T job status "$JOB" --output json)
  [ "$(echo "$S" | json_field claimed_count)" = "$(echo "$S" | json_field node_count)" ] && break
  sleep 1
done
for i in 0 1; do run $T node status --node-keypair "$DATA/node-$i.json"; done

step "8. audit from the chain and the files alone (no orchestrator)"
run $T audit "$JOB" --frames "$DATA/download" --manifest "$DATA/download/manifest.json"
# close_job waits for the job's slash window (receipt + challenge window + resolution period,
# here 1 h + 3 days): the tile root stays on-chain as evidence until then, so it is refused now.
if run $T "${A[@]}" job close "$JOB"; then
  echo "close_job should wait for the slash window" >&2; exit 1
fi

step "9. balances after"
balances
echo
echo "done: frames in $DATA/download, logs in $DATA/logs"
