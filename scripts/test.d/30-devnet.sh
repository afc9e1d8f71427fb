# Devnet, Node side: a stock TON client (@ton/ton TonClient) against the devnet,
# and the fidelity comparison with @ton/sandbox (the official emulator).
set -euo pipefail
cargo build -p spindle-devnet --bin spindle-devnet --locked
export DEVNET_BIN="$PWD/target/debug/spindle-devnet"
cd devnet/js
npm ci --no-audit --no-fund --loglevel=error
node --test --test-concurrency=1 ./*.test.mjs
