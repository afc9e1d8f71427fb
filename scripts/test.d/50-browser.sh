# Headless Chromium for the dashboard tests (relayer/tests/settlement/dashboard.rs):
# Debian's chromium and chromium-driver, installed once with apt (as root, or via sudo).
set -euo pipefail
if [[ -x /usr/bin/chromium ]]; then
  /usr/bin/chromium --version
  exit 0
fi
sudo=""
[[ $(id -u) == 0 ]] || sudo="sudo"
echo "installing Debian's chromium and chromium-driver"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium chromium-driver >/dev/null
/usr/bin/chromium --version
