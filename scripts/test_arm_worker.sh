#!/usr/bin/env bash
# A real ARM64 device in the ring: cross-builds the whole lingualinked binary for aarch64 against
# Debian's arm64 packages, runs it as a worker under qemu-aarch64 beside an x86 worker, and checks
# that the ring's tokens (greedy and seeded; the ARM device in the middle and as the sampling
# tail) are bit-identical to single-device x86 `generate`. Prints each device's stage time.
#   scripts/test_arm_worker.sh X86_LINGUALINKED [build-dir]   (default build-arm-full)
# ctest runs it as e2e_arm64_worker. Exits 77 (ctest's skip code here) when the cross compiler,
# qemu or the arm64 libraries are missing (scripts/deps.sh installs them).
set -euo pipefail
cd "$(dirname "$0")/.."
x86=${1:?usage: $0 X86_LINGUALINKED [build-dir]}
build=${2:-build-arm-full}
sysroot=/usr/aarch64-linux-gnu
multiarch=/usr/lib/aarch64-linux-gnu

missing=()
for tool in aarch64-linux-gnu-g++ aarch64-linux-gnu-gcc qemu-aarch64 cmake ninja pkg-config; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
[ -d "$sysroot/lib" ] || missing+=("$sysroot")
for pc in libzmq cbc cpp-httplib; do
  [ -f "$multiarch/pkgconfig/$pc.pc" ] || missing+=("$pc:arm64")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "SKIPPED: the aarch64 worker test needs ${missing[*]} (Debian: dpkg --add-architecture" \
    "arm64; g++-aarch64-linux-gnu qemu-user libzmq3-dev:arm64 coinor-libcbc-dev:arm64" \
    "libcpp-httplib-dev:arm64; scripts/deps.sh installs them)"
  exit 77
fi
[ -x "$x86" ] || { echo "error: no x86 binary at $x86" >&2; exit 1; }

start=$SECONDS
launcher=()
command -v ccache >/dev/null 2>&1 &&
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_TOOLCHAIN_FILE="$PWD/cmake/aarch64-linux-gnu.cmake" \
  -DLL_BUILD_TESTS=OFF -DLL_BUILD_BENCH=OFF "${launcher[@]}" >/dev/null
ninja -C "$build" --quiet lingualinked
arm="$build/tools/lingualinked"
echo "cross build: $((SECONDS - start)) s"
# ELF e_machine 183 is AArch64.
[ "$(od -An -j18 -N2 -tu2 "$arm" | tr -d ' ')" = 183 ] ||
  { echo "error: $arm is not an aarch64 binary" >&2; exit 1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/ll_arm_worker_XXXXXX")
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT

# -L: the target's dynamic loader; the multiarch libraries are found in the host's
# /usr/lib/aarch64-linux-gnu, which qemu falls back to.
qemu=(qemu-aarch64 -L "$sysroot")
"${qemu[@]}" "$arm" --help >/dev/null || { echo "error: the aarch64 binary does not start" >&2; exit 1; }

"$x86" synth --preset tiny --type Q8_0 -o "$tmp/model.gguf" >/dev/null
"$x86" keygen -o "$tmp/cluster.key" >/dev/null

# start_worker NAME CMD...: starts a worker, waits (with a deadline) for its ready file.
start_worker() {
  local name=$1
  shift
  "$@" worker --listen tcp://127.0.0.1:0 --name "$name" --ready-file "$tmp/$name.ready" \
    --key "$tmp/cluster.key" --cache-dir "$tmp/$name.cache" 2>"$tmp/$name.log" &
  pids+=($!)
  local deadline=$((SECONDS + 120))
  while [ ! -s "$tmp/$name.ready" ]; do
    if [ $SECONDS -ge $deadline ] || ! kill -0 "${pids[-1]}" 2>/dev/null; then
      echo "error: worker $name did not start:" >&2
      cat "$tmp/$name.log" >&2
      exit 1
    fi
    sleep 0.1
  done
  cat "$tmp/$name.ready"
}
x86_addr=$(start_worker x86-worker "$x86")
arm_addr=$(start_worker arm64-qemu "${qemu[@]}" "$arm")
echo "workers: x86 $x86_addr, arm64 (qemu) $arm_addr"

tokens() { grep -o '"tokens":\[[^]]*\]' <<<"$1"; }
# One line per device: name and stage time.
stages() {
  grep -o '"devices":\[[^]]*\]' <<<"$1" | grep -o '"name":"[^"]*","stage_ms":[0-9.e+-]*' |
    sed 's/"name":"\([^"]*\)","stage_ms":\(.*\)/  \1: \2 ms per pass/'
}

prompt=1,17,33,5
n=24
status=0
for temp in 0 0.8; do
  want=$("$x86" generate -m "$tmp/model.gguf" --prompt-ids $prompt -n $n --temp $temp --seed 7 \
    --json)
  for order in "$x86_addr,$arm_addr" "$arm_addr,$x86_addr"; do
    # Fixed cuts: each device gets a share of the layers (the planner could leave the slow
    # emulated device idle); the second cut lies inside a layer.
    got=$("$x86" run -m "$tmp/model.gguf" --workers "$order" --key "$tmp/cluster.key" \
      --prompt-ids $prompt -n $n --temp $temp --seed 7 --json --cuts 9,22 \
      --cache-dir "$tmp/head.cache")
    where=$([ "$order" = "$x86_addr,$arm_addr" ] && echo "arm64 tail" || echo "arm64 middle")
    if [ "$(tokens "$want")" = "$(tokens "$got")" ]; then
      echo "ok: temp $temp, $where: tokens bit-identical to single-device x86"
    else
      echo "FAIL: temp $temp, $where:"
      echo "  x86 alone: $(tokens "$want")"
      echo "  ring:      $(tokens "$got")"
      status=1
    fi
    stages "$got"
  done
done
echo "total: $((SECONDS - start)) s"
exit $status
