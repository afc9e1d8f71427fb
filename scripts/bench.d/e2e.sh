#!/usr/bin/env bash
# Paid escrow jobs end to end on the devnet (real hub, stake, relayer nodes, worker
# agent; stub inference backend): jobs/s and p50/p99 latency from the relayer
# accepting the funded job to the worker running it, with SQLite, PostgreSQL, and two
# replicas on one PostgreSQL; then jobs settled on-chain per second.
#   scripts/bench.d/e2e.sh [JOBS] [--cases sqlite,pg,pg2] [--no-settle] [--settle-timeout SECS]
#   (default 1000 jobs per case, every case, settlement measured up to 90 s)
# Progress goes to stderr; one JSON line per case to stdout.
set -euo pipefail
cd "$(dirname "$0")/../.."
jobs="${1:-1000}"
shift || true
RUST_BACKTRACE=0 cargo bench -q -p spindle-e2e --bench e2e -- "$jobs" "$@"
