#!/usr/bin/env bash
# Sets up, builds, and runs the main job on the bundled sample: trains (once) the MNIST
# teacher with LibTorch, then compresses it for three devices (a 0.2-TOPS IoT module, a phone-class
# SoC and a Jetson) into artifacts/mnist/<target>/ with manifests and reports.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
scripts/make-mnist-teacher.sh
d=data/mnist
build/edgepack compress "$d/teacher.onnx" --target qcs2290,qcs6490,jetson-agx-orin \
  --data "$d/train.npz" --eval-data "$d/test.npz" --max-accuracy-drop 0.5 --out artifacts/mnist --force
echo "quickstart: artifacts and reports in artifacts/mnist/ (open artifacts/mnist/<target>/report.html)"
