# CPU inference server: installs llama-server and the SmolLM2 model (cached per
# machine; the first run builds llama.cpp, ~8-13 min), writes their paths to
# target/spindle-inference.env for the Rust tests (spindle_worker::testing reads
# it; shell steps may `source` it), then smoke-tests one real chat request.
set -euo pipefail
cd "$(dirname "$0")/../.."
mkdir -p target
scripts/setup-inference >target/spindle-inference.env.tmp
mv target/spindle-inference.env.tmp target/spindle-inference.env
# shellcheck disable=SC1091
source target/spindle-inference.env

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
log=$(mktemp)
"$SPINDLE_LLAMA_SERVER" --model "$SPINDLE_MODEL" --host 127.0.0.1 --port "$port" \
  --threads 2 --parallel 1 --seed 42 --alias "$SPINDLE_MODEL_ALIAS" >"$log" 2>&1 &
pid=$!
# Stop llama-server itself, by PID, whatever happens below.
trap 'rc=$?; kill -9 "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true; rm -f "$log"; exit $rc' EXIT
for _ in $(seq 1200); do
  curl -sf "http://127.0.0.1:$port/health" >/dev/null && break
  kill -0 "$pid" 2>/dev/null || { tail -n 30 "$log" >&2; echo "llama-server exited" >&2; exit 1; }
  sleep 0.1
done
answer=$(curl -sf "http://127.0.0.1:$port/v1/chat/completions" -H 'Content-Type: application/json' \
  -d '{"messages":[{"role":"user","content":"Say hi."}],"max_tokens":8,"temperature":0}') \
  || { tail -n 30 "$log" >&2; echo "llama-server did not answer a chat request" >&2; exit 1; }
python3 - "$answer" <<'PY'
import json, sys
answer = json.loads(sys.argv[1])
usage = answer["usage"]
assert answer["model"] == "smollm2-135m", answer["model"]
assert usage["completion_tokens"] > 0 and usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"], usage
print(f"llama-server answered {answer['choices'][0]['message']['content']!r} with usage {usage}")
PY
