# Contracts: install the npm package, recompile every contract and compare with
# the committed artifacts in contracts/build/, then run the @ton/sandbox suites.
set -euo pipefail
cd contracts
npm ci --no-audit --no-fund --loglevel=error
npm run --silent build:check
npx jest --ci
