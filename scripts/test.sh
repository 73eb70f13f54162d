#!/usr/bin/env bash
# Sets up, builds and runs every test (unit, conformance, CLI, onnxruntime, MNIST end to end).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
# The MNIST end-to-end test needs the sample teacher (trained once, then reused).
scripts/make-mnist-teacher.sh
cd build && ctest --output-on-failure "$@"
