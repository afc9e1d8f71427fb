# Fuzzing: every cargo-fuzz target in fuzz/ (the parsers of outside input) for a
# short bounded time each; fails on any crash and keeps the input in
# fuzz/artifacts/. Builds under target/fuzz (cached with the rest of target/).
# Longer runs: scripts/fuzz --seconds 600.
set -euo pipefail
CARGO_BUILD_JOBS=2 scripts/fuzz --seconds "${SPINDLE_FUZZ_SECONDS:-20}"
