#!/usr/bin/env bash
# Installs build and run dependencies from Debian (idempotent; needs root or sudo).
set -euo pipefail
cd "$(dirname "$0")/.."
pkgs=(build-essential cmake ninja-build pkg-config clang libclang-rt-14-dev
      libzmq3-dev cppzmq-dev coinor-libcbc-dev nlohmann-json3-dev libcli11-dev
      libcpp-httplib-dev libspdlog-dev libfmt-dev libgtest-dev libgmock-dev libbenchmark-dev
      graphviz curl
      python3-regex  # only to regenerate tests/tokenizer/pretokenize_expected.inc (\p{..} classes)
      python3-numpy  # the float64 reference of the model families (scripts/reference_model.py)
      chromium  # headless browser for the web page's e2e test (tests/e2e/browser_test.sh)
      iproute2  # network namespaces for the LAN discovery test (tests/e2e/discovery_test.sh)
      g++-aarch64-linux-gnu qemu-user)  # ARM64 cross build of the kernel tests, run under qemu
# Node.js (for the OpenAI client test) may come from Debian (nodejs + npm) or elsewhere with npm
# bundled; the two must not be mixed, so only what is missing is asked for.
command -v node >/dev/null 2>&1 || pkgs+=(nodejs)
command -v npm >/dev/null 2>&1 || pkgs+=(npm)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# The official OpenAI client for the end-to-end server test (versions pinned by the lock file).
if [ -f tests/e2e/package-lock.json ] && [ ! -d tests/e2e/node_modules/openai ]; then
  npm ci --prefix tests/e2e --no-audit --no-fund >/dev/null 2>&1 ||
    echo "warning: npm could not install tests/e2e (the OpenAI client test will be skipped)" >&2
fi
