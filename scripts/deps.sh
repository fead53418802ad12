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
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO=sudo
missing=()
for p in "${pkgs[@]}"; do
  installed "$p" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# The whole binary cross-built for ARM64 (the qemu worker test, scripts/test_arm_worker.sh) links
# Debian's arm64 builds of the libraries. Optional and guarded: it runs after the host install, is
# skipped when apt would remove any package, and on any failure undoes the added architecture,
# so the x86 install is never at stake (the test then skips with a message). On by default,
# so CI runs the aarch64 worker test; LL_ARM64_WORKER=0 opts out. Its cold cross build takes
# 5-11 min on 2 cores (ctest gives that case 30 min and runs it beside the others). About 48 MB
# of .debs (67 packages, 220 MB installed) plus the arm64 package lists.
arm_pkgs=(libzmq3-dev:arm64 coinor-libcbc-dev:arm64 libcpp-httplib-dev:arm64)
arm_missing=()
for p in "${arm_pkgs[@]}"; do
  installed "$p" || arm_missing+=("$p")
done
if [ ${#arm_missing[@]} -gt 0 ] && [ "${LL_ARM64_WORKER:-1}" = 1 ] &&
  [ "$(dpkg --print-architecture)" = amd64 ]; then
  had_arm64=0
  dpkg --print-foreign-architectures | grep -qx arm64 && had_arm64=1
  # (Not a `set -e` subshell: errexit is ignored inside a tested command.)
  install_arm64() {
    $SUDO dpkg --add-architecture arm64 || return 1
    $SUDO apt-get update -qq || return 1
    local plan
    plan=$($SUDO apt-get install -s --no-install-recommends "${arm_missing[@]}") || return 1
    if grep -q '^Remv' <<<"$plan"; then
      echo "warning: installing ${arm_missing[*]} would remove packages; skipped" >&2
      return 1
    fi
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
      "${arm_missing[@]}" >/dev/null
  }
  if ! install_arm64; then
    echo "warning: arm64 libraries not installed (the aarch64 worker test will be skipped)" >&2
    if [ $had_arm64 = 0 ]; then  # dpkg refuses this while arm64 packages are installed
      $SUDO dpkg --remove-architecture arm64 2>/dev/null || true
      $SUDO apt-get update -qq || true
    fi
  fi
fi
# The official OpenAI client for the end-to-end server test (versions pinned by the lock file).
if [ -f tests/e2e/package-lock.json ] && [ ! -d tests/e2e/node_modules/openai ]; then
  npm ci --prefix tests/e2e --no-audit --no-fund >/dev/null 2>&1 ||
    echo "warning: npm could not install tests/e2e (the OpenAI client test will be skipped)" >&2
fi
