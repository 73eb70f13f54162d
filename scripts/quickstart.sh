#!/usr/bin/env bash
# Sets up, builds, and runs the main job on the bundled sample: writes the sample CNN,
# inspects it against a small edge target, and runs it.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
out=build/sample
build/make_tiny_cnn "$out"
build/edgepack inspect "$out/tiny_cnn.onnx" --target qcs2290
build/edgepack run "$out/tiny_cnn.onnx" --input "$out/input_0.pb" --save-outputs "$out/outputs"
echo "quickstart: outputs in $out/outputs"
