# Rust workspace: unit, integration and end-to-end tests (nextest when present).
set -euo pipefail
cargo build --workspace --all-targets --locked
if command -v cargo-nextest >/dev/null; then
  cargo nextest run --workspace --locked --no-fail-fast
else
  cargo test --workspace --locked --no-fail-fast
fi
cargo doc --workspace --no-deps --locked -q
