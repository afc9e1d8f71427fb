#!/usr/bin/env bash
# Gas and fees of every contract operation, measured by the @ton/sandbox suites
# (they rewrite contracts/gas-snapshot.json), and the on-chain cost per metered
# request settled by 2-of-3 vouchers at 1M requests/day.
set -euo pipefail
cd "$(dirname "$0")/../../contracts"
[[ -d node_modules ]] || npm ci --no-audit --no-fund --loglevel=error >&2
npx jest --ci --silent >&2
python3 - <<'PY'
import json
snap = json.load(open("gas-snapshot.json"))
for op, v in sorted(snap.items()):
    print(json.dumps({"bench": "gas", "op": op, "gas": v["gas"], "fees_nanoton": int(v["fees_nanoton"])}))
# A voucher pays every request of an (account, provider) pair since the last one,
# so its cost spreads over the requests it settles.
chain = int(snap["compute_account.settle_voucher_2of3_whole_chain"]["fees_nanoton"])
for per_voucher in (1, 100, 10_000):
    print(json.dumps({
        "bench": "gas", "case": "metered_cost", "requests_per_voucher": per_voucher,
        "nanoton_per_request": chain / per_voucher,
        "ton_per_day_at_1M_requests": round(chain * 1_000_000 / per_voucher / 1e9, 4),
    }))
PY
