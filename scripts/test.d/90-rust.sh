# Rust workspace: unit, integration and end-to-end tests (nextest when present),
# and the API docs. The docs build while the tests run (the tests mostly wait on
# the devnet, llama-server and the databases), in their own target directory so
# that neither waits for the other's build lock.
set -euo pipefail
cargo build --workspace --all-targets --locked
mkdir -p target
CARGO_TARGET_DIR=target/docs cargo doc --workspace --no-deps --locked -q >target/cargo-doc.log 2>&1 &
doc=$!
trap 'kill "$doc" 2>/dev/null || true' EXIT
if command -v cargo-nextest >/dev/null; then
  cargo nextest run --workspace --locked --no-fail-fast
else
  cargo test --workspace --locked --no-fail-fast
fi
if ! wait "$doc"; then
  cat target/cargo-doc.log >&2
  echo "cargo doc failed" >&2
  exit 1
fi
echo "cargo doc: ok (target/docs/doc/spindle_sdk/index.html)"
