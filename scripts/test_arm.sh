#!/usr/bin/env bash
# Cross-builds the kernel tests for ARM64 and runs them under qemu-user, so the NEON kernels are
# tested on x86 machines (ctest runs this as kernels_arm64_qemu).
#   scripts/test_arm.sh [build-dir]     (default build-arm, configured Release with Ninja)
# Two emulated CPUs: "max" has the ARMv8.2 dot-product extension (SDOT path; the tests also
# compare it with the baseline path); "cortex-a72" is ARMv8.0 without it, so the baseline path
# is what runs, and any instruction newer than ARMv8.0 in it would fault. Exits 77 (ctest's skip
# code here) when the cross compiler, qemu or the GoogleTest sources are missing.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-arm}
sysroot=/usr/aarch64-linux-gnu
gtest_src=/usr/src/googletest

missing=()
for tool in aarch64-linux-gnu-g++ aarch64-linux-gnu-gcc qemu-aarch64 cmake ninja; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
[ -d "$sysroot/lib" ] || missing+=("$sysroot")
[ -f "$gtest_src/CMakeLists.txt" ] || missing+=("$gtest_src")
if [ ${#missing[@]} -gt 0 ]; then
  echo "SKIPPED: ARM64 kernel tests need ${missing[*]}" \
    "(Debian: g++-aarch64-linux-gnu qemu-user libgtest-dev; scripts/deps.sh installs them)"
  exit 77
fi

start=$SECONDS
launcher=()  # ccache, when present, makes a fresh build dir (ctest's) mostly cache hits
command -v ccache >/dev/null 2>&1 &&
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_TOOLCHAIN_FILE="$PWD/cmake/aarch64-linux-gnu.cmake" "${launcher[@]}" \
  -DLL_KERNELS_ONLY=ON -DLL_BUILD_BENCH=OFF -DLL_GTEST_SOURCE_DIR="$gtest_src" >/dev/null
ninja -C "$build" --quiet test_kernels
echo "cross build: $((SECONDS - start)) s"

bin="$build/tests/kernels/test_kernels"
# Every library must resolve inside the sysroot, next to the loader (see run below); a mixed
# glibc hangs instead of failing, so say so here.
libs=$(qemu-aarch64 -L "$sysroot" -E LD_LIBRARY_PATH="$sysroot/lib" \
  -E LD_TRACE_LOADED_OBJECTS=1 "$bin" | awk '$2 == "=>" { print $3 }')
stray=$(grep -v "^$sysroot/" <<<"$libs" || true)
if [ -n "$stray" ]; then
  echo "error: these aarch64 libraries resolve outside $sysroot:" $stray >&2
  exit 1
fi
status=0
run() {  # run CPU EXPECT_DOTPROD [gtest args...]
  local cpu=$1 dotprod=$2
  shift 2
  echo "== qemu-aarch64 -cpu $cpu"
  local t=$SECONDS
  local rc=0
  # A run takes seconds; the limit turns a hang into a prompt failure. LD_LIBRARY_PATH: the
  # program loader comes from the cross sysroot (-L), and libc and the rest must come from the
  # same glibc build. Without it the loader finds Debian's multiarch arm64 libraries first when
  # they are installed (libc6:arm64, a newer 2.36 than libc6-arm64-cross; scripts/deps.sh with
  # LL_ARM64_WORKER=1), and that libc reads the loader's private data at other offsets: the
  # first pthread_create then loops forever walking the thread-stack cache list.
  LL_EXPECT_NEON_DOTPROD=$dotprod timeout 240 qemu-aarch64 -L "$sysroot" \
    -E LD_LIBRARY_PATH="$sysroot/lib" -cpu "$cpu" "$bin" "$@" || rc=$?
  [ $rc -eq 124 ] && echo "== -cpu $cpu: TIMED OUT after 240 s"
  [ $rc -eq 0 ] || status=1
  echo "== -cpu $cpu: exit $rc, $((SECONDS - t)) s"
}
run max 1
# The products and the Isa checks again on the baseline path.
run cortex-a72 0 --gtest_filter='Matvec*:Matmul*:Packed*:KQuant*:Isa*:Attention*'
exit $status
