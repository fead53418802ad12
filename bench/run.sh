#!/usr/bin/env bash
# Runs every benchmark and prints one JSON object per line. Speeds are only comparable within
# one run (shared, noisy machines). Models are synthesized into build/bench-models.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh >/dev/null
B=./build/tools/lingualinked
M=build/bench-models
mkdir -p "$M"
for spec in "1b Q8_0" "1b Q4_0" "110m Q8_0"; do
  set -- $spec
  f="$M/$1-$2.gguf"
  [ -f "$f" ] || $B synth --preset "$1" --type "$2" -o "$f" >&2
done
# Issue 2: decode vs memory bandwidth, prefill vs decode, 1 and 2 threads.
for t in 1 2; do
  $B bench -m "$M/1b-Q8_0.gguf" --threads "$t" -p 128 -n 64 --reps 3 --json
  $B bench -m "$M/1b-Q4_0.gguf" --threads "$t" -p 128 -n 64 --reps 3 --json
done
# Issues 6 and 7: hop overhead, throughput curve, chunked-prefill time to first token.
./build/bench/bench_runtime "$M/110m-Q8_0.gguf" "$B" overhead throughput ttft
# Issue 14: an emulated device at speed 0.3 against one at 1.0, equal work, 1 and 8 streams.
./build/bench/bench_emulator "$M/110m-Q8_0.gguf" "$B" --slow-speed 0.3
# Issue 12: serve under 20 worker kills; recovery time on 110m Q8_0 (10 kills, 3 workers).
./build/bench/bench_failover "$B" "$M/110m-Q8_0.gguf" chaos recovery
# Issue 6: the phones3 spec, measured against the planner's prediction.
$B cluster --device-spec phones3 -m "$M/110m-Q8_0.gguf" --prompt-ids 1,2,3,4 -n 48 --temp 0 --json \
  --cache-dir build/bench-cache | python3 -c 'import json,sys; j=json.load(sys.stdin); print(json.dumps({"scenario":"phones3","measured_decode_tok_s":j["decode_tok_s"],"predicted_tok_s":j["predicted_tok_s"],"ratio":j["decode_tok_s"]/j["predicted_tok_s"]}))'
# Issue 5: planning time for 160 segments x 16 devices.
./build/bench/bench_plan
# Issue 3: tokenizing 1 MB of text.
[ -d ../shared ] && ./build/bench/bench_tokenizer || true
