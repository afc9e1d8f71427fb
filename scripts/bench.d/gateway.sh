#!/usr/bin/env bash
# OpenAI-compatible requests through Spindle (gateway → worker → llama-server,
# signed, verified, charged) vs straight to the same llama-server, at
# concurrency 1 and 8, whole and streamed, alternating in one run.
#   scripts/bench.d/gateway.sh [REQUESTS_PER_CASE] [MAX_TOKENS]   (defaults 32 32)
set -euo pipefail
cd "$(dirname "$0")/../.."
mkdir -p target
scripts/setup-inference >target/spindle-inference.env
RUST_BACKTRACE=0 cargo bench -q -p spindle-relayer --bench gateway -- "${1:-32}" "${2:-32}"
