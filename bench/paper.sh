#!/usr/bin/env bash
# The paper-style report (issue 14): placement policies on emulated phones and a home cluster,
# single stream and 8 streams, the streams curve, a device timeline, load balancing under a
# speed drop and the emulator's speed check. One JSON object per scenario on stdout; report.md
# and SVG plots in the output directory.
#   bash bench/paper.sh [--out DIR] [--quick] [--bin LINGUALINKED]
# --quick: a tiny synthetic model (made in DIR), phones3 only, short runs (what the test runs,
# about a minute, each policy run once). --bin: a built binary (skips the build). The full
# report runs every policy 3 times, taking turns, and gives medians (about 40 minutes).
set -euo pipefail
cd "$(dirname "$0")/.."
out=build/report
quick=0
bin=""
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out="$2"; shift 2 ;;
    --quick) quick=1; shift ;;
    --bin) bin="$2"; shift 2 ;;
    *) echo "usage: bash bench/paper.sh [--out DIR] [--quick] [--bin LINGUALINKED]" >&2; exit 2 ;;
  esac
done
if [ -z "$bin" ]; then
  [ -x build/tools/lingualinked ] && [ -x build/bench/bench_balance ] ||
    bash scripts/build.sh >/dev/null
  bin=./build/tools/lingualinked
fi
B="$bin"
M=build/bench-models
[ $quick = 1 ] && M="$out/models"
mkdir -p "$M"
synth() {  # preset type
  local f="$M/$1-$2.gguf"
  [ -f "$f" ] || $B synth --preset "$1" --type "$2" -o "$f" >&2
  echo "$f"
}
if [ $quick = 1 ]; then
  exec python3 bench/paper.py --bin $B --out "$out" --cache "$out/cache" \
    --model "$(synth tiny Q8_0)" --spec phones3 --n-predict 12 --n-predict-streams 12 --streams-curve 1,2,4 \
    --keep-profiles --reps 1
fi
python3 bench/paper.py --bin $B --out "$out" --cache build/report-cache \
  --model "$(synth 110m Q8_0)" --model "$(synth 1b Q4_0)" \
  --spec phones3 --spec bench/specs/home4.json \
  --balance-bin ./build/bench/bench_balance --emulator-bin ./build/bench/bench_emulator
