#!/usr/bin/env bash
# Chain API fault proxy, long run: the watcher follows ≥ 10,000 devnet transactions
# (deposits, funded and completed escrows, voucher payouts) through a proxy that injects
# latency, 429, 500, timeouts, connection resets and drops, and truncated, holed,
# shuffled, stale and cut pages; on SQLite and on PostgreSQL. The test asserts every
# transaction and event is applied exactly once; this script writes chaos/faults.md.
#
#   SPINDLE_CHAOS_FAULTS_TX=10000  transactions to drive (the suite's short run: 1,000)
#   SPINDLE_CHAOS_SEED=…           the proxy's seed (default: from the clock, reported)
set -euo pipefail
cd "$(dirname "$0")/../.."
tx=${SPINDLE_CHAOS_FAULTS_TX:-10000}
seed=${SPINDLE_CHAOS_SEED:-$(( $(date +%s) % 1000000 ))}
lines=$(mktemp)
trap 'rm -f "$lines"' EXIT
t0=$(date +%s)
SPINDLE_CHAOS_FAULTS_TX=$tx SPINDLE_CHAOS_SEED=$seed SPINDLE_CHAOS_REPORT=$lines \
  cargo test --locked -p spindle-relayer --test watch chain_faults -- --test-threads=1 >&2
wall=$(( $(date +%s) - t0 ))
python3 - "$lines" "$seed" "$tx" "$wall" "$(git rev-parse --short HEAD)" \
  "$(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')" "$(nproc)" \
  >chaos/faults.md <<'PY'
import json, sys, datetime
path, seed, asked, wall, commit, cpu, cores = sys.argv[1:]
runs = [json.loads(l) for l in open(path) if l.strip()]
assert len(runs) == 2, f"expected a SQLite and a PostgreSQL run, got {len(runs)}"
names = list(runs[0]["faults"])
print("# Chain API fault proxy (long run)\n")
print("The chain watcher follows a devnet over HTTP through a proxy that injects faults "
      "from a seeded RNG (relayer/tests/watch/proxy.rs): per request 8% 429, 6% 500, "
      "3% stalled past the client's 500 ms timeout, 20% delayed up to 150 ms; per "
      "`getTransactions` page 15% cut short, 10% a hole in the middle, 15% shuffled, "
      "5% an older page served again, 5% a body cut mid-JSON; per TCP connection 10% reset "
      "on accept, the others reset after a random 0–64 KiB of answer. Meanwhile the chain "
      "gets rounds of 510 deposits, a funded escrow completed with a 2-of-3 proof and a "
      "voucher payout. The test (`chain_faults` in relayer/tests/watch/main.rs) fails "
      "unless every transaction and every event lands in the store exactly once.\n")
print(f"Reproduce: `SPINDLE_CHAOS_FAULTS_TX={asked} SPINDLE_CHAOS_SEED={seed} scripts/chaos faults` "
      "(the suite runs the same test with 1,000 transactions).\n")
print(f"- date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC")
print(f"- commit: {commit}")
print(f"- machine: {cpu}, {cores} cores")
print(f"- seed: {seed}; asked: {asked} transactions per backend; wall time {wall} s (debug build, both backends)\n")
print("| | " + " | ".join(r["backend"] for r in runs) + " |")
print("|---|" + "---|" * len(runs))
def row(label, f):
    print(f"| {label} | " + " | ".join(str(f(r)) for r in runs) + " |")
row("transactions on the chain", lambda r: r["transactions"])
row("transactions applied", lambda r: r["applied"])
row("missed", lambda r: r["transactions"] - r["applied"])
row("applied twice", lambda r: r["applied_twice"])
row("events applied / on the chain", lambda r: f'{r["events"]} / {r["events_expected"]}')
row("rounds (escrows, vouchers)", lambda r: r["rounds"])
row("watcher passes", lambda r: r["polls"])
row("account-polls failed and retried", lambda r: r["account_errors"])
row("requests answered by the devnet", lambda r: r["requests_forwarded"])
for n in names:
    row(f"injected: {n}", lambda r, n=n: r["faults"][n])
row("seconds", lambda r: r["seconds"])
bad = [r for r in runs if r["transactions"] != r["applied"] or r["applied_twice"] or r["events"] != r["events_expected"]]
print("\nResult: " + ("FAILED" if bad else "0 missed, 0 double-processed transactions and events on both backends."))
PY
echo "chaos/faults.md written" >&2
