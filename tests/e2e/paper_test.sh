#!/usr/bin/env bash
# bench/paper.sh --quick writes the report: one JSON object per scenario, report.md with its
# tables, and SVG plots that are well-formed XML with drawn content (and, where Chromium is
# installed, render to a non-blank screenshot).
#   paper_test.sh LINGUALINKED OUT_DIR
set -euo pipefail
bin=$1
out=$2
root="$(cd "$(dirname "$0")/../.." && pwd)"
rm -rf "$out"
mkdir -p "$out"
bash "$root/bench/paper.sh" --quick --bin "$bin" --out "$out" >"$out/scenarios.jsonl"
python3 - "$out" <<'PY'
import json, os, sys
import xml.etree.ElementTree as ET
out = sys.argv[1]
rows = [json.loads(l) for l in open(os.path.join(out, "scenarios.jsonl")) if l.strip()]
kinds = {r["scenario"] for r in rows}
for k in ("paper_single", "paper_multi", "paper_streams", "paper_balance"):
    assert k in kinds, f"scenario {k} missing from the output: {sorted(kinds)}"
for r in rows:
    if r["scenario"] in ("paper_single", "paper_multi"):
        for pol in ("plan", "even", "memory"):
            v = r["tok_s"][pol]
            assert v and v > 0, f'{r["scenario"]} {pol}: no tok/s ({r.get("errors")})'
            assert r["predicted_tok_s"][pol] > 0, f'{r["scenario"]} {pol}: no prediction'
            runs = r["measured_over_predicted_runs"][pol]
            assert len(runs) == r["runs"][pol] >= 1, f'{r["scenario"]} {pol}: runs {runs}'
            assert min(runs) <= r["measured_over_predicted"][pol] <= max(runs)
        assert r["speedup_vs_even"] > 0
report = open(os.path.join(out, "report.md")).read()
for needle in ("## Single stream", "## 8 concurrent streams", "| phones3 |", "policies.svg",
               "streams.svg", "timeline.svg", "Measured/predicted of each run"):
    assert needle in report, f"report.md lacks {needle!r}"
ns = "{http://www.w3.org/2000/svg}"
for name, shape in (("policies.svg", "rect"), ("streams.svg", "polyline"),
                    ("timeline.svg", "rect")):
    root = ET.parse(os.path.join(out, name)).getroot()  # raises on malformed XML
    assert root.tag == ns + "svg", f"{name}: root is {root.tag}"
    n = len(root.findall(f".//{ns}{shape}"))
    assert n >= 3, f"{name}: only {n} <{shape}> elements"
print("report ok:", len(rows), "scenarios")
PY
chrome=$(command -v chromium || command -v chromium-browser || true)
if [ -n "$chrome" ]; then
  for svg in policies streams timeline; do
    timeout 60 "$chrome" --headless --no-sandbox --disable-gpu --hide-scrollbars \
      --screenshot="$out/$svg.png" --window-size=900,400 "file://$(realpath "$out/$svg.svg")" \
      >/dev/null 2>&1 || true
    # A blank page compresses to a few hundred bytes; a drawn plot to several kB.
    size=$(stat -c %s "$out/$svg.png" 2>/dev/null || echo 0)
    [ "$size" -gt 3000 ] || { echo "$svg.svg: screenshot missing or blank ($size bytes)" >&2; exit 1; }
  done
  echo "screenshots ok"
else
  echo "chromium not installed: SVGs checked as XML only"
fi
