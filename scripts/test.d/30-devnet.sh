# Devnet, Node side: a stock TON client (@ton/ton TonClient) against the devnet,
# the fidelity comparison with @ton/sandbox (the official emulator), and the
# contracts' own sandbox test suites replayed onto the devnet transaction by
# transaction (devnet/js/jest-mirror.cjs): any difference in gas, fees, exit
# codes or out messages fails.
set -euo pipefail
cargo build -p spindle-devnet --bin spindle-devnet --locked
export DEVNET_BIN="$PWD/target/debug/spindle-devnet"
(
  cd devnet/js
  npm ci --no-audit --no-fund --loglevel=error
  node --test --test-concurrency=1 ./*.test.mjs
)
if [[ -f contracts/package.json ]]; then
  cd contracts
  [[ -d node_modules ]] || npm ci --no-audit --no-fund --loglevel=error
  report=$(mktemp)
  MIRROR_REPORT="$report" npx jest --silent --setupFilesAfterEnv "$PWD/../devnet/js/jest-mirror.cjs"
  echo "contracts' sandbox suites mirrored onto the devnet:"
  node -e 'for (const l of require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n")) { const r = JSON.parse(l); console.log(`  ${r.file.replace(/.*\/contracts\//, "")}: ${r.transactions} transactions, ${r.diffs.length} differences`); for (const s of r.skipped ?? []) console.log(`    not mirrored: ${s}`); }' "$report"
  rm -f "$report"
fi
