#!/usr/bin/env bash
# Runtime overhead and throughput of two builds, interleaved in one run (these machines are
# shared and noisy: only ratios measured side by side mean anything). Prints the medians of
# each build and their ratio as one JSON object.
#   bash bench/compare_runtime.sh BASE_BUILD_DIR NEW_BUILD_DIR [ROUNDS] [MODEL]
# Each build dir needs bench/bench_runtime and tools/lingualinked (e.g. a worktree of the old
# commit built with scripts/build.sh). Default 6 rounds on build/bench-models/110m-Q8_0.gguf.
set -euo pipefail
base=$1 new=$2 rounds=${3:-6}
model=${4:-build/bench-models/110m-Q8_0.gguf}
[ -f "$model" ] || "$new/tools/lingualinked" synth --preset 110m --type Q8_0 -o "$model" >&2
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for r in $(seq "$rounds"); do
  for v in base new; do
    d=$base
    [ $v = new ] && d=$new
    "$d/bench/bench_runtime" "$model" "$d/tools/lingualinked" overhead throughput 2>/dev/null |
      sed "s/^/$v /" >>"$out"
  done
done
python3 - "$out" <<'PY'
import json, statistics, sys
runs = {"base": {}, "new": {}}
for line in open(sys.argv[1]):
    who, js = line.split(" ", 1)
    j = json.loads(js)
    d = runs[who]
    if j["scenario"].startswith("overhead"):
        d.setdefault("overhead_decode_tok_s", []).append(j["distributed_decode_tok_s"])
    else:
        for c in j["curve"]:
            d.setdefault("throughput_%d_streams_tok_s" % c["streams"], []).append(c["distributed_tok_s"])
res = {"scenario": "compare_runtime", "rounds": len(runs["base"]["overhead_decode_tok_s"])}
for k in runs["base"]:
    b, n = statistics.median(runs["base"][k]), statistics.median(runs["new"][k])
    res[k] = {"base": round(b, 1), "new": round(n, 1), "new_over_base": round(n / b, 3)}
print(json.dumps(res))
PY
