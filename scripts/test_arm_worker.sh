#!/usr/bin/env bash
# A real ARM64 device in the ring: cross-builds the whole lingualinked binary for aarch64 against
# Debian's multiarch arm64 packages, runs it as a worker under qemu-aarch64 (real NEON/SDOT code)
# beside an x86 worker, with an x86 head, and checks that the ring's tokens (greedy and seeded;
# the ARM device in the middle and as the sampling tail) are bit-identical to single-device x86
# `generate`. Prints each device's stage time (`run --json`).
#   scripts/test_arm_worker.sh [--build-only] X86_LINGUALINKED [build-dir]
#                                                     (default build dir: build-arm64-full)
# --build-only: only the cross build (ctest runs it as a separate case, outside the lock that
# serialises the multi-process tests). ctest runs the whole check as worker_arm64_qemu. Exits 77
# (ctest's skip code here) when the cross compiler, qemu or the arm64 libraries are missing
# (scripts/deps.sh installs them).
set -euo pipefail
cd "$(dirname "$0")/.."
build_only=0
if [ "${1:-}" = --build-only ]; then
  build_only=1
  shift
fi
x86=${1:?usage: $0 [--build-only] X86_LINGUALINKED [build-dir]}
build=${2:-build-arm64-full}
multiarch=/usr/lib/aarch64-linux-gnu
# The multiarch loader (libc6:arm64). The cross sysroot's loader (/usr/aarch64-linux-gnu/lib)
# must not be used: with the multiarch libc it hangs in the first pthread_create (see
# scripts/test_arm.sh).
loader=/usr/lib/ld-linux-aarch64.so.1

missing=()
for tool in aarch64-linux-gnu-g++ aarch64-linux-gnu-gcc qemu-aarch64 cmake ninja pkg-config python3; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
[ -e "$loader" ] || missing+=("libc6:arm64")
for pc in libzmq cbc cpp-httplib; do
  [ -f "$multiarch/pkgconfig/$pc.pc" ] || missing+=("$pc.pc:arm64")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "SKIPPED: the aarch64 worker test needs ${missing[*]} (Debian: dpkg --add-architecture" \
    "arm64; g++-aarch64-linux-gnu qemu-user libzmq3-dev:arm64 coinor-libcbc-dev:arm64" \
    "libcpp-httplib-dev:arm64; scripts/deps.sh installs them)"
  exit 77
fi
[ -x "$x86" ] || { echo "error: no x86 binary at $x86" >&2; exit 1; }

start=$SECONDS
launcher=()  # ccache, when present, makes a fresh build dir (ctest's) mostly cache hits
command -v ccache >/dev/null 2>&1 &&
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
if [ ! -f "$build/build.ninja" ]; then
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_TOOLCHAIN_FILE="$PWD/cmake/aarch64-linux-gnu.cmake" \
    -DLL_BUILD_TESTS=OFF -DLL_BUILD_BENCH=OFF "${launcher[@]}" >/dev/null
fi
ninja -C "$build" -j "$(nproc)" --quiet lingualinked  # not nproc+2: beside the other tests
arm="$build/tools/lingualinked"
echo "cross build: $((SECONDS - start)) s"
# ELF e_machine 183 is AArch64.
[ "$(od -An -j18 -N2 -tu2 "$arm" | tr -d ' ')" = 183 ] ||
  { echo "error: $arm is not an aarch64 binary" >&2; exit 1; }
[ $build_only = 1 ] && exit 0

# -L /: the multiarch loader, which finds libc and the rest in /usr/lib/aarch64-linux-gnu (the
# same glibc build). -cpu max has SDOT, so the dotprod kernels run.
qemu=(qemu-aarch64 -L / -cpu max)
libs=$("${qemu[@]}" -E LD_TRACE_LOADED_OBJECTS=1 "$arm" | awk '$2 == "=>" { print $3 }')
stray=$(grep -Ev "^(/usr)?/lib/aarch64-linux-gnu/" <<<"$libs" || true)
if [ -n "$libs" ] && [ -n "$stray" ]; then
  echo "error: these aarch64 libraries resolve outside $multiarch:" $stray >&2
  exit 1
fi
timeout 60 "${qemu[@]}" "$arm" --help >/dev/null ||
  { echo "error: the aarch64 binary does not start under qemu" >&2; exit 1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/ll_arm_worker_XXXXXX")
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT

"$x86" keygen -o "$tmp/cluster.key" >/dev/null

# start_worker NAME CMD...: starts a worker and waits for its ready file (an explicit signal with
# a deadline; fails at once if the worker exits first). Sets addr to the bound address. (Not run
# in $(...): that would wait for the worker's stdout to close, i.e. for the worker to exit.)
start_worker() {
  local name=$1
  shift
  "$@" worker --listen tcp://127.0.0.1:0 --name "$name" --ready-file "$tmp/$name.ready" \
    --key "$tmp/cluster.key" --cache-dir "$tmp/$name.cache" --exit-with-parent $$ \
    >"$tmp/$name.out" 2>"$tmp/$name.log" &
  local pid=$!
  pids+=("$pid")
  if ! "$x86" wait-ready --file "$tmp/$name.ready" --timeout 120 --pid $pid >/dev/null; then
    echo "error: worker $name did not start:" >&2
    cat "$tmp/$name.log" >&2
    exit 1
  fi
  addr=$(head -n1 "$tmp/$name.ready")
}

tokens() { grep -o '"tokens":\[[^]]*\]' <<<"$1"; }
# One line per device: name and stage time.
stages() {
  python3 -c 'import json, sys
j = json.load(sys.stdin)
print("  stage ms per pass: " + ", ".join(
    "%s %.3f" % (d["name"], d["stage_ms"]) for d in j.get("devices", [])))' <<<"$1"
}

prompt=1,17,33,5
status=0
# check MODEL N CUTS RING...: greedy and seeded, on each RING ("label=ADDR,ADDR..."; the head,
# x86, is the ring's first device, then these workers in order).
check() {
  local model=$1 n=$2 cuts=$3
  shift 3
  for temp in 0 0.8; do
    local want got ring
    want=$("$x86" generate -m "$model" --prompt-ids $prompt -n "$n" --temp $temp --seed 7 --json)
    for ring in "$@"; do
      local label=${ring%%=*} t=$SECONDS
      # Fixed cuts: every device runs layers (the planner would leave the slow emulated device
      # idle). The limit turns a hang into a prompt failure (a run takes seconds).
      if ! got=$(timeout 300 "$x86" run -m "$model" --workers "${ring#*=}" --key "$tmp/cluster.key" \
        --prompt-ids $prompt -n "$n" --temp $temp --seed 7 --json --cuts "$cuts" \
        --cache-dir "$tmp/head.cache"); then
        echo "FAIL: $(basename "$model"), temp $temp, $label: run failed"
        status=1
        continue
      fi
      if [ -n "$(tokens "$want")" ] && [ "$(tokens "$want")" = "$(tokens "$got")" ]; then
        echo "ok: $(basename "$model"), temp $temp, $label: $n tokens bit-identical to" \
          "single-device x86 ($((SECONDS - t)) s)"
      else
        echo "FAIL: $(basename "$model"), temp $temp, $label:"
        echo "  x86 alone: $(tokens "$want")"
        echo "  ring:      $(tokens "$got")"
        status=1
      fi
      stages "$got"
    done
  done
}

start_worker x86-worker "$x86"
x86_addr=$addr
start_worker arm64-qemu "${qemu[@]}" "$arm"
arm_addr=$addr
# A second ARM device on an ARMv8.0 core without the dot-product extension: the baseline NEON
# kernels (SMULL/SMLAL), which must give the same bits as SDOT.
start_worker arm64-qemu-a72 qemu-aarch64 -L / -cpu cortex-a72 "$arm"
a72_addr=$addr
echo "workers: x86 $x86_addr, arm64 (qemu, max) $arm_addr, arm64 (qemu, cortex-a72) $a72_addr"

# Q8_0: the packed NEON/SDOT products (tiny: 2 layers, 34 ops). Three devices: head embedding +
# layer 0 attention, then layer 0 FFN + layer 1 attention, then layer 1 FFN + output; four: the
# middle split at op 16.
"$x86" synth --preset tiny --type Q8_0 -o "$tmp/tiny-q8_0.gguf" >/dev/null
check "$tmp/tiny-q8_0.gguf" 24 10,25 "arm64 tail=$x86_addr,$arm_addr" \
  "arm64 middle=$arm_addr,$x86_addr"
check "$tmp/tiny-q8_0.gguf" 24 10,16,25 "x86,a72,max=$x86_addr,$a72_addr,$arm_addr"
# A K-quant mix: Q4_K and Q6_K (packed NEON kernels), which need rows of 256 and more, so the 110m
# shape (12 layers, 184 ops): the head runs layers 0-7, then layers 8-9, then 10-11 and the output
# (four devices: 10, then 11 and the output).
"$x86" synth --preset 110m --type Q4_K_M -o "$tmp/110m-q4_k_m.gguf" >/dev/null
check "$tmp/110m-q4_k_m.gguf" 16 121,151 "arm64 tail=$x86_addr,$arm_addr" \
  "arm64 middle=$arm_addr,$x86_addr"
check "$tmp/110m-q4_k_m.gguf" 16 121,151,166 "x86,a72,max=$x86_addr,$a72_addr,$arm_addr"
echo "total: $((SECONDS - start)) s"
exit $status
