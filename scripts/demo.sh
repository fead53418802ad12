#!/usr/bin/env bash
# Installs dependencies, builds, and runs the demo.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
bash scripts/build.sh
model=../shared/models/stories260K.gguf
if [ ! -f "$model" ]; then
  model=build/demo-tiny.gguf
  [ -f "$model" ] || ./build/tools/lingualinked synth --preset tiny --type F32 -o "$model"
fi
exec ./build/tools/lingualinked generate -m "$model" -p "Once upon a time" -n 64 --temp 0
