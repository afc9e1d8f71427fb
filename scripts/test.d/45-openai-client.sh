# Stock OpenAI client for the gateway tests: the `openai` PyPI package in a
# virtualenv under target/ (created once, kept between runs), its python written
# to target/spindle-openai.env for relayer/tests/gateway/openai_client.rs.
set -euo pipefail
cd "$(dirname "$0")/../.."
mkdir -p target
venv=target/spindle-openai-venv
version=3.57.0
if ! "$venv/bin/python" -c "import openai, sys; sys.exit(openai.__version__ != '$version')" 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check "openai==$version"
fi
echo "SPINDLE_OPENAI_PYTHON=$(cd "$venv/bin" && pwd)/python" >target/spindle-openai.env
"$venv/bin/python" -c "import openai; print('openai', openai.__version__, 'ready')"
