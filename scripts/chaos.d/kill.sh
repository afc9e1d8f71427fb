# The long kill run (issue 9 "Kill test", issue 6 crash safety): SIGKILLs of
# `spindle relayer run` (3, k = 2) and `spindle worker run` (2, real llama-server)
# processes at random moments while escrow jobs keep arriving, then the audit of
# every escrow on-chain against the stake and each relayer's store. It is the test
# cli/tests/kill.rs at full size; scripts/test runs it at 50 kills.
#
#   scripts/chaos kill
#   SPINDLE_CHAOS_KILLS=200 SPINDLE_CHAOS_JOBS=40 SPINDLE_CRASH_SEED=N scripts/chaos kill
#   CHAOS_PROFILE=release scripts/chaos kill          (default: the debug build)
#
# Writes chaos/kill.md (even when the audit fails: then it says so and exits 1).
set -euo pipefail
cd "$(dirname "$0")/../.."
export SPINDLE_CHAOS_KILLS=${SPINDLE_CHAOS_KILLS:-200}
export SPINDLE_CHAOS_JOBS=${SPINDLE_CHAOS_JOBS:-40}
profile=${CHAOS_PROFILE:-debug}
case "$profile" in
  debug) build=() ;;
  release) build=(--release) ;;
  *) echo "CHAOS_PROFILE must be debug or release, not $profile" >&2; exit 2 ;;
esac

mkdir -p target chaos
scripts/setup-inference >target/spindle-inference.env.tmp
mv target/spindle-inference.env.tmp target/spindle-inference.env
# Also in the environment: a build copied from another checkout looks for the file there.
set -a
# shellcheck disable=SC1091
source target/spindle-inference.env
set +a

body=$(mktemp)
log=target/chaos-kill.log
trap 'rm -f "$body"' EXIT
export SPINDLE_CHAOS_REPORT="$body"
cargo build -p spindle --test kill --locked "${build[@]}" -q
t0=$(date +%s)
status=0
cargo test -p spindle --test kill --locked "${build[@]}" -q -- --nocapture >"$log" 2>&1 || status=$?
took=$(( $(date +%s) - t0 ))

commit=$(git rev-parse --short HEAD)
dirty=$(git status --porcelain --untracked-files=no | grep -q . && echo " (with uncommitted changes)" || true)
cpu=$(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
mem=$(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)
load=$(cut -d' ' -f1-3 /proc/loadavg)
{
  echo "# Kill run"
  echo
  echo "_$(date -u +%Y-%m-%dT%H:%M:%SZ), commit \`$commit\`$dirty, $cpu, $(nproc) cores, $mem RAM, load $load at the end; $profile build; ${took} s_"
  echo
  echo "SIGKILLs of the 3 \`spindle relayer run\` processes (k = 2, SQLite stores) and the 2"
  echo "\`spindle worker run\` processes (in front of a real llama-server) at random moments,"
  echo "each restarted at once, while escrow jobs keep being funded and submitted; then every"
  echo "escrow is read back from the chain and compared with the stake and each relayer's store."
  echo "Reproduce: \`SPINDLE_CRASH_SEED=<seed> scripts/chaos kill\` (size: \`SPINDLE_CHAOS_KILLS\`,"
  echo "\`SPINDLE_CHAOS_JOBS\`); the test is \`cli/tests/kill.rs\`, its 50-kill version runs in \`scripts/test\`."
  echo
  if [[ $status -ne 0 ]]; then
    echo "**FAILED** (exit $status): see the violations below, or the log's tail:"
    echo
    echo '```'
    tail -n 30 "$log"
    echo '```'
    echo
  fi
  cat "$body"
} >chaos/kill.md
echo "kill run: exit $status in ${took}s; report chaos/kill.md, log $log" >&2
exit "$status"
