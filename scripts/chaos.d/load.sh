#!/usr/bin/env bash
# Load with fair share, long run, all real on loopback: gateway, worker agent over the
# worker protocol, llama-server (scripts/setup-inference). A flooding client keeps many
# requests queued while a light client sends one at a time; the test fails if a light
# request ever waits behind more than 2 x capacity + 1 flood requests, or is refused.
# This script writes chaos/load.md.
#
#   SPINDLE_CHAOS_LOAD_LIGHT=50    light requests (the suite's short run: 10)
#   SPINDLE_CHAOS_LOAD_FLOOD=16    flooding connections (the suite: 8)
set -euo pipefail
cd "$(dirname "$0")/../.."
light=${SPINDLE_CHAOS_LOAD_LIGHT:-50}
flood=${SPINDLE_CHAOS_LOAD_FLOOD:-16}
eval "$(scripts/setup-inference)"
export SPINDLE_LLAMA_SERVER SPINDLE_MODEL SPINDLE_MODEL_ALIAS
lines=$(mktemp)
trap 'rm -f "$lines"' EXIT
t0=$(date +%s)
SPINDLE_CHAOS_LOAD_LIGHT=$light SPINDLE_CHAOS_LOAD_FLOOD=$flood SPINDLE_CHAOS_REPORT=$lines \
  cargo test --locked -p spindle-relayer --test gateway a_flooding_client_does_not_starve -- --test-threads=1 >&2
wall=$(( $(date +%s) - t0 ))
python3 - "$lines" "$wall" "$(git rev-parse --short HEAD)" \
  "$(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')" "$(nproc)" \
  >chaos/load.md <<'PY'
import json, sys, datetime
path, wall, commit, cpu, cores = sys.argv[1:]
[r] = [json.loads(l) for l in open(path) if l.strip()]
print("# Load with fair share (long run)\n")
print("All real, on loopback: the OpenAI-compatible gateway, a worker agent connected over "
      "the worker protocol (WebSocket, signed challenge) and a llama-server with one slot "
      "(SmolLM2-135M; 8 tokens per flood answer, 2 per light one, prompt cached). A flooding client keeps "
      f"{r['flood_connections']} requests in flight at all times; a light client (another "
      "account) sends its requests one after another. The gateway queues waiting requests "
      "per account and serves accounts round-robin (relayer/src/gateway/pool.rs), so while "
      "a light request waits, at most `2 x capacity + 1` flood requests may finish (the one "
      "running, the one the round-robin dispatched first, one for the race between sending "
      "and queueing). A first-come queue would let about one flood-depth through each "
      "time. The test is `a_flooding_client_does_not_starve_a_light_one` in "
      "relayer/tests/gateway/load.rs (the suite runs 10 light requests against 8 flooding "
      "connections). Latencies are reported, never asserted.\n")
print(f"Reproduce: `SPINDLE_CHAOS_LOAD_LIGHT={r['light_requests']} SPINDLE_CHAOS_LOAD_FLOOD={r['flood_connections']} scripts/chaos load`\n")
print(f"- date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC")
print(f"- commit: {commit}")
print(f"- machine: {cpu}, {cores} cores")
print(f"- wall time {wall} s (debug build of the gateway and worker)\n")
print("| | light client | flooding client |")
print("|---|---|---|")
print(f"| requests answered 200 | {r['light_ok']} of {r['light_requests']} | {r['flood_ok']} |")
print(f"| 503 (no capacity) | {r['light_503']} | {r['flood_503']} |")
print(f"| other errors | {r['light_other']} | {r['flood_other']} |")
print(f"\n- flood requests finished while a light request waited: max {r['overtaken_max']} "
      f"(bound {r['bound']}), mean {r['overtaken_mean']:.2f}; histogram (0, 1, 2, ...): {r['overtaken_hist']}")
print(f"- light request latency under the flood: p50 {r['light_ms_p50']} ms, p99 {r['light_ms_p99']} ms, max {r['light_ms_max']} ms")
ok = r["light_ok"] == r["light_requests"] and r["overtaken_max"] <= r["bound"]
print("\nResult: " + ("the light client was never starved: every request answered, within the fair-share bound." if ok else "FAILED"))
PY
echo "chaos/load.md written" >&2
