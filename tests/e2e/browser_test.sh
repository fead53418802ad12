#!/usr/bin/env bash
# The web page in headless Chromium (browser_test.mjs) against `lingualinked serve --n-devices 3`
# (the head and two worker processes over ZeroMQ) on a synthetic model: no ../shared needed.
# `--placement even` keeps all three in the ring: the planner runs the tiny model on the head
# alone, which is fastest, and the page is to show a ring.
# Usage: browser_test.sh LINGUALINKED SCREENSHOT.png
# Exit 77 (skipped) when chromium or node is missing; .ci/run installs both (scripts/deps.sh).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
bin="${1:-}"
shot="${2:-$PWD/e2e_browser.png}"
chromium="${LL_CHROMIUM:-$(command -v chromium || true)}"

# shellcheck source=tests/e2e/lib.sh
source "$here/lib.sh"
[[ -x "$bin" ]] || skip "lingualinked binary not given or not executable ('$bin')"
"$bin" serve --help >/dev/null 2>&1 || skip "$bin has no 'serve' subcommand (built without src/server)"
[[ -n "$chromium" && -x "$chromium" ]] || skip "chromium is not installed (apt-get install chromium; scripts/deps.sh does)"
command -v node >/dev/null || skip "node is not installed"

work="$(mktemp -d)"
server_pid=""
cleanup() {
  stop_server TERM
  rm -rf "$work"
}
trap cleanup EXIT

"$bin" synth --preset tiny --type Q8_0 -o "$work/synth-tiny.gguf" >/dev/null
start_server "$work/server.log" "$bin" serve -m "$work/synth-tiny.gguf" --n-devices 3 --placement even \
  --max-seqs 2 --ctx 4096 --cache-dir "$work/cache" || {
  echo "FAIL server did not start"
  exit 1
}
mkdir -p "$(dirname "$shot")"
rc=0
LL_BASE_URL="$base" LL_SCREENSHOT="$shot" LL_CHROMIUM="$chromium" \
  node "$here/browser_test.mjs" || rc=$?
if ((rc)); then
  echo "--- server log"
  tail -n 40 "$work/server.log"
fi
exit $rc
