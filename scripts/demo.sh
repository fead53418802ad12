#!/usr/bin/env bash
# Installs dependencies, builds, and runs the demo: a local cluster of emulated devices (worker
# processes on loopback, encrypted links) streaming text from one model split across them.
# Usage: bash scripts/demo.sh [path/to/model.gguf]
# Without a model it uses ../shared/models/stories260K.gguf, and without ../shared a synthetic
# model whose weights are random (the text is noise; the distribution is real).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
bash scripts/build.sh
model="${1:-../shared/models/stories260K.gguf}"
if [ -n "${1:-}" ] && [ ! -f "$model" ]; then
  echo "error: model file '$model' not found" >&2
  exit 1
fi
if [ ! -f "$model" ]; then
  model=build/demo-tiny.gguf
  [ -f "$model" ] || ./build/tools/lingualinked synth --preset tiny --type F32 -o "$model"
  cat >&2 <<MSG
*** No trained model found (../shared/models/stories260K.gguf is missing), so this demo runs a
*** SYNTHETIC model with RANDOM WEIGHTS: the text below is noise. The split across devices, the
*** encrypted ring and the streaming are real. For real text pass a GGUF model:
***     bash scripts/demo.sh path/to/model.gguf
MSG
fi
# --cuts splits the model inside its layers over the head and both workers, so every device
# takes part (the planner alone would keep a model this small on one device).
exec ./build/tools/lingualinked cluster --n-devices 3 -m "$model" -p "Once upon a time" -n 96 \
  --temp 0.8 --seed 42 --show-plan --cache-dir build/demo-cache --cuts 12,24
