#!/usr/bin/env bash
# Devnet throughput vs @ton/sandbox on the same sequence (a benchmark, not a test).
#   scripts/bench.d/devnet.sh [WALLETS] [ROUNDS] [FAN]     (defaults 500 4 20)
# Prints JSON lines per case and chain, then the devnet/sandbox ratios.
set -euo pipefail
cd "$(dirname "$0")/../.."
W="${1:-500}" R="${2:-4}" F="${3:-20}"
out=$(mktemp)
cargo bench -q -p spindle-devnet --bench throughput -- "$W" "$R" "$F" 2>/dev/null | grep '^{' | tee "$out"
(cd devnet/js && { [ -d node_modules ] || npm ci --no-audit --no-fund --loglevel=error; } && node bench-sandbox.mjs "$W" "$R" "$F") | tee -a "$out"
node -e '
const rows = require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n").map(JSON.parse);
for (const c of [...new Set(rows.map(r => r.case))]) {
  const d = rows.find(r => r.case === c && r.chain === "devnet"), s = rows.find(r => r.case === c && r.chain === "sandbox");
  if (d && s) console.log(JSON.stringify({ case: c, devnet_tx_per_s: d.tx_per_s, sandbox_tx_per_s: s.tx_per_s, ratio: +(d.tx_per_s / s.tx_per_s).toFixed(1) }));
}' "$out"
rm -f "$out"
