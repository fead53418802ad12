#!/usr/bin/env bash
# Installs build and run dependencies from Debian (idempotent; needs root or sudo).
set -euo pipefail
pkgs=(build-essential cmake ninja-build pkg-config clang libclang-rt-14-dev
      libzmq3-dev cppzmq-dev coinor-libcbc-dev nlohmann-json3-dev libcli11-dev
      libcpp-httplib-dev libspdlog-dev libfmt-dev libgtest-dev libgmock-dev libbenchmark-dev
      graphviz curl)
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
