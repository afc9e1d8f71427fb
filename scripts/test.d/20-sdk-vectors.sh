# Golden vectors: regenerate sdk/tests/vectors/vectors.json with the reference
# TypeScript libraries and fail if it drifted from the committed copy, which
# the Rust tests (sdk/tests/golden.rs) compare against byte for byte.
dir=sdk/tests/vectors
(cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
fresh=$(mktemp)
trap 'rm -f "$fresh"' EXIT
node "$dir/generate.mjs" "$fresh"
if ! cmp -s "$fresh" "$dir/vectors.json"; then
  diff -u "$dir/vectors.json" "$fresh" | head -40 >&2
  echo "sdk vectors drifted: run 'node $dir/generate.mjs' and commit $dir/vectors.json" >&2
  exit 1
fi
echo "sdk golden vectors are up to date"
