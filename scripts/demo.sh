#!/usr/bin/env bash
# Installs dependencies, builds, and runs the demo: a local cluster of emulated devices (worker
# processes on loopback, encrypted links) streaming text from one model split across them.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
bash scripts/build.sh
model=../shared/models/stories260K.gguf
if [ ! -f "$model" ]; then
  model=build/demo-tiny.gguf
  [ -f "$model" ] || ./build/tools/lingualinked synth --preset tiny --type F32 -o "$model"
fi
# --cuts splits the model inside its layers over the head and both workers, so every device
# takes part (the planner alone would keep a model this small on one device).
exec ./build/tools/lingualinked cluster --devices 2 -m "$model" -p "Once upon a time" -n 96 \
  --temp 0.8 --seed 42 --show-plan --cache-dir build/demo-cache --cuts 12,24
