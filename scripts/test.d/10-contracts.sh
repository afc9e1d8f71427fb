# Contracts: install the npm package, recompile every contract and compare with
# the committed artifacts in contracts/build/, run the @ton/sandbox suites, and
# compare the gas they measured with the committed contracts/gas-snapshot.json
# (a difference fails under CI; locally it is printed).
set -euo pipefail
cd contracts
npm ci --no-audit --no-fund --loglevel=error
npm run --silent build:check
before=$(mktemp)
trap 'rm -f "$before"' EXIT
git show HEAD:contracts/gas-snapshot.json >"$before" 2>/dev/null || cp gas-snapshot.json "$before"
npx jest --ci
GAS_STRICT=${CI:+1} node scripts/gas-diff.js "$before" gas-snapshot.json
