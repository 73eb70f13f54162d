#!/usr/bin/env bash
# Sets up, builds, and runs the main job on the bundled sample: trains (once) the MNIST
# teacher with LibTorch, inspects it against a small edge target, quantizes it to INT8 with
# calibration data, and compares the INT8 artifact with the FP32 teacher on the test digits.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
scripts/make-mnist-teacher.sh
d=data/mnist
build/edgepack inspect "$d/teacher.onnx" --target qcs2290
build/edgepack quantize "$d/teacher.onnx" -o "$d/teacher.int8.onnx" --data "$d/train.npz" --calib percentile
build/edgepack eval "$d/teacher.int8.onnx" --data "$d/test.npz" --reference "$d/teacher.onnx"
echo "quickstart: INT8 artifact at $d/teacher.int8.onnx"
