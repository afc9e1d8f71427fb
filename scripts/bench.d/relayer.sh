#!/usr/bin/env bash
# Relayer proofs verified + signed + persisted per second (SQLite and Postgres),
# next to raw ed25519 signing in the same run.
#   scripts/bench.d/relayer.sh [PROOFS]   (default 20000)
set -euo pipefail
cd "$(dirname "$0")/../.."
RUST_BACKTRACE=0 cargo bench -q -p spindle-relayer --bench proofs -- "${1:-20000}"
